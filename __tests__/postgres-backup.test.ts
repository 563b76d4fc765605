import { spawnSync } from 'child_process';
import { AirflowValidationError, DEFAULT_POSTGRES_IMAGE, POSTGRES_BACKUP_SCRIPT, PostgresBackupProps, PostgresStatefulSet, SecretKeyRef } from '../lib';
import { restoreProcedure } from '../scripts/e2e/readme-restore';
import { envOf, testChart } from './helpers';
import { makeBackup as make } from './maintenance-jobs';

// The CronJob as synthesized, its script's text and the README's restore procedure. The script run for real
// against PostgreSQL (root, bwrap, a network namespace) is __tests__/integration/postgres-backup.test.ts.

const LABELS = { 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': 'airflow', 'app.kubernetes.io/component': 'postgresql-backup' };

describe('defaults', () => {
  const { backup, objects, cronJob, spec, claim } = make();
  const container = spec.containers[0];

  test('a CronJob airflow-postgresql-backup, daily at 02:00 UTC, one run at a time, and its claim of the same name', () => {
    expect(objects.map(o => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['CronJob/airflow-postgresql-backup', 'PersistentVolumeClaim/airflow-postgresql-backup']);
    expect(cronJob.spec).toMatchObject({ schedule: '0 2 * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 });
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600 });
    expect(spec.restartPolicy).toBe('Never');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Gi' } } });
    expect(spec.volumes).toEqual([{ name: 'backups', persistentVolumeClaim: { claimName: 'airflow-postgresql-backup' } }]);
    expect(container.volumeMounts).toEqual([{ name: 'backups', mountPath: '/backups' }]);
    expect(backup.retentionDays).toBe(30);
  });

  test('the component label postgresql-backup on the CronJob, its Jobs and their pods (for the PostgreSQL NetworkPolicy)', () => {
    for (const labels of [cronJob.metadata.labels, cronJob.spec.jobTemplate.metadata.labels, cronJob.spec.jobTemplate.spec.template.metadata.labels, claim.metadata.labels]) {
      expect(labels).toMatchObject(LABELS);
    }
  });

  test('the postgres image PostgresStatefulSet runs, as its user 999, Pod Security restricted, read-only root, no token', () => {
    expect(container.image).toBe(DEFAULT_POSTGRES_IMAGE);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true, runAsUser: 999, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(container.resources.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    expect(container.resources.limits).toEqual({ memory: '512Mi' });
  });

  test('connects to the PostgresStatefulSet\'s Service with its user and database; the password from its Secret, never a literal', () => {
    const chart = testChart();
    const pg = new PostgresStatefulSet(chart, 'pg', { backup: false });
    const env = envOf(container);
    expect(env.PGHOST.value).toBe(pg.serviceName);
    expect(env.PGPORT.value).toBe(String(pg.port));
    expect(env.PGUSER.value).toBe(pg.database);
    expect(env.PGDATABASE.value).toBe(pg.database);
    expect(env.PGPASSWORD).toEqual({ secret: 'airflow-postgresql', key: 'password' });
    expect(env.BACKUP_DIR.value).toBe('/backups');
    expect(env.RETENTION_DAYS.value).toBe('30');
    expect(container.env.filter((e: any) => e.value !== undefined && /PASSWORD/.test(e.name))).toEqual([]);
  });

  test('runs the script (set -eu): dump to a partial file, read it back, rename, then retention', () => {
    expect(container.command).toEqual(['/bin/sh', '-c', POSTGRES_BACKUP_SCRIPT]);
    const lines = POSTGRES_BACKUP_SCRIPT.split('\n');
    const at = (re: RegExp) => { const i = lines.findIndex(l => re.test(l)); expect({ re: String(re), found: i >= 0 }).toEqual({ re: String(re), found: true }); return i; };
    expect(lines[0]).toBe('set -eu');
    const dump = at(/^pg_dump --format=custom .*--file="\$partial"$/);
    const list = at(/^toc="\$\(pg_restore --list "\$partial"\)"$/);
    const rename = at(/^mv "\$partial" "\$name"$/);
    const retention = at(/-mmin \+\$\(\(RETENTION_DAYS \* 1440\)\) .*-delete$/);
    expect(dump).toBeLessThan(list);
    expect(list).toBeLessThan(rename);
    expect(rename).toBeLessThan(retention);
  });
});

describe('properties', () => {
  test('schedule, time zone, retention, size, storage class, deadline, image, instance, Secret and database', () => {
    const { cronJob, spec, claim } = make({
      instanceName: 'etl', schedule: '30 1 * * 0', timeZone: 'Europe/Berlin', retentionDays: 7, size: '20Gi', storageClassName: 'slow',
      activeDeadlineSeconds: 600, image: 'postgres:16.4-bookworm', passwordSecret: SecretKeyRef.of('db', 'pw'), database: 'meta',
    });
    expect(cronJob.metadata.name).toBe('etl-postgresql-backup');
    expect(cronJob.spec).toMatchObject({ schedule: '30 1 * * 0', timeZone: 'Europe/Berlin' });
    expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(600);
    expect(claim.metadata.name).toBe('etl-postgresql-backup');
    expect(claim.spec).toMatchObject({ storageClassName: 'slow', resources: { requests: { storage: '20Gi' } } });
    const c = spec.containers[0];
    expect(c.image).toBe('postgres:16.4-bookworm');
    expect(envOf(c)).toMatchObject({ PGHOST: { value: 'etl-postgresql' }, PGUSER: { value: 'meta' }, PGDATABASE: { value: 'meta' }, PGPASSWORD: { secret: 'db', key: 'pw' }, RETENTION_DAYS: { value: '7' } });
    expect(spec.volumes[0].persistentVolumeClaim.claimName).toBe('etl-postgresql-backup');
  });

  test('upload: a container that runs after the dump (then an init container), the dumps read-only, credentials from Secrets', () => {
    const { spec } = make({
      upload: {
        image: 'rclone/rclone:1.68.2',
        command: ['rclone', 'copy', '/backups', 's3:bucket/airflow', '--include', 'airflow-*.dump'],
        env: { RCLONE_CONFIG_S3_TYPE: 's3', RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: SecretKeyRef.of('backup-bucket', 'secret-key') },
      },
    });
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['backup']);
    expect(spec.containers.map((c: any) => c.name)).toEqual(['upload']);
    const upload = spec.containers[0];
    expect(upload.command).toEqual(['rclone', 'copy', '/backups', 's3:bucket/airflow', '--include', 'airflow-*.dump']);
    expect(upload.volumeMounts).toEqual([{ name: 'backups', mountPath: '/backups', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }]);
    expect(envOf(upload)).toEqual({
      BACKUP_DIR: { value: '/backups' }, HOME: { value: '/tmp' }, RCLONE_CONFIG_S3_TYPE: { value: 's3' },
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: { secret: 'backup-bucket', key: 'secret-key' },
    });
    expect(upload.securityContext).toMatchObject({ runAsUser: 999, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(upload.resources.limits.memory).toBeDefined();
    expect(spec.volumes.find((v: any) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: {} });
  });
});

describe('invalid input', () => {
  test.each<[string, PostgresBackupProps, string]>([
    ['a schedule of four fields', { schedule: '0 2 * *' }, 'schedule'],
    ['retention of 0 days', { retentionDays: 0 }, 'retentionDays'],
    ['retention of 1.5 days', { retentionDays: 1.5 }, 'retentionDays'],
    ['size in GB', { size: '10GB' }, 'size'],
    ['a storage class with capitals', { storageClassName: 'Fast' }, 'storageClassName'],
    ['a time zone with spaces', { timeZone: 'Central European Time' }, 'timeZone'],
    ['a deadline under a minute', { activeDeadlineSeconds: 30 }, 'activeDeadlineSeconds'],
    ['image latest', { image: 'postgres:latest' }, 'image'],
    ['a password literal', { passwordSecret: 'hunter2' as unknown as SecretKeyRef }, 'passwordSecret'],
    ['database with a dash', { database: 'air-flow' }, 'database'],
    ['an instance name that would make the CronJob name longer than 52 (caught as the instance name)', { instanceName: 'a'.repeat(35) }, 'instanceName'],
    ['upload without a command', { upload: { image: 'rclone/rclone:1.68.2', command: [] } }, 'upload.command'],
    ['upload image unpinned', { upload: { image: 'rclone/rclone', command: ['rclone'] } }, 'upload.image'],
    ['upload secret as a literal', { upload: { image: 'rclone/rclone:1.68.2', command: ['rclone'], env: { AWS_SECRET_ACCESS_KEY: 'abc' } } }, 'upload.env.AWS_SECRET_ACCESS_KEY'],
    ['upload overriding BACKUP_DIR', { upload: { image: 'rclone/rclone:1.68.2', command: ['rclone'], env: { BACKUP_DIR: '/x' } } }, 'upload.env.BACKUP_DIR'],
  ])('%s is rejected', (_, props, property) => {
    let error: unknown;
    try { make(props); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^PostgresBackup \\[test/backup\\] ${property.replace(/\./g, '\\.')}: got `));
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('the README\'s restore procedure', () => {
  const procedure = restoreProcedure();
  const { backup, spec } = make();

  test('makes its Job from this CronJob, tells it RESTORE and reads the log of its container', () => {
    expect(procedure).toContain(`--from=cronjob/${backup.name}`);
    expect(procedure).toContain('kubectl set env --local -f - RESTORE="$DUMP"');
    expect(procedure).toContain(` -c ${spec.containers[0].name}`);
    expect(POSTGRES_BACKUP_SCRIPT).toContain('if [ -n "${RESTORE:-}" ]; then');
  });

  test('starts with the two settings a reader changes, stops the database clients first and scales back up last', () => {
    expect(procedure.split('\n').slice(0, 2).map(l => l.split(/\s+#/)[0].trim())).toEqual(['NS=airflow-dev', 'DUMP=latest']);
    const scaleDown = procedure.indexOf('--replicas=0');
    const restore = procedure.indexOf('create -f -');
    const scaleUp = procedure.indexOf('--replicas="$replicas"');
    expect(scaleDown).toBeGreaterThan(0);
    expect(restore).toBeGreaterThan(scaleDown);
    expect(scaleUp).toBeGreaterThan(restore);
    for (const component of ['scheduler', 'api-server', 'dag-processor', 'triggerer']) expect(procedure).toMatch(new RegExp(`component in \\([^)]*\\b${component}\\b`));
  });

  test('is valid bash', () => {
    const r = spawnSync('bash', ['-n', '-c', procedure], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });
});

