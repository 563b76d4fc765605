import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { StatsdExporter } from './statsd-exporter';
import { check, checkLabels } from '../core/validation';

/** Properties of {@link AirflowGrafanaDashboard}. */
export interface AirflowGrafanaDashboardProps {
  /** The exporter whose metrics the panels show. */
  readonly exporter: StatsdExporter;
  /**
   * The labels Grafana's dashboard sidecar looks for (its `LABEL` and `LABEL_VALUE`; kube-prometheus-stack's
   * `sidecar.dashboards.label`, default `grafana_dashboard`, value "1"). @default { grafana_dashboard: '1' }
   */
  readonly sidecarLabels?: Record<string, string>;
  /** The Grafana folder the sidecar puts it in (annotation `grafana_folder`, with `folderAnnotation: grafana_folder`). @default none: the sidecar's default folder */
  readonly folder?: string;
}

/** The dashboard's file in the ConfigMap. */
export const DASHBOARD_KEY = 'airflow.json';

/**
 * A Grafana dashboard of one installation's StatsD metrics (scheduler heartbeats, DAG import errors, task instances
 * finished by state and their failure share, queued and running task instances, pool slots and tasks waiting in full pools,
 * executor slots, the time from scheduled to queued,
 * DAG run and task durations) in the ConfigMap `<instanceName>-dashboard`, labelled for Grafana's dashboard sidecar,
 * which loads every ConfigMap with its label. Its panels query the Prometheus data source chosen in the dashboard's
 * `datasource` variable, for the series of the exporter's namespace (`namespace="<namespace>"`): the label both a
 * ServiceMonitor and an annotation-based scrape (`prometheus.io/*`, the common `kubernetes-pods` job) give, whatever
 * they name the job. Two installations in one namespace share the panels.
 * @see https://github.com/grafana/helm-charts/tree/main/charts/grafana#sidecar-for-dashboards
 * @throws AirflowValidationError for invalid labels or folder.
 */
export class AirflowGrafanaDashboard extends Construct {
  public readonly configMap: k8s.KubeConfigMap;
  /** The dashboard, as the ConfigMap carries it (JSON). */
  public readonly dashboard: any;

  constructor(scope: Construct, id: string, props: AirflowGrafanaDashboardProps) {
    super(scope, id);
    checkKnownProps(this, props);
    check(props.exporter instanceof StatsdExporter, this, 'exporter', typeof props.exporter, 'a StatsdExporter');
    const sidecar = checkLabels(this, 'sidecarLabels', props.sidecarLabels ?? { grafana_dashboard: '1' });
    check(Object.keys(sidecar).length > 0, this, 'sidecarLabels', sidecar, 'at least one label: the sidecar loads only ConfigMaps with its label');
    check(props.folder === undefined || (typeof props.folder === 'string' && props.folder.trim() !== '' && !/[\r\n]/.test(props.folder)), this, 'folder', props.folder,
      'a folder name on one line');
    const exporter = props.exporter;
    const names = exporter.config.names;
    this.dashboard = dashboard(exporter.prefix, `namespace="${exporter.config.namespace}"`, `Airflow ${exporter.config.namespace}/${names.instanceName}`);
    this.configMap = new k8s.KubeConfigMap(this, 'Resource', {
      metadata: {
        name: names.name('dashboard'),
        labels: { ...sidecar, ...names.labels('dashboard', exporter.image) },
        ...props.folder ? { annotations: { grafana_folder: props.folder } } : {},
      },
      data: { [DASHBOARD_KEY]: JSON.stringify(this.dashboard, undefined, 1) },
    });
  }
}

/** The dashboard JSON: one row of panels per concern, every query over `<prefix>_...{selector}`. */
export function dashboard(prefix: string, selector: string, title: string): any {
  const m = (name: string, extra = '') => `${prefix}_${name}{${selector}${extra}}`;
  const panels: [string, string, { expr: string; legend: string }[], string?][] = [
    ['Scheduler heartbeats', 'ops', [{ expr: `sum(rate(${m('scheduler_heartbeat')}[5m]))`, legend: 'heartbeats/s' }]],
    ['DAG import errors', 'short', [{ expr: `max(${m('dag_processing_import_errors')})`, legend: 'files' }]],
    ['Task instances finished, by state', 'ops', [{ expr: `sum by (state) (rate(${m('ti_finish')}[5m]))`, legend: '{{state}}' }]],
    ['Share of finished task instances that failed', 'percentunit', [
      { expr: `sum(rate(${m('ti_finish', ',state="failed"')}[15m])) / sum(rate(${m('ti_finish')}[15m]))`, legend: 'failed' }]],
    ['Queued task instances', 'short', [{ expr: `sum by (dag_id, task_id) (${m('ti_queued')})`, legend: '{{dag_id}}.{{task_id}}' }]],
    ['Running task instances', 'short', [{ expr: `sum by (dag_id) (${m('ti_running')})`, legend: '{{dag_id}}' }]],
    ['Pool slots', 'short', [
      { expr: `sum by (pool) (${m('pool_open_slots')})`, legend: '{{pool}} open' },
      { expr: `sum by (pool) (${m('pool_running_slots')})`, legend: '{{pool}} running' },
      { expr: `sum by (pool) (${m('pool_queued_slots')})`, legend: '{{pool}} queued' }]],
    ['Tasks waiting in full pools', 'short', [
      { expr: `max by (pool) (${m('pool_scheduled_slots')}) and on (pool) max by (pool) (${m('pool_open_slots')}) <= 0`, legend: '{{pool}}' }]],
    ['Executor slots', 'short', [
      { expr: `sum(${m('executor_open_slots')})`, legend: 'open' },
      { expr: `sum(${m('executor_queued_tasks')})`, legend: 'queued' },
      { expr: `sum(${m('executor_running_tasks')})`, legend: 'running' }]],
    ['DAG run duration (mean over 1h)', 's', [
      { expr: `sum by (dag_id, state) (rate(${m('dagrun_duration_sum')}[1h])) / sum by (dag_id, state) (rate(${m('dagrun_duration_count')}[1h]))`, legend: '{{dag_id}} {{state}}' }]],
    ['Task duration p90', 's', [
      { expr: `histogram_quantile(0.9, sum by (dag_id, task_id, le) (rate(${m('task_duration_bucket')}[1h])))`, legend: '{{dag_id}}.{{task_id}}' }]],
    ['Time from scheduled to queued p90', 's', [
      { expr: `histogram_quantile(0.9, sum by (le) (rate(${m('task_scheduled_duration_bucket')}[1h])))`, legend: 'p90' }]],
  ];
  return {
    title,
    uid: undefined,
    tags: ['airflow'],
    timezone: 'utc',
    schemaVersion: 39,
    refresh: '1m',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }] },
    panels: panels.map(([panelTitle, unit, targets], i) => ({
      id: i + 1,
      type: 'timeseries',
      title: panelTitle,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit }, overrides: [] },
      targets: targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend, datasource: { type: 'prometheus', uid: '${datasource}' } })),
    })),
  };
}
