import { AirflowEnvironment, Tier } from './airflow-chart';
import { OidcProvider } from './config/auth-manager';
import { ConfigMapKeyRef } from './database/database-tls';
import { AIRFLOW_VERSION, AIRFLOW_VERSION_COMMIT } from './core/names';
import { SecretKeyRef } from './config/secrets';
import { TaskPodProfile } from './components/task-pod-template';
import type { AirflowTeam } from './airflow-team-chart';

/**
 * DAGs every preset syncs: Airflow's own example DAGs, from a public repository over HTTPS (no
 * credentials), at the tag of the Airflow version we run (prod: at that release's commit id, which no one can move).
 * Replace with your DAG repository.
 */
const EXAMPLE_DAGS = {
  repository: 'https://github.com/apache/airflow.git',
  ref: AIRFLOW_VERSION,
  subPath: 'airflow-core/src/airflow/example_dags',
  // a shallow clone of this large repository needs more than git-sync's default 256Mi
  // and its checkout (about 100 MB) goes to an emptyDir: local disk requested and limited
  resources: { requests: { cpu: '50m', memory: '128Mi', ephemeralStorage: '256Mi' }, limits: { memory: '512Mi', ephemeralStorage: '1Gi' } },
};

/**
 * The host of prod's managed PostgreSQL, which PgBouncer connects to (with TLS required): replace it with
 * yours. It must be the host of the URL in the Secret `airflow-database`.
 */
export const PROD_DATABASE_HOST = 'airflow-database.example.internal';

/**
 * The CA bundle prod's database connections are verified against (`verify-full`): key `ca.crt` of the ConfigMap
 * `airflow-database-ca`, which you create from your provider's bundle, e.g. Amazon RDS's
 * `kubectl -n airflow-prod create configmap airflow-database-ca --from-file=ca.crt=global-bundle.pem`.
 */
export const PROD_DATABASE_CA: ConfigMapKeyRef = { configMapName: 'airflow-database-ca', key: 'ca.crt' };

/**
 * How people reach prod: an Ingress of class `nginx` for the host `airflow.example.com`, its certificate in the
 * kubernetes.io/tls Secret `airflow-tls` (yours or cert-manager's), from the controller's namespace `ingress-nginx`
 * (the api-server's NetworkPolicy admits its pods). Replace them with yours; the OIDC redirect URI uses the host.
 */
export const PROD_INGRESS = {
  hosts: ['airflow.example.com'],
  className: 'nginx',
  tlsSecretName: 'airflow-tls',
  controllerNamespace: 'ingress-nginx',
} as const;

/**
 * prod's OpenID Connect identity provider (the FAB auth manager's single sign-on): replace the issuer with yours and
 * register client `airflow` there with the redirect URI `https://<your Airflow host>/auth/oauth-authorized/oidc`. Its
 * secret goes in the Secret `airflow-oidc` (key `client-secret`; README, "Secrets"). The `groups` claim of a user's
 * userinfo decides their roles.
 */
export const PROD_OIDC: OidcProvider = {
  issuer: 'https://login.example.com/realms/airflow',
  clientId: 'airflow',
  clientSecret: SecretKeyRef.of('airflow-oidc', 'client-secret'),
  roles: { 'airflow-admins': ['Admin'], 'airflow-operators': ['Op'], 'airflow-users': ['User'], 'airflow-viewers': ['Viewer'] },
};

/**
 * Where every preset's Prometheus runs: the namespace `monitoring` (kube-prometheus-stack's usual one), whose pods the
 * statsd_exporter's NetworkPolicy admits to `/metrics`. Replace it with your Prometheus's namespace.
 */
export const METRICS_FROM = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];

/**
 * The StorageClass of staging's and prod's shared task log volume: one that offers ReadWriteMany, so task
 * pods on every node write where the api-server reads. `nfs-client` is the class of the NFS subdir external
 * provisioner; replace it with yours (EFS `efs-sc`, Azure Files `azurefile-csi`, Filestore, CephFS).
 */
export const SHARED_LOGS_STORAGE_CLASS = 'nfs-client';

/**
 * The task pod profiles of staging and prod, with the slots (Airflow pools of the same names) each environment
 * gives the larger ones. A task picks one with `executor_config={"pod_template_file":
 * "/opt/airflow/pod_templates/<name>.yaml"}`, and runs in its pool (`pool="<name>"`) when it has slots:
 * - small: the template's size (250m CPU, 512Mi, limit 1Gi), for any task;
 * - medium: 1 CPU, 2Gi, limit 4Gi; large: 4 CPU, 16Gi, limit 16Gi;
 * - gpu: large plus one NVIDIA GPU, on nodes labelled `nvidia.com/gpu.present: "true"` (NVIDIA GPU feature
 *   discovery's label), tolerating the `nvidia.com/gpu` taint GPU node pools carry.
 */
export function resourceProfiles(slots: { medium: number; large: number; gpu: number }): Record<string, TaskPodProfile> {
  const large = { requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi' } };
  return {
    small: { resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } } },
    medium: { resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } }, slots: slots.medium },
    large: { resources: large, slots: slots.large },
    gpu: {
      resources: large, gpus: 1, slots: slots.gpu,
      nodeSelector: { 'nvidia.com/gpu.present': 'true' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
  };
}

/**
 * The environment presets, as data to diff side by side.
 *
 * - dev: fits a laptop kind cluster: one replica of everything, in-cluster PostgreSQL on a 1Gi volume.
 * - staging: two schedulers and api-servers, preferably on different nodes, PodDisruptionBudgets,
 *   in-cluster PostgreSQL on 20Gi behind PgBouncer.
 * - prod: highly available: two or more schedulers, api-servers and triggerers, required on
 *   different nodes, PodDisruptionBudgets, and an external (managed, replicated) PostgreSQL whose connection URL is
 *   in the existing Secret `airflow-database` (key `connection`): an in-cluster single PostgreSQL
 *   would be the one component without a standby. Two PgBouncer pods on different nodes in front of it.
 * Task logs go to a shared volume in every preset: dev ReadWriteOnce (one node), staging and prod ReadWriteMany
 * on SHARED_LOGS_STORAGE_CLASS.
 * Every preset has a ResourceQuota and LimitRange with room for its peak (NamespaceQuota).
 * Every preset cleans metadata older than its retention (dev 14 days, staging 30, prod 90) and backs up its
 * in-cluster PostgreSQL daily at 02:00 UTC, kept 30 days (prod's managed database has its provider's backups).
 */
export const ENVIRONMENTS: Record<Tier, AirflowEnvironment> = {
  dev: {
    tier: 'dev',
    namespace: 'airflow-dev',
    airflow: {
      dags: { ...EXAMPLE_DAGS, period: '60s' },
      postgres: { storage: '1Gi', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } } },
      // 8 task pods at once: what a laptop holds beside the components (Airflow's default is 32)
      options: { api: { workers: 1 }, core: { parallelism: 8 } },
      scheduler: { replicas: 1, resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } } },
      // http://localhost:30007 on a kind cluster made from docs/kind-cluster.yaml, which maps that host port to this
      // NodePort; its traffic comes from the node's address, so dev's api-server port is open to every source (not
      // only task pods, as in staging and prod): a laptop's cluster
      apiServer: {
        replicas: 1, serviceType: 'NodePort', nodePort: 30007,
        resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      },
      networkPolicies: { apiServerFrom: [{ ipBlock: { cidr: '0.0.0.0/0' } }], metricsFrom: METRICS_FROM },
      dagProcessor: { replicas: 1, resources: { requests: { cpu: '100m', memory: '512Mi' }, limits: { memory: '1Gi' } } },
      triggerer: { replicas: 1, resources: { requests: { cpu: '100m', memory: '384Mi' }, limits: { memory: '768Mi' } } },
      taskPods: { resources: { requests: { cpu: '100m', memory: '384Mi', ephemeralStorage: '512Mi' }, limits: { memory: '768Mi', ephemeralStorage: '2Gi' } } },
      // One node (kind): a ReadWriteOnce volume can be shared by every pod.
      taskLogs: { size: '1Gi', accessMode: 'ReadWriteOnce' },
      taskPodCleanup: { succeededAfterSeconds: 60 },
      databaseCleanup: { retentionDays: 14 },
    },
    // room for the peak: a release rolling out while every CronJob runs and each scheduler, the one the rollout
    // adds included, runs 8 task pods (docs/getting-started.md)
    quota: { requests: { cpu: '5', memory: '14Gi' }, limits: { memory: '28Gi' }, pods: 32 },
  },
  staging: {
    tier: 'staging',
    namespace: 'airflow-staging',
    airflow: {
      dags: { ...EXAMPLE_DAGS, period: '60s' },
      postgres: { storage: '20Gi', resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '2Gi' } } },
      options: { api: { workers: 2 }, core: { parallelism: 32 } },
      scheduler: { replicas: 2, disruptionBudget: { maxUnavailable: 1 } },
      apiServer: { replicas: 2, disruptionBudget: { maxUnavailable: 1 } },
      dagProcessor: { replicas: 1 },
      triggerer: { replicas: 1 },
      pgbouncer: {},
      networkPolicies: { metricsFrom: METRICS_FROM },
      databaseCleanup: { retentionDays: 30 },
      taskLogs: { size: '20Gi', accessMode: 'ReadWriteMany', storageClassName: SHARED_LOGS_STORAGE_CLASS },
      taskPods: { profiles: resourceProfiles({ medium: 4, large: 1, gpu: 1 }) },
    },
    // room for the peak: a release rolling out while every CronJob and 3 × 32 task pods run, the profiles' slots full
    quota: { requests: { cpu: '44', memory: '104Gi' }, limits: { memory: '176Gi' }, pods: 120 },
  },
  prod: {
    tier: 'prod',
    namespace: 'airflow-prod',
    airflow: {
      // prod requires a commit id: whoever can move a tag or branch would choose the code prod runs
      dags: { ...EXAMPLE_DAGS, ref: AIRFLOW_VERSION_COMMIT, period: '120s' },
      // Migrations connect straight to the database with this URL; everything else through PgBouncer.
      // TLS verified against your provider's CA (verify-full), by the migrations and by PgBouncer
      externalDatabase: { connection: SecretKeyRef.of('airflow-database', 'connection'), tls: { ca: PROD_DATABASE_CA } },
      pgbouncer: {
        replicas: 2,
        // up to 10 api-servers × 1 worker (Airflow 3.3's [api] workers) × 15 connections (SQLAlchemy's pool and
        // overflow), 3 schedulers in a rollout, the dag-processor and 2 triggerers: about 250 clients at the
        // autoscaler's peak, more than two pods of PgBouncer's default 100 take
        maxClientConn: 400,
        spreadAcrossNodes: 'DoNotSchedule',
        database: { host: PROD_DATABASE_HOST },
      },
      // single sign-on; a UI/API token lasts a working day (Airflow: 24 h), a UI session as long (FAB: 30 days);
      // behind an ingress that terminates TLS, its X-Forwarded-Proto makes the login callback https (enable_proxy_fix);
      // an X-Forwarded-Prefix would replace the /auth root of FAB's mount (werkzeug ProxyFix), so it is not trusted
      authManager: { fab: { oidc: PROD_OIDC } },
      // the UI and REST API through the Ingress controller, the execution API closed there (task pods only)
      ingress: { hosts: [...PROD_INGRESS.hosts], className: PROD_INGRESS.className, tlsSecretName: PROD_INGRESS.tlsSecretName },
      networkPolicies: { apiServerFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': PROD_INGRESS.controllerNamespace } } }], metricsFrom: METRICS_FROM },
      // JWTs signed with a private key in the scheduler and api-server only, verified through public keys that can
      // overlap, so the key rotates without failing a token (docs/operations.md, "Rotating the JWT signing key")
      jwtSigning: 'keyPair',
      options: {
        core: { parallelism: 128 }, kubernetes_executor: { worker_pods_creation_batch_size: 8 },
        api_auth: { jwt_expiration_time: 8 * 3600 }, fab: { session_lifetime_minutes: 8 * 60, enable_proxy_fix: true, proxy_fix_x_prefix: 0 },
      },
      highAvailability: true,
      // the scheduler may create only this installation's task pods (Kubernetes 1.30+)
      taskPodAdmissionPolicy: true,
      scheduler: { replicas: 2, resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } } },
      // 2 to 10 pods at 70 % of the CPU and 80 % of the memory requested (needs metrics-server)
      apiServer: {
        autoscaling: { minReplicas: 2, maxReplicas: 10, cpuUtilization: 70, memoryUtilization: 80 },
        resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } },
      },
      // one dag-processor: a second would parse the same bundle again; while it restarts, scheduling goes on
      dagProcessor: { replicas: 1 },
      triggerer: { replicas: 2, spreadAcrossNodes: 'DoNotSchedule', disruptionBudget: { maxUnavailable: 1 } },
      taskLogs: { size: '100Gi', accessMode: 'ReadWriteMany', storageClassName: SHARED_LOGS_STORAGE_CLASS },
      taskPods: { profiles: resourceProfiles({ medium: 16, large: 4, gpu: 2 }) },
    },
    // room for the peak: a release rolling out while 10 api-servers, every CronJob and 3 × 128 task pods run, the
    // profiles' slots full
    quota: { requests: { cpu: '160', memory: '384Gi' }, limits: { memory: '640Gi' }, pods: 420 },
  },
};

const prod = ENVIRONMENTS.prod.airflow;

/**
 * Teams, each with an Airflow of its own (see AirflowTeamChart): `team-a` on the prod preset, `team-b` on staging's, in
 * namespaces `airflow-team-a` and `airflow-team-b`, synthesized beside the environments to
 * `dist/team-a.k8s.yaml` and `dist/team-b.k8s.yaml`. Replace the DAG repositories with the teams' own; team-a's
 * managed PostgreSQL (`airflow.pgbouncer.database.host`, and the URL in its Secret `airflow-database`) and host
 * name are its own: prod's would be claimed twice, which synth refuses. So are its OIDC client (`airflow-team-a`,
 * its secret in the Secret `airflow-oidc` of its namespace) and the groups that get its roles.
 */
export const TEAMS: Record<string, AirflowTeam> = {
  'team-a': {
    tier: 'prod',
    dags: { ...EXAMPLE_DAGS, ref: AIRFLOW_VERSION_COMMIT, period: '120s' },
    airflow: {
      pgbouncer: { ...prod.pgbouncer, database: { host: 'airflow-team-a-database.example.internal' } },
      ingress: { ...prod.ingress!, hosts: ['team-a.airflow.example.com'] },
      // its own OIDC client (its redirect URI is team-a's host) and its own groups: prod's admins are not team-a's
      authManager: { fab: { oidc: {
        ...PROD_OIDC, clientId: 'airflow-team-a',
        roles: { 'team-a-admins': ['Admin'], 'team-a-operators': ['Op'], 'team-a-users': ['User'], 'team-a-viewers': ['Viewer'] },
      } } },
    },
  },
  'team-b': {
    tier: 'staging',
    dags: { ...EXAMPLE_DAGS, period: '60s' },
  },
};
