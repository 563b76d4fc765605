// The PrometheusRule's alerts under Prometheus's own promtool (built from the Go module proxy by
// scripts/integration/build-promtool.sh, which setup.sh runs): `promtool check rules` on its groups as the object carries
// them, and `promtool test rules` with input series that must fire each alert, with its labels and annotations, and
// series that must not. setup() builds what is missing; when it cannot, these tests fail, never skip.
import { spawnSync } from 'child_process';
import { writeFileSync } from 'fs';
import { join } from 'path';
import { stringify } from 'yaml';
import { Airflow } from '../../lib';
import { setup } from '../../scripts/integration/host';
import { find, synth, tempDir, testChart } from '../helpers';

jest.setTimeout(3600_000);

const PROMTOOL_VERSION = /version="\$\{PROMTOOL_VERSION:-(v[\d.]+)\}"/.exec(
  require('fs').readFileSync(join(__dirname, '..', '..', 'scripts', 'integration', 'build-promtool.sh'), 'utf8'))![1];

/** The PrometheusRule of a default installation with the rule on, as dist/ would carry it. */
function ruleObject(props: Record<string, unknown> = {}): any {
  const chart = testChart();
  new Airflow(chart, 'airflow', { metrics: { prometheusRule: props } });
  return find(synth(chart), 'PrometheusRule', 'airflow-statsd');
}

const SEL = 'namespace="airflow-test",job="airflow-statsd"';

/** ti.finish counters of one task: `failed` and `succeeded` more finished instances a minute, for an hour. */
function finished(failed: number, succeeded: number) {
  return [
    { series: `airflow_ti_finish{${SEL},dag_id="etl",task_id="load",state="failed"}`, values: `0+${failed}x60` },
    { series: `airflow_ti_finish{${SEL},dag_id="etl",task_id="load",state="success"}`, values: `0+${succeeded}x60` },
  ];
}

/** `promtool ARGS` in `dir`. */
function promtool(dir: string, args: string[]): { status: number | null; out: string } {
  const bin = join(setup(), `promtool-${PROMTOOL_VERSION}`, 'bin', 'promtool');
  const r = spawnSync(bin, args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the alert rules under promtool', () => {
  let dir: string;
  let rule: any;
  beforeAll(() => {
    dir = tempDir('prometheus-rules-');
    rule = ruleObject();
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
  });

  test('promtool check rules: 5 rules, no problem', () => {
    const r = promtool(dir, ['check', 'rules', 'rules.yaml']);
    expect(r.out).toContain('SUCCESS: 5 rules found');
    expect(r.status).toBe(0);
  });

  test('promtool test rules: each alert fires on its condition, with its labels and annotations, and not without it', () => {
    const at = (minutes: number) => `${minutes}m`;
    const tests = [
      {
        // a heartbeat every 10 s for 10 minutes, then none: rate 0 from 15m, firing 5 minutes later
        interval: '1m',
        input_series: [{ series: `airflow_scheduler_heartbeat{${SEL}}`, values: '0+6x10 60x30' }],
        alert_rule_test: [
          { eval_time: at(12), alertname: 'AirflowSchedulerHeartbeatMissing', exp_alerts: [] },
          {
            eval_time: at(25), alertname: 'AirflowSchedulerHeartbeatMissing', exp_alerts: [{
              exp_labels: { severity: 'critical' },
              exp_annotations: {
                summary: 'No Airflow scheduler heartbeat',
                description: `No scheduler of ${SEL} sent a heartbeat for 5 minutes: no DAG runs or tasks are being scheduled.`,
              },
            }],
          },
        ],
      },
      {
        // no series at all (no exporter, or nothing sent yet) is a missing heartbeat too
        interval: '1m',
        input_series: [{ series: 'up{job="other"}', values: '1x20' }],
        alert_rule_test: [{ eval_time: at(6), alertname: 'AirflowSchedulerHeartbeatMissing', exp_alerts: [{ exp_labels: { severity: 'critical' } , exp_annotations: {
          summary: 'No Airflow scheduler heartbeat', description: `No scheduler of ${SEL} sent a heartbeat for 5 minutes: no DAG runs or tasks are being scheduled.` } }] }],
      },
      {
        interval: '1m',
        input_series: [
          { series: `airflow_dag_processing_import_errors{${SEL}}`, values: '0 0 2x30' },
          // another installation's series are not this rule's
          { series: 'airflow_dag_processing_import_errors{namespace="other",job="airflow-statsd"}', values: '5x30' },
        ],
        alert_rule_test: [
          { eval_time: at(8), alertname: 'AirflowDagImportErrors', exp_alerts: [] },
          {
            eval_time: at(15), alertname: 'AirflowDagImportErrors', exp_alerts: [{
              exp_labels: { severity: 'warning', namespace: 'airflow-test', job: 'airflow-statsd' },
              exp_annotations: { summary: 'Airflow DAG files fail to import', description: '2 DAG files fail to import in namespace airflow-test (the UI\'s "Import errors" lists them).' },
            }],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          { series: `airflow_ti_queued{${SEL},queue="default",dag_id="etl",task_id="load"}`, values: '1x30' },
          // queued now and then, as a busy task is: never for 15 minutes on end
          { series: `airflow_ti_queued{${SEL},queue="default",dag_id="etl",task_id="busy"}`, values: '1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0' },
        ],
        alert_rule_test: [
          { eval_time: at(10), alertname: 'AirflowTasksStuckQueued', exp_alerts: [] },
          {
            eval_time: at(20), alertname: 'AirflowTasksStuckQueued', exp_alerts: [{
              exp_labels: { severity: 'warning', namespace: 'airflow-test', job: 'airflow-statsd', dag_id: 'etl', task_id: 'load' },
              exp_annotations: {
                summary: 'Airflow tasks stuck in queued',
                description: 'Task etl.load in namespace airflow-test has had queued instances for 15m: their pods do not start.',
              },
            }],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          { series: `airflow_pool_scheduled_slots{${SEL},pool="etl"}`, values: '3x30' },
          { series: `airflow_pool_open_slots{${SEL},pool="etl"}`, values: '0x30' },
          // tasks waiting in a pool that has open slots are about to run: no starvation
          { series: `airflow_pool_scheduled_slots{${SEL},pool="default_pool"}`, values: '5x30' },
          { series: `airflow_pool_open_slots{${SEL},pool="default_pool"}`, values: '100x30' },
        ],
        alert_rule_test: [
          { eval_time: at(10), alertname: 'AirflowPoolStarving', exp_alerts: [] },
          {
            eval_time: at(20), alertname: 'AirflowPoolStarving', exp_alerts: [{
              exp_labels: { severity: 'warning', namespace: 'airflow-test', job: 'airflow-statsd', pool: 'etl' },
              exp_annotations: { summary: 'Airflow pool starving', description: 'Pool etl in namespace airflow-test has had tasks waiting for a slot, none open, for 15m.' },
            }],
          },
        ],
      },
      {
        // 3 of every 10 finished task instances failed (30% > 20%)
        interval: '1m',
        input_series: finished(3, 7),
        alert_rule_test: [
          { eval_time: at(10), alertname: 'AirflowHighTaskFailureRate', exp_alerts: [] },
          {
            eval_time: at(40), alertname: 'AirflowHighTaskFailureRate', exp_alerts: [{
              exp_labels: { severity: 'warning', namespace: 'airflow-test', job: 'airflow-statsd' },
              exp_annotations: {
                summary: 'Many Airflow tasks fail',
                description: '30% of the task instances that finished in namespace airflow-test in 15 minutes failed (threshold 20%).',
              },
            }],
          },
        ],
      },
      {
        // 1 in 10 failed: under the threshold
        interval: '1m',
        input_series: finished(1, 9),
        alert_rule_test: [{ eval_time: at(40), alertname: 'AirflowHighTaskFailureRate', exp_alerts: [] }],
      },
    ];
    writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
    const r = promtool(dir, ['test', 'rules', 'tests.yaml']);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
    // every alert of the object is tested firing
    const fired = new Set(tests.flatMap(t => t.alert_rule_test.filter(a => a.exp_alerts.length > 0).map(a => a.alertname)));
    expect([...fired].sort()).toEqual(rule.spec.groups[0].rules.map((x: any) => x.alert).sort());
  });

  test('the Grafana dashboard\'s queries are valid PromQL (promtool check rules, each as a recording rule)', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', {});
    const panels = JSON.parse(find(synth(chart), 'ConfigMap', 'airflow-dashboard').data['airflow.json']).panels;
    const exprs: string[] = panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    const d = tempDir('dashboard-promql-');
    writeFileSync(join(d, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
    const r = promtool(d, ['check', 'rules', 'dashboard.yaml']);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
    // the check can fail: a query with a syntax error is refused
    writeFileSync(join(d, 'broken.yaml'), stringify({ groups: [{ name: 'dashboard', rules: [{ record: 'dashboard:broken', expr: 'sum(rate(airflow_ti_finish[5m])' }] }] }));
    expect(promtool(d, ['check', 'rules', 'broken.yaml']).status).not.toBe(0);
  });

  test('a threshold from the props reaches the rule promtool runs', () => {
    const other = ruleObject({ failureRatio: 0.5 });
    const d = tempDir('prometheus-rules-');
    writeFileSync(join(d, 'rules.yaml'), stringify({ groups: other.spec.groups }));
    writeFileSync(join(d, 'tests.yaml'), stringify({
      rule_files: ['rules.yaml'], evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: finished(3, 7),
        alert_rule_test: [{ eval_time: '40m', alertname: 'AirflowHighTaskFailureRate', exp_alerts: [] }],
      }],
    }));
    const r = promtool(d, ['test', 'rules', 'tests.yaml']);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });
});
