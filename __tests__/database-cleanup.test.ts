import { spawnSync } from 'child_process';
import { AIRFLOW_VERSION, AirflowValidationError, DatabaseCleanupProps, DB_CLEAN_TABLES, SecretKeyRef } from '../lib';
import { allContainers, envOf, runCheck, writeYaml } from './helpers';
import { argvOf, DAY_MS, renderCleanup as render, scriptOf } from './maintenance-jobs';

// The CronJob as synthesized, and its script run by bash with a stand-in `airflow`: nothing but bash and GNU
// date. What needs the installed Airflow is in __tests__/integration/database-cleanup.test.ts.

/** Every table of Airflow 3.3's `airflow db clean` but `dag`, which it aborts on while its versions are in use (apache/airflow#59474). */
const DEFAULT_TABLES = '_xcom_archive,asset_event,callback,celery_taskmeta,celery_tasksetmeta,connection_test_request,dag_run,' +
  'dag_version,deadline,import_error,job,log,partitioned_asset_key_log,revoked_token,task_instance,task_instance_history,' +
  'task_reschedule,task_state_store,trigger,xcom';

/** Expects `--clean-before-timestamp` an explicit-UTC timestamp `days` days before the run (to the second). */
function expectDaysBack(timestamp: string, days: number, ranAt: number): void {
  expect(timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  const age = ranAt - Date.parse(timestamp);
  expect(age).toBeGreaterThan(days * DAY_MS - 5_000);
  expect(age).toBeLessThan(days * DAY_MS + 5_000);
}

describe('DatabaseCleanup', () => {
  test('is the CronJob airflow-db-cleanup, daily at 03:30, one run at a time, one retry, at most 3 hours', () => {
    const { cronJob, spec } = render();
    expect(cronJob.metadata.name).toBe('airflow-db-cleanup');
    expect(cronJob.metadata.labels).toMatchObject({ 'app.kubernetes.io/component': 'db-cleanup', 'app.kubernetes.io/instance': 'airflow', 'app.kubernetes.io/version': AIRFLOW_VERSION });
    expect(cronJob.spec).toMatchObject({ schedule: '30 3 * * *', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 });
    expect(cronJob.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 10800 });
    expect(spec.restartPolicy).toBe('Never'); // a failed run's pod stays, with its log
    expect(spec.containers.map((c: any) => c.name)).toEqual(['db-cleanup']);
    expect(spec.containers[0].image).toBe(`apache/airflow:${AIRFLOW_VERSION}`);
  });

  test('runs `airflow db clean` from 90 days back (UTC), without prompt or archive, on every table but dag', () => {
    const { container, cleanup } = render();
    const { argv, ranAt, stdout } = argvOf(scriptOf(container));
    expect(argv).toEqual(['db', 'clean', '--clean-before-timestamp', argv[3], '--yes', '--skip-archive', '--tables', DEFAULT_TABLES]);
    expectDaysBack(argv[3], 90, ranAt);
    expect(stdout).toBe(`airflow db clean: deleting metadata from before ${argv[3]} (90 days)\n`);
    expect(cleanup.tables.join(',')).toBe(DEFAULT_TABLES);
    expect(DEFAULT_TABLES.split(',')).toEqual(DB_CLEAN_TABLES['3.3'].filter(t => t !== 'dag'));
  });

  test.each(['3.1.8', '3.2.2'])('with Airflow %s, which deletes dag_version rows in use, dag_version is left out too, and the tables are that release\'s', version => {
    const { cleanup } = render({}, { airflowVersion: version });
    expect(cleanup.tables).not.toContain('dag_version');
    expect(cleanup.tables).not.toContain('dag');
    expect(cleanup.tables).toContain('callback_request'); // 3.3 renamed it callback
    expect(cleanup.tables).not.toContain('task_state_store'); // new in 3.3
    expect(() => render({ tables: ['dag_version'] }, { airflowVersion: version })).toThrow(/deletes a dag_version by its own age.*#59474/);
    expect(() => render({ tables: ['task_state_store'] }, { airflowVersion: version })).toThrow(/one of the tables airflow db clean 3\.[12] knows/);
  });

  test('takes its schedule, retention, tables, batch size, archive and deadline', () => {
    const { cronJob, container } = render({
      schedule: '0 2 * * 0', retentionDays: 7, tables: ['xcom', 'log'], batchSize: 5000, archive: true, activeDeadlineSeconds: 600,
    });
    expect(cronJob.spec.schedule).toBe('0 2 * * 0');
    expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(600);
    const { argv, ranAt } = argvOf(scriptOf(container));
    expect(argv).toEqual(['db', 'clean', '--clean-before-timestamp', argv[3], '--yes', '--tables', 'xcom,log', '--batch-size', '5000']);
    expectDaysBack(argv[3], 7, ranAt);
  });

  test('a failed date stops the script before airflow runs', () => {
    const script = scriptOf(render().container).replace("'-90 days'", "'not a date'");
    const r = spawnSync('bash', ['-c', script], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  test('cleans the session table with the FabAuthManager\'s database sessions only, as Airflow does', () => {
    const fab = { authManager: { fab: {} } };
    expect(render({}, fab).cleanup.tables).toContain('session');
    expect(render({ tables: ['session'] }, fab).cleanup.tables).toEqual(['session']);
    const cookies = { ...fab, options: { fab: { session_backend: 'securecookie' } } };
    expect(render({}, cookies).cleanup.tables).not.toContain('session');
    expect(() => render({ tables: ['session'] }, cookies)).toThrow(/tables: got "session"/);
    expect(() => render({ tables: ['session'] })).toThrow(/tables: got "session"/);
  });

  test('gets the database connection and no other secret, keeps the entrypoint\'s database check, waits for migrations', () => {
    const { spec, container, objects } = render();
    const env = envOf(container);
    expect(env.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
    expect(Object.keys(env).filter(n => /SQL_ALCHEMY|FERNET|JWT|SECRET/.test(n))).toEqual(['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']);
    expect(env.CONNECTION_CHECK_MAX_COUNT).toBeUndefined(); // it uses the database: let the entrypoint wait for it
    expect(spec.initContainers.map((c: any) => [c.name, c.args])).toEqual([
      ['wait-for-migrations', ['airflow', 'db', 'check-migrations', '--migration-wait-timeout=60']],
    ]);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBeUndefined();
    expect(objects.filter(o => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind))).toEqual([]);
    expect(container.volumeMounts.find((m: any) => m.mountPath === '/opt/airflow/airflow.cfg')).toMatchObject({ name: 'config', readOnly: true });
  });

  test('gives its option secrets of every section, [database] included', () => {
    const { container } = render({}, { options: { database: { sql_alchemy_engine_args: SecretKeyRef.of('db-extra', 'engine-args') } } });
    expect(envOf(container).AIRFLOW__DATABASE__SQL_ALCHEMY_ENGINE_ARGS).toEqual({ secret: 'db-extra', key: 'engine-args' });
  });

  test('passes `npm run check`: Kubernetes 1.28 schema, Pod Security "restricted", hygiene', () => {
    const { objects, spec } = render();
    for (const c of allContainers(spec)) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      expect(c.resources.limits.memory).toBeDefined();
    }
    expect(spec.containers[0].resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    const { status, report } = runCheck(writeYaml(objects, 'db-cleanup.yaml'));
    expect([report.schemaErrors, report.policyViolations, report.hygieneProblems]).toEqual([[], [], []]);
    expect(report.podSpecsChecked).toBe(1);
    expect(status).toBe(0);
  });

  test.each([
    [{ schedule: 'daily' }, 'schedule', /a cron schedule Kubernetes accepts: five fields in range/],
    [{ schedule: '30 3 * *' }, 'schedule', /a cron schedule Kubernetes accepts: five fields in range/],
    [{ retentionDays: 0 }, 'retentionDays', /whole number >= 1/],
    [{ retentionDays: 1.5 }, 'retentionDays', /whole number >= 1/],
    [{ tables: [] }, 'tables', /non-empty list/],
    [{ tables: ['task_instances'] }, 'tables', /one of the tables airflow db clean 3.3 knows: _xcom_archive, asset_event/],
    [{ tables: ['xcom', 'dag'] }, 'tables', /a table airflow db clean can clean while DAGs run .*: deleting a dag deletes its dag_version rows .*#59474/],
    [{ tables: ['callback_request'] }, 'tables', /one of the tables airflow db clean 3.3 knows/],
    [{ tables: ['xcom', 'xcom'] }, 'tables', /at most once/],
    [{ batchSize: 0 }, 'batchSize', /whole number >= 1/],
    [{ archive: 'yes' }, 'archive', /expected a boolean/],
    [{ activeDeadlineSeconds: 10 }, 'activeDeadlineSeconds', /whole number >= 60/],
    [{ image: 'apache/airflow' }, 'image', /pinned/],
    [{ resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '128Mi' } } }, 'resources.limits.memory', /at least the request/],
  ])('rejects %j', (props, property, expected) => {
    let error: unknown;
    try { render(props as Partial<DatabaseCleanupProps>); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^DatabaseCleanup \\[test/db-cleanup\\] ${property.replace(/\./g, '\\.')}: got `));
    expect((error as Error).message).toMatch(expected);
  });
});
