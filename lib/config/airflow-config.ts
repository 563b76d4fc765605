import { createHash } from 'crypto';
import { isIP } from 'net';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { distance } from 'fastest-levenshtein';
import * as k8s from '../../imports/k8s';
import reference from './airflow-options.json';
import { AuthManager, renderAuthManager, RenderedAuthManager } from './auth-manager';
import { checkDatabaseTls, DatabaseTls } from '../database/database-tls';
import { checkKnownProps } from '../core/known-props';
import {
  AirflowNames, airflowSeries, AIRFLOW_HOME, AIRFLOW_VERSION, API_SERVER_PORT, DEFAULT_AIRFLOW_IMAGE, LOG_DIR,
  officialImageVersion, POD_TEMPLATE_FILE, SUPPORTED_AIRFLOW_SERIES,
} from '../core/names';
import { AirflowSecrets, AirflowSecretsProps, SecretKeyRef } from './secrets';
import { RemoteLogging, renderRemoteLogging } from './remote-logging';
import { TaskLogVolume } from '../components/task-log-volume';
import { check, checkImage, checkNamespace, checkNoUrlPassword, checkWholeNumber } from '../core/validation';

/** A writable emptyDir in the api-server for SimpleAuthManager's generated passwords file. */
export const AUTH_DIR = `${AIRFLOW_HOME}/auth`;

/** A value of one Airflow option: a literal, or (required for `sensitive` options) a Secret reference. */
export type AirflowOptionValue = string | number | boolean | SecretKeyRef;

/**
 * Extra Airflow options as `{ section: { option: value } }`, e.g. `{ core: { parallelism: 64 } }`.
 * Each is checked against Airflow's configuration reference (lib/config/airflow-options.json).
 * @see https://airflow.apache.org/docs/apache-airflow/stable/configurations-ref.html
 */
export type AirflowOptions = Readonly<Record<string, Readonly<Record<string, AirflowOptionValue>>>>;

/**
 * Which options given as SecretKeyRef a process gets: 'all', or 'task' for task pods (all but the
 * `[database]` section: Airflow 3 tasks do not talk to the database, but they do read e.g.
 * `[workers] secrets_backend_kwargs` or `[logging] remote_task_handler_kwargs`).
 */
export type OptionSecrets = 'all' | 'task';

/**
 * The secret configuration a process needs. `jwtSecret` is what signs JWTs (the scheduler's task tokens, the
 * api-server's): `[api_auth] jwt_secret`, or with `jwtSigning: 'keyPair'` the private key and its id; `jwtPublicKeys`
 * is what verifies them with a key pair (the api-server's JWKS; with a secret, the secret verifies).
 */
export type AirflowSecretUse = 'fernetKey' | 'jwtSecret' | 'jwtPublicKeys' | 'apiSecretKey' | 'sqlAlchemyConn';

const SECRET_OPTIONS: Record<Exclude<AirflowSecretUse, 'jwtPublicKeys'>, [string, string]> = {
  fernetKey: ['core', 'fernet_key'],
  jwtSecret: ['api_auth', 'jwt_secret'],
  apiSecretKey: ['api', 'secret_key'],
  sqlAlchemyConn: ['database', 'sql_alchemy_conn'],
};

/** How JWTs are signed (`[api_auth]`): one shared secret (HS512), or a private key verified through public keys. */
export type JwtSigning = 'secret' | 'keyPair';

/** Where the scheduler and the api-server read the signing key, and the api-server the public keys (JWKS). */
export const JWT_SIGNING_KEY_FILE = '/etc/airflow/jwt-signing-key/private.pem';
export const JWT_PUBLIC_KEYS_FILE = '/etc/airflow/jwt-public-keys/jwks.json';

/**
 * Seconds a queued task may wait for its pod to start (`[scheduler] task_queued_timeout`): 20 minutes instead of
 * Airflow's 10, room for a cluster autoscaler to add a node (2 to 5 minutes), a first pull of the Airflow image
 * (over 1 GB) and a one-time clone of a large DAG repository. The token a task pod starts with must live as long:
 * - Airflow 3.1 queues the task with an execution API token of `[execution_api] jwt_expiration_time`, so the
 *   library sets that to the same 20 minutes (it must be at least the queue timeout);
 * - Airflow 3.2 and later queue it with a `workload` token valid for `task_queued_timeout`
 *   (`executors/workloads/base.py`), which the api-server swaps for a short `execution` token of
 *   `jwt_expiration_time` when the task starts (`ti_run`): the library leaves that at Airflow's 10 minutes, so a
 *   token read from a running pod is usable for less time.
 * A running task's token is renewed by the api-server (`JWTReissueMiddleware`, `api_fastapi/execution_api/app.py`)
 * when less than a fifth of it is left, so the lifetime bounds only how long a leaked token stays usable.
 */
export const TOKEN_LIFETIME_SECONDS = 1200;

/** Options this library sets itself, and the prop that controls each instead. */
const MANAGED: Record<string, string> = {
  'core.executor': 'none: the KubernetesExecutor is what this library deploys',
  'core.execution_api_server_url': 'none: it is derived from the api-server Service',
  'core.dags_folder': 'the dagsFolder prop (GitSync.dagsFolder)',
  'kubernetes_executor.pod_template_file': 'none: TaskPodTemplate mounts the template at this path',
  'kubernetes_executor.namespace': 'the namespace prop (or the Chart namespace)',
  'core.fernet_key': 'secrets.fernetKey',
  'api_auth.jwt_secret': 'secrets.jwtSecret',
  'api_auth.jwt_private_key_path': "jwtSigning: 'keyPair' (secrets.jwtSigningKey, mounted)",
  'api_auth.jwt_kid': "jwtSigning: 'keyPair' (secrets.jwtKeyId)",
  'api_auth.trusted_jwks_url': "jwtSigning: 'keyPair' (secrets.jwtPublicKeys, mounted)",
  'api.secret_key': 'secrets.apiSecretKey',
  'database.sql_alchemy_conn': 'secrets.sqlAlchemyConn',
  'core.simple_auth_manager_passwords_file': `none: the api-server writes it to its writable ${AUTH_DIR} volume`,
  'core.auth_manager': 'the authManager prop ({ simple: {} } or { fab: { oidc? } })',
  'fab.config_file': 'none: with authManager.fab, webserver_config.py is written there from the props',
};

/**
 * Options whose value the manifests depend on without being derived from it: each is rejected with what it would
 * break. (`[api] base_url` is not among them: its path drives the probes and the execution API URL.)
 */
const FIXED_BY_MANIFESTS: Record<string, string> = {
  'api.port': `the api-server listens on ${API_SERVER_PORT}: its Service, probes, NetworkPolicies and the execution API URL use that port`,
  'api.host': 'the api-server listens on every address (0.0.0.0), or its Service and probes cannot reach it',
  'api.ssl_cert': 'probes and the execution API URL speak plain HTTP to the api-server: terminate TLS at an Ingress or a service mesh',
  'api.ssl_key': 'probes and the execution API URL speak plain HTTP to the api-server: terminate TLS at an Ingress or a service mesh',
  'logging.trigger_log_server_port': 'the triggerer serves logs of running triggers on 8794, the port its container and NetworkPolicies open',
  'kubernetes_executor.in_cluster': "the scheduler reaches the Kubernetes API in cluster, with its ServiceAccount's token",
  'kubernetes_executor.config_file': "no kubeconfig is mounted: the scheduler reaches the Kubernetes API with its ServiceAccount's token",
  'kubernetes_executor.multi_namespace_mode': "the scheduler's Role grants pods in its own namespace only",
  'kubernetes_executor.multi_namespace_mode_namespace_list': "the scheduler's Role grants pods in its own namespace only",
  'kubernetes_executor.worker_container_repository': 'task pods run the task pod template\'s image: set the image prop',
  'kubernetes_executor.worker_container_tag': 'task pods run the task pod template\'s image: set the image prop',
};

/**
 * Options naming a place Airflow writes, and the writable volumes it may be under: the root file system of every
 * Airflow container is read-only, so anything else fails at run time. Logs must stay on the `logs` volume, which
 * the task log volume (when there is one) replaces.
 */
const WRITTEN_PATHS: Record<string, readonly string[]> = {
  'logging.base_log_folder': [LOG_DIR],
  'logging.dag_processor_child_process_log_directory': [LOG_DIR, '/tmp'],
  'dag_processor.dag_bundle_storage_path': ['/tmp'],
  'kerberos.ccache': ['/tmp'],
};

/** Every AirflowConfig of an App by `<namespace>/<instanceName>`: two would write the same objects. */
const INSTALLATIONS = new WeakMap<object, Map<string, AirflowConfig>>();

/** The option the library reads from airflow.cfg itself (NamespaceQuota's task pods): a literal in `options` only. */
const READ_BY_LIBRARY = 'core.parallelism';

/** `section.option` of every option the library sets itself. */
export const MANAGED_OPTIONS = Object.keys(MANAGED);

type OptionInfo = { type: string; readAs?: string[]; sensitive?: boolean };
/** The configuration reference of one Airflow series (lib/config/airflow-options.json): its options and renamed ones. */
type SeriesOptions = { airflowVersion: string; sections: Record<string, Record<string, OptionInfo>>; renamed: Record<string, string> };
const OPTIONS = (reference as { series: Record<string, SeriesOptions> }).series;

/** Properties of {@link AirflowConfig}. */
export interface AirflowConfigProps {
  /** Prefix of every object name; a DNS-1035 label of at most 34 characters (see AirflowNames.of). @default 'airflow' */
  readonly instanceName?: string;
  /**
   * The Airflow version the installation runs, `X.Y.Z` of a supported series ({@link SUPPORTED_AIRFLOW_SERIES}).
   * Declare it for a custom image (built `FROM apache/airflow:<version>`), whose tag the library cannot read; the
   * default image is then `apache/airflow:<airflowVersion>`. Undeclared, official images of AIRFLOW_VERSION's series
   * are accepted (see airflowImage).
   * @default AIRFLOW_VERSION
   * @throws AirflowValidationError for a version outside the supported series.
   */
  readonly airflowVersion?: string;
  /** Namespace Airflow runs in and launches task pods in (`[kubernetes_executor] namespace`). @default the Chart's namespace */
  readonly namespace?: string;
  /** Where DAG files are (`[core] dags_folder`); with git-sync use `GitSync.dagsFolder`. @default '/opt/airflow/dags' */
  readonly dagsFolder?: string;
  /**
   * Seconds between the dag-processor's looks at the DAG folder for new and deleted files
   * (`[dag_processor] refresh_interval`): with git-sync, its period (`GitSync.periodSeconds`), so a pushed DAG
   * shows within one sync instead of up to five minutes later. A whole number >= 1.
   * @default Airflow's 300, or `options.dag_processor.refresh_interval`
   */
  readonly dagsRefreshSeconds?: number;
  /** Secret references for the sensitive options. @default keys of the Secret `<instanceName>-secrets` */
  readonly secrets?: AirflowSecretsProps;
  /**
   * Extra options. Each must exist in Airflow's configuration reference; sensitive ones must be
   * `SecretKeyRef`s. Options the library sets itself (executor, execution_api_server_url,
   * pod_template_file, namespace, dags_folder, the four secrets) cannot be given here.
   * @default {}
   * @throws AirflowValidationError for an unknown, renamed, managed or literal sensitive option, or a value of the wrong type.
   */
  readonly options?: AirflowOptions;
  /**
   * A volume for `[logging] base_log_folder` that task pods, the triggerer and the api-server share, so
   * that finished tasks' logs stay readable. @default none: each pod logs to an emptyDir, and a task's
   * log is gone with its pod unless remote logging is configured in `options`
   */
  readonly taskLogVolume?: TaskLogVolume;
  /**
   * Task and trigger logs in object storage (S3, GCS or Azure Blob), typed; see {@link RemoteLogging}. Then
   * `[logging] remote_*` cannot also be given in `options`. @default none
   */
  readonly remoteLogging?: RemoteLogging;
  /**
   * Verified TLS to the database `secrets.sqlAlchemyConn` names (see DatabaseTls): every container that gets that URL
   * also gets `PGSSLMODE`, `PGSSLROOTCERT` and the CA. Not for a URL to PgBouncer (the Airflow construct sets it on the
   * migrations' direct connection and PgBouncer's server side instead). @default none: TLS as the URL says
   */
  readonly databaseTls?: DatabaseTls;
  /**
   * Who logs in, and how (see AuthManager): SimpleAuthManager or the FAB auth manager, with single sign-on through
   * an OpenID Connect provider. @default { simple: {} } (Airflow's default, for development)
   */
  readonly authManager?: AuthManager;
  /**
   * How JWTs (task tokens, UI and API tokens) are signed: `secret`, one shared `[api_auth] jwt_secret` in the scheduler
   * and the api-server; or `keyPair`, a private key in those two (`secrets.jwtSigningKey` and `jwtKeyId`) verified by
   * the api-server against public keys (`secrets.jwtPublicKeys`, a JWKS), which can hold the old and the new key at
   * once, so the key rotates without a token failing (docs/operations.md, "Rotating the JWT signing key").
   * @default 'secret'
   */
  readonly jwtSigning?: JwtSigning;
  /**
   * Where every Airflow process (the components and the task pods, which emit `ti.start`, `ti.finish`,
   * `ti_successes`, `ti_failures` and `task.duration` themselves) sends its metrics: `[metrics]` in airflow.cfg.
   * See {@link MetricsTarget}. @default none: Airflow's default, no metrics
   * @throws AirflowValidationError for StatsD and OpenTelemetry together, or a `[metrics]` option in `options` that this sets or that would change the metric names
   */
  readonly metrics?: MetricsTarget;
}

/**
 * StatsD (UDP) to a statsd_exporter: `[metrics] statsd_on`, `statsd_host`, `statsd_port`, `statsd_prefix`, and on
 * Airflow 3.2 and later `legacy_names_on = True`, the names with the dag_id, task_id, state and pool in them, which
 * StatsdExporter's mapping turns into labels (plain StatsD has no tags). Needs the `statsd` Python package, which
 * the official image has (its `statsd` extra).
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/metrics.html
 */
export interface StatsdTarget {
  /** The StatsD server's host name. @default the installation's exporter Service, `<instanceName>-statsd.<namespace>` */
  readonly host?: string;
  /** Its UDP port, 1 to 65535. @default 9125 (statsd_exporter's) */
  readonly port?: number;
  /** The first part of every metric name (`[metrics] statsd_prefix`): a letter or '_', then letters, digits, '_'. @default 'airflow' */
  readonly prefix?: string;
}

/**
 * OpenTelemetry metrics over OTLP/HTTP (protobuf, `http://<host>:<port>/v1/metrics`) to a collector you run
 * (`[metrics] otel_on`, `otel_host`, `otel_port`, `otel_ssl_active`, `otel_interval_milliseconds`, `otel_prefix`;
 * `otel_service` stays yours, in `options`). apache-airflow-core itself requires opentelemetry-api and
 * opentelemetry-exporter-otlp, so the official image (whose extras include `statsd` but not `otel`) sends OTLP as it
 * is; the `otel` extra adds only the Prometheus exporter, which this does not use.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/metrics.html#setup-opentelemetry
 */
export interface OtelTarget {
  /** The collector's host name, e.g. 'otel-collector.observability'. */
  readonly host: string;
  /** Its OTLP/HTTP port, 1 to 65535. @default 4318 (OTLP/HTTP's; Airflow's own default 8889 is no OTLP port) */
  readonly port?: number;
  /** HTTPS to the collector (`otel_ssl_active`). @default false */
  readonly ssl?: boolean;
  /** Milliseconds between exports (`otel_interval_milliseconds`), a whole number >= 1000. @default 60000 (Airflow's) */
  readonly intervalMilliseconds?: number;
  /** The metric name prefix (`otel_prefix`), as StatsdTarget.prefix. @default 'airflow' */
  readonly prefix?: string;
}

/**
 * Where Airflow's metrics go: `{ statsd: {...} }` or `{ otel: {...} }`, not both (Airflow would use StatsD and
 * ignore OpenTelemetry: `get_stats_factory` picks `statsd_on` first).
 */
export interface MetricsTarget {
  /** StatsD, e.g. to StatsdExporter. @default none */
  readonly statsd?: StatsdTarget;
  /** OpenTelemetry (OTLP/HTTP). @default none */
  readonly otel?: OtelTarget;
}

/** `[metrics] statsd_port` when MetricsTarget.statsd gives none: statsd_exporter's UDP port. */
export const STATSD_PORT = 9125;
/** The OTLP/HTTP port, `[metrics] otel_port` when MetricsTarget.otel gives none. */
export const OTLP_HTTP_PORT = 4318;
/** A StatsD or OTel metric prefix: one Prometheus name part (no '.', which would add a level to every name). */
const METRIC_PREFIX = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Checks a StatsD or OTel metric prefix (`[metrics] statsd_prefix`, `otel_prefix`): a letter or '_', then letters,
 * digits or '_', so that it is one part of a StatsD name and the start of a Prometheus metric name.
 * @throws AirflowValidationError otherwise
 */
export function checkMetricPrefix(scope: Construct, property: string, value: string): string {
  check(typeof value === 'string' && METRIC_PREFIX.test(value), scope, property, value,
    'a metric name prefix: a letter or "_", then letters, digits or "_" (a "." would add a level to every metric name)');
  return value;
}

/**
 * airflow.cfg for every Airflow process of one installation, as the ConfigMap `<instanceName>-config`
 * (key `airflow.cfg`, mounted at `/opt/airflow/airflow.cfg`), plus the environment variables that
 * carry the sensitive options from Secrets.
 *
 * Sets `[core] executor = KubernetesExecutor`, `[core] execution_api_server_url` to the api-server
 * Service (`http://<instanceName>-api-server.<namespace>:8080/execution/`), `[kubernetes_executor]
 * pod_template_file` and `namespace`, and `[core] dags_folder`.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/howto/set-config.html
 */
export class AirflowConfig extends Construct {
  public readonly names: AirflowNames;
  public readonly namespace: string;
  /** The Airflow version the installation runs (declared, or AIRFLOW_VERSION). */
  public readonly airflowVersion: string;
  /** The configuration reference options are checked against: that of the newest release of `airflowVersion`'s series. */
  private readonly reference: SeriesOptions;
  /**
   * Whether task pods start with a `workload` token that the api-server swaps for a short `execution` token
   * (Airflow 3.2 and later), rather than with the execution token itself (3.1). See TOKEN_LIFETIME_SECONDS.
   */
  private readonly twoTokenAuth: boolean;
  /** Whether `airflowVersion` was declared, which lets components run custom images. */
  public readonly airflowVersionDeclared: boolean;
  /** The image components run when given none: `apache/airflow:<airflowVersion>` when declared, else DEFAULT_AIRFLOW_IMAGE. */
  public readonly defaultImage: string;
  public readonly secrets: AirflowSecrets;
  public readonly dagsFolder: string;
  /** The shared task log volume, if any. */
  public readonly taskLogVolume?: TaskLogVolume;
  /** The Task Execution API URL task pods call. */
  public readonly executionApiServerUrl: string;
  /** The path of `[api] base_url` ('' when unset or at the root), under which the api-server serves everything. */
  public readonly apiBasePath: string;
  /** The ConfigMap's name. */
  public readonly configMapName: string;
  /** The rendered airflow.cfg. */
  public readonly airflowCfg: string;
  /**
   * The options airflow.cfg sets, `{ section: { option: literal } }`, as rendered; Airflow's defaults apply to the
   * others, and options from Secrets are not in it.
   */
  public readonly cfgOptions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** sha256 of airflow.cfg and of the Secret references, for the pods' rollout annotation. */
  public readonly checksum: string;
  private readonly secretOptions: Array<{ section: string; env: string; ref: SecretKeyRef }> = [];
  /** How JWTs are signed and verified. */
  public readonly jwtSigning: JwtSigning;
  /** The auth manager: its options, and for FAB webserver_config.py and what the api-server mounts. */
  public readonly authManager: RenderedAuthManager;
  /** Verified TLS of the `sql_alchemy_conn` connection, if asked for. */
  public readonly databaseTls?: Required<DatabaseTls>;
  /** Where metrics go, as rendered (host, port and prefix resolved), if anywhere. */
  public readonly metrics?: { readonly statsd?: Required<StatsdTarget>; readonly otel?: OtelTarget };
  /** `[metrics]` options the metrics prop sets, or that would change the names the exporter maps, with why. */
  private readonly metricsOptions: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: AirflowConfigProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    this.names = AirflowNames.of(this, props.instanceName);
    const chart = Chart.of(this);
    const namespace = props.namespace ?? chart.namespace;
    check(namespace !== undefined, this, 'namespace', namespace,
      `a namespace: neither this prop nor the Chart ("${chart.node.path}") sets one, and Airflow must know where it runs ` +
      `and launches task pods; give the Chart one: new Chart(app, '${chart.node.id}', { namespace: 'airflow' })`);
    this.namespace = checkNamespace(this, 'namespace', namespace!);
    this.airflowVersionDeclared = props.airflowVersion !== undefined;
    this.airflowVersion = props.airflowVersion ?? AIRFLOW_VERSION;
    this.defaultImage = this.airflowVersionDeclared ? `apache/airflow:${this.airflowVersion}` : DEFAULT_AIRFLOW_IMAGE;
    check(/^\d+\.\d+\.\d+$/.test(this.airflowVersion) && SUPPORTED_AIRFLOW_SERIES.includes(airflowSeries(this.airflowVersion)),
      this, 'airflowVersion', props.airflowVersion, `a release of a supported Airflow series (${supportedSeries()}), as X.Y.Z`);
    this.reference = OPTIONS[airflowSeries(this.airflowVersion)];
    this.twoTokenAuth = airflowSeries(this.airflowVersion) !== '3.1';
    this.secrets = new AirflowSecrets(this, this.names.name('secrets'), props.secrets);
    const installations = INSTALLATIONS.get(this.node.root) ?? new Map<string, AirflowConfig>();
    INSTALLATIONS.set(this.node.root, installations);
    const twin = installations.get(`${this.namespace}/${this.names.instanceName}`);
    check(twin === undefined, this, 'instanceName', this.names.instanceName,
      `a name no other installation in namespace ${this.namespace} uses (${twin?.node.path} has it, in this or another Chart of the App): ` +
      'object names would collide; give the copy its own namespace or instanceName');
    installations.set(`${this.namespace}/${this.names.instanceName}`, this);
    this.dagsFolder = props.dagsFolder ?? `${AIRFLOW_HOME}/dags`;
    check(typeof this.dagsFolder === 'string' && this.dagsFolder.startsWith('/') && this.dagsFolder.trim() === this.dagsFolder
      && !/[\x00-\x1f\x7f]/.test(this.dagsFolder), this, 'dagsFolder', this.dagsFolder, 'an absolute path without leading or trailing spaces or control characters');
    check(props.taskLogVolume === undefined || props.taskLogVolume instanceof TaskLogVolume, this, 'taskLogVolume', typeof props.taskLogVolume, 'a TaskLogVolume');
    this.taskLogVolume = props.taskLogVolume;
    if (props.databaseTls !== undefined) this.databaseTls = checkDatabaseTls(this, 'databaseTls', props.databaseTls);
    this.jwtSigning = props.jwtSigning ?? 'secret';
    check(['secret', 'keyPair'].includes(this.jwtSigning), this, 'jwtSigning', this.jwtSigning, '"secret" or "keyPair"');
    // SimpleAuthManager (Airflow's default) writes generated passwords to its file; the root filesystem is read-only
    this.authManager = renderAuthManager(this, 'authManager', props.authManager ?? { simple: {} }, `${AUTH_DIR}/simple_auth_manager_passwords.json.generated`);
    const baseUrl = props.options?.api?.base_url;
    this.apiBasePath = baseUrl === undefined ? '' : basePath(this, baseUrl);
    // With a base_url path the api-server serves the Task Execution API below it (apache/airflow#51450).
    this.executionApiServerUrl = `http://${this.names.name('api-server')}.${this.namespace}:${API_SERVER_PORT}${this.apiBasePath}/execution/`;

    const values: Record<string, Record<string, string>> = {
      core: {
        executor: 'KubernetesExecutor',
        execution_api_server_url: this.executionApiServerUrl,
        dags_folder: this.dagsFolder,
        load_examples: 'False',
        ...this.authManager.options.core,
      },
      ...this.authManager.options.fab ? { fab: this.authManager.options.fab } : {},
      kubernetes_executor: {
        pod_template_file: POD_TEMPLATE_FILE,
        namespace: this.namespace,
        delete_worker_pods: 'True',
        delete_worker_pods_on_failure: 'False',
      },
      logging: { colored_console_log: 'False' },
      ...(props.dagsRefreshSeconds !== undefined
        ? { dag_processor: { refresh_interval: String(checkWholeNumber(this, 'dagsRefreshSeconds', props.dagsRefreshSeconds, 1)) } }
        : {}),
      // A task still queued after [scheduler] task_queued_timeout (default 600 s) is failed or retried. A pod that
      // waits for a node, pulls the image and clones a large DAG repository can take longer, and its first token must
      // last as long (3.1: the execution token itself; 3.2+: a workload token of task_queued_timeout): see
      // TOKEN_LIFETIME_SECONDS.
      scheduler: { task_queued_timeout: `${TOKEN_LIFETIME_SECONDS}.0` },
      ...(this.twoTokenAuth ? {} : { execution_api: { jwt_expiration_time: String(TOKEN_LIFETIME_SECONDS) } }),
    };
    if (props.remoteLogging !== undefined) {
      const remote = renderRemoteLogging(this, 'remoteLogging', props.remoteLogging);
      for (const [section, options] of Object.entries(remote.options)) values[section] = { ...values[section], ...options };
      if (remote.connection) this.secretOptions.push({ section: 'logging', ...remote.connection });
      for (const option of Object.keys(props.options?.logging ?? {}).filter(o => o.startsWith('remote_'))) {
        check(option === 'remote_task_handler_kwargs', this, `options.logging.${option}`, props.options!.logging[option] instanceof SecretKeyRef ? '<secret>' : props.options!.logging[option],
          'unset with remoteLogging, which sets it');
      }
    }
    if (props.metrics !== undefined) {
      const rendered = this.renderMetrics(props.metrics);
      this.metrics = rendered.target;
      values.metrics = rendered.options;
    }
    for (const [section, options] of Object.entries(props.options ?? {})) {
      // a dotted key is a section only where a provider names one so ([common.io])
      const [first, ...rest] = section.split('.');
      check(rest.length === 0 || this.reference.sections[section] !== undefined, this, `options.${section}`, options,
        `options nested by section, as airflow.cfg groups them: { ${first}: { ${rest.join('.') || 'option'}: ... } } (a dotted key is not read)`);
      check(typeof options === 'object' && options !== null && !Array.isArray(options) && !(options instanceof SecretKeyRef), this, `options.${section}`, options,
        `an object of the section's options: { ${section}: { option: value } }`);
      const given = new Map<string, string>();
      for (const [name, value] of Object.entries(options ?? {})) {
        // configparser reads option names in any case as lower case (optionxform), and refuses one given twice
        const option = name.toLowerCase();
        check(!given.has(option), this, `options.${section}.${name}`, value, `each option once: [${section}] ${given.get(option)} is the same option`);
        given.set(option, name);
        const literal = this.checkOption(section, option, value);
        if (literal === undefined) continue;
        (values[section] ??= {})[option] = literal;
      }
    }
    // Airflow 3.2+: `airflow api-server` runs gunicorn only for server_type "gunicorn" and uvicorn for any other value,
    // and only gunicorn's arbiter recycles workers (cli/commands/api_server_command.py, api_fastapi/gunicorn_app.py)
    const serverType = values.api?.server_type;
    if (serverType !== undefined) {
      check(['uvicorn', 'gunicorn'].includes(serverType.toLowerCase()), this, 'options.api.server_type', serverType,
        '"uvicorn" or "gunicorn": airflow api-server runs uvicorn for any other value');
    }
    const refresh = values.api?.worker_refresh_interval;
    if (refresh !== undefined && pythonNumber(refresh) > 0) {
      check(serverType?.toLowerCase() === 'gunicorn', this, 'options.api.worker_refresh_interval', refresh,
        'it unset, or [api] server_type = "gunicorn": only gunicorn restarts api-server workers, uvicorn ignores it');
    }
    if (!this.twoTokenAuth) {
      const queued = pythonNumber(values.scheduler.task_queued_timeout);
      const tokenLifetime = pythonNumber(values.execution_api.jwt_expiration_time);
      check(tokenLifetime >= queued, this, 'options.execution_api.jwt_expiration_time', values.execution_api.jwt_expiration_time,
        `at least [scheduler] task_queued_timeout (${values.scheduler.task_queued_timeout} s) with Airflow 3.1, whose task pods start with ` +
        'that token: one that starts after its token expired fails with an authentication error instead of being requeued');
    }
    this.cfgOptions = values;
    this.airflowCfg = renderIni(values);
    this.configMapName = this.names.name('config');
    const secretRefs = this.secretEnv(['fernetKey', 'jwtSecret', 'jwtPublicKeys', 'apiSecretKey', 'sqlAlchemyConn']);
    const webserverConfig = this.authManager.webserverConfig;
    this.checksum = createHash('sha256').update(this.airflowCfg).update(webserverConfig ?? '')
      .update(JSON.stringify([secretRefs, this.authManager.env])).digest('hex');

    new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: this.configMapName, labels: this.names.labels('config') },
      data: { 'airflow.cfg': this.airflowCfg, ...webserverConfig ? { 'webserver_config.py': webserverConfig } : {} },
    });
  }

  /** `[metrics]` for `metrics`: StatsD or OTel, each checked; the options it sets become unavailable in `options`. */
  private renderMetrics(metrics: MetricsTarget): { target: NonNullable<AirflowConfig['metrics']>; options: Record<string, string> } {
    check(typeof metrics === 'object' && metrics !== null && !(metrics.statsd !== undefined && metrics.otel !== undefined), this, 'metrics', metrics,
      '{ statsd: {...} } or { otel: {...} }, not both: Airflow sends to StatsD and ignores OpenTelemetry when statsd_on is set');
    const port = (property: string, value: number | undefined, fallback: number) => {
      check(value === undefined || (Number.isInteger(value) && value >= 1 && value <= 65535), this, property, value, 'a port number, a whole number from 1 to 65535');
      return value ?? fallback;
    };
    const prefix = (property: string, value: string | undefined) => (value === undefined ? 'airflow' : checkMetricPrefix(this, property, value));
    const host = (property: string, value: string) => {
      check(typeof value === 'string' && (isIP(value) !== 0 || (value.length <= 253 && DNS_SUBDOMAIN.test(value))), this, property, value, 'a host name (DNS-1123 subdomain) or an IP address, without a port');
      return value;
    };
    const why = 'metrics sets it';
    if (metrics.statsd !== undefined) {
      const s = metrics.statsd;
      const statsd = {
        host: host('metrics.statsd.host', s.host ?? `${this.names.name('statsd')}.${this.namespace}`),
        port: port('metrics.statsd.port', s.port, STATSD_PORT),
        prefix: prefix('metrics.statsd.prefix', s.prefix),
      };
      const names = 'it would change the metric names the exporter\'s mapping reads';
      Object.assign(this.metricsOptions, {
        statsd_on: why, statsd_host: why, statsd_port: why, statsd_prefix: why, legacy_names_on: why,
        otel_on: 'Airflow sends StatsD and ignores OpenTelemetry when statsd_on is set',
        statsd_datadog_enabled: names, statsd_influxdb_enabled: names, stat_name_handler: names, statsd_custom_client_path: names,
      });
      const legacy = this.reference.sections.metrics?.legacy_names_on !== undefined;
      return {
        target: { statsd },
        options: { statsd_on: 'True', statsd_host: statsd.host, statsd_port: String(statsd.port), statsd_prefix: statsd.prefix, ...legacy ? { legacy_names_on: 'True' } : {} },
      };
    }
    const o = metrics.otel;
    check(o !== undefined && typeof o === 'object' && o !== null, this, 'metrics', metrics, '{ statsd: {...} } or { otel: { host } }');
    const interval = o!.intervalMilliseconds;
    check(interval === undefined || (Number.isInteger(interval) && interval >= 1000), this, 'metrics.otel.intervalMilliseconds', interval, 'a whole number of milliseconds >= 1000');
    check(o!.ssl === undefined || typeof o!.ssl === 'boolean', this, 'metrics.otel.ssl', o!.ssl, 'true or false');
    const otel = {
      host: host('metrics.otel.host', o!.host), port: port('metrics.otel.port', o!.port, OTLP_HTTP_PORT), ssl: o!.ssl ?? false,
      intervalMilliseconds: interval ?? 60000, prefix: prefix('metrics.otel.prefix', o!.prefix),
    };
    Object.assign(this.metricsOptions, {
      otel_on: why, otel_host: why, otel_port: why, otel_ssl_active: why, otel_interval_milliseconds: why, otel_prefix: why,
      statsd_on: 'Airflow would send to StatsD and ignore OpenTelemetry', statsd_datadog_enabled: 'Airflow would send to DogStatsD and ignore OpenTelemetry',
    });
    return {
      target: { otel },
      options: {
        otel_on: 'True', otel_host: otel.host, otel_port: String(otel.port), otel_ssl_active: otel.ssl ? 'True' : 'False',
        otel_interval_milliseconds: String(otel.intervalMilliseconds), otel_prefix: otel.prefix,
      },
    };
  }

  /**
   * Checks the Airflow image a component of this installation runs and returns it: an official
   * `apache/airflow:<version>` image of the installation's series, or, when `airflowVersion` is declared, any image
   * pinned by tag or digest (a custom image built from that version).
   * @param image @default `apache/airflow:<airflowVersion>` when declared, else DEFAULT_AIRFLOW_IMAGE
   * @throws AirflowValidationError for an unpinned image, an Airflow version outside the supported series (Airflow 2),
   * an official image of another series than the declared `airflowVersion`, or a custom image without one.
   */
  public airflowImage(scope: Construct, property: string, image: string | undefined): string {
    if (image === undefined) return this.defaultImage;
    checkImage(scope, property, image);
    const tagged = officialImageVersion(image);
    if (tagged === undefined) {
      check(this.airflowVersionDeclared, scope, property, image,
        `an official apache/airflow:<version> image, or a custom image whose Airflow version is declared with airflowVersion ` +
        `(e.g. '${AIRFLOW_VERSION}' for an image built FROM apache/airflow:${AIRFLOW_VERSION}): options and commands are checked for that version`);
      return image;
    }
    check(SUPPORTED_AIRFLOW_SERIES.includes(airflowSeries(tagged)), scope, property, image,
      `an image of a supported Airflow series (${supportedSeries()}): Airflow ${tagged} is not one`);
    check(this.airflowVersionDeclared ? tagged === this.airflowVersion : airflowSeries(tagged) === airflowSeries(this.airflowVersion), scope, property, image,
      this.airflowVersionDeclared ? `the official image of the declared airflowVersion, apache/airflow:${this.airflowVersion} (its tag says ${tagged})`
        : `an image of the installation's Airflow ${airflowSeries(this.airflowVersion)} series`);
    return image;
  }

  /**
   * Environment variables (`AIRFLOW__SECTION__OPTION`) that read the given secret options, plus the
   * options given as a SecretKeyRef in `options` (see {@link OptionSecrets}), from their Secrets.
   */
  public secretEnv(uses: AirflowSecretUse[], optionSecrets: OptionSecrets = 'all'): k8s.EnvVar[] {
    const keyPair = this.jwtSigning === 'keyPair';
    const env = uses.flatMap((use): k8s.EnvVar[] => {
      if (use === 'jwtPublicKeys') return keyPair ? [{ name: envVarName('api_auth', 'trusted_jwks_url'), value: JWT_PUBLIC_KEYS_FILE }] : [];
      if (use === 'jwtSecret' && keyPair) {
        return [{ name: envVarName('api_auth', 'jwt_private_key_path'), value: JWT_SIGNING_KEY_FILE }, this.secrets.jwtKeyId.toEnv(envVarName('api_auth', 'jwt_kid'))];
      }
      return [this.secrets[use].toEnv(envVarName(...SECRET_OPTIONS[use]))];
    });
    for (const o of this.secretOptions) if (optionSecrets === 'all' || o.section !== 'database') env.push(o.ref.toEnv(o.env));
    return env;
  }

  /**
   * The Secret volumes and mounts that `uses` need: with `jwtSigning: 'keyPair'`, the signing key and the public keys'
   * files. The signing key is mounted by `subPath`, which the kubelet never updates: Airflow re-reads the key file for
   * every token while `[api_auth] jwt_kid` comes from an environment variable fixed at start, so a key updated in place
   * would sign under the old key's id (tokens no api-server accepts) until the pod restarts.
   * @see https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod (subPath: no updates)
   */
  public secretFiles(uses: AirflowSecretUse[]): { volumes: k8s.Volume[]; mounts: k8s.VolumeMount[] } {
    if (this.jwtSigning !== 'keyPair') return { volumes: [], mounts: [] };
    const files = [
      ...uses.includes('jwtSecret') ? [{ name: 'jwt-signing-key', ref: this.secrets.jwtSigningKey, file: JWT_SIGNING_KEY_FILE, mode: 0o440, fixed: true }] : [],
      ...uses.includes('jwtPublicKeys') ? [{ name: 'jwt-public-keys', ref: this.secrets.jwtPublicKeys, file: JWT_PUBLIC_KEYS_FILE, mode: 0o444, fixed: false }] : [],
    ];
    const base = (file: string) => file.split('/').pop()!;
    return {
      volumes: files.map(f => ({ name: f.name, secret: { secretName: f.ref.secretName, items: [{ key: f.ref.key, path: base(f.file), mode: f.mode }] } })),
      mounts: files.map(f => f.fixed ? { name: f.name, mountPath: f.file, subPath: base(f.file), readOnly: true }
        : { name: f.name, mountPath: f.file.slice(0, -base(f.file).length - 1), readOnly: true }),
    };
  }

  /**
   * Checks an environment variable a component or task pod is given: one named `AIRFLOW__{SECTION}__{KEY}` is an
   * Airflow option (it overrides airflow.cfg), so it follows the rules of `options` (known, not managed or fixed by the
   * manifests, not renamed, a literal of the right type and no literal for a sensitive one). `_CMD` and `_SECRET`
   * variants of a sensitive option name a command or a secrets backend key, not the value, and are allowed.
   * @see https://airflow.apache.org/docs/apache-airflow/stable/howto/set-config.html
   * @throws AirflowValidationError at `property` (e.g. `env.AIRFLOW__API__PORT`)
   */
  public checkEnvOption(scope: Construct, property: string, env: k8s.EnvVar): void {
    const m = /^AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)$/.exec(env.name);
    if (!m) return;
    const named = m[1].toLowerCase();
    const section = Object.keys(this.reference.sections).find(s => s.replace(/\./g, '_') === named) ?? named;
    const name = m[2].toLowerCase();
    const variant = /^(.+)_(cmd|secret)$/.exec(name);
    const option = variant && this.reference.sections[section]?.[variant[1]]?.sensitive ? variant[1] : name;
    const reference = env.value === undefined || option !== name;
    check(`${section}.${option}` !== READ_BY_LIBRARY, scope, property, env.value ?? '<from valueFrom>',
      `it unset: give [core] parallelism in options, from airflow.cfg, where NamespaceQuota reads it (an env var overrides it in one pod only)`);
    this.checkOption(section, option, reference ? '<from valueFrom>' : env.value!, scope, property, !reference);
  }

  /**
   * Checks one user option; returns its airflow.cfg literal, or undefined when it goes in as a Secret env var.
   * @param scope, property where an error points (default: this config, `options.<section>.<option>`)
   * @param literalOnly false for an option given by reference (an env var's `valueFrom`): only its name is checked
   */
  private checkOption(section: string, option: string, value: AirflowOptionValue, scope: Construct = this,
    property = `options.${section}.${option}`, literalOnly = true): string | undefined {
    const key = `${section}.${option}`;
    const { sections, renamed } = this.reference;
    let replacement = renamed[key];
    while (replacement !== undefined && renamed[replacement] !== undefined) replacement = renamed[replacement];
    const newSection = replacement === undefined ? section : replacement.slice(0, replacement.lastIndexOf('.'));
    const newOption = replacement === undefined ? option : replacement.slice(replacement.lastIndexOf('.') + 1);
    // A secret given as a literal must not reach a log through our own error message either.
    const sensitive = Object.values(OPTIONS).some(r => r.sections[newSection]?.[newOption]?.sensitive === true);
    const shown = sensitive && literalOnly && !(value instanceof SecretKeyRef) ? '<redacted literal>' : value;
    if (MANAGED[key] !== undefined) {
      check(false, scope, property, shown, `it unset: this library sets ${key} itself (use ${MANAGED[key]})`);
    }
    if (FIXED_BY_MANIFESTS[key] !== undefined) check(false, scope, property, shown, `it unset: ${FIXED_BY_MANIFESTS[key]}`);
    if (section === 'metrics' && this.metricsOptions[option] !== undefined) {
      check(false, scope, property, shown, `it unset with the metrics prop: ${this.metricsOptions[option]}`);
    }
    check(replacement === undefined, scope, property, shown,
      `the option under its current name: [${section}] ${option} was renamed to [${newSection}] ${newOption}`);
    const info = sections[section]?.[option];
    check(info !== undefined, scope, property, shown, () => this.unknownOption(section, option));
    if (!literalOnly) return undefined;
    if (value instanceof SecretKeyRef) {
      check(key !== READ_BY_LIBRARY, scope, property, shown, 'a literal: NamespaceQuota reads [core] parallelism from airflow.cfg');
      value.validate(scope, property);
      this.secretOptions.push({ section, env: envVarName(section, option), ref: value });
      return undefined;
    }
    check(!sensitive, scope, property, shown,
      `a Secret reference: [${section}] ${option} is sensitive, pass SecretKeyRef.of('<secret-name>', '<key>') so no value reaches dist/`);
    const literal = typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
    check(typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean', scope, property, value,
      'a string, number, boolean or SecretKeyRef');
    check(!/[\r\n]/.test(literal) && literal.trim() === literal, scope, property, value,
      'a single-line value without leading or trailing spaces');
    checkNoUrlPassword(scope, property, literal);
    const writable = WRITTEN_PATHS[key];
    if (writable !== undefined) {
      const under = writable.some(dir => literal === dir || literal.startsWith(`${dir}/`));
      check(under && !/\/\.\.?(\/|$)/.test(literal), scope, property, value,
        `a path under ${writable.join(' or ')}: Airflow writes there, and every other place in its containers is read-only`);
    }
    // what Airflow's code reads it with decides (config.yml types some options "string" that it reads as booleans or
    // integers); each reader must accept the literal
    const kinds = info.readAs ?? [info.type];
    check(kinds.every(k => OPTION_TYPES[k] === undefined || OPTION_TYPES[k].test(literal)), scope, property, value,
      `a value of type ${[...new Set(kinds)].join(' and ')}${info.readAs ? ' (as Airflow reads it)' : ''}`);
    if (key === READ_BY_LIBRARY) {
      // NamespaceQuota counts task pods by it; Airflow's executors refuse 0 or lower (BaseExecutor.__init__)
      check(pythonNumber(literal) >= 1, scope, property, value, 'a whole number >= 1, the task pods each scheduler runs at once');
    }
    return literal;
  }

  /** What an unknown option's message expects: the closest names, and the series that do have the option. */
  private unknownOption(section: string, option: string): string {
    const series = airflowSeries(this.airflowVersion);
    const elsewhere = Object.entries(OPTIONS).filter(([, r]) => r.sections[section]?.[option] !== undefined).map(([s]) => s);
    const where = elsewhere.length > 0 ? `[${section}] ${option} is an option of Airflow ${elsewhere.join(', ')}, not of ${series}; ` : '';
    return `an option of Airflow ${series}'s configuration reference (${this.reference.airflowVersion}, the airflowVersion series); ` +
      `${where}closest known: ${closest(`${section}.${option}`, this.reference.sections).join(', ')}`;
  }
}

/**
 * Checks that `config` is an AirflowConfig of the namespace `scope`'s Chart places objects in: a pod mounts only
 * ConfigMaps and Secrets of its own namespace, and task pods go to the config's.
 * @throws AirflowValidationError otherwise
 */
export function checkConfig(scope: Construct, config: unknown): AirflowConfig {
  check(config instanceof AirflowConfig, scope, 'config', typeof config, 'an AirflowConfig');
  const namespace = Chart.of(scope).namespace;
  const own = (config as AirflowConfig).namespace;
  check(namespace === undefined || namespace === own, scope, 'config', `the AirflowConfig of namespace ${own}`,
    `an AirflowConfig of this Chart's namespace (${namespace}): pods mount only ConfigMaps and Secrets of their own namespace`);
  return config as AirflowConfig;
}

/** A number as CPython's int() or float() reads an option that OPTION_TYPES accepted: '1_200', 'inf', '1e3'. */
export function pythonNumber(literal: string): number {
  const text = literal.replace(/_/g, '').toLowerCase();
  if (/^[+-]?inf(inity)?$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

function supportedSeries(): string {
  return SUPPORTED_AIRFLOW_SERIES.map(s => `${s}.x`).join(', ');
}

const DIGITS = '\\d(?:_?\\d)*';
/** The literals Airflow's conf.getboolean, getint (Python's int()) and getfloat (float()) accept, by option type. */
export const OPTION_TYPES: Record<string, RegExp> = {
  boolean: /^(t|true|1|f|false|0)$/i,
  integer: new RegExp(`^[+-]?${DIGITS}$`),
  float: new RegExp(`^[+-]?(?:(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.?)(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)$`, 'i'),
};

/** The path of a `[api] base_url` without its trailing '/'; '' for the root. */
function basePath(scope: Construct, baseUrl: AirflowOptionValue): string {
  let url: URL | undefined;
  try {
    url = new URL(String(baseUrl));
  } catch {
    url = undefined;
  }
  check(url !== undefined && /^https?:$/.test(url.protocol) && !url.search && !url.hash, scope, 'options.api.base_url', baseUrl,
    'an absolute http(s) URL such as "https://airflow.example.com" or "https://example.com/airflow"');
  return url!.pathname.replace(/\/+$/, '');
}

/** `AIRFLOW__{SECTION}__{OPTION}`, Airflow's environment variable for an option (a '.' in the section becomes '_': `_env_var_name`). */
export function envVarName(section: string, option: string): string {
  return `AIRFLOW__${section.replace(/\./g, '_').toUpperCase()}__${option.toUpperCase()}`;
}

/** The closest known `section.option` names, best first: same option name in another section, then by edit distance. */
function closest(key: string, sections: SeriesOptions['sections']): string[] {
  const option = key.slice(key.lastIndexOf('.') + 1);
  const score = (candidate: string) =>
    candidate.endsWith(`.${option}`) ? -1 : Math.min(distance(key, candidate), distance(option, candidate.slice(candidate.lastIndexOf('.') + 1)));
  const all = Object.entries(sections).flatMap(([s, opts]) => Object.keys(opts).map(o => `${s}.${o}`));
  return all.sort((a, b) => score(a) - score(b) || a.localeCompare(b)).slice(0, 3)
    .map(c => `[${c.slice(0, c.lastIndexOf('.'))}] ${c.slice(c.lastIndexOf('.') + 1)}`);
}

/**
 * Renders `{ section: { option: value } }` for Python's configparser, which Airflow reads with
 * interpolation: `%` is written `%%`, and values are not quoted (configparser keeps quotes as part
 * of the value, which is why a generic INI writer does not fit). Sections and options are sorted so
 * that the output is deterministic.
 */
function renderIni(values: Record<string, Record<string, string>>): string {
  return Object.keys(values).sort().map(section =>
    `[${section}]\n` + Object.keys(values[section]).sort()
      .map(option => `${option} = ${values[section][option].replace(/%/g, '%%')}\n`).join(''),
  ).join('\n');
}
