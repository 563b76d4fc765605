import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { checkSchedule, maintenanceCronJob } from './cron-job';
import { airflowPodSpec, DEFAULT_MIGRATION_WAIT_RESOURCES } from './airflow-pod';
import { checkKnownProps } from '../core/known-props';
import { PodOptions } from '../core/pod-options';
import reference from '../config/airflow-options.json';
import { airflowSeries } from '../core/names';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { check, checkWholeNumber } from '../core/validation';

type CleanTables = Record<string, { skipIfReferenced: boolean }>;
const CLEAN_TABLES = Object.fromEntries(Object.entries((reference as { series: Record<string, { dbCleanTables: CleanTables }> }).series)
  .map(([series, r]) => [series, r.dbCleanTables]));

/**
 * The tables `airflow db clean --tables` knows, per supported Airflow series (`3.3` → names, sorted): `config_list`
 * in `airflow/utils/db_cleanup.py` of the series' newest release, the list its `--help` prints (derived from the
 * wheel, lib/config/airflow-options.json). `session` is added there only when `[core] auth_manager` is the FabAuthManager
 * with `[fab] session_backend = database`; {@link DatabaseCleanup} accepts it only then. A name outside the list is
 * not an error to Airflow: it logs a warning and skips it (`_effective_table_names`), so a typo would silently clean
 * nothing.
 */
export const DB_CLEAN_TABLES: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(CLEAN_TABLES).map(([series, tables]) => [series, Object.keys(tables).sort()]));

/**
 * Why a table cannot be cleaned while DAGs run, in an Airflow series; undefined when it can. `task_instance.dag_version_id`
 * is `ON DELETE RESTRICT`: deleting a `dag_version` a task instance still uses raises an IntegrityError that
 * `_suppress_with_logging` does not catch, so on PostgreSQL the run aborts (exit 1) with the tables after it left
 * uncleaned; one DAG unchanged for longer than the retention and run since is enough.
 * - `dag_version`: Airflow 3.1 and 3.2 delete it by its own `created_at`, also when it is still used; 3.3 skips
 *   the referenced ones (`skip_if_referenced`, apache/airflow#68523), which the wheel's `config_list` tells.
 * - `dag`: deleted by `last_parsed_time`, and its `dag_version` rows go with it (ON DELETE CASCADE), used or not.
 * That is also what the official chart runs by default (no `--tables`).
 * @see https://github.com/apache/airflow/issues/59474
 * @see https://github.com/apache/airflow/issues/63703
 */
function unsafeTable(series: string, table: string): string | undefined {
  if (table === 'dag') return 'deleting a dag deletes its dag_version rows (ON DELETE CASCADE), used or not';
  if (table === 'dag_version' && !CLEAN_TABLES[series].dag_version.skipIfReferenced) {
    return `Airflow ${series} deletes a dag_version by its own age, also while a newer task instance still uses it`;
  }
  return undefined;
}

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
   * `xcom`). `dag` is refused, and so is `dag_version` before Airflow 3.3: `airflow db clean` aborts on them while
   * their rows are in use (apache/airflow#59474). A listed table the database does not have (Celery's; `sla_miss` and
   * `_xcom_archive` exist only in databases upgraded from 2.x) is skipped with a warning.
   * @default every table of the installation's series in DB_CLEAN_TABLES but `dag` (and `dag_version` before 3.3), plus
   * `session` with the FabAuthManager
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
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
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
    this.cronJob = maintenanceCronJob(this, { name: this.name, labels, schedule, historyLimit: 1, backoffLimit: 1, activeDeadlineSeconds: deadline, podSpec, pod: props.pod, main: 'db-cleanup' });
  }

  private checkTables(config: AirflowConfig, tables: string[] | undefined): string[] {
    const series = airflowSeries(config.airflowVersion);
    const known = [...DB_CLEAN_TABLES[series], ...(fabSessions(config.airflowCfg) ? ['session'] : [])].sort();
    const safe = known.filter(t => unsafeTable(series, t) === undefined);
    if (tables === undefined) return safe;
    check(Array.isArray(tables) && tables.length > 0, this, 'tables', tables, 'a non-empty list of table names');
    const seen = new Set<string>();
    for (const table of tables) {
      check(unsafeTable(series, table) === undefined, this, 'tables', table,
        () => `a table airflow db clean can clean while DAGs run (${safe.join(', ')}): ${unsafeTable(series, table)}, and the run aborts (apache/airflow#59474)`);
      check(known.includes(table), this, 'tables', table,
        () => `one of the tables airflow db clean ${series} knows: ${safe.join(', ')}`);
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
