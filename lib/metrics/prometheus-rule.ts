import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { checkKnownProps } from '../core/known-props';
import { checkPrometheusDuration } from './prometheus-duration';
import { StatsdExporter } from './statsd-exporter';
import { check, checkLabels } from '../core/validation';

/** Properties of {@link AirflowPrometheusRule}. */
export interface AirflowPrometheusRuleProps {
  /** The exporter whose series the rules read (see StatsdExporter.seriesSelector). */
  readonly exporter: StatsdExporter;
  /** Labels of the PrometheusRule besides the library's, for the Prometheus's `ruleSelector`, e.g. `{ release: 'kube-prometheus-stack' }`. @default none */
  readonly labels?: Record<string, string>;
  /** How long a task may stay queued before AirflowTasksStuckQueued fires, a Prometheus duration. @default '15m' */
  readonly queuedFor?: string;
  /** How long a pool may have tasks waiting for slots before AirflowPoolStarving fires, a Prometheus duration. @default '15m' */
  readonly starvingFor?: string;
  /** The share of finished tasks that failed, over 15 minutes, above which AirflowHighTaskFailureRate fires: a number in (0, 1). @default 0.2 */
  readonly failureRatio?: number;
}

/** One alerting rule as the PrometheusRule carries it. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/**
 * A Prometheus Operator PrometheusRule (`monitoring.coreos.com/v1`) with alerts over the StatsdExporter's metrics of one
 * installation (its series as AirflowServiceMonitor scrapes them: `namespace`, `job`):
 * - AirflowSchedulerHeartbeatMissing (critical): no `scheduler_heartbeat` for 5 minutes, no scheduler loop running;
 * - AirflowDagImportErrors (warning): `dag_processing.import_errors` above 0 for 10 minutes, DAG files that fail to load;
 * - AirflowTasksStuckQueued (warning): a task with instances `queued` in every sample for `queuedFor` (`ti.queued` gauges);
 * - AirflowPoolStarving (warning): a pool with tasks scheduled in it and no open slot (`pool.scheduled_slots`, `pool.open_slots`) for `starvingFor`;
 * - AirflowHighTaskFailureRate (warning): more than `failureRatio` of the task instances that finished in 15 minutes failed.
 * Needs the Prometheus Operator's CRDs, and a Prometheus whose `ruleSelector` takes it.
 * @see https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRule
 * @see https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/
 * @throws AirflowValidationError for a duration that is no Prometheus duration, a ratio outside (0, 1), or invalid labels.
 */
export class AirflowPrometheusRule extends Construct {
  public readonly rule: ApiObject;
  /** The alerting rules, as in the object. */
  public readonly alerts: AlertRule[];

  constructor(scope: Construct, id: string, props: AirflowPrometheusRuleProps) {
    super(scope, id);
    checkKnownProps(this, props);
    check(props.exporter instanceof StatsdExporter, this, 'exporter', typeof props.exporter, 'a StatsdExporter');
    const queuedFor = checkPrometheusDuration(this, 'queuedFor', props.queuedFor ?? '15m');
    const starvingFor = checkPrometheusDuration(this, 'starvingFor', props.starvingFor ?? '15m');
    const ratio = props.failureRatio ?? 0.2;
    check(typeof ratio === 'number' && ratio > 0 && ratio < 1, this, 'failureRatio', ratio, 'a number between 0 and 1, e.g. 0.2 for 20%');
    const exporter = props.exporter;
    this.alerts = alertRules(exporter.prefix, exporter.seriesSelector, { queuedFor, starvingFor, failureRatio: ratio });
    const names = exporter.config.names;
    this.rule = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: exporter.name, namespace: exporter.config.namespace, labels: { ...checkLabels(this, 'labels', props.labels ?? {}), ...names.labels('statsd', exporter.image) } },
      spec: { groups: [{ name: `airflow.${exporter.config.namespace}.${names.instanceName}`, rules: this.alerts }] },
    });
  }
}

/**
 * The alerting rules over metrics named `<prefix>_...` (StatsdExporter's mapping) whose series `selector` matches
 * (`namespace="...",job="..."`).
 */
export function alertRules(prefix: string, selector: string, o: { queuedFor: string; starvingFor: string; failureRatio: number }): AlertRule[] {
  const m = (name: string, extra = '') => `${prefix}_${name}{${selector}${extra}}`;
  const where = `in namespace {{ $labels.namespace }}`;
  return [
    {
      alert: 'AirflowSchedulerHeartbeatMissing',
      // `or vector(0)`: also when the series is gone (no exporter, or no heartbeat since it started)
      expr: `(sum(rate(${m('scheduler_heartbeat')}[5m])) or vector(0)) == 0`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'No Airflow scheduler heartbeat',
        description: `No scheduler of ${selector} sent a heartbeat for 5 minutes: no DAG runs or tasks are being scheduled.`,
      },
    },
    {
      alert: 'AirflowDagImportErrors',
      expr: `max by (namespace, job) (${m('dag_processing_import_errors')}) > 0`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Airflow DAG files fail to import',
        description: `{{ $value }} DAG files fail to import ${where} (the UI's "Import errors" lists them).`,
      },
    },
    {
      alert: 'AirflowTasksStuckQueued',
      expr: `max by (namespace, job, dag_id, task_id) (${m('ti_queued')}) > 0`,
      for: o.queuedFor,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Airflow tasks stuck in queued',
        description: `Task {{ $labels.dag_id }}.{{ $labels.task_id }} ${where} has had queued instances for ${o.queuedFor}: their pods do not start.`,
      },
    },
    {
      alert: 'AirflowPoolStarving',
      // pool.starving_tasks is no good here: the scheduler counts a task as starving only in the loop a pool fills
      // (a full pool's tasks are not even queried), so it reads 0 or nothing while a pool stays full. The pool gauges
      // come every [scheduler] pool_metrics_interval (5 s) for every pool: tasks scheduled in it, no slot open.
      expr: `max by (namespace, job, pool) (${m('pool_scheduled_slots')}) > 0 and on (namespace, job, pool) max by (namespace, job, pool) (${m('pool_open_slots')}) <= 0`,
      for: o.starvingFor,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Airflow pool starving',
        description: `Pool {{ $labels.pool }} ${where} has had tasks waiting for a slot, none open, for ${o.starvingFor}.`,
      },
    },
    {
      alert: 'AirflowHighTaskFailureRate',
      expr: `sum by (namespace, job) (rate(${m('ti_finish', ',state="failed"')}[15m])) / sum by (namespace, job) (rate(${m('ti_finish')}[15m])) > ${o.failureRatio}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Many Airflow tasks fail',
        description: `{{ $value | humanizePercentage }} of the task instances that finished ${where} in 15 minutes failed (threshold ${o.failureRatio * 100}%).`,
      },
    },
  ];
}
