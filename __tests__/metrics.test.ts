// Metrics: StatsD from every Airflow process to the statsd_exporter, its mapping, the optional Prometheus Operator
// objects and the Grafana dashboard, and OpenTelemetry as the alternative. Real statsd_exporter and Airflow:
// __tests__/integration/metrics.test.ts; the alert rules under promtool: __tests__/prometheus-rule.test.ts.
import { parse } from 'yaml';
import {
  Airflow, AirflowConfig, AirflowGrafanaDashboard, AirflowMetrics, AirflowPrometheusRule, AirflowServiceMonitor, DEFAULT_STATSD_EXPORTER_IMAGE,
  STATSD_EXPORTER_VERSION, StatsdExporter, statsdMapping,
} from '../lib';
import { K8S_SCHEMAS, SchemaValidator } from '../scripts/schema';
import { airflowCfg, find, runCheck, synth, synthEnvironment, taskPod, testChart, TIERS, writeYaml } from './helpers';

const validators = K8S_SCHEMAS.map(p => new SchemaValidator(p));

function render(metrics?: AirflowMetrics | false, props: Record<string, unknown> = {}) {
  const chart = testChart();
  const airflow = new Airflow(chart, 'airflow', { metrics, ...props });
  return { airflow, objects: synth(chart) };
}

describe('StatsD to the exporter, by default', () => {
  const { objects, airflow } = render();
  const cfg = airflowCfg(objects);

  test('airflow.cfg, which every component and the task pods mount, sends StatsD to the exporter\'s Service', () => {
    expect(cfg.metrics).toEqual({
      statsd_on: 'True', statsd_host: 'airflow-statsd.airflow-test', statsd_port: '9125', statsd_prefix: 'airflow', legacy_names_on: 'True',
    });
    // the task pods read the same file: they send ti.start, ti.finish, ti_successes, ti_failures and task.duration
    const pod = taskPod(objects);
    expect(JSON.stringify(pod.spec.volumes)).toContain('"name":"airflow-config"');
  });

  test('the exporter: one pod of the pinned image, UDP 9125 in, /metrics on TCP 9102, scrape annotations, probes on its health endpoints', () => {
    expect(DEFAULT_STATSD_EXPORTER_IMAGE).toBe(`prom/statsd-exporter:${STATSD_EXPORTER_VERSION}`);
    expect(STATSD_EXPORTER_VERSION).toMatch(/^v\d+\.\d+\.\d+$/);
    const deployment = find(objects, 'Deployment', 'airflow-statsd');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const template = deployment.spec.template;
    expect(template.metadata.labels['app.kubernetes.io/component']).toBe('statsd');
    expect(template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/path': '/metrics' });
    // the pod alone: a Prometheus that scrapes annotated pods and annotated Services' endpoints would count each series twice
    expect(Object.keys(find(objects, 'Service', 'airflow-statsd').metadata.annotations ?? {}).filter(k => k.startsWith('prometheus.io/'))).toEqual([]);
    const [c] = template.spec.containers;
    expect(c.image).toBe(DEFAULT_STATSD_EXPORTER_IMAGE);
    expect(c.ports).toEqual([{ name: 'statsd', containerPort: 9125, protocol: 'UDP' }, { name: 'metrics', containerPort: 9102, protocol: 'TCP' }]);
    expect(c.args).toEqual(expect.arrayContaining(['--statsd.mapping-config=/etc/statsd-exporter/mapping.yaml', '--statsd.listen-udp=:9125', '--statsd.listen-tcp=', '--web.listen-address=:9102']));
    expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(['/-/ready', '/-/healthy']);
    expect(c.securityContext).toMatchObject({ runAsUser: 65534, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(template.spec.securityContext).toMatchObject({ runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    const service = find(objects, 'Service', 'airflow-statsd');
    expect(service.spec.selector).toEqual(template.metadata.labels && airflow.config.names.selector('statsd'));
    expect(service.spec.ports.map((p: any) => `${p.name} ${p.port}/${p.protocol}`)).toEqual(['statsd 9125/UDP', 'metrics 9102/TCP']);
    expect(find(objects, 'ConfigMap', 'airflow-statsd').data['mapping.yaml']).toBe(statsdMapping('airflow'));
  });

  test('a new mapping rolls the exporter\'s pod (its checksum annotation)', () => {
    const other = render({ exporter: { prefix: 'af' } }).objects;
    const checksum = (o: any[]) => find(o, 'Deployment', 'airflow-statsd').spec.template.metadata.annotations['checksum/mapping'];
    expect(checksum(other)).not.toBe(checksum(objects));
    expect(airflowCfg(other).metrics.statsd_prefix).toBe('af');
  });

  test('the dashboard is on, ServiceMonitor and PrometheusRule are off', () => {
    expect(find(objects, 'ConfigMap', 'airflow-dashboard').metadata.labels!.grafana_dashboard).toBe('1');
    expect(objects.filter(o => ['ServiceMonitor', 'PrometheusRule'].includes(o.kind))).toEqual([]);
  });

  test('Airflow 3.1 has no [metrics] legacy_names_on: its names carry the values anyway', () => {
    expect(airflowCfg(render(undefined, { airflowVersion: '3.1.8' }).objects).metrics.legacy_names_on).toBeUndefined();
  });

  test('every preset has the exporter and the dashboard, no Prometheus Operator objects (the e2e cluster has no CRDs)', () => {
    for (const tier of TIERS) {
      const o = synthEnvironment(tier);
      expect(o.filter(x => x.metadata.labels?.['app.kubernetes.io/component'] === 'statsd').map(x => x.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'NetworkPolicy', 'Service']);
      expect(o.filter(x => ['ServiceMonitor', 'PrometheusRule'].includes(x.kind))).toEqual([]);
      expect(airflowCfg(o).metrics.statsd_on).toBe('True');
    }
  });
});

describe('the mapping', () => {
  const mapping = parse(statsdMapping('airflow'));
  const rule = (match: string) => mapping.mappings.find((m: any) => m.match === match);

  test('names with values become labelled metrics; their untagged twins are dropped', () => {
    expect(rule('airflow.ti.finish.*.*.*')).toEqual({ match: 'airflow.ti.finish.*.*.*', name: 'airflow_ti_finish', labels: { dag_id: '$1', task_id: '$2', state: '$3' } });
    expect(rule('airflow.pool.starving_tasks.*')).toEqual({ match: 'airflow.pool.starving_tasks.*', name: 'airflow_pool_starving_tasks', labels: { pool: '$1' }, ttl: '5m' });
    expect(rule('airflow.ti.queued.*.*.*')).toMatchObject({ name: 'airflow_ti_queued', labels: { queue: '$1', dag_id: '$2', task_id: '$3' } });
    expect(rule('airflow.executor.queued_tasks.*')).toMatchObject({ name: 'airflow_executor_queued_tasks', labels: { executor: '$1' } });
    expect(rule('airflow.dag.*.*.duration')).toMatchObject({ name: 'airflow_task_duration', labels: { dag_id: '$1', task_id: '$2' } });
    expect(rule('airflow.dagrun.duration.failed.*')).toMatchObject({ name: 'airflow_dagrun_duration', labels: { dag_id: '$1', state: 'failed' } });
    // one regular expression drops the twins (statsd_exporter's glob matcher cannot match `a.b` beside `a.b.*`)
    const drop = mapping.mappings.filter((m: any) => m.action === 'drop');
    expect(drop).toHaveLength(1);
    expect(drop[0].match_type).toBe('regex');
    const dropped = new RegExp(drop[0].match);
    for (const twin of ['airflow.ti.finish', 'airflow.pool.starving_tasks', 'airflow.executor.queued_tasks', 'airflow.task.duration', 'airflow.dagrun.dependency-check']) {
      expect(dropped.test(twin)).toBe(true);
    }
    for (const kept of ['airflow.ti.finish.d.t.success', 'airflow.ti_finish', 'airflow.tiXfinish', 'airflow.scheduler_heartbeat', 'other.ti.finish']) {
      expect(dropped.test(kept)).toBe(false);
    }
    // names without values keep the exporter's default: '.' as '_'
    expect(mapping.mappings.some((m: any) => /scheduler_heartbeat|import_errors/.test(m.match))).toBe(false);
  });

  test('timers are histograms; glob matching; every rule under the prefix', () => {
    expect(mapping.defaults).toMatchObject({ match_type: 'glob', observer_type: 'histogram' });
    const af = parse(statsdMapping('af')).mappings;
    expect(af.filter((m: any) => m.action !== 'drop').every((m: any) => m.match.startsWith('af.') && m.name.startsWith('af_'))).toBe(true);
    expect(af.find((m: any) => m.action === 'drop').match.startsWith('^af\\.(?:')).toBe(true);
  });

  test('no two rules match the same names (glob parts with the same literals)', () => {
    const matches = mapping.mappings.map((m: any) => m.match);
    expect(new Set(matches).size).toBe(matches.length);
  });
});

describe('ServiceMonitor and PrometheusRule, when asked for', () => {
  const { objects } = render({ serviceMonitor: { labels: { release: 'kube-prometheus-stack' }, interval: '15s' }, prometheusRule: { labels: { release: 'kube-prometheus-stack' } } },
    { networkPolicies: { metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] } });

  test('the ServiceMonitor scrapes the exporter Service\'s metrics port in its namespace', () => {
    const sm = find(objects, 'ServiceMonitor', 'airflow-statsd');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels!.release).toBe('kube-prometheus-stack');
    expect(sm.spec).toEqual({
      selector: { matchLabels: find(objects, 'Service', 'airflow-statsd').spec.selector },
      namespaceSelector: { matchNames: ['airflow-test'] },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
    });
  });

  test('the PrometheusRule has the five alerts, each over this installation\'s series', () => {
    const rule = find(objects, 'PrometheusRule', 'airflow-statsd');
    const rules = rule.spec.groups[0].rules;
    expect(rules.map((r: any) => r.alert)).toEqual([
      'AirflowSchedulerHeartbeatMissing', 'AirflowDagImportErrors', 'AirflowTasksStuckQueued', 'AirflowPoolStarving', 'AirflowHighTaskFailureRate']);
    for (const r of rules) expect(r.expr).toContain('{namespace="airflow-test",job="airflow-statsd"');
    expect(rules[2]).toMatchObject({ for: '15m', expr: expect.stringContaining('airflow_ti_queued') });
    expect(rules[4].expr).toMatch(/state="failed".*> 0\.2$/);
  });

  test('both valid by the Prometheus Operator\'s CRDs under both Kubernetes schemas; a field the CRD lacks is not', () => {
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
      const o = find(objects, kind, 'airflow-statsd');
      for (const v of validators) {
        expect(v.validate({ source: kind, text: '', object: o })).toEqual([]);
        expect(v.validate({ source: kind, text: '', object: { ...o, spec: { ...o.spec, scrapeEvery: '1m' } } }).join()).toMatch(/must NOT have additional properties 'scrapeEvery'/);
      }
    }
  });

  test('every object passes npm run check: schema (strict), Pod Security "restricted", hygiene', () => {
    const { status, report } = runCheck(writeYaml(objects.filter(o => o.metadata.labels?.['app.kubernetes.io/component'] === 'statsd'
      || o.metadata.name === 'airflow-dashboard'), 'metrics.yaml'));
    expect(report.schemaErrors).toEqual([]);
    expect(report.policyViolations).toEqual([]);
    expect(report.hygieneProblems).toEqual([]);
    expect(report.objects).toBe(7); // ConfigMap, Deployment, Service, NetworkPolicy, ServiceMonitor, PrometheusRule, dashboard
    expect(report.podSpecsChecked).toBe(1);
    expect(status).toBe(0);
  });
});

describe('the Grafana dashboard', () => {
  test('a ConfigMap the sidecar finds by its label, panels over the exporter\'s metrics of this installation', () => {
    const { objects } = render({ dashboard: { sidecarLabels: { grafana_dashboard: 'airflow' }, folder: 'Airflow' } });
    const cm = find(objects, 'ConfigMap', 'airflow-dashboard');
    expect(cm.metadata.labels!.grafana_dashboard).toBe('airflow');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Airflow' });
    const dashboard = JSON.parse(cm.data['airflow.json']);
    const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(12);
    // the namespace alone: an annotation-based scrape names the job its own way (kubernetes-pods), a ServiceMonitor after the Service
    for (const e of exprs) expect({ e, ns: e.includes('{namespace="airflow-test"'), job: e.includes('job=') }).toEqual({ e, ns: true, job: false });
    expect(exprs.join('\n')).toMatch(/airflow_scheduler_heartbeat[\s\S]*airflow_dag_processing_import_errors[\s\S]*airflow_ti_finish[\s\S]*airflow_pool_scheduled_slots/);
    expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
  });

  test('off with dashboard: false', () => {
    expect(render({ dashboard: false }).objects.filter(o => o.metadata.name === 'airflow-dashboard')).toEqual([]);
  });
});

describe('OpenTelemetry instead', () => {
  test('[metrics] otel_* to the collector, OTLP/HTTP port 4318 by default; no exporter, no dashboard', () => {
    const { objects } = render({ otel: { host: 'otel-collector.observability' } });
    expect(airflowCfg(objects).metrics).toEqual({
      otel_on: 'True', otel_host: 'otel-collector.observability', otel_port: '4318', otel_ssl_active: 'False', otel_interval_milliseconds: '60000', otel_prefix: 'airflow',
    });
    expect(objects.filter(o => ['statsd', 'dashboard'].includes(o.metadata.labels?.['app.kubernetes.io/component'] ?? ''))).toEqual([]);
  });

  test('the official image runs it: apache-airflow-core requires the OTLP exporter itself', () => {
    // scripts/integration/airflow-<version>.lock.txt holds what apache/airflow:<version> installs
    const lock = require('fs').readFileSync(require('path').join(__dirname, '..', 'scripts', 'integration', 'airflow-3.3.2.lock.txt'), 'utf8');
    expect(lock).toMatch(/^opentelemetry-exporter-otlp-proto-http==/m);
  });
});

describe('no metrics', () => {
  test('metrics: false leaves [metrics] to options', () => {
    const { objects } = render(false, { options: { metrics: { statsd_on: true, statsd_host: 'statsd.example.com' } } });
    expect(airflowCfg(objects).metrics).toEqual({ statsd_on: 'True', statsd_host: 'statsd.example.com' });
    expect(objects.filter(o => o.metadata.labels?.['app.kubernetes.io/component'] === 'statsd')).toEqual([]);
  });
});

describe('the constructs alone', () => {
  test('an exporter for an installation whose StatsD goes elsewhere is refused', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config', { metrics: { statsd: { host: 'statsd.example.com' } } });
    expect(() => new StatsdExporter(chart, 'statsd', { config })).toThrow(/config: got "an AirflowConfig whose metrics.statsd.host is statsd.example.com"/);
  });

  test('ServiceMonitor, PrometheusRule and dashboard on an exporter made by hand', () => {
    const chart = testChart();
    const exporter = new StatsdExporter(chart, 'statsd', { config: new AirflowConfig(chart, 'config', { metrics: { statsd: {} } }) });
    new AirflowServiceMonitor(chart, 'sm', { exporter });
    const rule = new AirflowPrometheusRule(chart, 'rule', { exporter, failureRatio: 0.5, queuedFor: '30m' });
    new AirflowGrafanaDashboard(chart, 'dashboard', { exporter });
    expect(rule.alerts.find(a => a.alert === 'AirflowTasksStuckQueued')!.for).toBe('30m');
    expect(synth(chart).map(o => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'PrometheusRule', 'Secret', 'Service', 'ServiceMonitor']
      .filter(k => k !== 'Secret'));
  });
});
