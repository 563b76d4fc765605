import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig, envVarName } from '../config/airflow-config';
import { checkDatabaseTls, DatabaseTls } from '../database/database-tls';
import { checkKnownProps } from '../core/known-props';
import { PodOptions, podTemplateSpec } from '../core/pod-options';
import { revisionedJob } from './revisioned-job';
import { SecretKeyRef } from '../config/secrets';
import { airflowPodSpec } from './airflow-pod';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { check, checkWholeNumber } from '../core/validation';

/** Properties of {@link MigrateDatabaseJob}. */
export interface MigrateDatabaseJobProps {
  readonly config: AirflowConfig;
  /** The Airflow image whose migrations run; the same as the components'. @default the config's defaultImage (AirflowConfig.airflowImage says what is accepted) */
  readonly image?: string;
  /** @default requests 250m CPU / 512Mi, limit 1Gi */
  readonly resources?: ContainerResourcesProps;
  /** Retries before the Job fails. @default 6 */
  readonly backoffLimit?: number;
  /**
   * The database URL the migrations use instead of `[database] sql_alchemy_conn`: straight to PostgreSQL when
   * the components go through PgBouncer (`airflow db migrate` holds a session-level advisory lock, which
   * PgBouncer's transaction pooling cannot keep). @default the config's `sql_alchemy_conn`
   */
  readonly connection?: SecretKeyRef;
  /**
   * Verified TLS of `connection` (see DatabaseTls): the Job's container gets `PGSSLMODE`, `PGSSLROOTCERT` and the CA.
   * Without `connection`, the config's `databaseTls` applies. @default none
   */
  readonly connectionTls?: DatabaseTls;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * `airflow db migrate` as a plain Job (no Helm hook), so Argo CD, Flux or `kubectl apply` run it
 * like any other object; the components' `wait-for-migrations` init containers hold them until it
 * has finished.
 *
 * A Job's pod template is immutable, so a changed Job cannot be re-applied under the same name.
 * The name therefore ends in a revision, a hash of the Job's spec
 * (`<instanceName>-db-migrate-<10 hex digits>`): re-applying unchanged output is a no-op, and a new
 * image or setting (an Airflow upgrade) creates a new Job that runs the new migrations. GitOps
 * tools prune the old Job; with plain kubectl, `kubectl delete job -l app.kubernetes.io/component=db-migrate`
 * before applying removes it. Completed Jobs are kept (no `ttlSecondsAfterFinished`), else a GitOps
 * tool would see the Job missing and run it again.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/installation/upgrading.html
 */
export class MigrateDatabaseJob extends Construct {
  public readonly name: string;
  public readonly job: k8s.KubeJob;

  /** @throws AirflowValidationError for a bad image, resources or backoffLimit. */
  constructor(scope: Construct, id: string, props: MigrateDatabaseJobProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    const image = props.config.airflowImage(this, 'image', props.image);
    check(props.connectionTls === undefined || props.connection !== undefined, this, 'connectionTls', props.connectionTls,
      'unset without connection: the config\'s sql_alchemy_conn takes the config\'s databaseTls');
    const podSpec = airflowPodSpec(this, {
      config,
      image,
      containerName: 'db-migrate',
      args: ['airflow', 'db', 'migrate'],
      resources: renderResources(this, 'resources', props.resources, { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } }),
      secretUses: props.connection ? ['fernetKey'] : ['sqlAlchemyConn', 'fernetKey'],
      optionSecrets: 'all',
      extraEnv: props.connection
        ? [SecretKeyRef.check(this, 'connection', props.connection).toEnv(envVarName('database', 'sql_alchemy_conn'))]
        : [],
      connectionTls: props.connectionTls === undefined ? undefined : checkDatabaseTls(this, 'connectionTls', props.connectionTls),
      restartPolicy: 'OnFailure',
    });
    const backoffLimit = checkWholeNumber(this, 'backoffLimit', props.backoffLimit ?? 6, 0);
    const labels = config.names.labels('db-migrate', image);
    const template = podTemplateSpec(this, props.pod, 'db-migrate', { metadata: { labels }, spec: podSpec }, true);
    ({ name: this.name, job: this.job } = revisionedJob(this, { baseName: config.names.name('db-migrate'), labels, backoffLimit, template }));
  }
}
