import { createHash } from 'crypto';
import { isIP } from 'net';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkDisruptionBudget, DisruptionBudget, podDisruptionBudget } from '../core/disruption-budget';
import { CaCertificateRef, caCertificateVolume, checkCaCertificateRef } from './database-tls';
import { checkKnownProps } from '../core/known-props';
import { AirflowComponentName, AirflowNames } from '../core/names';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { SecretKeyRef } from '../config/secrets';
import { NodeSpreading, podTemplateSpec, PodOptions, SAFE_TO_EVICT, spreadOverNodes } from '../core/pod-options';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../core/security';
import { check, checkDnsLabel, checkImage, checkWholeNumber, claimOncePerCluster } from '../core/validation';

/**
 * The PgBouncer image the official Airflow Helm chart deploys (`images.pgbouncer` in apache/airflow
 * `chart/values.yaml`), built and pushed by the Airflow maintainers from
 * `chart/dockerfiles/pgbouncer/Dockerfile`: PgBouncer 1.23.1 on Alpine, the binary at
 * `/usr/bin/pgbouncer` (on PATH), `USER nobody` (uid/gid 65534), started without a shell. Chosen over
 * edoburu/pgbouncer (a community image whose entrypoint script generates the configuration from
 * environment variables) and ghcr.io/cloudnative-pg/pgbouncer (made for the CloudNativePG operator's
 * Pooler): it is the one Airflow's own chart ships and rebuilds, and it runs a plain ini file.
 * PgBouncer 1.23.1 because the chart pins it (1.24 changed the statistics its metrics exporter
 * reads: apache/airflow#47416).
 * @see https://github.com/apache/airflow/tree/main/chart/dockerfiles/pgbouncer
 */
export const DEFAULT_PGBOUNCER_IMAGE = 'apache/airflow:airflow-pgbouncer-2025.03.05-1.23.1';

/** The port PgBouncer listens on (its default `listen_port`) and the Service's port. */
export const PGBOUNCER_PORT = 6432;

/** Protocol-level prepared statements PgBouncer keeps per server connection (`max_prepared_statements`, PgBouncer 1.21+). */
export const MAX_PREPARED_STATEMENTS = 100;

/**
 * The components whose metadata-database connection goes through PgBouncer and that its
 * NetworkPolicy lets in. The migration Job (`db-migrate`) is not one: `airflow db migrate` holds a
 * session-level advisory lock, which transaction pooling cannot keep, so it connects directly.
 */
export const PGBOUNCER_CLIENTS: readonly AirflowComponentName[] = ['scheduler', 'api-server', 'dag-processor', 'triggerer'];

/**
 * `server_tls_sslmode`: TLS from PgBouncer to PostgreSQL.
 * @see https://www.pgbouncer.org/config.html#server_tls_sslmode
 */
export const SERVER_TLS_SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type ServerTlsSslmode = typeof SERVER_TLS_SSLMODES[number];

/** Alpine's `nobody`, the image's USER. */
const PGBOUNCER_UID = 65534;
const CONFIG_DIR = '/etc/pgbouncer';
const CONFIG_FILE = `${CONFIG_DIR}/pgbouncer.ini`;
const USERLIST_DIR = '/etc/pgbouncer-userlist';
const USERLIST_FILE = `${USERLIST_DIR}/userlist.txt`;
const SERVER_CA_DIR = '/etc/pgbouncer-server-ca';
const SERVER_CA_FILE = `${SERVER_CA_DIR}/ca.crt`;

/** PostgreSQL identifiers as this library writes them unquoted: lower-case letters, digits and '_'. */
const PG_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
/** A DNS name (any case, as cloud database endpoints come), at most 253 characters. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

/** The PostgreSQL server PgBouncer pools connections to. */
export interface PgBouncerDatabase {
  /**
   * Host of the PostgreSQL server: a DNS name (`airflow-postgresql.airflow-dev`,
   * `mydb.abc123.eu-west-1.rds.amazonaws.com`) or an IP address. One host: PgBouncer would
   * round-robin over a list without skipping a host that is down.
   */
  readonly host: string;
  /** Port of the PostgreSQL server. @default 5432 */
  readonly port?: number;
  /**
   * The database, on the server and as clients name it through PgBouncer (the path of the URL,
   * `.../airflow`). Not `pgbouncer`: PgBouncer reserves that name for its admin console. @default 'airflow'
   */
  readonly name?: string;
  /**
   * The role PgBouncer logs in to the server as, for every client (a "forced user": one pool). It must
   * be the user in the userlist, and clients log in to PgBouncer with the same name and password. @default 'airflow'
   */
  readonly user?: string;
  /**
   * TLS to the server (`server_tls_sslmode`). `prefer` (the official chart's default) tries TLS and
   * falls back to plain TCP, without checking the certificate; use `require`, or `verify-full` with
   * `serverCa`, for a database outside the cluster. @default 'prefer'
   * @see https://www.pgbouncer.org/config.html#server_tls_sslmode
   */
  readonly serverTlsSslmode?: ServerTlsSslmode;
  /**
   * PEM certificate(s) of the CA that signed the server's certificate (`server_tls_ca_file`), for
   * `verify-ca` and `verify-full`: key `ca.crt` of a cert-manager Secret (`SecretKeyRef.of(name, 'ca.crt')`) or your
   * provider's bundle in a ConfigMap (`{ configMapName, key? }`).
   * @default none: PgBouncer's TLS library uses its default CA file in the image
   */
  readonly serverCa?: CaCertificateRef;
}

/** Properties of {@link PgBouncer}. */
export interface PgBouncerProps {
  /** Prefix of the object names (`<instanceName>-pgbouncer`) and the installation the pods belong to. @default 'airflow' */
  readonly instanceName?: string;
  /** The PgBouncer image, pinned; it must start with `pgbouncer <ini file>` as uid 65534. @default DEFAULT_PGBOUNCER_IMAGE */
  readonly image?: string;
  /** The PostgreSQL server behind PgBouncer. */
  readonly database: PgBouncerDatabase;
  /**
   * PgBouncer's `auth_file`: one line `"<user>" "<password>"` for `database.user`, the password in
   * plain text, because PgBouncer both checks the clients' SCRAM logins against it and logs in to the
   * server with it (a SCRAM secret cannot log in to the server). Mounted read-only, mode 0440, never
   * in the YAML. PgBouncer reads it at start: after rotating it,
   * `kubectl rollout restart deployment/<instanceName>-pgbouncer`.
   * @default key `userlist.txt` of the Secret `<instanceName>-pgbouncer`
   * @see https://www.pgbouncer.org/config.html#authentication-file-format
   */
  readonly userlist?: SecretKeyRef;
  /** Client connections each PgBouncer pod accepts (`max_client_conn`); a whole number >= 1. @default 100 */
  readonly maxClientConn?: number;
  /**
   * Server connections each PgBouncer pod opens to the database at most (`pool_size` of the database
   * entry); between 1 and `maxClientConn`. The server sees up to `replicas` times this many. @default 10
   */
  readonly metadataPoolSize?: number;
  /** Number of PgBouncer pods; a whole number >= 1 (use 2 or more where the database must stay reachable). @default 1 */
  readonly replicas?: number;
  /**
   * A PodDisruptionBudget for the pods. @default `{ maxUnavailable: 1 }` when replicas > 1, else none
   * (a budget on one pod blocks node drains)
   */
  readonly disruptionBudget?: DisruptionBudget;
  /**
   * Spread the pods over nodes (`topologySpreadConstraints` on `kubernetes.io/hostname`, maxSkew 1, counting
   * the pods of one rollout on the nodes they tolerate; see spreadOverNodes): 'DoNotSchedule' keeps a second pod
   * off a node that already runs one; 'ScheduleAnyway' prefers it. @default 'ScheduleAnyway'
   */
  readonly spreadAcrossNodes?: NodeSpreading;
  /** @default requests 50m CPU / 64Mi, limit 128Mi (PgBouncer needs a few kB per connection) */
  readonly resources?: ContainerResourcesProps;
  /**
   * Components (the `app.kubernetes.io/component` label of this installation's pods) the NetworkPolicy
   * lets reach port 6432. @default PGBOUNCER_CLIENTS (scheduler, api-server, dag-processor, triggerer)
   */
  readonly clients?: readonly AirflowComponentName[];
  /** Whether to create the NetworkPolicy `<instanceName>-pgbouncer`. @default true */
  readonly networkPolicy?: boolean;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/**
 * PgBouncer in front of Airflow's metadata database: the ConfigMap (`pgbouncer.ini`), Deployment,
 * ClusterIP Service and NetworkPolicy `<instanceName>-pgbouncer`, port 6432, plus a
 * PodDisruptionBudget with more than one replica. Airflow components connect to
 * `postgresql+psycopg2://<user>:<password>@<instanceName>-pgbouncer.<namespace>:6432/<database>`
 * ({@link PgBouncer.host}); the migration Job keeps connecting to the server directly.
 *
 * `pgbouncer.ini` is rendered from the props and holds no secret: transaction pooling (as the
 * official chart), SCRAM-SHA-256 client logins checked against the userlist Secret, one pool of
 * `metadataPoolSize` server connections for the one database and user, `extra_float_digits` ignored
 * in startup packets, logs on stderr, no pid file and no Unix socket (the root filesystem is
 * read-only). Its sha256 is the pod annotation `checksum/pgbouncer-config`: a change rolls the pods.
 *
 * Pods run as uid/gid 65534 under Pod Security "restricted", without a ServiceAccount token; TCP
 * readiness and liveness probes on 6432 (as the official chart: a database outage does not restart
 * PgBouncer); rolling updates start the new pod before stopping an old one. On SIGTERM PgBouncer
 * (1.23 and later) waits for its clients to disconnect, for at most the 60 s grace period.
 * @see https://www.pgbouncer.org/config.html
 * @see https://airflow.apache.org/docs/apache-airflow/stable/howto/set-up-database.html#setting-up-a-postgresql-database
 */
export class PgBouncer extends Construct {
  /** The name of every object, `<instanceName>-pgbouncer`. */
  public readonly name: string;
  /** The Service's name; the host clients connect to is `<serviceName>.<namespace>`. */
  public readonly serviceName: string;
  /** The Service's and PgBouncer's port. */
  public readonly port = PGBOUNCER_PORT;
  /** The database clients name in their URL. */
  public readonly databaseName: string;
  /** The user clients (and PgBouncer, towards the server) log in as. */
  public readonly user: string;
  /** The rendered `pgbouncer.ini`. */
  public readonly ini: string;
  /** sha256 of `pgbouncer.ini` (hex), the pods' `checksum/pgbouncer-config` annotation. */
  public readonly checksum: string;
  public readonly replicas: number;
  public readonly image: string;
  public readonly configMap: k8s.KubeConfigMap;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  public readonly networkPolicy?: k8s.KubeNetworkPolicy;
  public readonly podDisruptionBudget?: k8s.KubePodDisruptionBudget;

  /**
   * @throws AirflowValidationError for a bad instance name, image, database (host, port, name, user,
   * TLS mode, CA), userlist, pool sizes, replicas, disruption budget, spreading, resources or clients.
   */
  constructor(scope: Construct, id: string, props: PgBouncerProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    this.name = this.serviceName = names.name('pgbouncer');
    const image = this.image = checkImage(this, 'image', props.image ?? DEFAULT_PGBOUNCER_IMAGE);

    const db = props.database;
    check(db !== null && typeof db === 'object', this, 'database', db, 'an object { host, port?, name?, user?, serverTlsSslmode?, serverCa? }');
    check(typeof db.host === 'string' && (DNS_NAME.test(db.host) || isIP(db.host) !== 0), this, 'database.host', db.host,
      'a DNS name (letters, digits, \'-\' and \'.\', at most 253 characters) or an IP address of the PostgreSQL server');
    const port = db.port ?? 5432;
    check(Number.isInteger(port) && port >= 1 && port <= 65535, this, 'database.port', port, 'a port number from 1 to 65535');
    const database = this.databaseName = db.name ?? 'airflow';
    check(typeof database === 'string' && PG_IDENTIFIER.test(database) && database !== 'pgbouncer', this, 'database.name', database,
      'a PostgreSQL identifier (lower-case letters, digits and \'_\', not starting with a digit, at most 63 characters), not "pgbouncer" (PgBouncer\'s admin console)');
    const user = this.user = db.user ?? 'airflow';
    check(typeof user === 'string' && PG_IDENTIFIER.test(user), this, 'database.user', user,
      'a PostgreSQL identifier: lower-case letters, digits and \'_\', not starting with a digit, at most 63 characters');
    const sslmode = db.serverTlsSslmode ?? 'prefer';
    check((SERVER_TLS_SSLMODES as readonly string[]).includes(sslmode), this, 'database.serverTlsSslmode', sslmode,
      () => `one of ${SERVER_TLS_SSLMODES.map(m => `"${m}"`).join(', ')}`);
    const serverCa = db.serverCa === undefined ? undefined : checkCaCertificateRef(this, 'database.serverCa', db.serverCa);
    check(serverCa === undefined || sslmode !== 'disable', this, 'database.serverCa', 'given with serverTlsSslmode "disable"',
      'no CA when TLS to the server is disabled');
    const userlist = SecretKeyRef.check(this, 'userlist', props.userlist ?? SecretKeyRef.of(this.name, 'userlist.txt'));

    const maxClientConn = checkWholeNumber(this, 'maxClientConn', props.maxClientConn ?? 100, 1);
    const poolSize = props.metadataPoolSize ?? 10;
    check(Number.isInteger(poolSize) && poolSize >= 1 && poolSize <= maxClientConn, this, 'metadataPoolSize', poolSize,
      `a whole number from 1 to maxClientConn (${maxClientConn})`);
    const replicas = this.replicas = checkWholeNumber(this, 'replicas', props.replicas ?? 1, 1);
    const budget = checkDisruptionBudget(this, props.disruptionBudget ?? (replicas > 1 ? { maxUnavailable: 1 } : undefined), replicas);
    const resources = renderResources(this, 'resources', props.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    const clients = props.clients ?? PGBOUNCER_CLIENTS;
    check(Array.isArray(clients) && clients.length > 0, this, 'clients', clients, 'a non-empty list of component names, e.g. ["scheduler", "api-server"]');
    clients.forEach((c, i) => checkDnsLabel(this, `clients[${i}]`, c));

    claimOncePerCluster(this, 'database', 'metadata database', `${db.host}:${port}/${database}`,
      'two Airflows on one metadata database run each other\'s DAG runs and migrations: give each installation its own database');
    this.ini = renderIni([
      ['databases', [[database, [
        `host=${db.host}`, `port=${port}`, `dbname=${database}`, `user=${user}`, `pool_size=${poolSize}`,
      ].join(' ')]]],
      ['pgbouncer', [
        ['listen_addr', '*'],
        ['listen_port', String(PGBOUNCER_PORT)],
        ['unix_socket_dir', ''], // no Unix socket: its default folder /tmp is read-only here
        ['auth_type', 'scram-sha-256'],
        ['auth_file', USERLIST_FILE],
        ['pool_mode', 'transaction'],
        // Airflow's async engine (asyncpg, e.g. the api-server's GET .../dagRuns/{id}/wait) uses named prepared
        // statements, which transaction pooling breaks unless PgBouncer (1.21+) tracks them; 0 (off) is the
        // default before 1.24
        ['max_prepared_statements', String(MAX_PREPARED_STATEMENTS)],
        ['max_client_conn', String(maxClientConn)],
        ['ignore_startup_parameters', 'extra_float_digits'],
        ['server_tls_sslmode', sslmode],
        ...(serverCa ? [['server_tls_ca_file', SERVER_CA_FILE] as [string, string]] : []),
        // every connection of every Airflow process would be logged twice; errors still are
        ['log_connections', '0'],
        ['log_disconnections', '0'],
        // logfile and pidfile stay unset: logs go to stderr, nothing is written to disk
      ]],
    ]);
    this.checksum = createHash('sha256').update(this.ini).digest('hex');

    const labels = names.labels('pgbouncer', image);
    const selector = names.selector('pgbouncer');
    const spread = spreadOverNodes(this, 'spreadAcrossNodes', props.spreadAcrossNodes ?? 'ScheduleAnyway', selector);
    this.configMap = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name: this.name, labels },
      data: { 'pgbouncer.ini': this.ini },
    });

    const tcp: k8s.TcpSocketAction = { port: k8s.IntOrString.fromNumber(PGBOUNCER_PORT) };
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, labels },
      spec: {
        replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: podTemplateSpec(this, props.pod, 'pgbouncer', {
          metadata: { labels, annotations: { [SAFE_TO_EVICT]: 'true', 'checksum/pgbouncer-config': this.checksum } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: restrictedPodSecurity(PGBOUNCER_UID, PGBOUNCER_UID, PGBOUNCER_UID),
            terminationGracePeriodSeconds: 60,
            containers: [{
              name: 'pgbouncer',
              image,
              imagePullPolicy: 'IfNotPresent',
              // as the official chart: no shell, no `-u` (already uid 65534), the file from the ConfigMap
              command: ['pgbouncer', CONFIG_FILE],
              ports: [{ name: 'pgbouncer', containerPort: PGBOUNCER_PORT, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: tcp, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
              livenessProbe: { tcpSocket: tcp, initialDelaySeconds: 5, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
              resources,
              securityContext: restrictedContainerSecurity(PGBOUNCER_UID, PGBOUNCER_UID),
              volumeMounts: [
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                { name: 'userlist', mountPath: USERLIST_DIR, readOnly: true },
                ...(serverCa ? [{ name: 'server-ca', mountPath: SERVER_CA_DIR, readOnly: true }] : []),
              ],
            }],
            volumes: [
              { name: 'config', configMap: { name: this.configMap.name, items: [{ key: 'pgbouncer.ini', path: 'pgbouncer.ini', mode: 0o444 }] } },
              // group-readable only: fsGroup 65534 makes the group PgBouncer's
              { name: 'userlist', secret: { secretName: userlist.secretName, items: [{ key: userlist.key, path: 'userlist.txt', mode: 0o440 }] } },
              ...(serverCa ? [caCertificateVolume('server-ca', serverCa)] : []),
            ],
            topologySpreadConstraints: [spread],
          },
        }),
      },
    });

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.serviceName, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'pgbouncer', port: PGBOUNCER_PORT, targetPort: k8s.IntOrString.fromString('pgbouncer'), protocol: 'TCP' }],
      },
    });

    if (budget !== undefined) this.podDisruptionBudget = podDisruptionBudget(this, budget, { name: this.name, labels }, selector);

    if (props.networkPolicy ?? true) {
      this.networkPolicy = new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
        metadata: { name: this.name, labels },
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ['Ingress'],
          ingress: [{
            from: [{
              podSelector: {
                matchLabels: { 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': names.instanceName },
                matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: [...clients] }],
              },
            }],
            ports: [{ port: k8s.IntOrString.fromNumber(PGBOUNCER_PORT), protocol: 'TCP' }],
          }],
        },
      });
    }
  }

  /**
   * The host clients connect to, `<serviceName>.<namespace>`.
   * @param namespace @default the namespace of the enclosing Chart
   * @throws AirflowValidationError when neither is set or the namespace is no DNS-1123 label.
   */
  public host(namespace: string | undefined = Chart.of(this).namespace): string {
    check(namespace !== undefined, this, 'namespace', namespace, 'a namespace: pass one, or give the Chart one');
    return `${this.serviceName}.${checkDnsLabel(this, 'namespace', namespace!)}`;
  }
}

/** `[section]` blocks of `key = value` lines, in the given order. */
function renderIni(sections: Array<[string, Array<[string, string]>]>): string {
  return sections.map(([name, entries]) => [`[${name}]`, ...entries.map(([k, v]) => (v === '' ? `${k} =` : `${k} = ${v}`))].join('\n')).join('\n\n') + '\n';
}
