// DatabaseCleanup against the Airflow that scripts/integration/setup.sh installs (the locked release the
// default image pins): its `airflow db clean` knows exactly the tables and flags the CronJob emits, and the
// CronJob's exact script cleans a real Airflow database. setup() installs what is missing; when it cannot,
// these tests fail, never skip. The CronJob's shape and its script's arguments are unit tests:
// __tests__/database-cleanup.test.ts.
import { execFileSync } from 'child_process';
import { copyFileSync } from 'fs';
import { join } from 'path';
import { AIRFLOW_VERSION, airflowSeries, DatabaseCleanupProps, DB_CLEAN_TABLES } from '../../lib';
import { argvOf, DAY_MS, renderCleanup as render, scriptOf } from '../maintenance-jobs';
import { airflowVenv, run } from './airflow-venv';

// setup.sh may install Airflow (cold: minutes), and `airflow db migrate` takes longer than a unit test may.
jest.setTimeout(600_000);

describe(`DatabaseCleanup with Airflow ${AIRFLOW_VERSION}`, () => {
  let venv: string;
  let home: string;
  let envFor: ReturnType<typeof airflowVenv>['envFor'];
  let airflow: ReturnType<typeof airflowVenv>['airflow'];
  let cleanup: () => void;
  beforeAll(() => ({ venv, home, envFor, airflow, cleanup } = airflowVenv('db-cleanup-airflow-')), 3600_000);
  afterAll(() => cleanup());

  test(`the venv is Airflow ${AIRFLOW_VERSION}, and its \`db clean --help\` lists exactly DB_CLEAN_TABLES and every flag the CronJob emits`, async () => {
    expect((await airflow('help.db', ['version'])).stdout.trim()).toBe(AIRFLOW_VERSION);
    const help = (await airflow('help.db', ['db', 'clean', '--help'])).stdout;
    const options = JSON.parse(/Options: (\[[^\]]*\])/.exec(help)![1].replace(/'/g, '"'));
    expect(options).toEqual([...DB_CLEAN_TABLES[airflowSeries(AIRFLOW_VERSION)]]);
    const flags = new Set(help.match(/--[a-z][-a-z]*/g));
    const emitted = [render(), render({ archive: true, batchSize: 10, tables: ['log'] })]
      .flatMap(({ container }) => argvOf(scriptOf(container)).argv.filter(a => a.startsWith('--')));
    expect(new Set(emitted)).toEqual(new Set(['--clean-before-timestamp', '--yes', '--skip-archive', '--tables', '--batch-size']));
    for (const flag of emitted) expect(flags).toContain(flag);
  });

  // Airflow 3.1 and 3.2 delete a dag_version in use and fail; 3.3 skips it (skip_if_referenced), and the CronJob
  // cleans dag_version only where the derived reference says so
  const cleansVersions = render().cleanup.tables.includes('dag_version');
  test(`the CronJob's exact script cleans a real Airflow ${AIRFLOW_VERSION} database; \`--tables dag_version\` ${cleansVersions ? 'keeps the version in use' : 'fails on it'}`, async () => {
    await airflow('seed.db', ['db', 'migrate']);
    // one DAG whose only version is 400 days old, one run (task instance, xcom) 200 days ago and one yesterday
    execFileSync(join(venv, 'bin', 'python'), ['-c', `
import datetime, sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA foreign_keys=ON')
now = datetime.datetime.now(datetime.timezone.utc)
ago = lambda days: (now - datetime.timedelta(days=days)).strftime('%Y-%m-%d %H:%M:%S.%f')
def insert(table, **values):
    # NOT NULL columns without a default that this release's schema adds get a value of their type
    for _cid, name, kind, notnull, default, pk in db.execute(f'pragma table_info({table})').fetchall():
        kind = kind.upper()
        if notnull and default is None and not pk and name not in values:
            values[name] = 0 if any(k in kind for k in ('INT', 'BOOL', 'FLOAT', 'NUMERIC', 'REAL')) else ago(0) if any(k in kind for k in ('TIME', 'DATE')) else '{}' if 'JSON' in kind else 'x'
    db.execute(f"insert into {table}({', '.join(values)}) values ({', '.join('?' * len(values))})", list(values.values()))
insert('dag_bundle', name='bundle')
insert('dag', dag_id='d', bundle_name='bundle', max_active_tasks=16, max_consecutive_failed_dag_runs=0, has_task_concurrency_limits=0, last_parsed_time=ago(0))
version = uuid.uuid4().hex
insert('dag_version', id=version, version_number=1, dag_id='d', created_at=ago(400), last_updated=ago(400))
for i, (run, days) in enumerate([('old', 200), ('new', 1)], 1):
    insert('dag_run', id=i, dag_id='d', run_id=run, run_type='scheduled', run_after=ago(days), start_date=ago(days), created_dag_version_id=version)
    insert('task_instance', id=str(uuid.uuid4()), task_id='t', dag_id='d', run_id=run, pool='default_pool', pool_slots=1, start_date=ago(days), dag_version_id=version)
    insert('xcom', dag_run_id=i, task_id='t', key='k', dag_id='d', run_id=run, timestamp=ago(days))
    insert('log', id=i, dttm=ago(days), event=run)
    insert('job', id=i, latest_heartbeat=ago(days))
db.commit()
`, join(home, 'seed.db')]);
    for (const db of ['default.db', 'archive.db', 'dag-version.db']) copyFileSync(join(home, 'seed.db'), join(home, db));

    // What the CronJob leaves out, on a third copy: the DAG's 400-day-old version is still used by yesterday's task
    // instance, and task_instance.dag_version_id is ON DELETE RESTRICT. On PostgreSQL the IntegrityError aborts the
    // run (exit 1, apache/airflow#59474); on SQLite the archive table's drop fails next and Airflow logs a warning.
    const before = new Date(Date.now() - 90 * DAY_MS).toISOString().replace(/\.\d+Z$/, '+00:00');
    const bash = (db: string, props: Partial<DatabaseCleanupProps>) => run('bash', ['-c', scriptOf(render(props).container)], envFor(db));
    const [dagVersion, ...runs] = await Promise.all([
      airflow('dag-version.db', ['db', 'clean', '--clean-before-timestamp', before, '--yes', '--skip-archive', '--tables', 'dag_version'],
        { AIRFLOW__LOGGING__LOGGING_LEVEL: 'DEBUG' }), // DEBUG: with the traceback
      bash('default.db', {}),
      bash('archive.db', { archive: true, batchSize: 1 }),
    ]);
    expect(runs.map(r => r.status)).toEqual([0, 0]);
    // tables a fresh database lacks (Celery's, and those a 2.x database brings along) are skipped with a warning
    for (const r of runs) expect(r.stdout + r.stderr).not.toMatch(/Traceback|Error\b|\berror\b/);
    expect(runs[0].stdout + runs[0].stderr).toMatch(/Table celery_taskmeta not found\.  Skipping\./);
    expect(runs[0].stdout).toMatch(/^airflow db clean: deleting metadata from before \S+ \(90 days\)\n/);

    const query = (db: string) => JSON.parse(execFileSync(join(venv, 'bin', 'python'), ['-c', `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = lambda sql: [r[0] for r in db.execute(sql)]
print(json.dumps({t: rows(f'select {c} from {t} order by 1') for t, c in [('dag_run', 'run_id'), ('task_instance', 'run_id'), ('xcom', 'run_id'),
    ('log', 'event'), ('job', 'id'), ('dag_version', 'version_number'), ('dag', 'dag_id')]}
    | {'tables': rows("select name from sqlite_master where type = 'table' order by 1")}))
`, join(home, db)], { encoding: 'utf8' }));
    // (the log table also holds the audit row the `airflow db clean` command writes for itself)
    const kept = { dag_run: ['new'], task_instance: ['new'], xcom: ['new'], log: ['cli_cleanup_tables', 'new'], job: [2], dag_version: [1], dag: ['d'] };
    const archives = (state: { tables: string[] }) => state.tables.filter(t => t.startsWith('_airflow_deleted__'));
    const cleaned = query('default.db');
    expect(cleaned).toMatchObject(kept);
    expect(archives(cleaned)).toEqual([]);
    const archived = query('archive.db');
    expect(archived).toMatchObject(kept);
    for (const table of ['dag_run', 'task_instance', 'xcom', 'log', 'job']) {
      expect(archives(archived)).toContainEqual(expect.stringMatching(new RegExp(`^_airflow_deleted__${table}__\\d{14}__b1$`)));
    }

    const { stdout, stderr } = dagVersion;
    if (cleansVersions) {
      expect(stdout + stderr).not.toMatch(/Encountered error|IntegrityError/);
    } else {
      expect(stdout + stderr).toMatch(/Encountered error when attempting to clean table 'dag_version'/);
      expect(stdout + stderr).toMatch(/IntegrityError\) FOREIGN KEY constraint failed\s+\[SQL: DELETE FROM dag_version/);
    }
    expect(query('dag-version.db').dag_version).toEqual([1]);
  });
});
