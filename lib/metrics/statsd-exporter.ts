import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { checkKnownProps } from '../core/known-props';
import { podTemplateSpec, PodOptions, SAFE_TO_EVICT } from '../core/pod-options';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../core/security';
import { check, checkImage } from '../core/validation';

/** The statsd_exporter release the default image runs (the newest on the Go module proxy, github.com/prometheus/statsd_exporter). */
export const STATSD_EXPORTER_VERSION = 'v0.31.0';
/** The default exporter image, pinned. */
export const DEFAULT_STATSD_EXPORTER_IMAGE = `prom/statsd-exporter:${STATSD_EXPORTER_VERSION}`;
/** The port the exporter serves Prometheus metrics on (`--web.listen-address`, its default), TCP. */
export const STATSD_METRICS_PORT = 9102;
/** The image's user (`USER 65534`, nobody, in statsd_exporter's Dockerfile). */
export const STATSD_EXPORTER_UID = 65534;
/** Where the mapping is mounted. */
const MAPPING_DIR = '/etc/statsd-exporter';
/** The ConfigMap key of the mapping. */
export const STATSD_MAPPING_KEY = 'mapping.yaml';

/**
 * One mapping rule: an Airflow StatsD name (after the prefix) with `*` for one dot-separated part, the Prometheus
 * name (after `<prefix>_`) and the labels the parts become (`$1` is the first `*`).
 */
interface Rule { readonly match: string; readonly name: string; readonly labels: Record<string, string>; readonly ttl?: string }

/** Gauges the scheduler re-sends while they hold (each loop, or every `[scheduler] ti_metrics_interval`, 30 s). */
const REFRESHED = '5m';

/**
 * Airflow's names with a DAG, task, state, pool, executor or file in them: the `legacy_name`s of Airflow's metrics
 * registry (`airflow/_shared/observability/metrics/metrics_template.yaml`, 3.3.2; Airflow 3.3 writes a '.' in a value
 * as '__', so each value is one part). Each one's name without the values (`ti.finish`, what Airflow 3.2+ sends beside
 * it for tagging backends) is dropped: without tags it is a sum of the labelled series, or a gauge's last value of
 * any of them.
 */
const RULES: Rule[] = [
  { match: 'ti.start.*.*', name: 'ti_start', labels: { dag_id: '$1', task_id: '$2' } },
  { match: 'ti.finish.*.*.*', name: 'ti_finish', labels: { dag_id: '$1', task_id: '$2', state: '$3' } },
  ...['scheduled', 'queued', 'running', 'deferred'].map(state => (
    { match: `ti.${state}.*.*.*`, name: `ti_${state}`, labels: { queue: '$1', dag_id: '$2', task_id: '$3' }, ttl: REFRESHED })),
  ...['duration', 'scheduled_duration', 'queued_duration'].map(d => ({ match: `dag.*.*.${d}`, name: `task_${d}`, labels: { dag_id: '$1', task_id: '$2' } })),
  ...['success', 'failed'].map(state => ({ match: `dagrun.duration.${state}.*`, name: 'dagrun_duration', labels: { dag_id: '$1', state } })),
  { match: 'dagrun.schedule_delay.*', name: 'dagrun_schedule_delay', labels: { dag_id: '$1' } },
  { match: 'dagrun.dependency-check.*', name: 'dagrun_dependency_check', labels: { dag_id: '$1' } },
  ...['open_slots', 'queued_slots', 'running_slots', 'deferred_slots', 'scheduled_slots', 'starving_tasks'].map(g => (
    { match: `pool.${g}.*`, name: `pool_${g}`, labels: { pool: '$1' }, ttl: REFRESHED })),
  ...['open_slots', 'queued_tasks', 'running_tasks'].map(g => ({ match: `executor.${g}.*`, name: `executor_${g}`, labels: { executor: '$1' }, ttl: REFRESHED })),
  { match: 'dag_processing.last_run.seconds_ago.*', name: 'dag_processing_last_run_seconds_ago', labels: { file: '$1' } },
  { match: 'dag_processing.last_duration.*.*', name: 'dag_processing_last_duration', labels: { bundle: '$1', file: '$2' } },
  { match: 'task_removed_from_dag.*', name: 'task_removed_from_dag', labels: { dag_id: '$1' } },
  { match: 'task_restored_to_dag.*', name: 'task_restored_to_dag', labels: { dag_id: '$1' } },
  { match: 'triggers.running.*', name: 'triggers_running', labels: { hostname: '$1' } },
  { match: 'triggerer.capacity_left.*', name: 'triggerer_capacity_left', labels: { hostname: '$1' } },
];

/** The untagged twins of RULES' metrics (Airflow's new names, registry `name`), dropped. */
const DROPPED = [
  'ti.start', 'ti.finish', 'ti.scheduled', 'ti.queued', 'ti.running', 'ti.deferred', 'task.duration', 'task.scheduled_duration',
  'task.queued_duration', 'dagrun.duration.success', 'dagrun.duration.failed', 'dagrun.schedule_delay', 'dagrun.dependency-check',
  ...['open_slots', 'queued_slots', 'running_slots', 'deferred_slots', 'scheduled_slots', 'starving_tasks'].map(g => `pool.${g}`),
  'executor.open_slots', 'executor.queued_tasks', 'executor.running_tasks', 'dag_processing.last_run.seconds_ago',
  'dag_processing.last_duration', 'task_removed_from_dag', 'task_restored_to_dag', 'triggers.running', 'triggerer.capacity_left',
];

/**
 * Histogram buckets of every timer, in seconds (statsd_exporter turns StatsD's milliseconds into seconds): from a
 * scheduling delay of 100 ms to a task of hours.
 */
export const TIMER_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/**
 * statsd_exporter's mapping (`--statsd.mapping-config`) for Airflow's StatsD names under `prefix`: names with values in
 * them become labelled metrics (`airflow.ti.finish.<dag_id>.<task_id>.<state>` →
 * `airflow_ti_finish{dag_id, task_id, state}`, `airflow.pool.starving_tasks.<pool>` → `airflow_pool_starving_tasks{pool}`,
 * `airflow.executor.queued_tasks.<executor>` → `airflow_executor_queued_tasks{executor}`, `airflow.dag.<dag_id>.<task_id>.duration`
 * → `airflow_task_duration{dag_id, task_id}`); every other name keeps statsd_exporter's default, '.' and '-' as '_'
 * (`airflow.scheduler_heartbeat` → `airflow_scheduler_heartbeat`, `airflow.dag_processing.import_errors` →
 * `airflow_dag_processing_import_errors`). Timers are histograms in seconds (TIMER_BUCKETS); gauges the scheduler
 * re-sends while they hold (task instance states, pools, executor slots) expire 5 minutes after their last update, so a
 * pool that no longer starves does not keep its last count.
 * @see https://github.com/prometheus/statsd_exporter#metric-mapping-and-configuration
 */
export function statsdMapping(prefix = 'airflow'): string {
  return stringify({
    defaults: { match_type: 'glob', observer_type: 'histogram', histogram_options: { buckets: TIMER_BUCKETS } },
    mappings: [
      ...RULES.map(r => ({ match: `${prefix}.${r.match}`, name: `${prefix}_${r.name}`, labels: r.labels, ...r.ttl ? { ttl: r.ttl } : {} })),
      // a regular expression: statsd_exporter's glob matcher does not match a rule's name that another rule's begins
      // (`airflow.pool.open_slots` beside `airflow.pool.open_slots.*`), and the glob rules go first
      { match: `^${escape(prefix)}\\.(?:${DROPPED.map(escape).join('|')})$`, match_type: 'regex', name: 'dropped', action: 'drop' },
    ],
  }, { lineWidth: 0 });
}

/** The text as a regular expression that matches it literally. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** Properties of {@link StatsdExporter}. */
export interface StatsdExporterProps {
  /** The installation whose StatsD it receives: its `metrics.statsd` (prefix, port) and names. */
  readonly config: AirflowConfig;
  /** The statsd_exporter image, pinned by tag or digest. @default DEFAULT_STATSD_EXPORTER_IMAGE */
  readonly image?: string;
  /** @default requests cpu 50m, memory 64Mi; limits memory 128Mi */
  readonly resources?: ContainerResourcesProps;
  /** Scheduling, pull secrets, metadata and sidecars of its pod (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * Prometheus's statsd_exporter for one Airflow installation: a Deployment of one pod (StatsD counters and gauges live in
 * its memory; two pods would each hold a part), a Service `<instanceName>-statsd` with `statsd` (9125/UDP, where every
 * Airflow process and task pod sends) and `metrics` (9102/TCP, `/metrics`), and the ConfigMap `<instanceName>-statsd`
 * with its mapping ({@link statsdMapping}). The pod template carries `prometheus.io/scrape`, `port` and `path` for a
 * Prometheus that discovers pods by annotations (the Service does not: a Prometheus that also scrapes annotated
 * Services' endpoints would count every series twice); AirflowServiceMonitor is the Prometheus Operator's way.
 * Its process runs as the image's user 65534 under the "restricted" Pod Security profile, with a read-only root.
 * @see https://github.com/prometheus/statsd_exporter
 * @throws AirflowValidationError without `config.metrics.statsd` to this exporter's Service, or for an unpinned image.
 */
export class StatsdExporter extends Construct {
  public readonly name: string;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  public readonly mapping: k8s.KubeConfigMap;
  /** The metric prefix (`[metrics] statsd_prefix`): every mapped name begins `<prefix>_`. */
  public readonly prefix: string;
  public readonly image: string;
  public readonly config: AirflowConfig;
  /**
   * The label matchers of this exporter's series as Prometheus stores them when a ServiceMonitor scrapes it:
   * `namespace="<namespace>",job="<instanceName>-statsd"` (the job is the Service's name).
   */
  public get seriesSelector(): string {
    return `namespace="${this.config.namespace}",job="${this.name}"`;
  }

  constructor(scope: Construct, id: string, props: StatsdExporterProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const config = this.config = checkConfig(this, props.config);
    const statsd = config.metrics?.statsd;
    check(statsd !== undefined, this, 'config', 'an AirflowConfig without metrics.statsd', 'the AirflowConfig of an installation that sends StatsD (metrics: { statsd: {} })');
    this.name = config.names.name('statsd');
    const own = `${this.name}.${config.namespace}`;
    check(statsd!.host === own, this, 'config', `an AirflowConfig whose metrics.statsd.host is ${statsd!.host}`,
      `the AirflowConfig of an installation that sends StatsD to this exporter's Service, ${own} (metrics.statsd.host unset)`);
    this.prefix = statsd!.prefix;
    this.image = checkImage(this, 'image', props.image ?? DEFAULT_STATSD_EXPORTER_IMAGE);
    const names = config.names;
    const labels = names.labels('statsd', this.image);
    const resources = renderResources(this, 'resources', props.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    const mapping = statsdMapping(this.prefix);
    this.mapping = new k8s.KubeConfigMap(this, 'Mapping', { metadata: { name: this.name, labels }, data: { [STATSD_MAPPING_KEY]: mapping } });
    const scrape = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(STATSD_METRICS_PORT), 'prometheus.io/path': '/metrics' };
    const probe = (path: string) => ({ httpGet: { path, port: k8s.IntOrString.fromString('metrics') }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, labels },
      spec: {
        replicas: 1,
        revisionHistoryLimit: 5,
        // one pod at a time: a second would split the counters between two memories
        strategy: { type: 'Recreate' },
        selector: { matchLabels: names.selector('statsd') },
        template: podTemplateSpec(this, props.pod, 'statsd-exporter', {
          metadata: {
            labels,
            annotations: { ...scrape, [SAFE_TO_EVICT]: 'true', 'checksum/mapping': createHash('sha256').update(mapping).digest('hex') },
          },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: restrictedPodSecurity(STATSD_EXPORTER_UID, STATSD_EXPORTER_UID),
            containers: [{
              name: 'statsd-exporter',
              image: this.image,
              args: [
                `--statsd.mapping-config=${MAPPING_DIR}/${STATSD_MAPPING_KEY}`,
                `--statsd.listen-udp=:${statsd!.port}`,
                // Airflow's StatsClient sends UDP only
                '--statsd.listen-tcp=',
                `--web.listen-address=:${STATSD_METRICS_PORT}`,
                '--web.telemetry-path=/metrics',
              ],
              ports: [
                { name: 'statsd', containerPort: statsd!.port, protocol: 'UDP' },
                { name: 'metrics', containerPort: STATSD_METRICS_PORT, protocol: 'TCP' },
              ],
              // statsd_exporter's own health endpoints (main.go: /-/healthy, /-/ready)
              readinessProbe: probe('/-/ready'),
              livenessProbe: { ...probe('/-/healthy'), periodSeconds: 20, timeoutSeconds: 5 },
              resources,
              securityContext: restrictedContainerSecurity(STATSD_EXPORTER_UID, STATSD_EXPORTER_UID),
              volumeMounts: [{ name: 'mapping', mountPath: MAPPING_DIR, readOnly: true }],
            }],
            volumes: [{ name: 'mapping', configMap: { name: this.name } }],
          },
        }),
      },
    });
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, labels },
      spec: {
        selector: names.selector('statsd'),
        ports: [
          { name: 'statsd', port: statsd!.port, targetPort: k8s.IntOrString.fromString('statsd'), protocol: 'UDP' },
          { name: 'metrics', port: STATSD_METRICS_PORT, targetPort: k8s.IntOrString.fromString('metrics'), protocol: 'TCP' },
        ],
      },
    });
  }
}
