import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { AirflowConfig, AirflowOptions, checkMetricPrefix, JwtSigning, OtelTarget, OTLP_HTTP_PORT } from './config/airflow-config';
import { AirflowDeploymentProps } from './components/airflow-deployment';
import { AuthManager } from './config/auth-manager';
import { ApiServer, ApiServerProps } from './components/api-server';
import { ApiServerHttpRoute, ApiServerHttpRouteProps } from './platform/api-server-http-route';
import { ApiServerIngress, ApiServerIngressProps } from './platform/api-server-ingress';
import { DagProcessor } from './components/dag-processor';
import { DatabaseCleanup, DatabaseCleanupProps } from './components/database-cleanup';
import { checkDatabaseTls, DatabaseTls } from './database/database-tls';
import { GitSync, GitSyncProps } from './dags/git-sync';
import { checkKnownProps } from './core/known-props';
import { mergePodOptions, PodOptions } from './core/pod-options';
import { AirflowPools, AirflowPoolsProps, Pool } from './dags/pools';
import { TaskPodAdmissionPolicy } from './platform/task-pod-admission-policy';
import { MigrateDatabaseJobProps, MigrateDatabaseJob } from './components/migrate-database-job';
import { AIRFLOW_GID, AirflowComponentName } from './core/names';
import { anyAddressOn, DATABASE_CLIENTS, AirflowNetworkPolicies, AirflowNetworkPoliciesProps } from './platform/network-policies';
import { PgBouncer, PGBOUNCER_CLIENTS, PgBouncerDatabase, PgBouncerProps } from './database/pgbouncer';
import { PostgresStatefulSet, PostgresStatefulSetProps } from './database/postgres-statefulset';
import { AirflowScheduler } from './components/scheduler';
import { RemoteLogging } from './config/remote-logging';
import { SchedulerRbac } from './platform/scheduler-rbac';
import { AirflowSecretsProps, SecretKeyRef } from './config/secrets';
import { TaskLogVolume, TaskLogVolumeProps } from './components/task-log-volume';
import { TaskPodCleanup, TaskPodCleanupProps } from './components/task-pod-cleanup';
import { TaskPodTemplate, TaskPodTemplateProps } from './components/task-pod-template';
import { Triggerer } from './components/triggerer';
import { AirflowGrafanaDashboard, AirflowGrafanaDashboardProps } from './metrics/grafana-dashboard';
import { AirflowPrometheusRule, AirflowPrometheusRuleProps } from './metrics/prometheus-rule';
import { AirflowServiceMonitor, AirflowServiceMonitorProps } from './metrics/service-monitor';
import { StatsdExporter, StatsdExporterProps } from './metrics/statsd-exporter';
import { check } from './core/validation';

/** Settings of one Airflow Deployment inside {@link Airflow}. */
/**
 * What a component of {@link Airflow} takes: AirflowDeploymentProps but the config, with `image` (another image of
 * the installation's Airflow version, e.g. one with extra packages for the scheduler) over the installation's.
 */
export type ComponentOptions = Omit<AirflowDeploymentProps, 'config'>;

/** A database outside the cluster (a managed PostgreSQL), reached through a connection URL in a Secret. */
export interface ExternalDatabase {
  /** The `[database] sql_alchemy_conn` URL, e.g. `postgresql+psycopg2://airflow:...@db.example.com:5432/airflow?sslmode=require`. */
  readonly connection: SecretKeyRef;
  /**
   * The `[database] sql_alchemy_conn_async` URL, e.g. `postgresql+asyncpg://airflow:...@db.example.com:5432/airflow?ssl=require`.
   * Needed when `connection` carries libpq options such as `sslmode=`: Airflow otherwise derives its async URL by
   * swapping the driver for asyncpg and keeping the query string (`settings.py`), and asyncpg rejects `sslmode`
   * (it takes `ssl=`), so every request served on the async engine (e.g. `GET .../dagRuns/{run_id}/wait`) fails.
   * Not needed with `pgbouncer`, whose URL carries no `sslmode` (README, "Operating notes").
   * @default none: derived by Airflow from `connection`
   */
  readonly asyncConnection?: SecretKeyRef;
  /**
   * Verified TLS to the database (see DatabaseTls; e.g. `{ ca: { configMapName: 'airflow-database-ca' } }` for
   * `verify-full` against your provider's CA bundle): every container that connects to it straight gets libpq's
   * `PGSSLMODE` and `PGSSLROOTCERT` and the CA (all Airflow components, or with `pgbouncer` the migrations), and
   * PgBouncer's server side the same mode and CA (`server_tls_sslmode`, `server_tls_ca_file`). `connection` must then
   * set no `sslmode` (a URL parameter wins over the environment), and `asyncConnection` is not needed.
   * @default none: TLS as `connection` says
   * @throws AirflowValidationError with `asyncConnection`, or with a `pgbouncer.database` TLS setting that differs
   */
  readonly tls?: DatabaseTls;
}

/**
 * An installation's metrics: StatsD from every component and task pod to a statsd_exporter (the default), with
 * optional Prometheus Operator objects and a Grafana dashboard over its metrics; or OpenTelemetry to your collector.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/metrics.html
 */
export interface AirflowMetrics {
  /**
   * The statsd_exporter (see StatsdExporter) that every Airflow process sends StatsD to (`[metrics] statsd_on`,
   * `statsd_host` its Service), with the metric prefix (`statsd_prefix`, see StatsdTarget.prefix), or false for none.
   * @default {} (on, prefix 'airflow'), or false with `otel`
   */
  readonly exporter?: (Omit<StatsdExporterProps, 'config'> & { readonly prefix?: string }) | false;
  /**
   * OpenTelemetry metrics to your collector instead (see OtelTarget), e.g. `{ host: 'otel-collector.observability' }`.
   * Not with the exporter, nor with `serviceMonitor`, `prometheusRule` or `dashboard` (their queries are the exporter's names).
   * @default none
   */
  readonly otel?: OtelTarget;
  /**
   * A Prometheus Operator ServiceMonitor for the exporter (see AirflowServiceMonitor): needs the operator's CRDs, or
   * `kubectl apply` fails. @default false (a Prometheus that reads `prometheus.io/*` annotations scrapes it without)
   */
  readonly serviceMonitor?: boolean | Omit<AirflowServiceMonitorProps, 'exporter'>;
  /** A Prometheus Operator PrometheusRule with the alerts of AirflowPrometheusRule: needs the operator's CRDs. @default false */
  readonly prometheusRule?: boolean | Omit<AirflowPrometheusRuleProps, 'exporter'>;
  /** The Grafana dashboard ConfigMap (see AirflowGrafanaDashboard), or false. @default {} (on, with the exporter) */
  readonly dashboard?: Omit<AirflowGrafanaDashboardProps, 'exporter'> | false;
}

/** Properties of {@link Airflow}. */
export interface AirflowProps {
  /** Prefix of every object name; two installations share a namespace when theirs differ. @default 'airflow' */
  readonly instanceName?: string;
  /** @default the Chart's namespace */
  readonly namespace?: string;
  /**
   * The Airflow image of every component and task pod, pinned: an official `apache/airflow:<version>` of a
   * supported series, or a custom image with `airflowVersion`. @default `apache/airflow:<airflowVersion>`, or DEFAULT_AIRFLOW_IMAGE
   */
  readonly image?: string;
  /**
   * The Airflow version `image` runs, `X.Y.Z` (see AirflowConfigProps.airflowVersion): required for a custom image,
   * whose tag the library cannot read. @default AIRFLOW_VERSION (an official image of its series is accepted without it)
   */
  readonly airflowVersion?: string;
  /** DAGs from Git (git-sync). @default none: DAGs baked into the image at /opt/airflow/dags */
  readonly dags?: GitSyncProps;
  /** An in-cluster PostgreSQL. @default one with PostgresStatefulSet's defaults, unless externalDatabase is given */
  readonly postgres?: Omit<PostgresStatefulSetProps, 'instanceName'>;
  /** A database outside the cluster instead of the in-cluster PostgreSQL. @default none */
  readonly externalDatabase?: ExternalDatabase;
  /** Secret references. @default keys of the Secret `<instanceName>-secrets` (see scripts/create-secrets.sh) */
  readonly secrets?: AirflowSecretsProps;
  /** Extra Airflow options, checked against Airflow's configuration reference. @default {} */
  readonly options?: AirflowOptions;
  /**
   * Who logs in to the UI and the REST API (see AuthManager): `{ simple: {} }` (SimpleAuthManager, for development) or
   * `{ fab: { oidc } }` (the FAB auth manager, single sign-on through your OpenID Connect provider). @default { simple: {} }
   */
  readonly authManager?: AuthManager;
  /**
   * How JWTs are signed (see AirflowConfigProps.jwtSigning): `'secret'` or `'keyPair'` (a private key in the scheduler
   * and the api-server, public keys that can overlap during a rotation). @default 'secret'
   */
  readonly jwtSigning?: JwtSigning;
  /**
   * Require high availability: at least two schedulers and api-servers, kept on different nodes
   * (`spreadAcrossNodes: 'DoNotSchedule'`) with a PodDisruptionBudget of `maxUnavailable: 1`
   * unless one is given. @default false
   */
  readonly highAvailability?: boolean;
  /** @default see AirflowScheduler */
  readonly scheduler?: ComponentOptions;
  /** @default see ApiServer */
  readonly apiServer?: ComponentOptions & Pick<ApiServerProps, 'serviceType' | 'nodePort' | 'autoscaling'>;
  /** @default see DagProcessor */
  readonly dagProcessor?: ComponentOptions;
  /** @default see Triggerer */
  readonly triggerer?: ComponentOptions;
  /** @default see TaskPodTemplate */
  readonly taskPods?: Omit<TaskPodTemplateProps, 'config' | 'gitSync'>;
  /** @default see MigrateDatabaseJob */
  readonly migrations?: Omit<MigrateDatabaseJobProps, 'config' | 'image'>;
  /**
   * A volume that keeps task logs readable after their pods are gone (see TaskLogVolume), shared by task
   * pods, the triggerer and the api-server. @default none: logs live and die with each pod unless remote
   * logging is set in `options`
   */
  readonly taskLogs?: Omit<TaskLogVolumeProps, 'instanceName' | 'fsGroup'>;
  /**
   * Task and trigger logs in object storage (S3, GCS or Azure Blob; see RemoteLogging), alone or beside
   * `taskLogs`. @default none
   */
  readonly remoteLogging?: RemoteLogging;
  /** The CronJob that deletes finished task pods (see TaskPodCleanup), or false for none. @default {} (every 15 minutes) */
  readonly taskPodCleanup?: Omit<TaskPodCleanupProps, 'config' | 'image'> | false;
  /**
   * PgBouncer in front of the database (see PgBouncer): every component connects through it, the migration Job
   * straight to the database. Its `database` defaults to the in-cluster PostgreSQL; with `externalDatabase`,
   * `database.host` is required. With it, `secrets.sqlAlchemyConn` (default key `sql-alchemy-conn` of
   * `<instanceName>-secrets`) is the URL to PgBouncer, `postgresql+psycopg2://airflow:<password>@<instanceName>-pgbouncer.<namespace>:6432/airflow`,
   * and the migrations use `externalDatabase.connection` or, in-cluster, key `connection` of the Secret
   * `<instanceName>-postgresql` (the URL straight to it). @default none
   */
  readonly pgbouncer?: Omit<PgBouncerProps, 'instanceName' | 'database' | 'clients'> & { readonly database?: Partial<PgBouncerDatabase> };
  /** The CronJob that runs `airflow db clean` (see DatabaseCleanup), or false for none. @default {} (daily, 90 days kept) */
  readonly databaseCleanup?: Omit<DatabaseCleanupProps, 'config' | 'image'> | false;
  /**
   * Pod options of every pod of the installation (see PodOptions): the components, the jobs and CronJobs, the task
   * pods, PgBouncer and PostgreSQL (its `containers`, sidecars, to the long-running ones only). A component's own
   * `pod` (e.g. `scheduler.pod`, `taskPods.pod`) is laid over it, field by field: the component's `tolerations`
   * replace these. @default none
   */
  readonly pod?: PodOptions;
  /**
   * Airflow pools as data, applied by a Job after the migrations (see AirflowPools), e.g.
   * `{ pools: { etl: { slots: 8 } }, prune: true }`. @default none: pools are made in the UI or CLI
   */
  readonly pools?: Omit<AirflowPoolsProps, 'config' | 'image'>;
  /**
   * Let the scheduler create only this installation's task pods: a ValidatingAdmissionPolicy and its binding (see
   * TaskPodAdmissionPolicy; Kubernetes 1.30 or later), with the images tasks may run besides the template's.
   * @default false
   */
  readonly taskPodAdmissionPolicy?: boolean | { readonly allowedImages?: string[] };
  /**
   * Require every image of the installation (components, jobs, task pods, git-sync, PgBouncer, PostgreSQL, added
   * containers) to be pinned by digest (`image@sha256:<64 hex>`, alone or after the tag): a tag can be moved to
   * other content, a digest cannot. @default false (a version tag is enough)
   * @throws AirflowValidationError naming the first image that is not
   */
  readonly requireImageDigests?: boolean;
  /**
   * NetworkPolicies (see AirflowNetworkPolicies), or false for none: ingress and egress denied by default, then allowed
   * where the installation needs it. `apiServerFrom` adds your Ingress controller; `egress` narrows the destinations
   * outside the cluster (the Kubernetes API's, the database's, the Git hosts' addresses) and the tasks' own.
   * The database, PgBouncer, git-sync, remote logging, the OIDC provider and the metrics (the statsd_exporter, or the
   * OpenTelemetry collector's port) are wired from the other props: the Git rule's port is the repository's, the
   * identity provider's the issuer's (any address, until `egress` names them). `metricsFrom` admits your Prometheus to
   * the exporter's `/metrics` (required with `metrics.serviceMonitor`).
   * @default {} (on: the api-server open to the installation's task pods only, egress as AirflowEgress's defaults)
   */
  readonly networkPolicies?: Omit<AirflowNetworkPoliciesProps, 'instanceName' | 'postgresql' | 'pgbouncer' | 'externalDatabase' | 'gitSync' | 'remoteLogging' | 'backupUpload' | 'statsd'> | false;
  /**
   * An Ingress to the UI and REST API, the Task Execution API closed (see ApiServerIngress), e.g.
   * `{ hosts: ['airflow.example.com'], className: 'nginx', tlsSecretName: 'airflow-tls' }`. With NetworkPolicies on,
   * `networkPolicies.apiServerFrom` must name the Ingress controller's pods. @default none
   */
  readonly ingress?: Omit<ApiServerIngressProps, 'apiServer'>;
  /**
   * A Gateway API HTTPRoute to the UI and REST API, the Task Execution API closed (see ApiServerHttpRoute), e.g.
   * `{ gateway: { name: 'shared', namespace: 'gateways' }, hosts: ['airflow.example.com'] }`. With NetworkPolicies on,
   * `networkPolicies.apiServerFrom` must name the Gateway's data-plane pods. @default none
   */
  readonly httpRoute?: Omit<ApiServerHttpRouteProps, 'apiServer'>;
  /**
   * Metrics (see AirflowMetrics): by default StatsD from every component and task pod to a statsd_exporter Deployment
   * and Service `<instanceName>-statsd`, and a Grafana dashboard ConfigMap; false for none (then `options.metrics` is yours).
   * @default {}
   * @throws AirflowValidationError for the exporter with `otel`, or a ServiceMonitor, PrometheusRule or dashboard without the exporter
   */
  readonly metrics?: AirflowMetrics | false;
}

/**
 * A complete Airflow 3 with the KubernetesExecutor: airflow.cfg, RBAC, the database (in-cluster
 * PostgreSQL or external), the migration Job, scheduler, api-server, dag-processor, triggerer and
 * the task pod template, wired to agree (one execution API URL, one JWT secret, one fernet key,
 * one api secret key, DAGs at one path).
 */
export class Airflow extends Construct {
  public readonly config: AirflowConfig;
  public readonly rbac: SchedulerRbac;
  public readonly postgres?: PostgresStatefulSet;
  public readonly migrations: MigrateDatabaseJob;
  public readonly gitSync?: GitSync;
  public readonly podTemplate: TaskPodTemplate;
  public readonly scheduler: AirflowScheduler;
  public readonly apiServer: ApiServer;
  public readonly dagProcessor: DagProcessor;
  public readonly triggerer: Triggerer;
  public readonly networkPolicies?: AirflowNetworkPolicies;
  public readonly ingress?: ApiServerIngress;
  public readonly httpRoute?: ApiServerHttpRoute;
  public readonly taskLogVolume?: TaskLogVolume;
  public readonly taskPodCleanup?: TaskPodCleanup;
  public readonly pgbouncer?: PgBouncer;
  public readonly databaseCleanup?: DatabaseCleanup;
  /** The admission policy that limits what the scheduler creates, if asked for. */
  public readonly taskPodAdmissionPolicy?: TaskPodAdmissionPolicy;
  /** The Job that applies `pools`, if any were declared. */
  public readonly pools?: AirflowPools;
  /** The statsd_exporter every process sends StatsD to, unless metrics are off or go to OpenTelemetry. */
  public readonly statsdExporter?: StatsdExporter;
  public readonly serviceMonitor?: AirflowServiceMonitor;
  public readonly prometheusRule?: AirflowPrometheusRule;
  public readonly dashboard?: AirflowGrafanaDashboard;

  /** @throws AirflowValidationError for any invalid prop, both postgres and externalDatabase, or HA with one scheduler or api-server. */
  constructor(scope: Construct, id: string, props: AirflowProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const { instanceName, image, externalDatabase } = props;
    check(!(props.postgres && externalDatabase), this, 'externalDatabase', 'given together with postgres',
      'either an in-cluster postgres or an externalDatabase, not both');
    const pooled = props.pgbouncer !== undefined;
    check(pooled || !(externalDatabase && props.secrets?.sqlAlchemyConn), this, 'secrets.sqlAlchemyConn', 'given together with externalDatabase',
      'the connection only once: externalDatabase.connection (or, with pgbouncer, secrets.sqlAlchemyConn for the URL to PgBouncer)');
    check(!(externalDatabase && pooled && props.pgbouncer?.database?.host === undefined), this, 'pgbouncer.database.host', undefined,
      'the host of the external database, e.g. "mydb.abc123.eu-west-1.rds.amazonaws.com": PgBouncer connects to it');
    check(!(pooled && externalDatabase?.asyncConnection !== undefined), this, 'externalDatabase.asyncConnection', '<redacted>',
      'unset with pgbouncer: the components connect to PgBouncer, whose URL has no sslmode, and Airflow derives the async URL from it');
    if (externalDatabase) SecretKeyRef.check(this, 'externalDatabase.connection', externalDatabase.connection);
    const tls = externalDatabase?.tls === undefined ? undefined : checkDatabaseTls(this, 'externalDatabase.tls', externalDatabase.tls);
    check(!(tls && externalDatabase?.asyncConnection !== undefined), this, 'externalDatabase.asyncConnection', '<redacted>',
      'unset with externalDatabase.tls: Airflow derives the async URL from connection, and asyncpg reads PGSSLMODE and PGSSLROOTCERT as libpq does');
    for (const key of ['serverTlsSslmode', 'serverCa'] as const) {
      check(!(tls && props.pgbouncer?.database?.[key] !== undefined), this, `pgbouncer.database.${key}`, props.pgbouncer?.database?.[key],
        'unset with externalDatabase.tls, which sets PgBouncer\'s TLS to the database (the same sslmode and CA)');
    }
    const asyncConnection = externalDatabase?.asyncConnection;
    if (asyncConnection !== undefined) {
      SecretKeyRef.check(this, 'externalDatabase.asyncConnection', asyncConnection);
      check(props.options?.database?.sql_alchemy_conn_async === undefined, this, 'options.database.sql_alchemy_conn_async', '<redacted>',
        'unset with externalDatabase.asyncConnection: give the async URL once');
    }
    const chartNamespace = Chart.of(this).namespace;
    check(props.namespace === undefined || chartNamespace === undefined || props.namespace === chartNamespace, this, 'namespace',
      props.namespace, `unset or the Chart's namespace (${chartNamespace}), where the objects go`);
    const ha = props.highAvailability ?? false;
    if (ha) {
      for (const key of ['scheduler', 'apiServer'] as const) {
        const autoscaled = key === 'apiServer' && props.apiServer?.autoscaling !== undefined;
        const [property, replicas] = autoscaled ? [`${key}.autoscaling.minReplicas`, props.apiServer!.autoscaling!.minReplicas] : [`${key}.replicas`, props[key]?.replicas ?? 1];
        check(replicas >= 2, this, property, replicas, 'at least 2 with highAvailability (a single pod is a single point of failure)');
      }
    }
    // a task pod profile with slots is an Airflow pool of its name, which the profile's tasks run in
    const profilePools: Record<string, Pool> = {};
    for (const [name, profile] of Object.entries(props.taskPods?.profiles ?? {})) {
      if (profile?.slots === undefined) continue;
      check(props.pools?.pools?.[name] === undefined, this, `pools.pools.${name}`, props.pools?.pools?.[name],
        `unset: the task pod profile "${name}" makes this pool from its slots (taskPods.profiles.${name}.slots)`);
      profilePools[name] = { slots: profile.slots, description: `task pod profile ${name}: at most ${profile.slots} of its pods at once` };
    }
    const pools = Object.keys(profilePools).length === 0 ? props.pools : { ...props.pools, pools: { ...props.pools?.pools, ...profilePools } };
    const haDefaults = (key: 'scheduler' | 'apiServer', o: ComponentOptions | undefined): ComponentOptions => {
      if (!ha) return { ...o };
      check((o?.spreadAcrossNodes ?? 'DoNotSchedule') === 'DoNotSchedule', this, `${key}.spreadAcrossNodes`, o?.spreadAcrossNodes,
        '"DoNotSchedule" or unset with highAvailability (replicas on one node fail together)');
      return { ...o, spreadAcrossNodes: 'DoNotSchedule', disruptionBudget: o?.disruptionBudget ?? { maxUnavailable: 1 } };
    };

    const metrics = props.metrics === false ? undefined : props.metrics ?? {};
    check(metrics === undefined || (typeof metrics === 'object' && metrics !== null), this, 'metrics', metrics, '{ exporter?, otel?, serviceMonitor?, prometheusRule?, dashboard? } or false');
    check(!(metrics?.otel !== undefined && metrics.exporter !== undefined && metrics.exporter !== false), this, 'metrics.exporter', metrics?.exporter,
      'unset or false with metrics.otel: Airflow sends to StatsD and ignores OpenTelemetry when both are on');
    const exporterProps = metrics === undefined || metrics.otel !== undefined || metrics.exporter === false ? undefined : metrics.exporter ?? {};
    if (exporterProps === undefined) {
      for (const key of ['serviceMonitor', 'prometheusRule'] as const) {
        check(!metrics?.[key], this, `metrics.${key}`, metrics?.[key], 'unset or false without the exporter: its queries read the exporter\'s metrics');
      }
      check(metrics?.dashboard === undefined || metrics.dashboard === false, this, 'metrics.dashboard', metrics?.dashboard,
        'unset or false without the exporter: its queries read the exporter\'s metrics');
    }
    const { prefix, ...exporterRest } = exporterProps ?? {};
    if (prefix !== undefined) checkMetricPrefix(this, 'metrics.exporter.prefix', prefix);

    this.gitSync = props.dags ? new GitSync(this, 'git-sync', props.dags) : undefined;
    // One fsGroup for every pod that mounts the log volume: git-sync's where DAGs come from Git.
    this.taskLogVolume = props.taskLogs
      ? new TaskLogVolume(this, 'task-logs', { instanceName, fsGroup: this.gitSync?.fsGroup ?? AIRFLOW_GID, ...props.taskLogs })
      : undefined;
    this.config = new AirflowConfig(this, 'config', {
      instanceName,
      airflowVersion: props.airflowVersion,
      namespace: props.namespace,
      dagsFolder: this.gitSync?.dagsFolder,
      dagsRefreshSeconds: this.gitSync?.periodSeconds,
      secrets: externalDatabase && !pooled ? { ...props.secrets, sqlAlchemyConn: externalDatabase.connection } : props.secrets,
      options: asyncConnection ? { ...props.options, database: { ...props.options?.database, sql_alchemy_conn_async: asyncConnection } } : props.options,
      taskLogVolume: this.taskLogVolume,
      remoteLogging: props.remoteLogging,
      databaseTls: pooled ? undefined : tls,
      authManager: props.authManager,
      jwtSigning: props.jwtSigning,
      metrics: exporterProps !== undefined ? { statsd: { prefix } } : metrics?.otel !== undefined ? { otel: metrics.otel } : undefined,
    });
    const config = this.config;
    config.airflowImage(this, 'image', image);
    this.rbac = new SchedulerRbac(this, 'rbac', { instanceName, namespace: config.namespace });
    const pod = <T extends { pod?: PodOptions }>(o: T | undefined): T => ({ ...o, pod: mergePodOptions(props.pod, o?.pod) }) as T;
    // the installation's sidecars go to the long-running pods only: a Job's or a task's pod must end
    const { containers: _sidecars, ...toCompletion } = props.pod ?? {};
    const jobPod = <T extends { pod?: PodOptions }>(o: T | undefined): T => ({ ...o, pod: mergePodOptions(props.pod && toCompletion, o?.pod) }) as T;
    const backup = props.postgres?.backup === false ? false : jobPod(props.postgres?.backup);
    if (!externalDatabase) this.postgres = new PostgresStatefulSet(this, 'postgresql', { instanceName, ...pod(props.postgres), backup });
    const pgbouncerClients: AirflowComponentName[] = [...PGBOUNCER_CLIENTS, 'db-cleanup', ...(pools ? ['pools' as const] : [])];
    if (props.pgbouncer) {
      const { database, ...rest } = props.pgbouncer;
      const inCluster = this.postgres ? { host: `${this.postgres.serviceName}.${config.namespace}`, port: this.postgres.port, name: this.postgres.database } : {};
      const verified = tls ? { serverTlsSslmode: tls.sslmode, serverCa: tls.ca } : {};
      this.pgbouncer = new PgBouncer(this, 'pgbouncer', {
        instanceName, ...pod(rest), database: { ...inCluster, ...database, ...verified } as PgBouncerDatabase,
        clients: pgbouncerClients,
      });
    }
    const directConnection = !this.pgbouncer ? undefined
      : externalDatabase?.connection ?? SecretKeyRef.of(this.postgres!.name, 'connection');
    this.migrations = new MigrateDatabaseJob(this, 'db-migrate', {
      config, image, connection: directConnection, connectionTls: directConnection && tls, ...jobPod(props.migrations),
    });
    this.podTemplate = new TaskPodTemplate(this, 'pod-template', { config, image, gitSync: this.gitSync, ...jobPod(props.taskPods) });
    this.scheduler = new AirflowScheduler(this, 'scheduler', {
      config, image, podTemplate: this.podTemplate, serviceAccountName: this.rbac.schedulerServiceAccountName, ...haDefaults('scheduler', pod(props.scheduler)),
    });
    this.apiServer = new ApiServer(this, 'api-server', {
      config, image, serviceAccountName: this.rbac.apiServerServiceAccountName, ...haDefaults('apiServer', pod(props.apiServer)),
    });
    this.dagProcessor = new DagProcessor(this, 'dag-processor', { config, image, gitSync: this.gitSync, podTemplate: this.podTemplate, ...pod(props.dagProcessor) });
    this.triggerer = new Triggerer(this, 'triggerer', { config, image, gitSync: this.gitSync, ...pod(props.triggerer) });
    if (props.taskPodAdmissionPolicy) {
      this.taskPodAdmissionPolicy = new TaskPodAdmissionPolicy(this, 'task-pod-policy', {
        config, podTemplate: this.podTemplate, schedulerServiceAccountName: this.rbac.schedulerServiceAccountName,
        ...(props.taskPodAdmissionPolicy === true ? {} : props.taskPodAdmissionPolicy),
      });
    }
    if (pools !== undefined) this.pools = new AirflowPools(this, 'pools', { config, image, ...jobPod(pools) });
    if (props.databaseCleanup !== false) this.databaseCleanup = new DatabaseCleanup(this, 'db-cleanup', { config, image, ...jobPod(props.databaseCleanup) });
    if (props.taskPodCleanup !== false) this.taskPodCleanup = new TaskPodCleanup(this, 'cleanup-pods', { config, image, ...jobPod(props.taskPodCleanup) });
    if (exporterProps !== undefined) {
      const exporter = this.statsdExporter = new StatsdExporter(this, 'statsd', { config, ...pod(exporterRest) });
      const given = <T>(o: boolean | T | undefined): T | undefined => (o === undefined || o === false ? undefined : o === true ? {} as T : o);
      const serviceMonitor = given(metrics?.serviceMonitor);
      if (serviceMonitor) this.serviceMonitor = new AirflowServiceMonitor(this, 'service-monitor', { ...serviceMonitor, exporter });
      const rule = given(metrics?.prometheusRule);
      if (rule) this.prometheusRule = new AirflowPrometheusRule(this, 'prometheus-rule', { ...rule, exporter });
      if (metrics?.dashboard !== false) this.dashboard = new AirflowGrafanaDashboard(this, 'dashboard', { ...metrics?.dashboard, exporter });
    }
    if (props.requireImageDigests) this.checkImageDigests();
    // the NetworkPolicies' props, or undefined when they are off
    const policies = props.networkPolicies === false ? undefined : props.networkPolicies ?? {};
    check(!policies || props.pgbouncer?.networkPolicy !== false, this, 'pgbouncer.networkPolicy', false,
      'true or unset with networkPolicies on: the default deny would close PgBouncer to every component (or networkPolicies: false)');
    check(!policies || this.serviceMonitor === undefined || (policies.metricsFrom ?? []).length > 0, this, 'networkPolicies.metricsFrom', policies?.metricsFrom,
      'your Prometheus\'s pods with metrics.serviceMonitor set, e.g. [{ namespaceSelector: { matchLabels: { \'kubernetes.io/metadata.name\': \'monitoring\' } } }]: ' +
      'the exporter\'s NetworkPolicy admits no scraper otherwise');
    for (const [key, what] of [['ingress', 'Ingress controller'], ['httpRoute', 'Gateway']] as const) {
      if (props[key] === undefined) continue;
      check(!policies || (policies.apiServerFrom ?? []).length > 0, this, 'networkPolicies.apiServerFrom', policies?.apiServerFrom, `the ${what}'s pods with ${key} set, ` +
        'e.g. [{ namespaceSelector: { matchLabels: { \'kubernetes.io/metadata.name\': \'ingress-nginx\' } } }]: the api-server\'s NetworkPolicy admits only task pods otherwise');
    }
    if (props.ingress !== undefined) this.ingress = new ApiServerIngress(this, 'ingress', { ...props.ingress, apiServer: this.apiServer });
    if (props.httpRoute !== undefined) this.httpRoute = new ApiServerHttpRoute(this, 'http-route', { ...props.httpRoute, apiServer: this.apiServer });
    const secretsBackend = props.options?.secrets?.backend;
    const egress = policies?.egress;
    // a secrets backend outside the cluster is asked by every Airflow pod, which egress denies unless it is named
    check(!policies || egress === false || secretsBackend === undefined || /local_filesystem/.test(String(secretsBackend)) || (egress?.services ?? []).length > 0,
      this, 'networkPolicies.egress.services', egress === false ? undefined : egress?.services, `the addresses of the secrets backend ${secretsBackend} ([secrets] backend), ` +
      'e.g. [{ to: [{ ipBlock: { cidr: "10.20.0.0/16" } }], ports: [{ port: 8200 }] }]: egress is denied by default, and every Airflow pod asks it for connections and variables');
    if (policies) {
      // Who opens connections to the database: with PgBouncer only it and the migrations (and the in-cluster one's
      // backups); without, every component that uses the database.
      const databaseClients: AirflowComponentName[] = this.pgbouncer ? ['pgbouncer', 'db-migrate'] : [...DATABASE_CLIENTS, ...(this.pools ? ['pools' as const] : [])];
      const { egress: _egress, ...rest } = policies;
      const oidc = props.authManager?.fab?.oidc;
      this.networkPolicies = new AirflowNetworkPolicies(this, 'network-policies', {
        instanceName,
        postgresql: this.postgres === undefined ? false : this.pgbouncer ? [...databaseClients, 'postgresql-backup'] : databaseClients,
        pgbouncer: this.pgbouncer ? pgbouncerClients : undefined,
        externalDatabase: externalDatabase ? databaseClients : undefined,
        // git-sync runs in the pods that read DAGs: task pods (init container), the dag-processor and the triggerer
        gitSync: this.gitSync ? ['worker', 'dag-processor', 'triggerer'] : undefined,
        remoteLogging: props.remoteLogging !== undefined,
        backupUpload: this.postgres?.backup?.upload !== undefined,
        statsd: this.statsdExporter !== undefined,
        egress: egress === false ? false : {
          ...(metrics?.otel ? { metrics: anyAddressOn(metrics.otel.port ?? OTLP_HTTP_PORT) } : {}),
          ...(this.gitSync ? { git: anyAddressOn(this.gitSync.port) } : {}),
          ...(oidc ? { identityProvider: anyAddressOn(Number(new URL(oidc.issuer).port || 443)) } : {}),
          ...(externalDatabase && props.pgbouncer?.database?.port !== undefined ? { database: anyAddressOn(props.pgbouncer.database.port) } : {}),
          ...egress,
        },
        ...rest,
      });
    }
  }

  /** Every image of the installation's pods, the task pod template's included, must carry a digest. */
  private checkImageDigests(): void {
    const pods: { where: string; spec: any }[] = [{ where: 'task pod template', spec: k8s.toJson_PodSpec(this.podTemplate.pod.spec) }];
    for (const o of this.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject)) {
      const json = o.toJson();
      const spec = json.spec?.jobTemplate?.spec?.template?.spec ?? json.spec?.template?.spec;
      if (spec) pods.push({ where: `${json.kind} ${json.metadata.name}`, spec });
    }
    for (const { where, spec } of pods) {
      for (const c of [...spec.initContainers ?? [], ...spec.containers]) {
        check(/@(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/.test(c.image), this, 'requireImageDigests', `${c.image} (${where}, container ${c.name})`,
          'every image pinned by digest, e.g. "apache/airflow:3.3.2@sha256:<64 hex digits>": a tag can be moved to other content');
      }
    }
  }
}
