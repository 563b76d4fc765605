// Metrics end to end on real software: the statsd_exporter of the default image's version (built from the Go module
// proxy by scripts/integration/build-statsd-exporter.sh) runs with the arguments and the mapping our Deployment and
// ConfigMap carry, and the Airflow that setup.sh installs (the locked release, its `statsd` extra included) runs an
// api-server, a scheduler and a dag-processor with our airflow.cfg's [metrics] options, on loopback (the exporter's
// host and port are the only two values changed: the Service's name resolves in a cluster only). The scheduler runs
// the LocalExecutor, whose workers run each task through the same task runner a KubernetesExecutor task pod runs, so
// the task-side metrics (ti.start, ti.finish, task.duration) come from where they come from in a task pod. Every
// metric name the PrometheusRule's alerts and the Grafana dashboard query must come out of /metrics with the labels
// the mapping gives it. OpenTelemetry instead: the same Airflow, with airflow.cfg's otel_* options, exports OTLP/HTTP
// to a collector's endpoint (here a plain HTTP server that records what it is sent). setup() installs what is
// missing; when it cannot, these tests fail, never skip.
import { ChildProcess, spawn } from 'child_process';
import { createSocket } from 'dgram';
import { mkdirSync, writeFileSync } from 'fs';
import { createServer as createHttpServer } from 'http';
import { createServer } from 'net';
import { join } from 'path';
import { parse } from 'yaml';
import { Airflow, STATSD_EXPORTER_VERSION } from '../../lib';
import { setup } from '../../scripts/integration/host';
import { airflowCfg, find, synth, testChart } from '../helpers';
import { airflowVenv } from './airflow-venv';

jest.setTimeout(3600_000);

const DAGS = `
import time
import pendulum
from airflow.sdk import DAG, task

with DAG("metrics_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    @task
    def ok():
        return 1

    @task(retries=0)
    def fails():
        raise RuntimeError("fails on purpose")

    ok()
    fails()

with DAG("metrics_pools", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    @task(pool="starved")
    def starved():
        return 1

    @task
    def slow():
        time.sleep(12)

    starved()
    slow()
`;

/** A free loopback port of the kind given. */
async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>(r => socket.bind(0, '127.0.0.1', () => r()));
    const { port } = socket.address();
    socket.close();
    return port;
  }
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise(r => server.close(r));
  return port;
}

/** One sample of the exposition format: name, labels, value. */
interface Sample { name: string; labels: Record<string, string>; value: number }

function parseExposition(text: string): Sample[] {
  return text.split('\n').filter(l => l !== '' && !l.startsWith('#')).map(line => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    return { name: m[1], labels, value: Number(m[3]) };
  });
}

describe('Airflow 3 sends StatsD to the statsd_exporter; the mapped metrics are what the alerts and the dashboard query', () => {
  const chart = testChart();
  new Airflow(chart, 'airflow', { metrics: { prometheusRule: true } });
  const objects = synth(chart);
  const metricsCfg = airflowCfg(objects).metrics;
  const mapping = find(objects, 'ConfigMap', 'airflow-statsd').data['mapping.yaml'];
  const container = find(objects, 'Deployment', 'airflow-statsd').spec.template.spec.containers[0];
  const queries: string[] = [
    ...find(objects, 'PrometheusRule', 'airflow-statsd').spec.groups[0].rules.map((r: any) => r.expr),
    ...JSON.parse(find(objects, 'ConfigMap', 'airflow-dashboard').data['airflow.json']).panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)),
  ];
  const queried = [...new Set(queries.flatMap(q => q.match(/\bairflow_[a-z_]+/g) ?? []))].sort();

  const children: ChildProcess[] = [];
  let venv: ReturnType<typeof airflowVenv>;
  let metricsUrl: string;
  let samples: Sample[] = [];
  let logs = '';

  const start = (file: string, args: string[], env: Record<string, string>): ChildProcess => {
    // its own process group: the scheduler's executor workers and task supervisors stop with it
    const child = spawn(file, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', d => { logs += d; });
    child.stderr!.on('data', d => { logs += d; });
    children.push(child);
    return child;
  };
  const scrape = async (): Promise<Sample[]> => parseExposition(await (await fetch(metricsUrl, { headers: { connection: 'close' } })).text());
  const has = (name: string, labels: Record<string, string> = {}) =>
    samples.some(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

  beforeAll(async () => {
    const cache = setup();
    venv = airflowVenv('metrics-airflow-');
    const dir = join(venv.home, 'exporter');
    mkdirSync(dir);
    writeFileSync(join(dir, 'mapping.yaml'), mapping);
    const [udp, web, api] = [await freePort('udp'), await freePort('tcp'), await freePort('tcp')];
    metricsUrl = `http://127.0.0.1:${web}/metrics`;
    // the Deployment's arguments, with the file where this test put the mapping and loopback addresses
    const args = container.args.map((a: string) => a
      .replace(/^--statsd\.mapping-config=.*/, `--statsd.mapping-config=${join(dir, 'mapping.yaml')}`)
      .replace(/^--statsd\.listen-udp=:(\d+)$/, `--statsd.listen-udp=127.0.0.1:${udp}`)
      .replace(/^--web\.listen-address=:(\d+)$/, `--web.listen-address=127.0.0.1:${web}`));
    start(join(cache, `statsd-exporter-${STATSD_EXPORTER_VERSION}`, 'bin', 'statsd_exporter'), args, { PATH: '/usr/bin:/bin' });

    const dags = join(venv.home, 'dags');
    mkdirSync(dags);
    writeFileSync(join(dags, 'probe.py'), DAGS);
    // a DAG file that fails to import (it names airflow and DAG, so the dag-processor does parse it)
    writeFileSync(join(dags, 'broken.py'), 'from airflow.sdk import DAG\nthis is not python\n');
    const metricsEnv = Object.fromEntries(Object.entries(metricsCfg).map(([option, value]) => [`AIRFLOW__METRICS__${option.toUpperCase()}`,
      option === 'statsd_host' ? '127.0.0.1' : option === 'statsd_port' ? String(udp) : value]));
    const env = {
      ...venv.envFor('metrics.db'), ...metricsEnv,
      AIRFLOW__CORE__DAGS_FOLDER: dags,
      AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
      AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `http://127.0.0.1:${api}/execution/`,
      AIRFLOW__API_AUTH__JWT_SECRET: 'metrics-test-jwt-secret-of-some-length',
      AIRFLOW__API__SECRET_KEY: 'metrics-test-api-secret',
      // the task instance gauges every 2 s instead of 30, so a short test sees tasks queued and running
      AIRFLOW__SCHEDULER__TI_METRICS_INTERVAL: '2',
    };
    await venv.airflow('metrics.db', ['db', 'migrate'], env);
    await venv.airflow('metrics.db', ['pools', 'set', 'starved', '0', 'no slots: its tasks wait'], env);
    const airflow = join(venv.venv, 'bin', 'airflow');
    start(airflow, ['api-server', '--port', String(api)], env);
    start(airflow, ['scheduler'], env);
    start(airflow, ['dag-processor'], env);
    const deadline = Date.now() + 300_000;
    const waitFor = async (what: string, ok: () => boolean) => {
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`no ${what} within 5 minutes; exporter saw:\n${samples.map(s => s.name).join(' ')}\nlogs:\n${logs.slice(-5000)}`);
        await new Promise(r => setTimeout(r, 2000));
        samples = await scrape().catch(() => []);
      }
    };
    await waitFor('DAG bag of 2 DAGs', () => samples.some(s => s.name === 'airflow_dagbag_size' && s.value === 2));
    for (const dag of ['metrics_probe', 'metrics_pools']) {
      await venv.airflow('metrics.db', ['dags', 'unpause', dag], env);
      await venv.airflow('metrics.db', ['dags', 'trigger', dag], env);
    }
    // everything the tests below read: each comes at its own time (the task runner's ti.finish before its
    // task.duration, the scheduler's gauges every 2 s), and a loaded machine spreads them further apart
    await waitFor('metric the alerts and the dashboard query', () => queried.every(n => has(n)) && has('airflow_ti_running')
      && has('airflow_ti_finish', { task_id: 'slow' }) && has('airflow_task_duration_bucket', { dag_id: 'metrics_pools', task_id: 'slow' })
      && has('airflow_ti_finish', { dag_id: 'metrics_probe', task_id: 'fails', state: 'failed' })
      && has('airflow_ti_finish', { dag_id: 'metrics_probe', task_id: 'ok', state: 'success' })
      && has('airflow_dagrun_duration_count', { dag_id: 'metrics_probe', state: 'failed' })
      && has('airflow_ti_running', { dag_id: 'metrics_pools', task_id: 'slow' }));
  }, 600_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGTERM');
    await new Promise(r => setTimeout(r, 3000));
    for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
    for (const c of children) { c.stdout?.destroy(); c.stderr?.destroy(); }
    venv?.cleanup();
  });

  test('what is queried: the five alerts\' and the dashboard\'s metric names', () => {
    expect(queried).toEqual([
      'airflow_dag_processing_import_errors', 'airflow_dagrun_duration_count', 'airflow_dagrun_duration_sum', 'airflow_executor_open_slots',
      'airflow_executor_queued_tasks', 'airflow_executor_running_tasks', 'airflow_pool_open_slots', 'airflow_pool_queued_slots',
      'airflow_pool_running_slots', 'airflow_pool_scheduled_slots', 'airflow_scheduler_heartbeat', 'airflow_task_duration_bucket',
      'airflow_task_scheduled_duration_bucket', 'airflow_ti_finish', 'airflow_ti_queued', 'airflow_ti_running',
    ]);
  });

  test('every queried metric comes out of the exporter, with the labels the mapping gives it and no unlabelled twin', () => {
    const rules = parse(mapping).mappings.filter((m: any) => m.action !== 'drop');
    const missing: string[] = [];
    for (const name of queried) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const rule = rules.find((r: any) => r.name === base);
      const keys = [...Object.keys(rule?.labels ?? {}), ...name.endsWith('_bucket') ? ['le'] : []].sort();
      const of = samples.filter(s => s.name === name);
      if (of.length === 0 || !of.every(s => JSON.stringify(Object.keys(s.labels).sort()) === JSON.stringify(keys))) {
        missing.push(`${name}: want labels [${keys}], got ${JSON.stringify(of.map(s => s.labels))}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test('the values are Airflow\'s: the broken file, the failed task, the failed DAG run, the pool whose tasks wait', () => {
    expect(samples.find(s => s.name === 'airflow_dag_processing_import_errors')!.value).toBe(1);
    expect(samples.find(s => s.name === 'airflow_scheduler_heartbeat')!.value).toBeGreaterThan(0);
    // ti.finish comes from the task runner, as in a task pod
    expect(has('airflow_ti_finish', { dag_id: 'metrics_probe', task_id: 'fails', state: 'failed' })).toBe(true);
    expect(has('airflow_ti_finish', { dag_id: 'metrics_probe', task_id: 'ok', state: 'success' })).toBe(true);
    expect(has('airflow_dagrun_duration_count', { dag_id: 'metrics_probe', state: 'failed' })).toBe(true);
    expect(has('airflow_task_duration_bucket', { dag_id: 'metrics_pools', task_id: 'slow', le: '30' })).toBe(true);
    expect(has('airflow_ti_running', { dag_id: 'metrics_pools', task_id: 'slow', queue: 'default' })).toBe(true);
    expect(has('airflow_executor_open_slots', { executor: 'LocalExecutor' })).toBe(true);
    // AirflowPoolStarving's condition, as Airflow reports it: a task scheduled in a pool without an open slot
    const pool = (name: string) => samples.find(s => s.name === name && s.labels.pool === 'starved')?.value;
    expect([pool('airflow_pool_scheduled_slots'), pool('airflow_pool_open_slots')]).toEqual([1, 0]);
    expect(has('airflow_ti_scheduled', { dag_id: 'metrics_pools', task_id: 'starved' })).toBe(true);
  });
});

describe('OpenTelemetry instead: Airflow exports OTLP/HTTP to the collector airflow.cfg names', () => {
  const chart = testChart();
  new Airflow(chart, 'airflow', { metrics: { otel: { host: 'otel-collector.observability', intervalMilliseconds: 1000 } } });
  const metricsCfg = airflowCfg(synth(chart)).metrics;
  const received: { path: string; type: string; body: Buffer }[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  let venv: ReturnType<typeof airflowVenv>;

  beforeAll(async () => {
    venv = airflowVenv('metrics-otel-');
    const port = await freePort('tcp');
    await new Promise<void>(r => server.listen(port, '127.0.0.1', () => r()));
    const dags = join(venv.home, 'dags');
    mkdirSync(dags);
    writeFileSync(join(dags, 'probe.py'), DAGS);
    writeFileSync(join(dags, 'broken.py'), 'from airflow.sdk import DAG\nthis is not python\n');
    const env = {
      ...Object.fromEntries(Object.entries(metricsCfg).map(([option, value]) => [`AIRFLOW__METRICS__${option.toUpperCase()}`,
        option === 'otel_host' ? '127.0.0.1' : option === 'otel_port' ? String(port) : value])),
      AIRFLOW__CORE__DAGS_FOLDER: dags,
    };
    await venv.airflow('otel.db', ['db', 'migrate'], env);
    // two parsing loops, then exit (the OTel SDK flushes at exit)
    await venv.airflow('otel.db', ['dag-processor', '--num-runs', '2'], env);
  }, 600_000);

  afterAll(async () => {
    await new Promise(r => server.close(r));
    venv?.cleanup();
  });

  test('airflow.cfg: otel_on, the collector\'s host, OTLP/HTTP\'s port 4318, the interval; no StatsD', () => {
    expect(metricsCfg).toEqual({
      otel_on: 'True', otel_host: 'otel-collector.observability', otel_port: '4318', otel_ssl_active: 'False',
      otel_interval_milliseconds: '1000', otel_prefix: 'airflow',
    });
  });

  test('the collector got OTLP/HTTP protobuf at /v1/metrics with the dag-processor\'s metrics', () => {
    expect(received.length).toBeGreaterThan(0);
    expect([...new Set(received.map(r => `${r.path} ${r.type}`))]).toEqual(['/v1/metrics application/x-protobuf']);
    const text = Buffer.concat(received.map(r => r.body)).toString('latin1');
    for (const name of ['airflow.dag_processor_heartbeat', 'airflow.dag_processing.import_errors', 'airflow.dagbag_size']) expect(text).toContain(name);
  });
});
