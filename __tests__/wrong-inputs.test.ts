// Wrong inputs to the public constructs: each is rejected at construction time (before any synth)
// with an AirflowValidationError that names the construct, its path, the property, the value
// received and what is expected.
import { readdirSync } from 'fs';
import { App, Chart, Testing } from 'cdk8s';
import {
  Airflow, AirflowChart, AirflowConfig, AirflowProps, AirflowScheduler, AirflowValidationError, ApiServer,
  ContainerResources, ENVIRONMENTS, GitAuth, GitSync, PostgresStatefulSet, SchedulerRbac, SecretKeyRef,
  TaskPodTemplate, Tier,
} from '../lib';

interface Row {
  /** What is wrong. */
  readonly what: string;
  /** Constructs the wrong thing in a fresh app. */
  readonly build: (app: App) => unknown;
  /** Class of the construct that rejects it (first word of the message). */
  readonly cls: string;
  /** Its construct path. */
  readonly path: string;
  /** The property named in the message. */
  readonly property: string;
  /** The value the error carries (its JSON must be in the message); ignored when `secret` is set. */
  readonly value?: unknown;
  /** A fragment of the expectation, after the word 'expected'. */
  readonly expected: string;
  /** A sensitive literal that must appear neither in the message nor in err.value. */
  readonly secret?: string;
}

const REPO = 'https://github.com/example/dags.git';

/** A chart in namespace airflow-test, as helpers.testChart() but inside the given app. */
function chart(app: App): Chart {
  return new Chart(app, 'test', { namespace: 'airflow-test', disableResourceNameHashes: true });
}

/** A complete Airflow with the given props in a fresh chart (path test/airflow). */
function airflow(props: AirflowProps): (app: App) => Airflow {
  return app => new Airflow(chart(app), 'airflow', props);
}

/** An environment preset changed by `patch` (spread, the preset itself is untouched); path <tier>. */
function preset(tier: Tier, patch: (a: AirflowProps) => AirflowProps, namespace?: string): (app: App) => AirflowChart {
  const env = ENVIRONMENTS[tier];
  return app => new AirflowChart(app, tier, { ...env, namespace: namespace ?? env.namespace, airflow: patch(env.airflow) });
}

/** An AirflowConfig at test/config. */
function config(app: App, props = {}): { c: Chart; config: AirflowConfig } {
  const c = chart(app);
  return { c, config: new AirflowConfig(c, 'config', props) };
}

function res(cpu: string, memory: string, memoryLimit: string, cpuLimit?: string): ContainerResources {
  return { requests: { cpu, memory }, limits: { memory: memoryLimit, ...(cpuLimit !== undefined ? { cpu: cpuLimit } : {}) } };
}

const CPU = 'a positive Kubernetes CPU quantity';
const DNS1035 = 'a DNS-1035 label of at most 34 characters';
const BYTES = 'a positive Kubernetes byte quantity';
const PINNED = 'an image reference pinned to a version tag or digest';
const DNS = 'a DNS-1123 label';
const GIT_URL = 'an HTTPS URL (https://host/path, no credentials';

const ROWS: Row[] = [
  // --- CPU quantities
  { what: 'CPU request "2GB" (a byte unit)', build: airflow({ scheduler: { resources: res('2GB', '1Gi', '2Gi') } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'resources.requests.cpu', value: '2GB', expected: CPU },
  { what: 'CPU request "-1"', build: airflow({ apiServer: { resources: res('-1', '1Gi', '2Gi') } }),
    cls: 'ApiServer', path: 'test/airflow/api-server', property: 'resources.requests.cpu', value: '-1', expected: CPU },
  { what: 'CPU request "1.5.0"', build: airflow({ triggerer: { resources: res('1.5.0', '1Gi', '2Gi') } }),
    cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'resources.requests.cpu', value: '1.5.0', expected: CPU },
  { what: 'CPU request "0" of the wait-for-migrations init container', build: airflow({ triggerer: { migrationWaitResources: res('0', '256Mi', '512Mi') } }),
    cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'migrationWaitResources.requests.cpu', value: '0', expected: CPU },
  { what: 'CPU limit below the CPU request', build: airflow({ apiServer: { resources: res('1', '1Gi', '2Gi', '250m') } }),
    cls: 'ApiServer', path: 'test/airflow/api-server', property: 'resources.limits.cpu', value: '250m', expected: 'a CPU limit at least the request: the limit 250m is 250 millicores, less than the request 1, 1000 millicores' },

  // --- memory and storage quantities
  { what: 'memory request "2GB" (decimal bytes with a B)', build: airflow({ dagProcessor: { resources: res('250m', '2GB', '4Gi') } }),
    cls: 'DagProcessor', path: 'test/airflow/dag-processor', property: 'resources.requests.memory', value: '2GB', expected: 'not "2GB"' },
  { what: 'memory request "-1"', build: airflow({ taskPods: { resources: res('250m', '-1', '1Gi') } }),
    cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'resources.requests.memory', value: '-1', expected: BYTES },
  { what: 'memory request "1.5.0"', build: airflow({ postgres: { resources: res('250m', '1.5.0', '1Gi') } }),
    cls: 'PostgresStatefulSet', path: 'test/airflow/postgresql', property: 'resources.requests.memory', value: '1.5.0', expected: BYTES },
  { what: 'memory limit "2GB"', build: airflow({ migrations: { resources: res('250m', '512Mi', '2GB') } }),
    cls: 'MigrateDatabaseJob', path: 'test/airflow/db-migrate', property: 'resources.limits.memory', value: '2GB', expected: BYTES },
  { what: 'memory limit below the memory request', build: airflow({ scheduler: { resources: res('500m', '2Gi', '1Gi') } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'resources.limits.memory', value: '1Gi', expected: 'a memory limit at least the request: the limit 1Gi is 1024 MiB, less than the request 2Gi, 2048 MiB' },
  { what: 'git-sync memory limit below its request', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, resources: res('50m', '512Mi', '256Mi') }),
    cls: 'GitSync', path: 'test/git-sync', property: 'resources.limits.memory', value: '256Mi', expected: 'a memory limit at least the request: the limit 256Mi is 256 MiB, less than the request 512Mi, 512 MiB' },
  { what: 'postgres storage "10GB"', build: app => new PostgresStatefulSet(chart(app), 'postgresql', { storage: '10GB' }),
    cls: 'PostgresStatefulSet', path: 'test/postgresql', property: 'storage', value: '10GB', expected: BYTES },
  { what: 'postgres storage "-5Gi"', build: airflow({ postgres: { storage: '-5Gi' } }),
    cls: 'PostgresStatefulSet', path: 'test/airflow/postgresql', property: 'storage', value: '-5Gi', expected: BYTES },

  // --- replicas and high availability
  { what: 'scheduler replicas 0', build: airflow({ scheduler: { replicas: 0 } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'replicas', value: 0, expected: 'a whole number >= 1' },
  { what: 'triggerer replicas -1', build: airflow({ triggerer: { replicas: -1 } }),
    cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'replicas', value: -1, expected: 'a whole number >= 1' },
  { what: 'dag-processor replicas 1.5', build: airflow({ dagProcessor: { replicas: 1.5 } }),
    cls: 'DagProcessor', path: 'test/airflow/dag-processor', property: 'replicas', value: 1.5, expected: 'a whole number >= 1' },
  { what: 'prod with one scheduler', build: preset('prod', a => ({ ...a, scheduler: { ...a.scheduler, replicas: 1 } })),
    cls: 'Airflow', path: 'prod/airflow', property: 'scheduler.replicas', value: 1, expected: 'at least 2 with highAvailability' },
  { what: 'prod with one api-server', build: preset('prod', a => ({ ...a, apiServer: { ...a.apiServer, replicas: 1 } })),
    cls: 'Airflow', path: 'prod/airflow', property: 'apiServer.replicas', value: 1, expected: 'at least 2 with highAvailability' },
  { what: 'prod with highAvailability: false', build: preset('prod', a => ({ ...a, highAvailability: false })),
    cls: 'AirflowChart', path: 'prod', property: 'airflow.highAvailability', value: false, expected: 'prod is highly available' },

  // --- images
  { what: 'Airflow image without a tag', build: app => { const { c, config: cfg } = config(app); return new ApiServer(c, 'api-server', { config: cfg, image: 'apache/airflow' }); },
    cls: 'ApiServer', path: 'test/api-server', property: 'image', value: 'apache/airflow', expected: PINNED },
  { what: 'Airflow image ":latest"', build: app => { const { c, config: cfg } = config(app); return new TaskPodTemplate(c, 'pod-template', { config: cfg, image: 'apache/airflow:latest' }); },
    cls: 'TaskPodTemplate', path: 'test/pod-template', property: 'image', value: 'apache/airflow:latest', expected: 'no "latest"' },
  { what: 'Airflow image with an upper-case repository', build: airflow({ image: 'Apache/Airflow:3.1.7' }),
    cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'Apache/Airflow:3.1.7', expected: PINNED },
  { what: 'git-sync image without a tag', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, image: 'registry.k8s.io/git-sync/git-sync' }),
    cls: 'GitSync', path: 'test/git-sync', property: 'image', value: 'registry.k8s.io/git-sync/git-sync', expected: 'no missing tag' },
  { what: 'postgres image ":latest"', build: app => new PostgresStatefulSet(chart(app), 'postgresql', { image: 'postgres:latest' }),
    cls: 'PostgresStatefulSet', path: 'test/postgresql', property: 'image', value: 'postgres:latest', expected: PINNED },

  // --- names and namespaces
  { what: 'instanceName "Airflow_Prod"', build: airflow({ instanceName: 'Airflow_Prod' }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'instanceName', value: 'Airflow_Prod', expected: DNS1035 },
  { what: 'instanceName of 35 characters', build: app => new PostgresStatefulSet(chart(app), 'postgresql', { instanceName: 'a'.repeat(35) }),
    cls: 'PostgresStatefulSet', path: 'test/postgresql', property: 'instanceName', value: 'a'.repeat(35),
    expected: 'at most 34 characters (the tightest name it begins, the CronJob <instanceName>-postgresql-backup, may have 52)' },
  { what: 'SchedulerRbac instanceName "airflow.prod"', build: app => new SchedulerRbac(chart(app), 'rbac', { instanceName: 'airflow.prod' }),
    cls: 'SchedulerRbac', path: 'test/rbac', property: 'instanceName', value: 'airflow.prod', expected: DNS1035 },
  { what: 'instanceName starting with a digit (a Service name must start with a letter)', build: airflow({ instanceName: '1airflow' }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'instanceName', value: '1airflow', expected: DNS1035 },
  { what: 'environment namespace "Airflow-Dev"', build: preset('dev', a => a, 'Airflow-Dev'),
    cls: 'AirflowChart', path: 'dev', property: 'namespace', value: 'Airflow-Dev', expected: DNS },
  { what: 'AirflowConfig namespace "airflow_dev"', build: app => config(app, { namespace: 'airflow_dev' }),
    cls: 'AirflowConfig', path: 'test/config', property: 'namespace', value: 'airflow_dev', expected: DNS },
  { what: 'SchedulerRbac namespace "airflow_dev"', build: app => new SchedulerRbac(chart(app), 'rbac', { namespace: 'airflow_dev' }),
    cls: 'SchedulerRbac', path: 'test/rbac', property: 'namespace', value: 'airflow_dev', expected: DNS },
  { what: 'Airflow namespace that differs from the environment\'s', build: preset('dev', a => ({ ...a, namespace: 'airflow-prod' })),
    cls: 'AirflowChart', path: 'dev', property: 'airflow.namespace', value: 'airflow-prod', expected: 'unset or the environment\'s namespace (airflow-dev)' },
  { what: 'unknown tier "production"', build: app => new AirflowChart(app, 'production', { ...ENVIRONMENTS.prod, tier: 'production' as Tier }),
    cls: 'AirflowChart', path: 'production', property: 'tier', value: 'production', expected: '"dev", "staging" or "prod"' },
  { what: 'task pod ServiceAccount "Task_Runner"', build: airflow({ taskPods: { serviceAccountName: 'Task_Runner' } }),
    cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'serviceAccountName', value: 'Task_Runner', expected: 'a DNS-1123 subdomain' },
  { what: 'Secret name "Airflow_Secrets" for the fernet key', build: airflow({ secrets: { fernetKey: SecretKeyRef.of('Airflow_Secrets', 'fernet-key') } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.fernetKey.secretName', value: 'Airflow_Secrets', expected: 'a DNS-1123 subdomain' },
  { what: 'postgres database name "airflow-db"', build: airflow({ postgres: { database: 'airflow-db' } }),
    cls: 'PostgresStatefulSet', path: 'test/airflow/postgresql', property: 'database', value: 'airflow-db', expected: 'a PostgreSQL identifier' },

  // --- Git
  { what: 'Git URL "ftp://example.com/repo.git"', build: app => new GitSync(chart(app), 'git-sync', { repository: 'ftp://example.com/repo.git' }),
    cls: 'GitSync', path: 'test/git-sync', property: 'repository', value: 'ftp://example.com/repo.git', expected: GIT_URL },
  { what: 'Git URL over plain http', build: airflow({ dags: { repository: 'http://github.com/x/y.git' } }),
    cls: 'GitSync', path: 'test/airflow/git-sync', property: 'repository', value: 'http://github.com/x/y.git', expected: GIT_URL },
  { what: 'Git URL with embedded credentials', build: preset('dev', a => ({ ...a, dags: { ...a.dags!, repository: 'https://deploy:ghp_token123@github.com/x/y.git' } })),
    cls: 'GitSync', path: 'dev/airflow/git-sync', property: 'repository', secret: 'ghp_token123', expected: 'no credentials' },
  { what: 'SSH repository with knownHostsKey ""', build: app => new GitSync(chart(app), 'git-sync', {
    repository: 'git@github.com:x/y.git', auth: GitAuth.ssh({ secretName: 'airflow-git-ssh', knownHostsKey: '' }),
  }), cls: 'GitSync', path: 'test/git-sync', property: 'auth.knownHostsKey', value: '', expected: 'SSH host key checking stays on' },
  { what: 'SSH repository without SSH auth', build: app => new GitSync(chart(app), 'git-sync', { repository: 'git@github.com:x/y.git' }),
    cls: 'GitSync', path: 'test/git-sync', property: 'auth', value: 'none', expected: 'GitAuth.ssh({ secretName }) for an SSH repository' },
  { what: 'HTTPS repository with SSH auth', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, auth: GitAuth.ssh({ secretName: 'airflow-git-ssh' }) }),
    cls: 'GitSync', path: 'test/git-sync', property: 'auth', value: 'ssh', expected: 'GitAuth.none() or GitAuth.https({ secretName }) for an HTTPS repository' },
  { what: 'git-sync period "60" (no unit)', build: preset('dev', a => ({ ...a, dags: { ...a.dags!, period: '60' } })),
    cls: 'GitSync', path: 'dev/airflow/git-sync', property: 'period', value: '60', expected: 'a Go duration of at least one second' },
  { what: 'git-sync period "every minute"', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, period: 'every minute' }),
    cls: 'GitSync', path: 'test/git-sync', property: 'period', value: 'every minute', expected: 'a Go duration of at least one second' },
  { what: 'git-sync subPath escaping the repository', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, subPath: '../secrets' }),
    cls: 'GitSync', path: 'test/git-sync', property: 'subPath', value: '../secrets', expected: 'a relative folder inside the repository' },
  { what: 'git-sync depth -1', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, depth: -1 }),
    cls: 'GitSync', path: 'test/git-sync', property: 'depth', value: -1, expected: 'a whole number >= 0' },
  { what: 'task pod template whose config dagsFolder is not git-sync\'s', build: app => {
    const { c, config: cfg } = config(app);
    return new TaskPodTemplate(c, 'pod-template', { config: cfg, gitSync: new GitSync(c, 'git-sync', { repository: REPO, subPath: 'dags' }) });
  }, cls: 'TaskPodTemplate', path: 'test/pod-template', property: 'config.dagsFolder', value: '/opt/airflow/dags', expected: 'GitSync.dagsFolder (/opt/airflow/dags/repo/dags)' },
  { what: 'relative dagsFolder', build: app => config(app, { dagsFolder: 'dags' }),
    cls: 'AirflowConfig', path: 'test/config', property: 'dagsFolder', value: 'dags', expected: 'an absolute path' },

  // --- database
  { what: 'in-cluster postgres together with externalDatabase', build: airflow({
    postgres: { storage: '8Gi' }, externalDatabase: { connection: SecretKeyRef.of('airflow-database', 'connection') },
  }), cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase', value: 'given together with postgres', expected: 'either an in-cluster postgres or an externalDatabase, not both' },
  { what: 'externalDatabase together with secrets.sqlAlchemyConn', build: airflow({
    externalDatabase: { connection: SecretKeyRef.of('airflow-database', 'connection') }, secrets: { sqlAlchemyConn: SecretKeyRef.of('other', 'url') },
  }), cls: 'Airflow', path: 'test/airflow', property: 'secrets.sqlAlchemyConn', value: 'given together with externalDatabase', expected: 'the connection only once' },
  { what: 'migration Job backoffLimit -1', build: airflow({ migrations: { backoffLimit: -1 } }),
    cls: 'MigrateDatabaseJob', path: 'test/airflow/db-migrate', property: 'backoffLimit', value: -1, expected: 'a whole number >= 0' },

  // --- environment variables
  { what: 'the same env var twice in the scheduler', build: airflow({ scheduler: { env: [{ name: 'EXTRA', value: '1' }, { name: 'EXTRA', value: '2' }] } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env', value: 'EXTRA', expected: 'each name at most once' },
  { what: 'env overriding AIRFLOW__CORE__FERNET_KEY', build: airflow({ triggerer: { env: [{ name: 'AIRFLOW__CORE__FERNET_KEY', value: 'x' }] } }),
    cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'env', value: 'AIRFLOW__CORE__FERNET_KEY', expected: 'a variable the library does not set itself' },
  { what: 'env var name starting with a digit', build: airflow({ taskPods: { env: [{ name: '1BAD', value: 'x' }] } }),
    cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'env.name', value: '1BAD', expected: 'an environment variable name' },

  // --- PodDisruptionBudgets, spreading, Service
  { what: 'PodDisruptionBudget maxUnavailable 0', build: airflow({ scheduler: { replicas: 2, disruptionBudget: { maxUnavailable: 0 } } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'disruptionBudget.maxUnavailable', value: 0, expected: 'node drains hang' },
  { what: 'PodDisruptionBudget minAvailable 2 with 2 replicas', build: airflow({ apiServer: { replicas: 2, disruptionBudget: { minAvailable: 2 } } }),
    cls: 'ApiServer', path: 'test/airflow/api-server', property: 'disruptionBudget.minAvailable', value: 2, expected: 'a whole number below replicas (2)' },
  { what: 'PodDisruptionBudget with both maxUnavailable and minAvailable', build: airflow({ dagProcessor: { replicas: 2, disruptionBudget: { maxUnavailable: 1, minAvailable: 1 } } }),
    cls: 'DagProcessor', path: 'test/airflow/dag-processor', property: 'disruptionBudget', value: { maxUnavailable: 1, minAvailable: 1 }, expected: 'exactly one of maxUnavailable and minAvailable' },
  { what: 'spreadAcrossNodes "Always"', build: airflow({ triggerer: { spreadAcrossNodes: 'Always' as 'DoNotSchedule' } }),
    cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'spreadAcrossNodes', value: 'Always', expected: '"DoNotSchedule" or "ScheduleAnyway"' },
  { what: 'api-server Service type "Ingress"', build: airflow({ apiServer: { serviceType: 'Ingress' as 'ClusterIP' } }),
    cls: 'ApiServer', path: 'test/airflow/api-server', property: 'serviceType', value: 'Ingress', expected: '"ClusterIP", "NodePort" or "LoadBalancer"' },
  { what: 'scheduler without a task pod template', build: app => {
    const { c, config: cfg } = config(app);
    return new AirflowScheduler(c, 'scheduler', { config: cfg, podTemplate: undefined as unknown as TaskPodTemplate });
  }, cls: 'AirflowScheduler', path: 'test/scheduler', property: 'podTemplate', value: 'undefined', expected: 'a TaskPodTemplate' },

  // --- Airflow options
  { what: 'options overriding core.executor', build: airflow({ options: { core: { executor: 'CeleryExecutor' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.executor', value: 'CeleryExecutor', expected: 'this library sets core.executor itself' },
  { what: 'options overriding core.execution_api_server_url', build: airflow({ options: { core: { execution_api_server_url: 'http://localhost:8080/execution/' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.execution_api_server_url', value: 'http://localhost:8080/execution/', expected: 'derived from the api-server Service' },
  { what: 'options overriding kubernetes_executor.pod_template_file', build: preset('staging', a => ({ ...a, options: { kubernetes_executor: { pod_template_file: '/opt/airflow/mine.yaml' } } })),
    cls: 'AirflowConfig', path: 'staging/airflow/config', property: 'options.kubernetes_executor.pod_template_file', value: '/opt/airflow/mine.yaml', expected: 'TaskPodTemplate mounts the template at this path' },
  { what: 'unknown option core.paralelism (typo)', build: airflow({ options: { core: { paralelism: 64 } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.paralelism', value: 64, expected: 'closest known: [core] parallelism' },
  { what: 'renamed option scheduler.dag_dir_list_interval', build: airflow({ options: { scheduler: { dag_dir_list_interval: 30 } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.scheduler.dag_dir_list_interval', value: 30, expected: 'renamed to [dag_processor] refresh_interval' },
  { what: 'option value of the wrong type', build: airflow({ options: { core: { parallelism: 'lots' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.parallelism', value: 'lots', expected: 'a value of type integer' },
  { what: 'sensitive option sentry.sentry_dsn as a literal', build: airflow({ options: { sentry: { sentry_dsn: 'https://s3cr3tDsnKey@o1.ingest.sentry.io/1' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.sentry.sentry_dsn', secret: 'https://s3cr3tDsnKey@o1.ingest.sentry.io/1', expected: 'a Secret reference' },
  { what: 'sensitive managed option core.fernet_key as a literal', build: airflow({ options: { core: { fernet_key: 'LiteralFernetKey0123456789abcdefghijklmnopq=' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.fernet_key', secret: 'LiteralFernetKey0123456789abcdefghijklmnopq=', expected: 'secrets.fernetKey' },
  { what: 'sensitive renamed option webserver.secret_key as a literal', build: airflow({ options: { webserver: { secret_key: 'literal-webserver-secret-key' } } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.webserver.secret_key', secret: 'literal-webserver-secret-key', expected: 'renamed to [api] secret_key' },
  { what: 'externalDatabase.connection as a literal URL with a password (JavaScript caller)', build: airflow({
    externalDatabase: { connection: 'postgresql://airflow:hunter2pw@db.example.com/airflow' as unknown as SecretKeyRef },
  }), cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.connection', secret: 'hunter2pw', expected: 'a Secret reference' },
  { what: 'Airflow namespace "other" inside a Chart whose namespace is airflow-test (objects would land in one, airflow.cfg point at the other)',
    build: airflow({ namespace: 'other' }), cls: 'Airflow', path: 'test/airflow', property: 'namespace', value: 'other', expected: "the Chart's namespace" },
  { what: 'two Airflows with the same instanceName in one namespace (every object name collides)', build: app => {
    const c = chart(app);
    new Airflow(c, 'one', {});
    return new Airflow(c, 'two', {});
  }, cls: 'AirflowConfig', path: 'test/two/config', property: 'instanceName', value: 'airflow', expected: 'a name no other installation' },
  { what: 'scheduler env AIRFLOW__CORE__EXECUTOR (would override the managed [core] executor)',
    build: airflow({ scheduler: { env: [{ name: 'AIRFLOW__CORE__EXECUTOR', value: 'CeleryExecutor' }] } }),
    cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env', value: 'AIRFLOW__CORE__EXECUTOR', expected: 'a variable the library does not set itself' },
  { what: 'task pod env AIRFLOW__CORE__EXECUTION_API_SERVER_URL (would override the managed option)',
    build: airflow({ taskPods: { env: [{ name: 'AIRFLOW__CORE__EXECUTION_API_SERVER_URL', value: 'http://localhost:8080/execution/' }] } }),
    cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'env', value: 'AIRFLOW__CORE__EXECUTION_API_SERVER_URL', expected: 'a variable the library does not set itself' },
  { what: 'prod (highAvailability) scheduler with spreadAcrossNodes "ScheduleAnyway"',
    build: preset('prod', a => ({ ...a, scheduler: { ...a.scheduler, spreadAcrossNodes: 'ScheduleAnyway' } })),
    cls: 'Airflow', path: 'prod/airflow', property: 'scheduler.spreadAcrossNodes', value: 'ScheduleAnyway', expected: '"DoNotSchedule" or unset with highAvailability' },
  { what: 'secrets.fernetKey as a literal string (JavaScript caller)', build: airflow({ secrets: { fernetKey: 'LiteralFernetKeyGivenAsString=' as unknown as SecretKeyRef } }),
    cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.fernetKey', secret: 'LiteralFernetKeyGivenAsString=', expected: 'SecretKeyRef' },
];

/** Runs `build` in a fresh app; returns the error it threw, and whether anything was synthesized. */
function attempt(row: Row): { error: unknown; synthesized: boolean } {
  const app = Testing.app();
  const appSynth = jest.spyOn(App.prototype, 'synth');
  const chartToJson = jest.spyOn(Chart.prototype, 'toJson');
  let error: unknown;
  try {
    row.build(app);
  } catch (e) {
    error = e;
  }
  const synthesized = appSynth.mock.calls.length > 0 || chartToJson.mock.calls.length > 0 || readdirSync(app.outdir).length > 0;
  appSynth.mockRestore();
  chartToJson.mockRestore();
  return { error, synthesized };
}

describe('wrong inputs are rejected at construction with a precise AirflowValidationError', () => {
  test.each(ROWS)('$what', row => {
    const { error, synthesized } = attempt(row);
    expect(synthesized).toBe(false);
    expect(error).toBeInstanceOf(AirflowValidationError);
    const err = error as AirflowValidationError;
    const message = err.message;

    // the construct: class name and path, the path taken from the error itself
    expect(err.constructPath).not.toBe('');
    expect(err.constructPath).toBe(row.path);
    expect(message.startsWith(`${row.cls} [${err.constructPath}] `)).toBe(true);

    // the property
    expect(err.property).toBe(row.property);
    expect(message).toContain(` ${row.property}: got `);

    // the value received, or for a sensitive literal: never the value
    if (row.secret !== undefined) {
      expect(message).not.toContain(row.secret);
      expect(JSON.stringify(err.value) ?? '').not.toContain(row.secret);
    } else {
      expect(err.value).toEqual(row.value);
      expect(message).toContain(`got ${JSON.stringify(row.value)};`);
    }

    // what is expected
    expect(message).toContain('expected');
    expect(message.slice(message.indexOf('; expected '))).toContain(row.expected);
  });

  test('the unmodified baselines construct and synthesize without error', () => {
    expect(() => Testing.synth(airflow({})(Testing.app()).node.scope as Chart)).not.toThrow();
    for (const tier of Object.keys(ENVIRONMENTS) as Tier[]) {
      expect(() => Testing.synth(preset(tier, a => a)(Testing.app()))).not.toThrow();
    }
    expect(() => new GitSync(chart(Testing.app()), 'git-sync', { repository: REPO })).not.toThrow();
    expect(() => new PostgresStatefulSet(chart(Testing.app()), 'postgresql')).not.toThrow();
  });

  test('the table holds at least 25 distinct wrong inputs, each with its own message', () => {
    expect(new Set(ROWS.map(r => r.what)).size).toBe(ROWS.length);
    expect(new Set(ROWS.map(r => `${r.path} ${r.property} ${JSON.stringify(r.value ?? r.secret)}`)).size).toBe(ROWS.length);
    expect(ROWS.length).toBeGreaterThanOrEqual(25);
    const messages = ROWS.map(row => {
      const { error } = attempt(row);
      return error instanceof Error ? error.message : `no error for ${row.what}`;
    });
    const duplicates = messages.filter((m, i) => messages.indexOf(m) !== i);
    expect(duplicates).toEqual([]);
  });
});
