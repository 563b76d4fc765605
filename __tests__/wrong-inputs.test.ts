// Wrong inputs to the public constructs: each is rejected at construction time (before any synth)
// with an AirflowValidationError that names the construct, its path, the property, the value
// received and what is expected.
import { readdirSync } from 'fs';
import { App, Chart, Testing } from 'cdk8s';
import {
  Airflow, AirflowChart, AirflowComponentName, AirflowConfig, AirflowNetworkPolicies, AirflowProps, AirflowScheduler,
  AirflowValidationError, ApiServer, ContainerResources, ENVIRONMENTS, ExternalDatabase, GitAuth, GitSync, PostgresStatefulSet,
  MigrateDatabaseJob, NamespaceQuotaProps, SchedulerRbac, SecretKeyRef, TaskPodTemplate, Tier,
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
const SSO = { issuer: 'https://sso.example.com', clientId: 'airflow', clientSecret: SecretKeyRef.of('sso', 'secret'), roles: { admins: ['Admin' as const] } };

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

/** dev with its quota changed by `patch`; path dev/quota. */
function quota(patch: (q: Omit<NamespaceQuotaProps, 'airflow'>) => Omit<NamespaceQuotaProps, 'airflow'>): (app: App) => AirflowChart {
  return app => new AirflowChart(app, 'dev', { ...ENVIRONMENTS.dev, quota: patch(ENVIRONMENTS.dev.quota!) });
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

/**
 * Wrong inputs grouped by the rule they break (Kubernetes', Airflow's or git-sync's); each group is a describe block.
 */
const RULES: Record<string, Row[]> = {
  'CPU quantities': [
    { what: 'CPU request "" (empty)', build: airflow({ scheduler: { resources: res('', '1Gi', '2Gi') } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'resources.requests.cpu', value: '', expected: CPU },
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
  ],
  'memory and storage quantities': [
    { what: 'memory "1e3Mi" (an exponent and a suffix)', build: airflow({ apiServer: { resources: res('250m', '1e3Mi', '2Gi') } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'resources.requests.memory', value: '1e3Mi', expected: BYTES },
    { what: 'postgres storage "500m" (millibytes, a typo for megabytes)', build: airflow({ postgres: { storage: '500m' } }),
      cls: 'PostgresStatefulSet', path: 'test/airflow/postgresql', property: 'storage', value: '500m', expected: BYTES },
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
  ],
  'replicas and high availability': [
    { what: 'scheduler replicas 0', build: airflow({ scheduler: { replicas: 0 } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'replicas', value: 0, expected: 'a whole number >= 1' },
    { what: 'triggerer replicas -1', build: airflow({ triggerer: { replicas: -1 } }),
      cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'replicas', value: -1, expected: 'a whole number >= 1' },
    { what: 'dag-processor replicas 1.5', build: airflow({ dagProcessor: { replicas: 1.5 } }),
      cls: 'DagProcessor', path: 'test/airflow/dag-processor', property: 'replicas', value: 1.5, expected: 'a whole number >= 1' },
    { what: 'prod with one scheduler', build: preset('prod', a => ({ ...a, scheduler: { ...a.scheduler, replicas: 1 } })),
      cls: 'Airflow', path: 'prod/airflow', property: 'scheduler.replicas', value: 1, expected: 'at least 2 with highAvailability' },
    { what: 'prod with one api-server', build: preset('prod', a => ({ ...a, apiServer: { ...a.apiServer, autoscaling: undefined, replicas: 1 } })),
      cls: 'Airflow', path: 'prod/airflow', property: 'apiServer.replicas', value: 1, expected: 'at least 2 with highAvailability' },
    { what: 'prod autoscaling the api-server down to one', build: preset('prod', a => ({ ...a, apiServer: { ...a.apiServer, autoscaling: { ...a.apiServer!.autoscaling!, minReplicas: 1 } } })),
      cls: 'Airflow', path: 'prod/airflow', property: 'apiServer.autoscaling.minReplicas', value: 1, expected: 'at least 2 with highAvailability' },
  ],
  'autoscaling': [
    { what: 'replicas beside autoscaling', build: airflow({ apiServer: { replicas: 2, autoscaling: { minReplicas: 2, maxReplicas: 4, cpuUtilization: 70 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'replicas', value: 2, expected: 'unset with autoscaling' },
    { what: 'autoscaling minReplicas 0', build: airflow({ apiServer: { autoscaling: { minReplicas: 0, maxReplicas: 4, cpuUtilization: 70 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'autoscaling.minReplicas', value: 0, expected: 'a whole number >= 1' },
    { what: 'autoscaling maxReplicas below minReplicas', build: airflow({ apiServer: { autoscaling: { minReplicas: 3, maxReplicas: 2, cpuUtilization: 70 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'autoscaling.maxReplicas', value: 2, expected: 'a whole number >= 3' },
    { what: 'autoscaling without a target', build: airflow({ apiServer: { autoscaling: { minReplicas: 2, maxReplicas: 4 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'autoscaling', value: { minReplicas: 2, maxReplicas: 4 }, expected: 'cpuUtilization, memoryUtilization or both' },
    { what: 'autoscaling at 0 % CPU', build: airflow({ apiServer: { autoscaling: { minReplicas: 2, maxReplicas: 4, cpuUtilization: 0 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'autoscaling.cpuUtilization', value: 0, expected: 'a whole number >= 1' },
    { what: 'prod with highAvailability: false', build: preset('prod', a => ({ ...a, highAvailability: false })),
      cls: 'AirflowChart', path: 'prod', property: 'airflow.highAvailability', value: false, expected: 'prod is highly available' },
  ],
  'access': [
    { what: 'a nodePort outside the NodePort range', build: airflow({ apiServer: { serviceType: 'NodePort', nodePort: 8080 } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'nodePort', value: 8080, expected: 'a port of Kubernetes\' default NodePort range, 30000 to 32767' },
    { what: 'a nodePort on a ClusterIP Service', build: airflow({ apiServer: { nodePort: 30007 } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'nodePort', value: 30007, expected: 'unset with serviceType "ClusterIP"' },
    { what: 'an Ingress without a host', build: airflow({ networkPolicies: false, ingress: { hosts: [] } }),
      cls: 'ApiServerIngress', path: 'test/airflow/ingress', property: 'hosts', value: [], expected: 'one host name or more' },
    { what: 'an Ingress host with upper case', build: airflow({ networkPolicies: false, ingress: { hosts: ['Airflow.example.com'] } }),
      cls: 'ApiServerIngress', path: 'test/airflow/ingress', property: 'hosts[0]', value: 'Airflow.example.com', expected: 'DNS-1123 subdomain' },
    { what: 'an Ingress host that is an IP address', build: airflow({ networkPolicies: false, ingress: { hosts: ['10.0.0.1'] } }),
      cls: 'ApiServerIngress', path: 'test/airflow/ingress', property: 'hosts[0]', value: '10.0.0.1', expected: 'a DNS name, not an IP address' },
    { what: 'an Ingress TLS Secret name with a slash', build: airflow({ networkPolicies: false, ingress: { hosts: ['airflow.example.com'], tlsSecretName: 'certs/airflow' } }),
      cls: 'ApiServerIngress', path: 'test/airflow/ingress', property: 'tlsSecretName', value: 'certs/airflow', expected: 'DNS-1123 subdomain' },
    { what: 'an HTTPRoute to a Gateway named with upper case', build: airflow({ networkPolicies: false, httpRoute: { gateway: { name: 'Shared' } } }),
      cls: 'ApiServerHttpRoute', path: 'test/airflow/http-route', property: 'gateway.name', value: 'Shared', expected: 'DNS-1123 subdomain' },
    { what: 'an HTTPRoute to a Gateway in a namespace with a dot', build: airflow({ networkPolicies: false, httpRoute: { gateway: { name: 'shared', namespace: 'infra.gateways' } } }),
      cls: 'ApiServerHttpRoute', path: 'test/airflow/http-route', property: 'gateway.namespace', value: 'infra.gateways', expected: 'DNS-1123 label' },
    { what: 'an HTTPRoute host with a port', build: airflow({ networkPolicies: false, httpRoute: { gateway: { name: 'shared' }, hosts: ['airflow.example.com:443'] } }),
      cls: 'ApiServerHttpRoute', path: 'test/airflow/http-route', property: 'hosts[0]', value: 'airflow.example.com:443', expected: 'DNS-1123 subdomain' },
    { what: 'an HTTPRoute the NetworkPolicies would keep out', build: airflow({ httpRoute: { gateway: { name: 'shared' } }, networkPolicies: { apiServerFrom: [] } }),
      cls: 'Airflow', path: 'test/airflow', property: 'networkPolicies.apiServerFrom', value: [], expected: 'the Gateway\'s pods with httpRoute set' },
    { what: 'an Ingress the NetworkPolicies would keep out', build: airflow({ ingress: { hosts: ['airflow.example.com'] } }),
      cls: 'Airflow', path: 'test/airflow', property: 'networkPolicies.apiServerFrom', value: undefined, expected: 'the Ingress controller\'s pods with ingress set' },
  ],
  'task pod profiles': [
    { what: 'a profile named with upper case', build: airflow({ taskPods: { profiles: { Large: {} } } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'profiles', value: 'Large', expected: 'DNS-1123 label' },
    { what: 'a profile of 0 GPUs', build: airflow({ taskPods: { profiles: { gpu: { gpus: 0 } } } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'profiles.gpu.gpus', value: 0, expected: 'a whole number >= 1' },
    { what: 'a profile of 0 slots', build: airflow({ taskPods: { profiles: { large: { slots: 0 } } } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'profiles.large.slots', value: 0, expected: 'a whole number >= 1' },
    { what: 'a profile memory limit below its request', build: airflow({ taskPods: { profiles: { large: { resources: { requests: { memory: '8Gi' } } } } } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'profiles.large.resources.limits.memory', value: '1Gi', expected: 'set profiles.large.resources.limits.memory as well' },
    { what: 'a declared pool of a profile\'s name', build: airflow({ pools: { pools: { large: { slots: 2 } } }, taskPods: { profiles: { large: { slots: 4 } } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'pools.pools.large', value: { slots: 2 }, expected: 'the task pod profile "large" makes this pool from its slots' },
  ],
  'namespace quota': [
    { what: 'a quota with fewer pods than the peak', build: quota(q => ({ ...q, pods: 5 })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'pods', value: 5, expected: 'at least 30, what the installation\'s pods take at their peak' },
    { what: 'a quota of less memory than the peak', build: quota(q => ({ ...q, requests: { ...q.requests, memory: '4Gi' } })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'requests.memory', value: '4Gi', expected: 'task pods: [core] parallelism 8 × 2 schedulers (the rollout\'s included): 6144Mi' },
    { what: '[core] parallelism 0', build: airflow({ options: { core: { parallelism: 0 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.parallelism', value: 0, expected: 'a whole number >= 1' },
    { what: '[core] parallelism as a scheduler env var', build: airflow({ scheduler: { env: [{ name: 'AIRFLOW__CORE__PARALLELISM', value: '64' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.AIRFLOW__CORE__PARALLELISM', value: '64', expected: 'give [core] parallelism in options' },
    { what: 'a quota in GB', build: quota(q => ({ ...q, limits: { memory: '20GB' } })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'limits.memory', value: '20GB', expected: BYTES },
    { what: 'a quota of 0 pods', build: quota(q => ({ ...q, pods: 0 })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'pods', value: 0, expected: 'a whole number >= 1' },
    { what: 'a quota without requests', build: quota(q => ({ ...q, requests: undefined as any })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'requests', value: undefined, expected: 'given: { requests: { cpu, memory }, limits: { memory }, pods }' },
    { what: 'a default memory limit below the default request', build: quota(q => ({ ...q, containerDefaults: { requests: { cpu: '100m', memory: '1Gi' }, limits: { memory: '512Mi' } } })),
      cls: 'NamespaceQuota', path: 'dev/quota', property: 'containerDefaults.limits.memory', value: '512Mi', expected: 'at least containerDefaults.requests.memory (1Gi)' },
  ],
  'images': [
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
  ],
  'names and namespaces': [
    { what: 'instanceName ending with "-"', build: airflow({ instanceName: 'airflow-' }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'instanceName', value: 'airflow-', expected: DNS1035 },
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
  ],
  'Git': [
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
      cls: 'GitSync', path: 'dev/airflow/git-sync', property: 'period', value: '60', expected: 'a Go duration of at least 10ms (git-sync\'s minimum)' },
    { what: 'git-sync period "every minute"', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, period: 'every minute' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'period', value: 'every minute', expected: 'a Go duration of at least 10ms (git-sync\'s minimum)' },
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
  ],
  'database': [
    { what: 'in-cluster postgres together with externalDatabase', build: airflow({
      postgres: { storage: '8Gi' }, externalDatabase: { connection: SecretKeyRef.of('airflow-database', 'connection') },
    }), cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase', value: 'given together with postgres', expected: 'either an in-cluster postgres or an externalDatabase, not both' },
    { what: 'externalDatabase together with secrets.sqlAlchemyConn', build: airflow({
      externalDatabase: { connection: SecretKeyRef.of('airflow-database', 'connection') }, secrets: { sqlAlchemyConn: SecretKeyRef.of('other', 'url') },
    }), cls: 'Airflow', path: 'test/airflow', property: 'secrets.sqlAlchemyConn', value: 'given together with externalDatabase', expected: 'the connection only once' },
    { what: 'migration Job backoffLimit -1', build: airflow({ migrations: { backoffLimit: -1 } }),
      cls: 'MigrateDatabaseJob', path: 'test/airflow/db-migrate', property: 'backoffLimit', value: -1, expected: 'a whole number >= 0' },
  ],
  'environment variables': [
    { what: 'the same env var twice in the scheduler', build: airflow({ scheduler: { env: [{ name: 'EXTRA', value: '1' }, { name: 'EXTRA', value: '2' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env', value: 'EXTRA', expected: 'each name at most once' },
    { what: 'env overriding AIRFLOW__CORE__FERNET_KEY', build: airflow({ triggerer: { env: [{ name: 'AIRFLOW__CORE__FERNET_KEY', value: 'x' }] } }),
      cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'env', value: 'AIRFLOW__CORE__FERNET_KEY', expected: 'a variable the library does not set itself' },
    { what: 'env var name starting with a digit', build: airflow({ taskPods: { env: [{ name: '1BAD', value: 'x' }] } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'env.name', value: '1BAD', expected: 'an environment variable name' },
  ],
  'PodDisruptionBudgets, spreading, Service': [
    { what: 'PodDisruptionBudget minAvailable "100%"', build: airflow({ apiServer: { replicas: 3, disruptionBudget: { minAvailable: '100%' } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'disruptionBudget.minAvailable', value: '100%', expected: 'below replicas (3, percentages rounded up)' },
    { what: 'PodDisruptionBudget maxUnavailable "half"', build: airflow({ triggerer: { replicas: 2, disruptionBudget: { maxUnavailable: 'half' } } }),
      cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'disruptionBudget.maxUnavailable', value: 'half', expected: 'a whole number >= 1 or a percentage' },
    { what: 'PodDisruptionBudget maxUnavailable "0%"', build: airflow({ scheduler: { replicas: 2, disruptionBudget: { maxUnavailable: '0%' } } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'disruptionBudget.maxUnavailable', value: '0%', expected: 'a percentage such as "50%" above 0' },
    { what: 'PodDisruptionBudget maxUnavailable 0', build: airflow({ scheduler: { replicas: 2, disruptionBudget: { maxUnavailable: 0 } } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'disruptionBudget.maxUnavailable', value: 0, expected: 'node drains hang' },
    { what: 'PodDisruptionBudget minAvailable 2 with 2 replicas', build: airflow({ apiServer: { replicas: 2, disruptionBudget: { minAvailable: 2 } } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'disruptionBudget.minAvailable', value: 2, expected: 'below replicas (2, percentages rounded up)' },
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
  ],
  'Airflow options': [
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
      cls: 'Airflow', path: 'test/airflow', property: 'secrets.fernetKey', secret: 'LiteralFernetKeyGivenAsString=', expected: 'SecretKeyRef' },
  ],
  'Airflow versions and custom images': [
    { what: 'airflowVersion "3.1.7rc1" (a release candidate is no X.Y.Z)', build: app => config(app, { airflowVersion: '3.1.7rc1' }),
      cls: 'AirflowConfig', path: 'test/config', property: 'airflowVersion', value: '3.1.7rc1', expected: 'a release of a supported Airflow series' },
    { what: 'official image of the 3.0 series (not supported)', build: airflow({ image: 'apache/airflow:3.0.6' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:3.0.6', expected: 'Airflow 3.0.6 is not one' },
    { what: 'official image of the 3.4 series (not released: betas only)', build: airflow({ image: 'apache/airflow:3.4.0' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:3.4.0', expected: 'Airflow 3.4.0 is not one' },
    { what: 'official 3.2 image without airflowVersion, while the default is 3.3', build: airflow({ image: 'apache/airflow:3.2.2' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:3.2.2', expected: "an image of the installation's Airflow 3.3 series" },
    { what: 'declared airflowVersion 3.1.6 beside the official 3.1.7 image', build: airflow({ image: 'apache/airflow:3.1.7', airflowVersion: '3.1.6' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:3.1.7', expected: 'the official image of the declared airflowVersion, apache/airflow:3.1.6' },
    { what: 'Airflow 2 official image', build: airflow({ image: 'apache/airflow:2.10.5' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:2.10.5', expected: 'an image of a supported Airflow series (3.1.x, 3.2.x, 3.3.x): Airflow 2.10.5 is not one' },
    { what: 'Airflow 2 official image with a Python tag, on a lone ApiServer', build: app => { const { c, config: cfg } = config(app); return new ApiServer(c, 'api-server', { config: cfg, image: 'apache/airflow:2.10.5-python3.11' }); },
      cls: 'ApiServer', path: 'test/api-server', property: 'image', value: 'apache/airflow:2.10.5-python3.11', expected: 'Airflow 2.10.5 is not one' },
    { what: 'Airflow 3.0 slim image (a series before the supported one)', build: airflow({ image: 'apache/airflow:slim-3.0.6' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'apache/airflow:slim-3.0.6', expected: 'Airflow 3.0.6 is not one' },
    { what: 'custom image without airflowVersion (its tag says nothing the library can trust)', build: airflow({ image: 'registry.example.com/team/airflow:2024.11' }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: 'registry.example.com/team/airflow:2024.11', expected: 'a custom image whose Airflow version is declared with airflowVersion' },
    { what: 'official image pinned by digest only, without airflowVersion', build: airflow({ image: `apache/airflow@sha256:${'a'.repeat(64)}` }),
      cls: 'Airflow', path: 'test/airflow', property: 'image', value: `apache/airflow@sha256:${'a'.repeat(64)}`, expected: 'an official apache/airflow:<version> image' },
    { what: 'airflowVersion of Airflow 2 declared for a custom image', build: airflow({ image: 'registry.example.com/team/airflow:1.0', airflowVersion: '2.10.5' }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'airflowVersion', value: '2.10.5', expected: 'a release of a supported Airflow series (3.1.x, 3.2.x, 3.3.x), as X.Y.Z' },
    { what: 'airflowVersion without its patch number', build: app => config(app, { airflowVersion: '3.1' }),
      cls: 'AirflowConfig', path: 'test/config', property: 'airflowVersion', value: '3.1', expected: 'as X.Y.Z' },
  ],
  'options the manifests depend on': [
    { what: 'options.api.port (Service, probes, NetworkPolicies and execution API URL use 8080)', build: airflow({ options: { api: { port: 9090 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.port', value: 9090, expected: 'the api-server listens on 8080' },
    { what: 'options.api.host on loopback only', build: airflow({ options: { api: { host: '127.0.0.1' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.host', value: '127.0.0.1', expected: 'listens on every address (0.0.0.0)' },
    { what: 'options.api.ssl_cert (probes and tasks speak HTTP)', build: airflow({ options: { api: { ssl_cert: '/certs/tls.crt' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.ssl_cert', value: '/certs/tls.crt', expected: 'terminate TLS at an Ingress or a service mesh' },
    { what: 'options.logging.trigger_log_server_port', build: airflow({ options: { logging: { trigger_log_server_port: 9794 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.logging.trigger_log_server_port', value: 9794, expected: 'on 8794, the port its container and NetworkPolicies open' },
    { what: 'options.kubernetes_executor.multi_namespace_mode (the Role is namespaced)', build: airflow({ options: { kubernetes_executor: { multi_namespace_mode: true } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.kubernetes_executor.multi_namespace_mode', value: true, expected: "the scheduler's Role grants pods in its own namespace only" },
    { what: 'options.kubernetes_executor.in_cluster False', build: airflow({ options: { kubernetes_executor: { in_cluster: 'False' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.kubernetes_executor.in_cluster', value: 'False', expected: "reaches the Kubernetes API in cluster, with its ServiceAccount's token" },
    { what: 'options.kubernetes_executor.worker_container_repository (bypasses the template\'s image)', build: airflow({ options: { kubernetes_executor: { worker_container_repository: 'my/airflow' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.kubernetes_executor.worker_container_repository', value: 'my/airflow', expected: 'set the image prop' },
    { what: 'options.core.simple_auth_manager_passwords_file (the api-server\'s writable auth folder holds it)', build: airflow({ options: { core: { simple_auth_manager_passwords_file: '/opt/airflow/passwords.json' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.simple_auth_manager_passwords_file', value: '/opt/airflow/passwords.json', expected: 'writes it to its writable /opt/airflow/auth volume' },
    { what: 'options.logging.base_log_folder on the read-only root file system', build: airflow({ options: { logging: { base_log_folder: '/var/log/airflow' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.logging.base_log_folder', value: '/var/log/airflow', expected: 'a path under /opt/airflow/logs: Airflow writes there' },
    { what: 'options.logging.base_log_folder escaping the logs volume with ..', build: airflow({ options: { logging: { base_log_folder: '/opt/airflow/logs/../logs2' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.logging.base_log_folder', value: '/opt/airflow/logs/../logs2', expected: 'every other place in its containers is read-only' },
    { what: 'options.logging.dag_processor_child_process_log_directory outside the writable volumes', build: airflow({ options: { logging: { dag_processor_child_process_log_directory: '/opt/airflow/dag_logs' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.logging.dag_processor_child_process_log_directory', value: '/opt/airflow/dag_logs', expected: 'a path under /opt/airflow/logs or /tmp' },
    { what: 'options.dag_processor.dag_bundle_storage_path outside /tmp', build: airflow({ options: { dag_processor: { dag_bundle_storage_path: '/opt/airflow/bundles' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.dag_processor.dag_bundle_storage_path', value: '/opt/airflow/bundles', expected: 'a path under /tmp' },
  ],
  'consistency across constructs and Charts': [
    { what: 'ApiServer given the AirflowConfig of another namespace (pods mount only their own namespace\'s ConfigMaps)', build: app => {
      const other = new AirflowConfig(new Chart(app, 'a', { namespace: 'airflow-a' }), 'config');
      return new ApiServer(chart(app), 'api-server', { config: other });
    }, cls: 'ApiServer', path: 'test/api-server', property: 'config', value: 'the AirflowConfig of namespace airflow-a', expected: "an AirflowConfig of this Chart's namespace (airflow-test)" },
    { what: 'environment namespace kube-system (the Chart would label it restricted)', build: preset('dev', a => a, 'kube-system'),
      cls: 'AirflowChart', path: 'dev', property: 'namespace', value: 'kube-system', expected: 'not "default" nor a "kube-" one' },
    { what: 'AirflowConfig namespace other than its Chart\'s (task pods would go where no object is)', build: app => config(app, { namespace: 'elsewhere' }),
      cls: 'AirflowConfig', path: 'test/config', property: 'namespace', value: 'elsewhere', expected: 'the namespace of its Chart [test] (airflow-test)' },
    { what: 'SchedulerRbac binding a ServiceAccount of another namespace', build: app => new SchedulerRbac(chart(app), 'rbac', { namespace: 'elsewhere' }),
      cls: 'SchedulerRbac', path: 'test/rbac', property: 'namespace', value: 'elsewhere', expected: 'where its objects go' },
    { what: 'a copied environment that keeps its namespace (a second Chart of the App)', build: app => {
      new AirflowChart(app, 'dev', ENVIRONMENTS.dev);
      return new AirflowChart(app, 'dev-copy', ENVIRONMENTS.dev);
    }, cls: 'AirflowConfig', path: 'dev-copy/airflow/config', property: 'instanceName', value: 'airflow', expected: 'in this or another Chart of the App' },
  ],
  'Secret references: Kubernetes names and keys': [
    { what: 'Secret key of 254 characters', build: airflow({ secrets: { apiSecretKey: SecretKeyRef.of('airflow-secrets', 'k'.repeat(254)) } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.apiSecretKey.key', value: 'k'.repeat(254), expected: 'at most 253 characters' },
    { what: 'Secret key ".." (a key becomes a file name in a volume)', build: airflow({ secrets: { fernetKey: SecretKeyRef.of('airflow-secrets', '..') } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.fernetKey.key', value: '..', expected: 'not "." and not beginning with ".."' },
    { what: 'Secret key beginning with ".."', build: airflow({ postgres: { passwordSecret: SecretKeyRef.of('pg', '..data') } }),
      cls: 'PostgresStatefulSet', path: 'test/airflow/postgresql', property: 'passwordSecret.key', value: '..data', expected: 'not beginning with ".."' },
    { what: 'Secret key "."', build: airflow({ secrets: { jwtSecret: SecretKeyRef.of('airflow-secrets', '.') } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.jwtSecret.key', value: '.', expected: 'a Secret key' },
    { what: 'git-sync password key ".."', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, auth: GitAuth.https({ secretName: 'git', passwordKey: '..' }) }),
      cls: 'GitSync', path: 'test/git-sync', property: 'auth.password', value: '..', expected: 'at most 253 characters' },
    { what: 'git-sync SSH key name of 300 characters', build: app => new GitSync(chart(app), 'git-sync', { repository: 'git@github.com:x/y.git', auth: GitAuth.ssh({ secretName: 'git', privateKeyKey: 'k'.repeat(300) }) }),
      cls: 'GitSync', path: 'test/git-sync', property: 'auth.ssh', value: 'k'.repeat(300), expected: 'a Secret key' },
    { what: 'Secret key null (JavaScript caller)', build: airflow({ secrets: { fernetKey: SecretKeyRef.of('airflow-secrets', null as unknown as string) } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.fernetKey.key', value: null, expected: 'letters, digits' },
    { what: 'Secret key a number (JavaScript caller)', build: airflow({ secrets: { jwtSecret: SecretKeyRef.of('airflow-secrets', 123 as unknown as string) } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'secrets.jwtSecret.key', value: 123, expected: "'-', '_' or '.'" },
    { what: 'env valueFrom a Secret named "Bad_Name"', build: airflow({ scheduler: { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'Bad_Name', key: 'k' } } }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.X.valueFrom.secretKeyRef.secretName', value: 'Bad_Name', expected: 'a DNS-1123 subdomain' },
    { what: 'externalDatabase without its connection', build: airflow({ externalDatabase: {} as ExternalDatabase }),
      cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.connection', value: undefined, expected: 'SecretKeyRef.of(' },
  ],
  'value kinds: plain JavaScript and JSON get what TypeScript checks': [
    { what: 'secrets as a Secret name (a string where an object belongs)', build: airflow({ secrets: 'my-airflow-secrets' as unknown as AirflowProps['secrets'] }),
      cls: 'Airflow', path: 'test/airflow', property: 'secrets', value: 'my-airflow-secrets', expected: 'an object with the properties' },
    { what: 'resources.requests as a string', build: airflow({ scheduler: { resources: { requests: 'big' as any } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler.resources.requests', value: 'big', expected: 'an object with the properties cpu, ephemeralStorage, memory' },
    { what: 'resources.requests as a list', build: airflow({ scheduler: { resources: { requests: ['2', '4Gi'] as any } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler.resources.requests', value: ['2', '4Gi'], expected: 'an object with the properties' },
    { what: 'resources as an empty list', build: airflow({ dagProcessor: { resources: [] as any } }),
      cls: 'Airflow', path: 'test/airflow', property: 'dagProcessor.resources', value: [], expected: 'an object with the properties limits, requests' },
    { what: 'git ref as a number', build: airflow({ dags: { repository: REPO, ref: 42 as unknown as string } }),
      cls: 'Airflow', path: 'test/airflow', property: 'dags.ref', value: 42, expected: 'a string' },
    { what: 'dags as a URL string', build: airflow({ dags: REPO as any }),
      cls: 'Airflow', path: 'test/airflow', property: 'dags', value: REPO, expected: 'an object with the properties auth, depth' },
    { what: 'git auth as a string', build: airflow({ dags: { repository: REPO, auth: 'none' as any } }),
      cls: 'Airflow', path: 'test/airflow', property: 'dags.auth', value: 'none', expected: 'a GitAuth' },
    { what: 'git subPath as a number', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, subPath: 5 as unknown as string }),
      cls: 'GitSync', path: 'test/git-sync', property: 'subPath', value: 5, expected: 'a string' },
    { what: 'scheduler as a string', build: airflow({ scheduler: 'big' as any }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler', value: 'big', expected: 'an object with the properties disruptionBudget' },
    { what: 'postgres as a string', build: airflow({ postgres: 'big' as any }),
      cls: 'Airflow', path: 'test/airflow', property: 'postgres', value: 'big', expected: 'an object with the properties backup' },
    { what: 'highAvailability "false" (a truthy string)', build: airflow({ highAvailability: 'false' as unknown as boolean }),
      cls: 'Airflow', path: 'test/airflow', property: 'highAvailability', value: 'false', expected: 'a boolean' },
    { what: 'taskPods.includeFernetKey "false" (a truthy string)', build: airflow({ taskPods: { includeFernetKey: 'false' as unknown as boolean } }),
      cls: 'Airflow', path: 'test/airflow', property: 'taskPods.includeFernetKey', value: 'false', expected: 'a boolean' },
    { what: 'env value as a number', build: airflow({ scheduler: { env: [{ name: 'WORKERS', value: 4 as unknown as string }] } }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler.env[0].value', value: 4, expected: 'a string' },
    { what: 'replicas null', build: airflow({ scheduler: { replicas: null as unknown as number } }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler.replicas', value: null, expected: 'a number' },
    { what: 'env as a string', build: airflow({ scheduler: { env: 'DEBUG=1' as any } }),
      cls: 'Airflow', path: 'test/airflow', property: 'scheduler.env', value: 'DEBUG=1', expected: 'a list' },
    { what: 'env with a null item', build: airflow({ triggerer: { env: [null as any] } }),
      cls: 'Airflow', path: 'test/airflow', property: 'triggerer.env[0]', value: null, expected: 'an object with the properties name, value, valueFrom' },
    { what: 'options as a string', build: airflow({ options: 'core.parallelism=64' as any }),
      cls: 'Airflow', path: 'test/airflow', property: 'options', value: 'core.parallelism=64', expected: 'an object of named values' },
    { what: 'networkPolicies.apiServerFrom as an object, not a list', build: airflow({ networkPolicies: { apiServerFrom: { podSelector: {} } as any } }),
      cls: 'Airflow', path: 'test/airflow', property: 'networkPolicies.apiServerFrom', value: { podSelector: {} }, expected: 'a list' },
    { what: 'taskPodCleanup true (only false or settings)', build: airflow({ taskPodCleanup: true as any }),
      cls: 'Airflow', path: 'test/airflow', property: 'taskPodCleanup', value: true, expected: 'or false' },
  ],
  'git-sync and git rules': [
    { what: 'period "1d" (Go durations have no day unit)', build: airflow({ dags: { repository: REPO, period: '1d' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'period', value: '1d', expected: 'e.g. "60s" or "5m"' },
    { what: 'period "-5s"', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, period: '-5s' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'period', value: '-5s', expected: "git-sync's minimum" },
    { what: 'ref "" (empty)', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, ref: '' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: '', expected: 'git check-ref-format' },
    { what: 'ref with "@{"', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, ref: 'main@{u}' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: 'main@{u}', expected: 'a branch or tag name git accepts' },
    { what: 'ref ending with "/"', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, ref: 'release/' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: 'release/', expected: 'or a commit id' },
    { what: 'period longer than a Go duration holds', build: airflow({ dags: { repository: REPO, period: '3000000h' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'period', value: '3000000h', expected: "at most 2562047h47m16.854775807s (Go's limit)" },
    { what: 'maxFailures -2 (only -1 means retry forever)', build: airflow({ dags: { repository: REPO, maxFailures: -2 } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'maxFailures', value: -2, expected: 'a whole number >= 0, or -1 for git-sync to retry forever' },
    { what: 'ref with ".."', build: airflow({ dags: { repository: REPO, ref: 'main..dev' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'ref', value: 'main..dev', expected: 'git check-ref-format' },
    { what: 'ref with "~" and "^"', build: airflow({ dags: { repository: REPO, ref: 'feature/x~1^' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'ref', value: 'feature/x~1^', expected: 'a branch or tag name git accepts' },
    { what: 'ref beginning with "-" (read as an option)', build: airflow({ dags: { repository: REPO, ref: '--upload-pack=touch' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'ref', value: '--upload-pack=touch', expected: 'a commit id of 40 or 64 hex digits' },
    { what: 'authManager with both choices', build: airflow({ authManager: { simple: {}, fab: {} } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager', value: { simple: {}, fab: {} }, expected: 'exactly one of { simple: {} }' },
    { what: 'OIDC issuer over plain http', build: airflow({ authManager: { fab: { oidc: { ...SSO, issuer: 'http://keycloak.example.com/realms/a' } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.issuer', value: 'http://keycloak.example.com/realms/a', expected: 'an https URL' },
    { what: 'OIDC client secret pasted as a string', build: airflow({ authManager: { fab: { oidc: { ...SSO, clientSecret: 's3cr3t-client' as unknown as SecretKeyRef } } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'authManager.fab.oidc.clientSecret', secret: 's3cr3t-client', expected: 'a Secret reference' },
    { what: 'OIDC roles empty (no one could do anything)', build: airflow({ authManager: { fab: { oidc: { ...SSO, roles: {} } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.roles', value: {}, expected: 'at least one group' },
    { what: 'OIDC role that FAB does not have', build: airflow({ authManager: { fab: { oidc: { ...SSO, roles: { admins: ['Administrator' as 'Admin'] } } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.roles.admins', value: ['Administrator'], expected: 'each one of "Admin", "Op", "User", "Viewer", "Public"' },
    { what: 'OIDC scopes without openid', build: airflow({ authManager: { fab: { oidc: { ...SSO, scopes: ['email', 'profile'] } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.scopes', value: ['email', 'profile'], expected: '"openid" among them' },
    { what: 'OIDC provider name with a slash (part of the login URL)', build: airflow({ authManager: { fab: { oidc: { ...SSO, name: 'key/cloak' } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.name', value: 'key/cloak', expected: 'a lower-case word' },
    { what: 'OIDC provider named keycloak (FAB reads that provider\'s user from its own token, not the userinfo)', build: airflow({ authManager: { fab: { oidc: { ...SSO, name: 'keycloak' } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.name', value: 'keycloak', expected: 'not the OIDC userinfo (preferred_username, groups)' },
    { what: 'simple auth manager with settings (it takes none here)', build: airflow({ authManager: { simple: { users: 'admin:admin' } as unknown as Record<string, never> } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.simple', value: { users: 'admin:admin' }, expected: 'SimpleAuthManager takes no settings here' },
    { what: 'OIDC provider named google', build: airflow({ authManager: { fab: { oidc: { ...SSO, name: 'google' } } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'authManager.fab.oidc.name', value: 'google', expected: 'a name other than' },
    { what: 'auth_manager in options (the authManager prop sets it)', build: airflow({ options: { core: { auth_manager: 'airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.auth_manager', value: 'airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager', expected: 'the authManager prop' },
    { what: 'prod with SimpleAuthManager', build: preset('prod', a => ({ ...a, authManager: { simple: {} } })),
      cls: 'AirflowChart', path: 'prod', property: 'airflow.authManager', value: { simple: {} }, expected: 'single sign-on through your identity provider' },
    { what: 'prod with FAB but no identity provider', build: preset('prod', a => ({ ...a, authManager: { fab: {} } })),
      cls: 'AirflowChart', path: 'prod', property: 'airflow.authManager', value: { fab: {} }, expected: '{ fab: { oidc: { issuer, clientId, clientSecret, roles } } } in prod' },
    { what: 'database tls with sslmode "require" (checks no certificate)', build: airflow({ externalDatabase: { connection: SecretKeyRef.of('db', 'url'), tls: { sslmode: 'require' as 'verify-full', ca: { configMapName: 'ca' } } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.tls.sslmode', value: 'require', expected: 'a mode that checks the server\'s certificate' },
    { what: 'database tls CA as a pasted PEM string', build: airflow({ externalDatabase: { connection: SecretKeyRef.of('db', 'url'), tls: { ca: '-----BEGIN CERTIFICATE-----' as unknown as SecretKeyRef } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.tls.ca', value: '-----BEGIN CERTIFICATE-----', expected: 'configMapName, key or a SecretKeyRef' },
    { what: 'database tls CA ConfigMap name with upper case', build: airflow({ externalDatabase: { connection: SecretKeyRef.of('db', 'url'), tls: { ca: { configMapName: 'RDS_CA' } } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.tls.ca.configMapName', value: 'RDS_CA', expected: 'DNS-1123 subdomain' },
    { what: 'database tls with asyncConnection (its ssl= would win over PGSSLMODE)', build: airflow({ externalDatabase: { connection: SecretKeyRef.of('db', 'url'), asyncConnection: SecretKeyRef.of('db', 'async'), tls: { ca: { configMapName: 'ca' } } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'externalDatabase.asyncConnection', value: '<redacted>', expected: 'asyncpg reads PGSSLMODE and PGSSLROOTCERT' },
    { what: 'database tls and a weaker PgBouncer server sslmode', build: preset('prod', a => ({ ...a, pgbouncer: { ...a.pgbouncer, database: { host: 'db.example.com', serverTlsSslmode: 'require' } } })),
      cls: 'Airflow', path: 'prod/airflow', property: 'pgbouncer.database.serverTlsSslmode', value: 'require', expected: 'unset with externalDatabase.tls' },
    { what: 'migrations connectionTls without connection', build: app => { const { c, config: cfg } = config(app); return new MigrateDatabaseJob(c, 'db-migrate', { config: cfg, connectionTls: { ca: { configMapName: 'ca' } } }); },
      cls: 'MigrateDatabaseJob', path: 'test/db-migrate', property: 'connectionTls', value: { ca: { configMapName: 'ca' } }, expected: 'unset without connection' },
    { what: 'requireCommit with a tag', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, ref: 'v1.2.0', requireCommit: true }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: 'v1.2.0', expected: 'a full commit id (40 or 64 hex digits' },
    { what: 'requireCommit with an abbreviated commit id', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, ref: 'aa19d2dbb9ed', requireCommit: true }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: 'aa19d2dbb9ed', expected: 'a full commit id' },
    { what: 'requireCommit with the default ref (HEAD)', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, requireCommit: true }),
      cls: 'GitSync', path: 'test/git-sync', property: 'ref', value: 'HEAD', expected: 'a branch or tag can be moved' },
    { what: 'prod with DAGs at a tag', build: preset('prod', a => ({ ...a, dags: { ...a.dags!, ref: '3.3.2' } })),
      cls: 'GitSync', path: 'prod/airflow/git-sync', property: 'ref', value: '3.3.2', expected: 'with requireCommit (on in the tier prod)' },
    { what: 'prod with DAGs at a branch of another repository', build: preset('prod', a => ({ ...a, dags: { repository: REPO, ref: 'main' } })),
      cls: 'GitSync', path: 'prod/airflow/git-sync', property: 'ref', value: 'main', expected: 'a full commit id' },
    { what: 'prod with requireCommit: false', build: preset('prod', a => ({ ...a, dags: { ...a.dags!, requireCommit: false } })),
      cls: 'AirflowChart', path: 'prod', property: 'airflow.dags.requireCommit', value: false, expected: 'prod runs DAG code only at a commit id' },
    { what: 'ref component ending in ".lock"', build: airflow({ dags: { repository: REPO, ref: 'release/v1.lock' } }),
      cls: 'GitSync', path: 'test/airflow/git-sync', property: 'ref', value: 'release/v1.lock', expected: '"HEAD"' },
    { what: 'scp-like address with a password pasted in', build: app => new GitSync(chart(app), 'git-sync', { repository: 'deploy:hunter2@github.com:x/y.git', auth: GitAuth.ssh({ secretName: 'git' }) }),
      cls: 'GitSync', path: 'test/git-sync', property: 'repository', secret: 'hunter2', expected: 'an SSH address' },
    { what: 'subPath with a "." segment', build: app => new GitSync(chart(app), 'git-sync', { repository: REPO, subPath: 'dags/./x' }),
      cls: 'GitSync', path: 'test/git-sync', property: 'subPath', value: 'dags/./x', expected: 'no "." or ".." segment' },
  ],
  'CronJob schedules and time zones': [
    { what: 'schedule "@every 0s"', build: airflow({ databaseCleanup: { schedule: '@every 0s' } }),
      cls: 'DatabaseCleanup', path: 'test/airflow/db-cleanup', property: 'schedule', value: '@every 0s', expected: 'or a descriptor such as "@daily"' },
    { what: 'schedule with "?" in the hour field (only day fields take it)', build: airflow({ taskPodCleanup: { schedule: '0 ? * * *' } }),
      cls: 'TaskPodCleanup', path: 'test/airflow/cleanup-pods', property: 'schedule', value: '0 ? * * *', expected: 'hour 0-23' },
    { what: 'schedule with month 13', build: airflow({ postgres: { backup: { schedule: '0 0 1 13 *' } } }),
      cls: 'PostgresBackup', path: 'test/airflow/postgresql/backup', property: 'schedule', value: '0 0 1 13 *', expected: 'month 1-12 or JAN-DEC' },
    { what: 'timeZone with a leading space', build: airflow({ postgres: { backup: { timeZone: ' Europe/Berlin' } } }),
      cls: 'PostgresBackup', path: 'test/airflow/postgresql/backup', property: 'timeZone', value: ' Europe/Berlin', expected: '"Europe/Berlin"' },
    { what: 'schedule with fields out of range', build: airflow({ databaseCleanup: { schedule: '99 99 * * *' } }),
      cls: 'DatabaseCleanup', path: 'test/airflow/db-cleanup', property: 'schedule', value: '99 99 * * *', expected: 'five fields in range' },
    { what: 'schedule with weekday 7', build: airflow({ taskPodCleanup: { schedule: '0 0 * * 7' } }),
      cls: 'TaskPodCleanup', path: 'test/airflow/cleanup-pods', property: 'schedule', value: '0 0 * * 7', expected: 'weekday 0-6 or SUN-SAT' },
    { what: 'schedule with a backwards range', build: airflow({ postgres: { backup: { schedule: '0 5-2 * * *' } } }),
      cls: 'PostgresBackup', path: 'test/airflow/postgresql/backup', property: 'schedule', value: '0 5-2 * * *', expected: 'a cron schedule Kubernetes accepts' },
    { what: 'timeZone "Local" (Kubernetes wants an explicit zone)', build: airflow({ postgres: { backup: { timeZone: 'Local' } } }),
      cls: 'PostgresBackup', path: 'test/airflow/postgresql/backup', property: 'timeZone', value: 'Local', expected: 'not "Local"' },
    { what: 'timeZone the zone database does not know', build: airflow({ postgres: { backup: { timeZone: 'Mars/Olympus_Mons' } } }),
      cls: 'PostgresBackup', path: 'test/airflow/postgresql/backup', property: 'timeZone', value: 'Mars/Olympus_Mons', expected: 'an IANA time zone name' },
  ],
  'NetworkPolicy peers': [
    { what: 'an ipBlock beside a podSelector in one peer', build: airflow({ networkPolicies: { apiServerFrom: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0]', value: { ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }, expected: 'an ipBlock beside selectors' },
    { what: 'an egress port out of range', build: airflow({ networkPolicies: { egress: { tasks: [{ ports: [{ port: 70000 }] }] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.tasks[0].ports[0].port', value: 70000, expected: 'a port number from 1 to 65535' },
    { what: 'an egress endPort below its port', build: airflow({ networkPolicies: { egress: { database: [{ ports: [{ port: 5432, endPort: 5400 }] }] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.database[0].ports[0].endPort', value: 5400, expected: 'unset or a port number from port (5432) to 65535' },
    { what: 'an egress protocol in lower case', build: airflow({ networkPolicies: { egress: { metrics: [{ ports: [{ port: 4317, protocol: 'tcp' as any }] }] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.metrics[0].ports[0].protocol', value: 'tcp', expected: '"TCP", "UDP" or "SCTP"' },
    { what: 'an egress peer with an ipBlock and a namespaceSelector', build: airflow({ networkPolicies: { egress: { kubernetesApi: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }] }] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.kubernetesApi[0].to[0]', value: { ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }, expected: 'an ipBlock beside selectors' },
    { what: 'an egress CIDR without a prefix length', build: airflow({ networkPolicies: { egress: { git: [{ to: [{ ipBlock: { cidr: '140.82.112.0' } }] }] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.git[0].to[0].ipBlock.cidr', value: '140.82.112.0', expected: 'a CIDR such as' },
    { what: 'a secrets backend that egress does not reach', build: airflow({ options: { secrets: { backend: 'airflow.providers.hashicorp.secrets.vault.VaultBackend' } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'networkPolicies.egress.services', value: undefined, expected: 'the addresses of the secrets backend airflow.providers.hashicorp.secrets.vault.VaultBackend' },
    { what: 'a ServiceMonitor the exporter\'s NetworkPolicy would keep out', build: airflow({ metrics: { serviceMonitor: true } }),
      cls: 'Airflow', path: 'test/airflow', property: 'networkPolicies.metricsFrom', value: undefined, expected: 'your Prometheus\'s pods with metrics.serviceMonitor set' },
    { what: 'PgBouncer without its NetworkPolicy behind the default deny', build: airflow({ pgbouncer: { networkPolicy: false } }),
      cls: 'Airflow', path: 'test/airflow', property: 'pgbouncer.networkPolicy', value: false, expected: 'the default deny would close PgBouncer to every component' },
    { what: 'no DNS server to ask', build: airflow({ networkPolicies: { egress: { dns: [] } } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'egress.dns', value: [], expected: 'at least one peer: every pod resolves names' },
    { what: 'matchExpressions operator "Equals"', build: airflow({ networkPolicies: { apiServerFrom: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['x'] }] } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].podSelector.matchExpressions[0].operator', value: 'Equals', expected: '"In", "NotIn", "Exists" or "DoesNotExist"' },
    { what: 'a label key with two "/"', build: airflow({ networkPolicies: { apiServerFrom: [{ namespaceSelector: { matchLabels: { 'a/b/c': 'x' } } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].namespaceSelector.matchLabels', value: 'a/b/c', expected: 'label keys of an optional DNS subdomain prefix' },
    { what: 'an ipBlock exception that is no CIDR', build: airflow({ networkPolicies: { apiServerFrom: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0'] } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].ipBlock.except[0]', value: '10.1.0.0', expected: 'an IP address and a prefix length' },
    { what: 'the Airflow 2 component "webserver" allowed to PostgreSQL', build: app => new AirflowNetworkPolicies(chart(app), 'np', { postgresql: ['webserver' as AirflowComponentName] }),
      cls: 'AirflowNetworkPolicies', path: 'test/np', property: 'postgresql[0]', value: 'webserver', expected: 'one of scheduler, api-server' },
    { what: 'namespaceSelector label value with a space', build: airflow({ networkPolicies: { apiServerFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'Ingress NGINX' } } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].namespaceSelector.matchLabels.kubernetes.io/metadata.name', value: 'Ingress NGINX', expected: 'a label value' },
    { what: 'ipBlock CIDR with prefix 33', build: airflow({ networkPolicies: { apiServerFrom: [{ ipBlock: { cidr: '10.0.0.0/33' } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].ipBlock.cidr', value: '10.0.0.0/33', expected: 'a CIDR such as "10.0.0.0/8"' },
    { what: 'an empty peer (would match nothing, refused by Kubernetes)', build: airflow({ networkPolicies: { apiServerFrom: [{}] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0]', value: {}, expected: 'or an ipBlock alone' },
    { what: 'matchExpressions In without values', build: airflow({ networkPolicies: { apiServerFrom: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }] } }),
      cls: 'AirflowNetworkPolicies', path: 'test/airflow/network-policies', property: 'apiServerFrom[0].podSelector.matchExpressions[0].values', value: undefined, expected: 'values for In and NotIn' },
    { what: 'a typo in the components allowed to PostgreSQL', build: app => new AirflowNetworkPolicies(chart(app), 'np', { postgresql: ['schedular' as AirflowComponentName] }),
      cls: 'AirflowNetworkPolicies', path: 'test/np', property: 'postgresql[0]', value: 'schedular', expected: 'a component name (app.kubernetes.io/component)' },
  ],
  'options by value and through env': [
    { what: 'an option value with a newline (configparser would read a continuation line)', build: airflow({ options: { core: { default_timezone: 'utc\nparallelism = 1' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.default_timezone', value: 'utc\nparallelism = 1', expected: 'a single-line value' },
    { what: 'an option value with a leading space (configparser strips it)', build: airflow({ options: { core: { default_timezone: ' utc' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.default_timezone', value: ' utc', expected: 'without leading or trailing spaces' },
    { what: 'env AIRFLOW__KUBERNETES_EXECUTOR__MULTI_NAMESPACE_MODE (fixed by the manifests)', build: airflow({ scheduler: { env: [{ name: 'AIRFLOW__KUBERNETES_EXECUTOR__MULTI_NAMESPACE_MODE', value: 'True' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.AIRFLOW__KUBERNETES_EXECUTOR__MULTI_NAMESPACE_MODE', value: 'True', expected: "the scheduler's Role grants pods in its own namespace only" },
    { what: 'env AIRFLOW__WEBSERVER__SECRET_KEY (a renamed option through env)', build: airflow({ apiServer: { env: [{ name: 'AIRFLOW__WEBSERVER__SECRET_KEY', valueFrom: { secretKeyRef: { name: 'web', key: 'key' } } }] } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'env.AIRFLOW__WEBSERVER__SECRET_KEY', value: '<from valueFrom>', expected: 'renamed to [api] secret_key' },
    { what: 'options.core.load_examples "yes" (Airflow reads it with getboolean)', build: airflow({ options: { core: { load_examples: 'yes' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.load_examples', value: 'yes', expected: 'a value of type boolean (as Airflow reads it)' },
    { what: 'an option of 3.2 (api.server_type) for a 3.1 installation', build: airflow({ airflowVersion: '3.1.8', options: { api: { server_type: 'gunicorn' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.server_type', value: 'gunicorn',
      expected: "an option of Airflow 3.1's configuration reference (3.1.8, the airflowVersion series); [api] server_type is an option of Airflow 3.2, 3.3, not of 3.1" },
    { what: 'an option 3.2 removed ([scheduler] running_metrics_interval) for a 3.3 installation', build: airflow({ options: { scheduler: { running_metrics_interval: 30 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.scheduler.running_metrics_interval', value: 30,
      expected: 'renamed to [scheduler] ti_metrics_interval' },
    { what: '[api] server_type "hypercorn" (api-server runs uvicorn for anything but "gunicorn")', build: airflow({ options: { api: { server_type: 'hypercorn' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.server_type', value: 'hypercorn', expected: '"uvicorn" or "gunicorn"' },
    { what: '[api] worker_refresh_interval with uvicorn, which never recycles workers', build: airflow({ options: { api: { worker_refresh_interval: 1800 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.worker_refresh_interval', value: '1800', expected: 'only gunicorn restarts api-server workers' },
    { what: 'an option of 3.3 ([state_store] backend) for a 3.2 installation', build: airflow({ airflowVersion: '3.2.2', options: { state_store: { backend: 'x.y' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.state_store.backend', value: 'x.y', expected: '[state_store] backend is an option of Airflow 3.3, not of 3.2' },
    { what: 'an option 3.1.8 removed and 3.3 brought back ([core] mp_start_method) for a 3.2 installation', build: airflow({ airflowVersion: '3.2.2', options: { core: { mp_start_method: 'spawn' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.mp_start_method', value: 'spawn', expected: '[core] mp_start_method is an option of Airflow 3.3, not of 3.2' },
    { what: 'a URL password holding "@" (never echoed, not even in part)', build: airflow({ options: { api: { instance_name: 'postgresql://u:p@ss@db/airflow' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.instance_name', secret: 'ss@db', expected: 'no password in a URL' },
    { what: 'a URL password holding "/"', build: airflow({ options: { api: { instance_name: 'postgresql://airflow:pa/ss@db/airflow' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.api.instance_name', secret: 'pa/ss', expected: 'a credential must come from a Secret' },
    { what: 'an env value with a URL password holding "@"', build: airflow({ scheduler: { env: [{ name: 'DB_URL', value: 'postgresql://u:p@ss@db/x' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.DB_URL', secret: 'p@ss', expected: 'no password in a URL' },
    { what: 'env AIRFLOW__API__PORT (an option the manifests fix, through env)', build: airflow({ apiServer: { env: [{ name: 'AIRFLOW__API__PORT', value: '9090' }] } }),
      cls: 'ApiServer', path: 'test/airflow/api-server', property: 'env.AIRFLOW__API__PORT', value: '9090', expected: 'the api-server listens on 8080' },
    { what: 'env AIRFLOW__LOGGING__BASE_LOG_FOLDER on the read-only root', build: airflow({ taskPods: { env: [{ name: 'AIRFLOW__LOGGING__BASE_LOG_FOLDER', value: '/var/log/airflow' }] } }),
      cls: 'TaskPodTemplate', path: 'test/airflow/pod-template', property: 'env.AIRFLOW__LOGGING__BASE_LOG_FOLDER', value: '/var/log/airflow', expected: 'a path under /opt/airflow/logs' },
    { what: 'env AIRFLOW__CORE__PARALELISM (a typo Airflow would ignore)', build: airflow({ scheduler: { env: [{ name: 'AIRFLOW__CORE__PARALELISM', value: '64' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.AIRFLOW__CORE__PARALELISM', value: '64', expected: 'closest known: [core] parallelism' },
    { what: 'env AIRFLOW__SENTRY__SENTRY_DSN as a literal (sensitive)', build: airflow({ triggerer: { env: [{ name: 'AIRFLOW__SENTRY__SENTRY_DSN', value: 'https://abc123key@o1.ingest.sentry.io/1' }] } }),
      cls: 'Triggerer', path: 'test/airflow/triggerer', property: 'env.AIRFLOW__SENTRY__SENTRY_DSN', secret: 'abc123key', expected: 'is sensitive' },
    { what: 'env with both value and valueFrom', build: airflow({ scheduler: { env: [{ name: 'X', value: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.X', value: 'a', expected: 'either value or valueFrom' },
    { what: 'options.kerberos.ccache outside /tmp', build: airflow({ options: { kerberos: { ccache: '/var/run/krb5cc' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.kerberos.ccache', value: '/var/run/krb5cc', expected: 'a path under /tmp' },
    { what: 'the same option twice in two cases', build: airflow({ options: { core: { parallelism: 32, PARALLELISM: 64 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.core.PARALLELISM', value: 64, expected: 'each option once' },
  ],
  'metrics': [
    { what: 'StatsD and OpenTelemetry together (Airflow would ignore OTel)', build: airflow({ metrics: { exporter: {}, otel: { host: 'otel-collector.observability' } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'metrics.exporter', value: {}, expected: 'unset or false with metrics.otel' },
    { what: 'a ServiceMonitor with OpenTelemetry (no exporter to scrape)', build: airflow({ metrics: { otel: { host: 'otel-collector' }, serviceMonitor: true } }),
      cls: 'Airflow', path: 'test/airflow', property: 'metrics.serviceMonitor', value: true, expected: 'unset or false without the exporter' },
    { what: 'a PrometheusRule without the exporter', build: airflow({ metrics: { exporter: false, prometheusRule: {} } }),
      cls: 'Airflow', path: 'test/airflow', property: 'metrics.prometheusRule', value: {}, expected: 'unset or false without the exporter' },
    { what: 'a dashboard without the exporter', build: airflow({ metrics: { exporter: false, dashboard: { folder: 'Airflow' } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'metrics.dashboard', value: { folder: 'Airflow' }, expected: 'unset or false without the exporter' },
    { what: 'a StatsD prefix with a dot (a level more in every name)', build: airflow({ metrics: { exporter: { prefix: 'airflow.prod' } } }),
      cls: 'Airflow', path: 'test/airflow', property: 'metrics.exporter.prefix', value: 'airflow.prod', expected: 'a metric name prefix' },
    { what: 'an OTel prefix with a dash (no Prometheus name part)', build: airflow({ metrics: { otel: { host: 'otel-collector', prefix: 'air-flow' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'metrics.otel.prefix', value: 'air-flow', expected: 'a metric name prefix' },
    { what: 'an OTel port above 65535', build: airflow({ metrics: { otel: { host: 'otel-collector', port: 70000 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'metrics.otel.port', value: 70000, expected: 'a port number' },
    { what: 'an OTel host with a port in it', build: airflow({ metrics: { otel: { host: 'otel-collector:4318' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'metrics.otel.host', value: 'otel-collector:4318', expected: 'without a port' },
    { what: 'an OTel export interval under a second', build: airflow({ metrics: { otel: { host: 'otel-collector', intervalMilliseconds: 500 } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'metrics.otel.intervalMilliseconds', value: 500, expected: 'a whole number of milliseconds >= 1000' },
    { what: 'options.metrics.statsd_host beside the exporter', build: airflow({ options: { metrics: { statsd_host: 'statsd.example.com' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.metrics.statsd_host', value: 'statsd.example.com', expected: 'it unset with the metrics prop: metrics sets it' },
    { what: 'options.metrics.statsd_influxdb_enabled (would change the names the mapping reads)', build: airflow({ options: { metrics: { statsd_influxdb_enabled: true } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.metrics.statsd_influxdb_enabled', value: true, expected: 'would change the metric names' },
    { what: 'env AIRFLOW__METRICS__LEGACY_NAMES_ON=False (the mapping reads the legacy names)', build: airflow({ scheduler: { env: [{ name: 'AIRFLOW__METRICS__LEGACY_NAMES_ON', value: 'False' }] } }),
      cls: 'AirflowScheduler', path: 'test/airflow/scheduler', property: 'env.AIRFLOW__METRICS__LEGACY_NAMES_ON', value: 'False', expected: 'it unset with the metrics prop' },
    { what: 'options.metrics.statsd_on with OpenTelemetry (Airflow would pick StatsD)', build: airflow({ metrics: { otel: { host: 'otel-collector' } }, options: { metrics: { statsd_on: true } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'options.metrics.statsd_on', value: true, expected: 'Airflow would send to StatsD and ignore OpenTelemetry' },
    { what: 'a ServiceMonitor interval that is no Prometheus duration', build: airflow({ metrics: { serviceMonitor: { interval: '30 seconds' } } }),
      cls: 'AirflowServiceMonitor', path: 'test/airflow/service-monitor', property: 'interval', value: '30 seconds', expected: 'a Prometheus duration' },
    { what: 'a ServiceMonitor label with a space', build: airflow({ metrics: { serviceMonitor: { labels: { 'my release': 'x' } } } }),
      cls: 'AirflowServiceMonitor', path: 'test/airflow/service-monitor', property: 'labels', value: 'my release', expected: 'label keys of an optional DNS subdomain prefix' },
    { what: 'a rule duration with units out of order', build: airflow({ metrics: { prometheusRule: { queuedFor: '30m1h' } } }),
      cls: 'AirflowPrometheusRule', path: 'test/airflow/prometheus-rule', property: 'queuedFor', value: '30m1h', expected: 'largest first' },
    { what: 'a zero starvation duration', build: airflow({ metrics: { prometheusRule: { starvingFor: '0s' } } }),
      cls: 'AirflowPrometheusRule', path: 'test/airflow/prometheus-rule', property: 'starvingFor', value: '0s', expected: 'of more than zero' },
    { what: 'a failure ratio given in percent', build: airflow({ metrics: { prometheusRule: { failureRatio: 20 } } }),
      cls: 'AirflowPrometheusRule', path: 'test/airflow/prometheus-rule', property: 'failureRatio', value: 20, expected: 'a number between 0 and 1' },
    { what: 'no sidecar label on the dashboard', build: airflow({ metrics: { dashboard: { sidecarLabels: {} } } }),
      cls: 'AirflowGrafanaDashboard', path: 'test/airflow/dashboard', property: 'sidecarLabels', value: {}, expected: 'at least one label' },
    { what: 'an exporter image without a tag', build: airflow({ metrics: { exporter: { image: 'prom/statsd-exporter' } } }),
      cls: 'StatsdExporter', path: 'test/airflow/statsd', property: 'image', value: 'prom/statsd-exporter', expected: 'pinned' },
  ],
  'remote log buckets': [
    { what: 'S3 bucket ending with "-s3alias"', build: airflow({ remoteLogging: { s3: { bucket: 'logs-s3alias' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'remoteLogging.s3.bucket', value: 'logs-s3alias', expected: 'a reserved suffix' },
    { what: 'GCS bucket containing "google"', build: airflow({ remoteLogging: { gcs: { bucket: 'my-google-logs' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'remoteLogging.gcs.bucket', value: 'my-google-logs', expected: 'nor containing "google"' },
    { what: 'S3 bucket formatted as an IP address', build: airflow({ remoteLogging: { s3: { bucket: '192.168.5.4' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'remoteLogging.s3.bucket', value: '192.168.5.4', expected: 'not an IP address' },
    { what: 'S3 bucket beginning with "xn--"', build: airflow({ remoteLogging: { s3: { bucket: 'xn--logs' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'remoteLogging.s3.bucket', value: 'xn--logs', expected: 'not beginning with "xn--"' },
    { what: 'GCS bucket beginning with "goog"', build: airflow({ remoteLogging: { gcs: { bucket: 'goog-logs' } } }),
      cls: 'AirflowConfig', path: 'test/airflow/config', property: 'remoteLogging.gcs.bucket', value: 'goog-logs', expected: 'not beginning with "goog"' },
  ],
};
const ROWS: Row[] = Object.values(RULES).flat();

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

/** The row's input is refused before anything is synthesized, with a message that names construct, property, value and rule. */
function expectPreciseError(row: Row): void {
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
}

describe('wrong inputs are rejected at construction with a precise AirflowValidationError', () => {
  describe.each(Object.entries(RULES))('%s', (_rule, rows) => {
    test.each(rows)('$what', expectPreciseError);
  });

  test('the unmodified baselines construct and synthesize without error', () => {
    expect(() => Testing.synth(airflow({})(Testing.app()).node.scope as Chart)).not.toThrow();
    for (const tier of Object.keys(ENVIRONMENTS) as Tier[]) {
      expect(() => Testing.synth(preset(tier, a => a)(Testing.app()))).not.toThrow();
    }
    expect(() => new GitSync(chart(Testing.app()), 'git-sync', { repository: REPO })).not.toThrow();
    expect(() => new PostgresStatefulSet(chart(Testing.app()), 'postgresql')).not.toThrow();
  });

  test('the table holds at least 100 distinct wrong inputs, each with its own message', () => {
    expect(new Set(ROWS.map(r => r.what)).size).toBe(ROWS.length);
    expect(new Set(ROWS.map(r => `${r.path} ${r.property} ${JSON.stringify(r.value ?? r.secret)}`)).size).toBe(ROWS.length);
    expect(ROWS.length).toBeGreaterThanOrEqual(100);
    const messages = ROWS.map(row => {
      const { error } = attempt(row);
      return error instanceof Error ? error.message : `no error for ${row.what}`;
    });
    const duplicates = messages.filter((m, i) => messages.indexOf(m) !== i);
    expect(duplicates).toEqual([]);
  });
});
