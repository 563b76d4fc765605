import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkSchedule, checkTimeZone, maintenanceCronJob } from '../components/cron-job';
import { checkKnownProps } from '../core/known-props';
import { PodOptions } from '../core/pod-options';
import { AirflowNames } from '../core/names';
// a cycle (postgres-statefulset creates a PostgresBackup): each uses the other's export only in a constructor
import { DEFAULT_POSTGRES_IMAGE } from './postgres-statefulset';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { SecretKeyRef } from '../config/secrets';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../core/security';
import { check, checkBytes, checkDnsLabel, checkImage, checkStorageClassName, checkWholeNumber } from '../core/validation';

/** The official postgres image's user and group (uid/gid 999), which PostgresStatefulSet also runs as. */
const POSTGRES_UID = 999;
/** Where the backups volume is mounted in the job's containers (`BACKUP_DIR`). */
export const POSTGRES_BACKUP_DIR = '/backups';

/**
 * The job's shell script (POSIX sh, GNU coreutils and findutils, pg_dump and pg_restore: what the official
 * Debian-based postgres image has). It connects with libpq's own variables PGHOST, PGPORT, PGUSER,
 * PGDATABASE and PGPASSWORD, and works in BACKUP_DIR. It first waits, up to 60 s, until the server accepts
 * connections (`pg_isready`): a new pod may be refused for a moment while the NetworkPolicy enforcer learns its address.
 *
 * Backup (RESTORE unset): `pg_dump --format=custom` (compressed) to a hidden `.partial` file, read back whole
 * (`pg_restore --list`, then `pg_restore` of every entry to /dev/null) before it is renamed, atomically, to
 * `<database>-<UTC yyyymmddThhmmssZ>.dump`; only then dumps older than RETENTION_DAYS days are deleted (so a
 * failing backup never deletes the last good ones), and it prints what it deleted and what it kept.
 *
 * Restore (RESTORE=latest or RESTORE=<file name in BACKUP_DIR>): `pg_restore --clean --if-exists
 * --single-transaction --exit-on-error` into PGDATABASE: the database ends up as the dump has it, or, on any
 * error, as it was.
 */
export const POSTGRES_BACKUP_SCRIPT = `set -eu
umask 027
cd "$BACKUP_DIR"
dumps() { find . -maxdepth 1 -type f -name "$PGDATABASE-*.dump" -printf '%f\\n' | sort; }

# A new pod's connections can be refused for a moment: NetworkPolicy enforcers (kube-router, k3s's) admit a pod only
# once they have seen its address (Kubernetes' NetworkPolicy docs, "Pod lifecycle"); so can a restarting server.
# Said only when a try was refused (whole seconds of date also differ when the first try straddles a second).
start=$(date +%s)
refused=0
until pg_isready --quiet --timeout=2; do
  if [ $(($(date +%s) - start)) -ge 60 ]; then echo "PostgreSQL on $PGHOST:$PGPORT accepted no connection for 60 s" >&2; exit 1; fi
  refused=$((refused + 1))
  sleep 1
done
[ "$refused" -eq 0 ] || echo "waited $(($(date +%s) - start)) s for PostgreSQL on $PGHOST:$PGPORT"

if [ -n "\${RESTORE:-}" ]; then
  case "$RESTORE" in
    latest) file="$(dumps | tail -n 1)" ;;
    */* | .*) echo "RESTORE=$RESTORE: expected latest or the name of a dump in $BACKUP_DIR" >&2; exit 2 ;;
    *) file="$RESTORE" ;;
  esac
  if [ -z "$file" ] || [ ! -f "$file" ]; then
    echo "no dump \${file:-of database $PGDATABASE} in $BACKUP_DIR; there are:" >&2
    dumps >&2
    exit 1
  fi
  pg_restore --list "$file" >/dev/null
  echo "restoring $file into database $PGDATABASE on $PGHOST:$PGPORT"
  pg_restore --clean --if-exists --single-transaction --exit-on-error --no-password --dbname="$PGDATABASE" "$file"
  echo "restored $file"
  exit 0
fi

name="$PGDATABASE-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial=".$name.partial"
if [ -e "$name" ]; then echo "$name exists already" >&2; exit 1; fi
trap 'rm -f "$partial"' EXIT
# what a killed run left behind (a dump being written changes every few seconds)
find . -maxdepth 1 -type f -name ".$PGDATABASE-*.dump.partial" -mmin +60 -printf 'deleted the unfinished %f\\n' -delete
echo "dumping database $PGDATABASE on $PGHOST:$PGPORT"
pg_dump --format=custom --no-password --file="$partial"
toc="$(pg_restore --list "$partial")"
pg_restore --file=/dev/null "$partial"
sync "$partial"
mv "$partial" "$name"
sync .
echo "wrote $name: $(wc -c <"$name") bytes, $(printf '%s\\n' "$toc" | grep -c ' TABLE DATA ' || true) tables, read back in full"
find . -maxdepth 1 -type f -name "$PGDATABASE-*.dump" -mmin +$((RETENTION_DAYS * 1440)) -printf "deleted %f (older than $RETENTION_DAYS days)\\n" -delete
echo "kept:"
find . -maxdepth 1 -type f -name "$PGDATABASE-*.dump" -printf '  %f %s bytes\\n' | sort
`;

/** A step that copies the dumps elsewhere (object storage) after each successful backup; see {@link PostgresBackupProps.upload}. */
export interface PostgresBackupUpload {
  /** The image that runs `command`, pinned, e.g. `rclone/rclone:1.68.2`. */
  readonly image: string;
  /**
   * The command, an argv (it replaces the image's entrypoint). The dumps are in `$BACKUP_DIR`, read-only; the
   * newest is the last of `ls "$BACKUP_DIR"/<database>-*.dump` (names sort by time). `/tmp` is writable and is `HOME`. E.g.
   * `['rclone', 'copy', '/backups', 's3:my-bucket/airflow', '--include', 'airflow-*.dump']`, which copies what the
   * bucket lacks; retention there is the bucket's lifecycle rule.
   */
  readonly command: string[];
  /** Environment of the step: plain values, or Secret keys (credentials). @default none */
  readonly env?: Record<string, string | SecretKeyRef>;
  /** @default requests 50m CPU / 64Mi, limit 256Mi */
  readonly resources?: ContainerResourcesProps;
}

/** Properties of {@link PostgresBackup}. */
export interface PostgresBackupProps {
  /** Prefix of the object names, the instance name of the PostgresStatefulSet it backs up. @default 'airflow' */
  readonly instanceName?: string;
  /** An image with `pg_dump` and `pg_restore` of the server's major version or newer. @default DEFAULT_POSTGRES_IMAGE */
  readonly image?: string;
  /** The database user's password. @default key `password` of the Secret `<instanceName>-postgresql` */
  readonly passwordSecret?: SecretKeyRef;
  /** Database and user name (one name, as PostgresStatefulSet makes them). @default 'airflow' */
  readonly database?: string;
  /** When it runs, a cron schedule in `timeZone` (see checkSchedule: five fields or a descriptor such as "@daily"). @default '0 2 * * *' (daily, 02:00) */
  readonly schedule?: string;
  /** The schedule's time zone, an IANA name. @default 'Etc/UTC' (the dump names are UTC too) */
  readonly timeZone?: string;
  /** Days a dump is kept: each successful backup deletes the dumps older than this. @default 30 */
  readonly retentionDays?: number;
  /**
   * Size of the backups volume, a byte quantity ("8Gi"). A custom-format dump is compressed and holds no
   * index, so it is usually much smaller than the database's own volume; `retentionDays` dumps must fit.
   * @default '8Gi' (PostgresStatefulSet passes its own storage size)
   */
  readonly size?: string;
  /** StorageClass of the backups volume. @default the cluster's default StorageClass (PostgresStatefulSet passes its own) */
  readonly storageClassName?: string;
  /** Seconds a run (or a restore made from this CronJob) may take before Kubernetes stops it. @default 3600 */
  readonly activeDeadlineSeconds?: number;
  /** @default requests 100m CPU / 128Mi, limit 512Mi */
  readonly resources?: ContainerResourcesProps;
  /**
   * A step that copies the dumps to object storage after each successful backup: a second container that
   * runs once the dump (then an init container) has succeeded, and after a restore made from this CronJob
   * (it finds the same dumps). @default none: the dumps stay on the volume
   */
  readonly upload?: PostgresBackupUpload;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * Backups of the in-cluster PostgreSQL ({@link PostgresStatefulSet}): a PersistentVolumeClaim (ReadWriteOnce)
 * and a CronJob, both named `<instanceName>-postgresql-backup`. The CronJob runs
 * {@link POSTGRES_BACKUP_SCRIPT} daily at 02:00 UTC, one run at a time: a compressed
 * `pg_dump --format=custom` of the database, read back in full before it is renamed to
 * `<database>-<yyyymmddThhmmssZ>.dump`, then dumps older than 30 days deleted. The same script restores
 * when the Job's env has `RESTORE` (the README's restore procedure makes such a Job from the CronJob).
 *
 * The pod runs as the postgres image's user (999) under Pod Security "restricted" with a read-only root
 * filesystem, no service account token, and the password from the Secret (never a literal). A separate
 * volume protects against a dropped table or a broken database, not against losing the storage behind
 * both volumes: give `upload` to copy the dumps off the cluster. With the NetworkPolicies of
 * {@link AirflowNetworkPolicies}, PostgreSQL must admit the `postgresql-backup` component, and with `upload` its
 * egress must reach the storage (`backupUpload`, which `Airflow` sets).
 * @see https://www.postgresql.org/docs/current/app-pgdump.html
 */
export class PostgresBackup extends Construct {
  /** The CronJob's name. */
  public readonly name: string;
  /** The backups volume's PersistentVolumeClaim. */
  public readonly claimName: string;
  public readonly retentionDays: number;
  public readonly cronJob: k8s.KubeCronJob;
  public readonly claim: k8s.KubePersistentVolumeClaim;
  /** The container that copies the dumps off the cluster (`upload`), if any: its egress must reach the storage. */
  public readonly upload?: k8s.Container;

  /** @throws AirflowValidationError for a bad instance name, image, Secret, database, schedule, retention, size, deadline, resources or upload. */
  constructor(scope: Construct, id: string, props: PostgresBackupProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    // a CronJob's name may have 52 characters: its Jobs add 11
    this.name = checkDnsLabel(this, 'name', names.name('postgresql-backup'), 52);
    this.claimName = this.name;
    const image = checkImage(this, 'image', props.image ?? DEFAULT_POSTGRES_IMAGE);
    const password = SecretKeyRef.check(this, 'passwordSecret', props.passwordSecret ?? SecretKeyRef.of(names.name('postgresql'), 'password'));
    const database = props.database ?? 'airflow';
    check(typeof database === 'string' && /^[a-z_][a-z0-9_]{0,62}$/.test(database), this, 'database', database, 'a PostgreSQL identifier: lower-case letters, digits and \'_\'');
    const schedule = checkSchedule(this, 'schedule', props.schedule ?? '0 2 * * *');
    const timeZone = checkTimeZone(this, 'timeZone', props.timeZone ?? 'Etc/UTC');
    this.retentionDays = checkWholeNumber(this, 'retentionDays', props.retentionDays ?? 30, 1);
    const size = props.size ?? '8Gi';
    checkBytes(this, 'size', size);
    if (props.storageClassName !== undefined) checkStorageClassName(this, 'storageClassName', props.storageClassName);
    const deadline = checkWholeNumber(this, 'activeDeadlineSeconds', props.activeDeadlineSeconds ?? 3600, 60);
    const resources = renderResources(this, 'resources', props.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });

    const labels = names.labels('postgresql-backup', image);
    this.claim = new k8s.KubePersistentVolumeClaim(this, 'Volume', {
      metadata: { name: this.claimName, labels },
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(props.storageClassName !== undefined ? { storageClassName: props.storageClassName } : {}),
        resources: { requests: { storage: k8s.Quantity.fromString(size) } },
      },
    });

    const backup: k8s.Container = {
      name: 'backup',
      image,
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/sh', '-c', POSTGRES_BACKUP_SCRIPT],
      env: [
        { name: 'PGHOST', value: names.name('postgresql') },
        { name: 'PGPORT', value: '5432' },
        { name: 'PGUSER', value: database },
        { name: 'PGDATABASE', value: database },
        password.toEnv('PGPASSWORD'),
        { name: 'BACKUP_DIR', value: POSTGRES_BACKUP_DIR },
        { name: 'RETENTION_DAYS', value: String(this.retentionDays) },
      ],
      resources,
      securityContext: restrictedContainerSecurity(POSTGRES_UID, POSTGRES_UID),
      volumeMounts: [{ name: 'backups', mountPath: POSTGRES_BACKUP_DIR }],
    };
    const upload = this.upload = props.upload === undefined ? undefined : this.uploadContainer(props.upload);
    const podSpec: k8s.PodSpec = {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurity(POSTGRES_UID, POSTGRES_UID, POSTGRES_UID),
      ...(upload ? { initContainers: [backup], containers: [upload] } : { containers: [backup] }),
      volumes: [
        { name: 'backups', persistentVolumeClaim: { claimName: this.claimName } },
        ...(upload ? [{ name: 'tmp', emptyDir: {} }] : []),
      ],
    };
    this.cronJob = maintenanceCronJob(this, { name: this.name, labels, schedule, timeZone, historyLimit: 3, backoffLimit: 2, activeDeadlineSeconds: deadline, podSpec, pod: props.pod, main: podSpec.containers[0].name });
  }

  private uploadContainer(u: PostgresBackupUpload): k8s.Container {
    const image = checkImage(this, 'upload.image', u.image);
    check(Array.isArray(u.command) && u.command.length > 0 && u.command.every(a => typeof a === 'string') && u.command[0] !== '',
      this, 'upload.command', u.command, 'a non-empty argv, e.g. ["rclone", "copy", "/backups", "remote:bucket/airflow"]');
    const env = Object.entries(u.env ?? {}).map(([name, value]): k8s.EnvVar => {
      check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !['BACKUP_DIR', 'HOME'].includes(name), this, `upload.env.${name}`, name,
        'an environment variable name other than BACKUP_DIR and HOME');
      if (value instanceof SecretKeyRef) return value.validate(this, `upload.env.${name}`).toEnv(name);
      check(typeof value === 'string', this, `upload.env.${name}`, typeof value, "a string or SecretKeyRef.of('<secret>', '<key>')");
      check(!/(PASSWORD|SECRET|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)/i.test(name), this, `upload.env.${name}`, '<redacted literal>',
        "a Secret reference, SecretKeyRef.of('<secret-name>', '<key>'), for a variable whose name says it holds a secret");
      return { name, value };
    });
    return {
      name: 'upload',
      image,
      imagePullPolicy: 'IfNotPresent',
      command: [...u.command],
      env: [{ name: 'BACKUP_DIR', value: POSTGRES_BACKUP_DIR }, { name: 'HOME', value: '/tmp' }, ...env],
      resources: renderResources(this, 'upload.resources', u.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } }),
      securityContext: restrictedContainerSecurity(POSTGRES_UID, POSTGRES_UID),
      volumeMounts: [{ name: 'backups', mountPath: POSTGRES_BACKUP_DIR, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
    };
  }
}

