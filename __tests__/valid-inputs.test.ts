// Valid but unusual inputs, grouped by the rule (Kubernetes', Airflow's, git-sync's) that makes them valid: each
// constructs and synthesizes, the value reaches the output where the tool that reads it finds it, and the output
// passes `npm run check` (strict schemas, Pod Security "restricted", hygiene).
import { writeFileSync } from 'fs';
import { join } from 'path';
import { App, Chart, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { Airflow, AirflowConfig, AirflowProps, GitAuth, SecretKeyRef } from '../lib';
import { airflowCfg, envOf, find, K8sObject, podSpec, runCheck, tempDir } from './helpers';

interface Row {
  /** What is unusual about it. */
  readonly what: string;
  /** Props of an Airflow at test/airflow, in namespace airflow-test. */
  readonly props: AirflowProps;
  /** A fact about the synthesized objects that shows the value was used as given. */
  readonly expect: (objects: K8sObject[]) => void;
}

const REPO = 'https://github.com/example/dags.git';
const cfg = (objects: K8sObject[]) => airflowCfg(objects);
const container = (objects: K8sObject[], deployment: string, name: string) =>
  [...podSpec(find(objects, 'Deployment', deployment)).initContainers ?? [], ...podSpec(find(objects, 'Deployment', deployment)).containers]
    .find((c: any) => c.name === name);
const gitSyncEnv = (objects: K8sObject[]) => envOf(container(objects, 'airflow-dag-processor', 'git-sync'));
const claimTemplate = (objects: K8sObject[]) => find(objects, 'StatefulSet', 'airflow-postgresql').spec.volumeClaimTemplates[0].spec;
const cronJob = (objects: K8sObject[], name: string) => find(objects, 'CronJob', name).spec;

const RULES: Record<string, Row[]> = {
  'Kubernetes quantities (resource.Quantity grammar)': [
    { what: 'a CPU request with a leading "+"', props: { scheduler: { resources: { requests: { cpu: '+500m' } } } },
      expect: o => expect(container(o, 'airflow-scheduler', 'scheduler').resources.requests.cpu).toBe('+500m') },
    { what: 'memory in decimal gigabytes ("1G")', props: { apiServer: { resources: { requests: { memory: '1G' }, limits: { memory: '2G' } } } },
      expect: o => expect(container(o, 'airflow-api-server', 'api-server').resources.limits.memory).toBe('2G') },
    { what: 'a fractional binary quantity ("1.5Gi")', props: { triggerer: { resources: { limits: { memory: '1.5Gi' } } } },
      expect: o => expect(container(o, 'airflow-triggerer', 'triggerer').resources.limits.memory).toBe('1.5Gi') },
    { what: 'storage with a leading "+" and an exponent form of CPU ("100e-3")', props: { postgres: { storage: '+8Gi' }, dagProcessor: { resources: { requests: { cpu: '100e-3' } } } },
      expect: o => expect(claimTemplate(o).resources.requests.storage).toBe('+8Gi') },
  ],
  'names and keys of Secrets and StorageClasses': [
    { what: 'a Secret name whose first label is longer than 63 (only the subdomain\'s 253 count)', props: { secrets: { fernetKey: SecretKeyRef.of(`${'a'.repeat(70)}.example`, 'k') } },
      expect: o => expect(envOf(container(o, 'airflow-scheduler', 'scheduler')).AIRFLOW__CORE__FERNET_KEY.secret).toBe(`${'a'.repeat(70)}.example`) },
    { what: 'a Secret key with upper case, "_" and "."', props: { secrets: { jwtSecret: SecretKeyRef.of('airflow-secrets', 'JWT_SECRET.v2') } },
      expect: o => expect(envOf(container(o, 'airflow-api-server', 'api-server')).AIRFLOW__API_AUTH__JWT_SECRET.key).toBe('JWT_SECRET.v2') },
    { what: 'storageClassName "" (no class: binds only PersistentVolumes without one)', props: { postgres: { storageClassName: '' } },
      expect: o => {
        expect(claimTemplate(o).storageClassName).toBe('');
        expect(find(o, 'PersistentVolumeClaim', 'airflow-postgresql-backup').spec.storageClassName).toBe('');
      } },
  ],
  'git-sync flags and git refs': [
    { what: 'a period below a second (git-sync takes 10ms and more)', props: { dags: { repository: REPO, period: '500ms' } },
      expect: o => {
        expect(gitSyncEnv(o).GITSYNC_PERIOD.value).toBe('500ms');
        expect(cfg(o).dag_processor.refresh_interval).toBe('1');
      } },
    { what: 'a period in mixed units with a fraction', props: { dags: { repository: REPO, period: '1h2m3.5s' } },
      expect: o => expect(cfg(o).dag_processor.refresh_interval).toBe(String(3600 + 120 + 4)) },
    { what: 'maxFailures -1 (git-sync retries forever)', props: { dags: { repository: REPO, maxFailures: -1 } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_MAX_FAILURES.value).toBe('-1') },
    { what: 'depth 0 (full history)', props: { dags: { repository: REPO, depth: 0 } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_DEPTH.value).toBe('0') },
    { what: 'a ref that is a full commit id', props: { dags: { repository: REPO, ref: 'a'.repeat(40) } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_REF.value).toBe('a'.repeat(40)) },
    { what: 'a ref with "/" and "." (release/v1.2)', props: { dags: { repository: REPO, ref: 'release/v1.2' } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_REF.value).toBe('release/v1.2') },
    { what: 'a subPath with a trailing "/"', props: { dags: { repository: REPO, subPath: 'dags/' } },
      expect: o => expect(cfg(o).core.dags_folder).toBe('/opt/airflow/dags/repo/dags') },
    { what: 'a subPath with a space', props: { dags: { repository: REPO, subPath: 'my dags' } },
      expect: o => expect(cfg(o).core.dags_folder).toBe('/opt/airflow/dags/repo/my dags') },
    { what: 'an HTTPS repository on an IPv6 literal', props: { dags: { repository: 'https://[2001:db8::1]/x/y.git' } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_REPO.value).toBe('https://[2001:db8::1]/x/y.git') },
    { what: 'an SSH repository on a port of its own', props: { dags: { repository: 'ssh://git@git.example.com:2222/x/y.git', auth: GitAuth.ssh({ secretName: 'git' }) } },
      expect: o => expect(gitSyncEnv(o).GITSYNC_REPO.value).toBe('ssh://git@git.example.com:2222/x/y.git') },
  ],
  'Airflow options as configparser and CPython read them': [
    { what: 'an option name in upper case (configparser lower-cases it)', props: { options: { core: { PARALLELISM: 64 } } },
      expect: o => expect(cfg(o).core.parallelism).toBe('64') },
    { what: 'booleans "TRUE" and "t"', props: { options: { core: { dags_are_paused_at_creation: 'TRUE', dagbag_import_error_tracebacks: 't' } } },
      expect: o => expect(cfg(o).core.dags_are_paused_at_creation).toBe('TRUE') },
    { what: 'integers and floats with "_" (CPython\'s int() and float())', props: { options: { scheduler: { task_queued_timeout: '1_200' }, execution_api: { jwt_expiration_time: '2_400' } } },
      expect: o => expect(cfg(o).execution_api.jwt_expiration_time).toBe('2_400') },
    { what: '3.1 [api] page_size (3.2 renamed it fallback_page_limit)',
      props: { airflowVersion: '3.1.8', options: { api: { page_size: 50 } } },
      expect: o => expect(cfg(o).api.page_size).toBe('50') },
    { what: '3.2 [api] server_type and worker recycling', props: { airflowVersion: '3.2.2', options: { api: { server_type: 'gunicorn', worker_refresh_interval: 1800 } } },
      expect: o => expect(cfg(o).api).toMatchObject({ server_type: 'gunicorn', worker_refresh_interval: '1800' }) },
    { what: '3.3 [state_store] default_retention_days (new in 3.3)', props: { options: { state_store: { default_retention_days: 7 } } },
      expect: o => expect(cfg(o).state_store.default_retention_days).toBe('7') },
    { what: 'a log folder below the logs volume', props: { options: { logging: { base_log_folder: '/opt/airflow/logs/airflow' } } },
      expect: o => expect(cfg(o).logging.base_log_folder).toBe('/opt/airflow/logs/airflow') },
    { what: 'a DAG bundle folder under /tmp', props: { options: { dag_processor: { dag_bundle_storage_path: '/tmp/bundles' } } },
      expect: o => expect(cfg(o).dag_processor.dag_bundle_storage_path).toBe('/tmp/bundles') },
    { what: 'a base_url with a path and a trailing "/"', props: { options: { api: { base_url: 'https://example.com/airflow/' } } },
      expect: o => expect(container(o, 'airflow-api-server', 'api-server').readinessProbe.httpGet.path).toBe('/airflow/api/v2/monitor/health') },
    { what: 'an option through env (AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG)', props: { scheduler: { env: [{ name: 'AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG', value: '64' }] } },
      expect: o => expect(envOf(container(o, 'airflow-scheduler', 'scheduler')).AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG.value).toBe('64') },
    { what: 'a sensitive option through env: its _CMD variant, and valueFrom a Secret', props: { triggerer: { env: [
      { name: 'AIRFLOW__SENTRY__SENTRY_DSN_CMD', value: 'cat /run/secrets/sentry-dsn' },
      { name: 'AIRFLOW__SENTRY__SENTRY_DSN', valueFrom: { secretKeyRef: { name: 'sentry', key: 'dsn' } } },
    ] } },
    expect: o => expect(envOf(container(o, 'airflow-triggerer', 'triggerer')).AIRFLOW__SENTRY__SENTRY_DSN.secret).toBe('sentry') },
  ],
  'images (distribution reference grammar, official tags, custom images)': [
    { what: 'an official image with a Python tag of another patch release of the series', props: { image: 'apache/airflow:3.3.1-python3.12' },
      expect: o => expect(container(o, 'airflow-scheduler', 'scheduler').image).toBe('apache/airflow:3.3.1-python3.12') },
    { what: 'the official slim image through Docker Hub\'s host', props: { image: 'docker.io/apache/airflow:slim-3.3.2' },
      expect: o => expect(container(o, 'airflow-api-server', 'api-server').image).toBe('docker.io/apache/airflow:slim-3.3.2') },
    { what: 'a custom image with its Airflow version declared', props: { image: 'registry.example.com/team/airflow:2024.11', airflowVersion: '3.1.7' },
      expect: o => expect(podSpec(find(o, 'Job', o.find(x => x.kind === 'Job')!.metadata.name)).containers[0].image).toBe('registry.example.com/team/airflow:2024.11') },
    { what: 'a custom image pinned by a sha512 digest', props: { image: `registry.example.com/airflow@sha512:${'b'.repeat(128)}`, airflowVersion: '3.1.7' },
      expect: o => expect(container(o, 'airflow-triggerer', 'triggerer').image).toBe(`registry.example.com/airflow@sha512:${'b'.repeat(128)}`) },
    { what: 'a declared airflowVersion alone: the official image of that release', props: { airflowVersion: '3.1.5' },
      expect: o => expect(container(o, 'airflow-dag-processor', 'dag-processor').image).toBe('apache/airflow:3.1.5') },
  ],
  'CronJob schedules and time zones (robfig/cron, the time zone database)': [
    { what: 'a descriptor ("@daily")', props: { postgres: { backup: { schedule: '@daily' } } },
      expect: o => expect(cronJob(o, 'airflow-postgresql-backup').schedule).toBe('@daily') },
    { what: 'steps, ranges and day names', props: { databaseCleanup: { schedule: '*/15 9-17 * JAN-MAR MON-FRI' } },
      expect: o => expect(cronJob(o, 'airflow-db-cleanup').schedule).toBe('*/15 9-17 * JAN-MAR MON-FRI') },
    { what: 'a three-part time zone name', props: { postgres: { backup: { timeZone: 'America/Argentina/Buenos_Aires' } } },
      expect: o => expect(cronJob(o, 'airflow-postgresql-backup').timeZone).toBe('America/Argentina/Buenos_Aires') },
  ],
  'PodDisruptionBudgets and NetworkPolicies': [
    { what: 'a PodDisruptionBudget as a percentage', props: { apiServer: { replicas: 2, disruptionBudget: { maxUnavailable: '50%' } } },
      expect: o => expect(find(o, 'PodDisruptionBudget', 'airflow-api-server').spec.maxUnavailable).toBe('50%') },
    { what: 'an IPv6 ipBlock and a namespaceSelector with Exists', props: { networkPolicies: { apiServerFrom: [
      { ipBlock: { cidr: 'fd00::/8' } },
      { namespaceSelector: { matchExpressions: [{ key: 'example.com/ingress', operator: 'Exists' }] } },
    ] } },
    expect: o => expect(find(o, 'NetworkPolicy', 'airflow-api-server').spec.ingress[0].from[1].ipBlock.cidr).toBe('fd00::/8') },
    { what: 'a Cloud Storage bucket with "_"', props: { remoteLogging: { gcs: { bucket: 'my_airflow_logs' } } },
      expect: o => expect(cfg(o).logging.remote_base_log_folder).toBe('gs://my_airflow_logs/airflow/logs') },
  ],
  'Prometheus durations, label names and metric prefixes': [
    { what: 'durations of mixed units, largest first ("1h30m", "90s")', props: { metrics: { serviceMonitor: { interval: '90s' }, prometheusRule: { queuedFor: '1h30m', starvingFor: '1d' } }, networkPolicies: { metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] } },
      expect: o => expect(find(o, 'PrometheusRule', 'airflow-statsd').spec.groups[0].rules.map((r: any) => r.for)).toEqual(['5m', '10m', '1h30m', '1d', '15m']) },
    { what: 'a metric prefix of one underscore-separated part ("airflow_prod")', props: { metrics: { exporter: { prefix: 'airflow_prod' } } },
      expect: o => expect(find(o, 'ConfigMap', 'airflow-statsd').data['mapping.yaml']).toContain('name: airflow_prod_ti_finish') },
    { what: 'a prefixed sidecar label key ("grafana.example.com/dashboard") and an empty value', props: { metrics: { dashboard: { sidecarLabels: { 'grafana.example.com/dashboard': '' } } } },
      expect: o => expect(find(o, 'ConfigMap', 'airflow-dashboard').metadata.labels!['grafana.example.com/dashboard']).toBe('') },
    { what: 'an OTel collector by IP address, over HTTPS', props: { metrics: { otel: { host: '10.0.0.7', port: 4318, ssl: true } } },
      expect: o => expect(cfg(o).metrics).toMatchObject({ otel_host: '10.0.0.7', otel_ssl_active: 'True' }) },
  ],
};

/** The objects an Airflow with the row's props synthesizes to, in namespace airflow-test. */
function synthesize(row: Row): K8sObject[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'airflow-test', disableResourceNameHashes: true });
  new Airflow(chart, 'airflow', row.props);
  return Testing.synth(chart) as K8sObject[];
}

describe('valid but unusual inputs are accepted and used as given', () => {
  describe.each(Object.entries(RULES))('%s', (_rule, rows) => {
    test.each(rows)('$what', row => row.expect(synthesize(row)));
  });

  test('the table holds at least 25 distinct valid-but-unusual inputs', () => {
    const rows = Object.values(RULES).flat();
    expect(new Set(rows.map(r => r.what)).size).toBe(rows.length);
    expect(rows.length).toBeGreaterThanOrEqual(25);
  });
});

test('every one of their outputs passes npm run check (strict schemas, Pod Security "restricted", hygiene)', () => {
  const out = tempDir('valid-inputs-');
  const rows = Object.values(RULES).flat();
  rows.forEach((row, i) => writeFileSync(join(out, `${String(i).padStart(2, '0')}.k8s.yaml`), synthesize(row).map(o => stringify(o)).join('---\n')));
  const { status, report } = runCheck(out);
  expect(report.files).toBe(rows.length);
  expect([...report.schemaErrors, ...report.policyViolations, ...report.hygieneProblems]).toEqual([]);
  expect(status).toBe(0);
});

test('a Chart without a namespace takes the namespace from AirflowConfig', () => {
  const chart = new Chart(new App(), 'plain', { disableResourceNameHashes: true });
  const config = new AirflowConfig(chart, 'config', { namespace: 'team-a' });
  expect(config.executionApiServerUrl).toBe('http://airflow-api-server.team-a:8080/execution/');
});
