import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { AirflowConfig, checkConfig } from './airflow-config';
import { checkSchedule, maintenanceCronJob } from './cron-job';
import { airflowPodSpec, DEFAULT_MIGRATION_WAIT_RESOURCES } from './airflow-pod';
import { checkKnownProps } from './known-props';
import { ContainerResourcesProps, renderResources } from './resources';
import { check, checkWholeNumber } from './validation';

/**
 * The tables `airflow db clean --tables` knows in Airflow 3.1.7: `config_list` in
 * `airflow/utils/db_cleanup.py` (lines 110-153), the list its `--help` prints. `session` is added there
 * (lines 157-161) only when `[core] auth_manager` is the FabAuthManager with `[fab] session_backend = database`;
 * {@link DatabaseCleanup} accepts it only then. A name outside the list is not an error to Airflow: it logs a
 * warning and skips it (`_effective_table_names`), so a typo would silently clean nothing.
 */
export const DB_CLEAN_TABLES: readonly string[] = [
  '_xcom_archive', 'asset_event', 'callback_request', 'celery_taskmeta', 'celery_tasksetmeta', 'dag', 'dag_run',
  'dag_version', 'deadline', 'import_error', 'job', 'log', 'sla_miss', 'task_instance', 'task_instance_history',
  'task_reschedule', 'trigger', 'xcom',
];

/**
 * Tables `airflow db clean` 3.1.7 cannot clean while DAGs run: it deletes a `dag_version` by its own
 * `created_at` (a `dag` by `last_parsed_time`, and the versions of a deleted dag go with it), also when a newer
 * task instance still uses it, and `task_instance.dag_version_id` is `ON DELETE RESTRICT` (models/taskinstance.py:434).
 * The IntegrityError is not one `_suppress_with_logging` catches, so on PostgreSQL the run aborts (exit 1) with the
 * tables after it left uncleaned: one DAG unchanged for longer than the retention and run since is enough. That is
 * also what the official chart runs by default (no `--tables`). Later Airflow versions skip referenced versions
 * (apache/airflow#68523).
 * @see https://github.com/apache/airflow/issues/59474
 * @see https://github.com/apache/airflow/issues/63703
 */
const UNSAFE_TABLES: Record<string, string> = {
  dag: 'deleting a dag deletes its dag_version rows (ON DELETE CASCADE)',
  dag_version: 'it is deleted by its own age',
};

/** Properties of {@link DatabaseCleanup}. */
export interface DatabaseCleanupProps {
  readonly config: AirflowConfig;
  /** The Airflow image that runs `airflow db clean`; the components' own. @default the config's defaultImage (AirflowConfig.airflowImage says what is accepted) */
  readonly image?: string;
  /** When it runs, a five-field cron schedule in the controller-manager's time zone (usually UTC). @default '30 3 * * *' (daily, 03:30) */
  readonly schedule?: string;
  /**
   * Days of metadata to keep: rows older than this many days (by each table's own time column, e.g.
   * `task_instance.start_date`, `log.dttm`, `job.latest_heartbeat`) are deleted. Airflow keeps the latest
   * scheduled run of every DAG regardless. @default 90
   */
  readonly retentionDays?: number;
  /**
   * The tables to clean, from {@link DB_CLEAN_TABLES}. Airflow also cleans the tables that reference a chosen
   * one (`dag_run` brings `task_instance` and `deadline`; `task_instance` brings `task_instance_history` and
   * `xcom`). `dag` and `dag_version` are refused: Airflow 3.1.7 aborts on them (apache/airflow#59474). A listed table
   * the database does not have (Celery's; `sla_miss` and `_xcom_archive` exist only in databases upgraded from 2.x)
   * is skipped with a warning.
   * @default every table of DB_CLEAN_TABLES but `dag` and `dag_version` (plus `session` with the FabAuthManager)
   */
  readonly tables?: string[];
  /** Rows deleted per transaction (`--batch-size`): shorter locks, more statements. @default - one transaction per table */
  readonly batchSize?: number;
  /**
   * Keep the deleted rows in new `_airflow_deleted__<table>__<timestamp>` tables (utils/db_cleanup.py `_do_delete`).
   * Every run creates new ones and only `airflow db drop-archived` (or `export-archived --drop-archives`) removes
   * them, so on a schedule the rows are moved, not freed, and the archives grow forever. @default false (`--skip-archive`)
   */
  readonly archive?: boolean;
  /**
   * Seconds a run may take before Kubernetes stops it. The deletes commit table by table (batch by batch with
   * `batchSize`), so a stopped run loses only its current transaction and the next run goes on from there.
   * @default 10800 (3 hours)
   */
  readonly activeDeadlineSeconds?: number;
  /** @default requests 100m CPU / 256Mi, limit 512Mi (the database does the work; the CLI process itself peaks near 160 MB) */
  readonly resources?: ContainerResourcesProps;
}

/**
 * A CronJob `<instanceName>-db-cleanup` that runs `airflow db clean` daily: task instances, DAG runs, the `log`
 * (audit) table, XComs, jobs, asset events, import errors and the rest of {@link DB_CLEAN_TABLES} older than
 * `retentionDays` are deleted, so the metadata database stops growing with every run. Like the official chart's
 * `databaseCleanup` CronJob, the cut-off is computed in the container with GNU `date` (the image is Debian),
 * here in UTC with an explicit `+00:00` so that `[core] default_timezone` does not shift it:
 *
 *   `airflow db clean --clean-before-timestamp <now - retentionDays, UTC> --yes --skip-archive --tables <tables>`
 *
 * The pod gets the database connection and nothing else (no fernet key: nothing is decrypted; no JWT or API
 * secret; no Kubernetes API token). Unlike task pods it uses the database, so the image entrypoint's
 * `airflow db check` runs first, and it waits for migrations like every component. With the NetworkPolicies of
 * {@link AirflowNetworkPolicies}, PostgreSQL must admit the `db-cleanup` component.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/cli-and-env-variables-ref.html#clean
 */
export class DatabaseCleanup extends Construct {
  public readonly name: string;
  public readonly cronJob: k8s.KubeCronJob;
  /** The tables given to `--tables`. */
  public readonly tables: readonly string[];

  /** @throws AirflowValidationError for a bad schedule, retention, table, batch size, deadline, image or resources. */
  constructor(scope: Construct, id: string, props: DatabaseCleanupProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    const image = props.config.airflowImage(this, 'image', props.image);
    const schedule = checkSchedule(this, 'schedule', props.schedule ?? '30 3 * * *');
    const retentionDays = checkWholeNumber(this, 'retentionDays', props.retentionDays ?? 90, 1);
    const archive = props.archive ?? false;
    const batchSize = props.batchSize === undefined ? undefined : checkWholeNumber(this, 'batchSize', props.batchSize, 1);
    const deadline = checkWholeNumber(this, 'activeDeadlineSeconds', props.activeDeadlineSeconds ?? 10800, 60);
    this.tables = this.checkTables(config, props.tables);

    const script = [
      'set -euo pipefail',
      `clean_before="$(date -u -d '-${retentionDays} days' '+%Y-%m-%dT%H:%M:%S+00:00')"`,
      `echo "airflow db clean: deleting metadata from before \${clean_before} (${retentionDays} days)"`,
      ['exec airflow db clean --clean-before-timestamp "${clean_before}" --yes',
        ...(archive ? [] : ['--skip-archive']),
        `--tables ${this.tables.join(',')}`,
        ...(batchSize === undefined ? [] : [`--batch-size ${batchSize}`]),
      ].join(' '),
    ].join('\n');

    const podSpec = airflowPodSpec(this, {
      config,
      image,
      containerName: 'db-cleanup',
      // the image entrypoint runs `bash ARGS` as it is, after its `airflow db check`
      args: ['bash', '-c', script],
      resources: renderResources(this, 'resources', props.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } }),
      secretUses: ['sqlAlchemyConn'],
      optionSecrets: 'all',
      migrationWait: renderResources(this, 'migrationWaitResources', undefined, DEFAULT_MIGRATION_WAIT_RESOURCES),
      restartPolicy: 'Never',
    });
    this.name = config.names.name('db-cleanup');
    const labels = config.names.labels('db-cleanup', image);
    this.cronJob = maintenanceCronJob(this, { name: this.name, labels, schedule, historyLimit: 1, backoffLimit: 1, activeDeadlineSeconds: deadline, podSpec });
  }

  private checkTables(config: AirflowConfig, tables: string[] | undefined): string[] {
    const known = [...DB_CLEAN_TABLES, ...(fabSessions(config.airflowCfg) ? ['session'] : [])].sort();
    if (tables === undefined) return known.filter(t => UNSAFE_TABLES[t] === undefined);
    check(Array.isArray(tables) && tables.length > 0, this, 'tables', tables, 'a non-empty list of table names');
    const seen = new Set<string>();
    for (const table of tables) {
      check(UNSAFE_TABLES[table] === undefined, this, 'tables', table,
        `a table other than dag and dag_version: Airflow 3.1.7 aborts when it deletes a dag_version a newer task instance still uses, and ${UNSAFE_TABLES[table]} (apache/airflow#59474)`);
      check(known.includes(table), this, 'tables', table,
        () => `one of the tables airflow db clean 3.1.7 knows: ${known.filter(t => UNSAFE_TABLES[t] === undefined).join(', ')}`);
      check(!seen.has(table), this, 'tables', table, 'each table at most once (it is given twice)');
      seen.add(table);
    }
    return [...tables];
  }
}

/**
 * Whether Airflow adds `session` to the tables it cleans (utils/db_cleanup.py lines 157-161): `[core] auth_manager`
 * names the FabAuthManager and `[fab] session_backend` is `database` (its default).
 */
function fabSessions(airflowCfg: string): boolean {
  const option = (section: string, name: string) => {
    const body = airflowCfg.split(/^\[/m).find(s => s.startsWith(`${section}]\n`));
    return body?.split('\n').find(l => l.startsWith(`${name} = `))?.slice(name.length + 3);
  };
  return (option('core', 'auth_manager') ?? '').includes('FabAuthManager') && (option('fab', 'session_backend') ?? 'database') === 'database';
}
