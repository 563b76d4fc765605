import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { AirflowNames } from '../core/names';
import { PostgresBackup, PostgresBackupProps } from './postgres-backup';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { SecretKeyRef } from '../config/secrets';
import { podTemplateSpec, PodOptions } from '../core/pod-options';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../core/security';
import { check, checkBytes, checkDnsLabel, checkImage, checkStorageClassName } from '../core/validation';

/** The official postgres image, pinned (Debian bookworm variant; uid/gid 999). */
export const DEFAULT_POSTGRES_IMAGE = 'postgres:17.9-bookworm';
const POSTGRES_UID = 999;
const DATA_DIR = '/var/lib/postgresql/data';

/** Properties of {@link PostgresStatefulSet}. */
export interface PostgresStatefulSetProps {
  /** Prefix of the object names (`<instanceName>-postgresql`). @default 'airflow' */
  readonly instanceName?: string;
  /** @default DEFAULT_POSTGRES_IMAGE */
  readonly image?: string;
  /** Size of the data volume, a byte quantity ("8Gi"). @default '8Gi' */
  readonly storage?: string;
  /** StorageClass of the data volume. @default the cluster's default StorageClass */
  readonly storageClassName?: string;
  /** @default requests 250m CPU / 256Mi, limit 1Gi */
  readonly resources?: ContainerResourcesProps;
  /** The password of the database user. @default key `password` of the Secret `<instanceName>-postgresql` */
  readonly passwordSecret?: SecretKeyRef;
  /** Database and user name. @default 'airflow' */
  readonly database?: string;
  /**
   * Daily backups ({@link PostgresBackup}) with this instance name, image, password Secret and database, on a
   * volume of `storage`'s size and `storageClassName`; `false` for none.
   * @default daily at 02:00 UTC, kept 30 days
   */
  readonly backup?: Omit<PostgresBackupProps, 'instanceName' | 'passwordSecret' | 'database'> | false;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * A single-instance PostgreSQL for Airflow's metadata database: StatefulSet and headless Service
 * `<instanceName>-postgresql`, port 5432, one PersistentVolumeClaim `data-<instanceName>-postgresql-0`
 * from volumeClaimTemplates, kept when the StatefulSet is deleted or scaled down
 * (`persistentVolumeClaimRetentionPolicy: Retain`).
 *
 * Runs as the image's postgres user (999) under Pod Security "restricted" with a read-only root
 * filesystem; PGDATA is the subfolder `pgdata` of the volume (a fresh volume's root holds
 * `lost+found`, which initdb refuses). `pg_isready` startup, readiness and liveness probes.
 * For production, prefer a managed database (`Airflow.externalDatabase`).
 * @see https://hub.docker.com/_/postgres
 */
export class PostgresStatefulSet extends Construct {
  public readonly name: string;
  /** The headless Service's name: the host in the database URL is `<serviceName>.<namespace>`. */
  public readonly serviceName: string;
  public readonly port = 5432;
  public readonly database: string;
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** The backups, unless `backup: false`. */
  public readonly backup?: PostgresBackup;

  /** @throws AirflowValidationError for a bad instance name, image, storage size, resources, Secret, database name or backup. */
  constructor(scope: Construct, id: string, props: PostgresStatefulSetProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    this.name = this.serviceName = names.name('postgresql');
    const image = checkImage(this, 'image', props.image ?? DEFAULT_POSTGRES_IMAGE);
    const storage = props.storage ?? '8Gi';
    checkBytes(this, 'storage', storage);
    if (props.storageClassName !== undefined) checkStorageClassName(this, 'storageClassName', props.storageClassName);
    const resources = renderResources(this, 'resources', props.resources, { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    const password = (props.passwordSecret ?? SecretKeyRef.of(this.name, 'password')).validate(this, 'passwordSecret');
    this.database = props.database ?? 'airflow';
    check(/^[a-z_][a-z0-9_]{0,62}$/.test(this.database), this, 'database', this.database, 'a PostgreSQL identifier: lower-case letters, digits and \'_\'');
    checkDnsLabel(this, 'name', this.name);

    const labels = names.labels('postgresql', image);
    const selector = names.selector('postgresql');
    new k8s.KubeService(this, 'Service', {
      metadata: { name: this.serviceName, labels },
      spec: {
        clusterIp: 'None',
        selector,
        ports: [{ name: 'postgresql', port: this.port, targetPort: k8s.IntOrString.fromString('postgresql'), protocol: 'TCP' }],
      },
    });
    const isReady: k8s.ExecAction = {
      command: ['pg_isready', '--host=127.0.0.1', `--port=${this.port}`, `--username=${this.database}`, `--dbname=${this.database}`],
    };
    this.statefulSet = new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name: this.name, labels },
      spec: {
        serviceName: this.serviceName,
        replicas: 1,
        selector: { matchLabels: selector },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        template: podTemplateSpec(this, props.pod, 'postgresql', {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: restrictedPodSecurity(POSTGRES_UID, POSTGRES_UID, POSTGRES_UID),
            terminationGracePeriodSeconds: 60,
            containers: [{
              name: 'postgresql',
              image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'POSTGRES_USER', value: this.database },
                { name: 'POSTGRES_DB', value: this.database },
                password.toEnv('POSTGRES_PASSWORD'),
                { name: 'PGDATA', value: `${DATA_DIR}/pgdata` },
              ],
              ports: [{ name: 'postgresql', containerPort: this.port }],
              resources,
              securityContext: restrictedContainerSecurity(POSTGRES_UID, POSTGRES_UID),
              startupProbe: { exec: isReady, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 },
              readinessProbe: { exec: isReady, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              livenessProbe: { exec: isReady, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
              volumeMounts: [
                { name: 'data', mountPath: DATA_DIR },
                { name: 'run', mountPath: '/var/run/postgresql' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            }],
            volumes: [{ name: 'run', emptyDir: {} }, { name: 'tmp', emptyDir: {} }],
          },
        }),
        // volumeClaimTemplates cannot change after creation: no version label here, so an image upgrade applies
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels: selector },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(props.storageClassName !== undefined ? { storageClassName: props.storageClassName } : {}),
            resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
          },
        }],
      },
    });
    if (props.backup !== false) {
      this.backup = new PostgresBackup(this, 'backup', {
        image,
        size: storage,
        ...(props.storageClassName !== undefined ? { storageClassName: props.storageClassName } : {}),
        ...props.backup,
        instanceName: names.instanceName,
        passwordSecret: password,
        database: this.database,
      });
    }
  }
}
