import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { AIRFLOW_COMPONENTS, AirflowComponentName, AirflowNames, API_SERVER_PORT } from '../core/names';
import { STATSD_PORT } from '../config/airflow-config';
import { PGBOUNCER_PORT } from '../database/pgbouncer';
import { STATSD_METRICS_PORT } from '../metrics/statsd-exporter';
import { TRIGGERER_LOG_SERVER_PORT } from '../components/triggerer';
import { check, checkNetworkPolicyPeer } from '../core/validation';

/** The components that talk to the metadata database (Airflow 3 task pods do not). */
export const DATABASE_CLIENTS: readonly AirflowComponentName[] = ['scheduler', 'api-server', 'dag-processor', 'triggerer', 'db-migrate', 'db-cleanup', 'postgresql-backup'];

/**
 * The components that call the Kubernetes API: the scheduler (the KubernetesExecutor creates and watches task pods),
 * the api-server (it reads running task pods' logs) and the CronJob that deletes finished task pods (SchedulerRbac, TaskPodCleanup).
 */
export const KUBERNETES_API_CLIENTS: readonly AirflowComponentName[] = ['scheduler', 'api-server', 'cleanup-pods'];

/** The components that run DAG authors' code against other systems: task pods and the triggerer (deferred tasks' triggers). */
export const TASK_CODE_RUNNERS: readonly AirflowComponentName[] = ['worker', 'triggerer'];

/** The components that read or write task logs in remote storage: task pods and the triggerer write, the api-server reads. */
export const LOG_STORAGE_CLIENTS: readonly AirflowComponentName[] = ['worker', 'triggerer', 'api-server'];

/** One port of an egress rule (NetworkPolicyPort, numeric). */
export interface EgressPort {
  /** The destination port, 1 to 65535. */
  readonly port: number;
  /** The last port of a range that begins at `port` (Kubernetes 1.25+). @default none: `port` alone */
  readonly endPort?: number;
  /** @default 'TCP' */
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/**
 * One egress rule: traffic to any of `to` on any of `ports`. An empty `to` means every destination, empty `ports`
 * every port: `{}` allows all egress, `{ ports: [{ port: 443 }] }` HTTPS anywhere.
 * @see https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/#NetworkPolicySpec
 */
export interface EgressRule {
  /** Destinations: pods, namespaces or an ipBlock (NetworkPolicyPeer). @default every destination */
  readonly to?: k8s.NetworkPolicyPeer[];
  /** @default every port */
  readonly ports?: EgressPort[];
}

/**
 * What an installation's pods may reach besides each other, once egress is denied by default. NetworkPolicies
 * match addresses and ports, not host names: a rule for a service outside the cluster names its CIDRs, or any
 * address on the service's port.
 */
export interface AirflowEgress {
  /**
   * The DNS servers every pod asks (UDP and TCP port 53). Where pods ask a node-local address instead, name it:
   * NodeLocal DNSCache `{ ipBlock: { cidr: '169.254.20.10/32' } }`, GKE's Cloud DNS `169.254.169.254/32`.
   * @default the cluster DNS pods: `k8s-app: kube-dns` in `kube-system` (CoreDNS in kubeadm, kind, EKS, GKE and AKS
   * clusters keeps that label)
   */
  readonly dns?: k8s.NetworkPolicyPeer[];
  /**
   * The Kubernetes API server, for KUBERNETES_API_CLIENTS (scheduler, api-server, cleanup-pods). Policies apply after
   * the `kubernetes` Service's address is translated, so the rule must match the API server's own addresses and port
   * (`kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`): name the control plane's CIDR.
   * @default any address on ports 443 and 6443
   */
  readonly kubernetesApi?: EgressRule[];
  /** The database outside the cluster, for the components in `externalDatabase`. @default any address on port 5432 */
  readonly database?: EgressRule[];
  /** The Git hosts git-sync clones from, for the components in `gitSync`. @default any address on ports 443 and 22 */
  readonly git?: EgressRule[];
  /**
   * Remote log storage (S3, GCS, Azure Blob), for LOG_STORAGE_CLIENTS when `remoteLogging` is true.
   * @default any address on port 443
   */
  readonly logStorage?: EgressRule[];
  /** Where the backup CronJob's `upload` step copies the dumps (object storage), when it has one. @default any address on port 443 */
  readonly backupUpload?: EgressRule[];
  /** The OpenID Connect identity provider the api-server exchanges login codes with. @default none: no rule */
  readonly identityProvider?: EgressRule[];
  /** Metrics targets (an OpenTelemetry collector, a StatsD server) for every Airflow pod. @default none: no rule */
  readonly metrics?: EgressRule[];
  /**
   * Other services every Airflow pod calls: a secrets backend (`[secrets] backend`: Vault, AWS Secrets Manager, GCP
   * Secret Manager), an SMTP server for email callbacks, an OpenLineage endpoint, and the cloud's credential endpoint
   * when pods get credentials from it (workload identity: GKE `169.254.169.254/32` port 80, EKS Pod Identity
   * `169.254.170.23/32` port 80, instance metadata). @default none: no rule
   */
  readonly services?: EgressRule[];
  /**
   * Task pods' and the triggerer's own egress (TASK_CODE_RUNNERS): DAGs call arbitrary systems. `[]` leaves them
   * what the installation needs (DNS, the execution API, Git, log storage) and nothing else. Never needed for the
   * execution API, which is always allowed. @default `[{}]`: every destination
   */
  readonly tasks?: EgressRule[];
}

/** Properties of {@link AirflowNetworkPolicies}. */
export interface AirflowNetworkPoliciesProps {
  /** The installation whose pods the policies select. @default 'airflow' */
  readonly instanceName?: string;
  /**
   * Who besides this installation's task pods may reach the api-server on port 8080 (the UI and the REST API):
   * your Ingress controller's namespace, other namespaces, CIDRs, as NetworkPolicy peers. Task pods (the Task
   * Execution API) are always allowed; the node is too (kubelet probes, `kubectl port-forward`), as Kubernetes
   * lets a node reach its pods whatever the policy.
   * @default none: closed to every other pod, of this namespace or another
   * @see https://kubernetes.io/docs/concepts/services-networking/network-policies/
   */
  readonly apiServerFrom?: k8s.NetworkPolicyPeer[];
  /**
   * Whether the installation runs the in-cluster PostgreSQL (PostgresStatefulSet) to open for its clients, or the
   * components (`app.kubernetes.io/component`) that may reach it. @default true: every component that uses the
   * database (DATABASE_CLIENTS: scheduler, api-server, dag-processor, triggerer, db-migrate, db-cleanup, postgresql-backup)
   */
  readonly postgresql?: boolean | readonly AirflowComponentName[];
  /** The components that connect to PgBouncer (port 6432). @default none: no PgBouncer */
  readonly pgbouncer?: readonly AirflowComponentName[];
  /** The components that connect to a database outside the cluster (`egress.database`). @default none */
  readonly externalDatabase?: readonly AirflowComponentName[];
  /** The components with git-sync (`egress.git`). @default none: no git-sync */
  readonly gitSync?: readonly AirflowComponentName[];
  /** Whether task logs go to remote storage (`egress.logStorage`). @default false */
  readonly remoteLogging?: boolean;
  /** Whether the backup CronJob (`postgresql-backup`) copies its dumps elsewhere (`egress.backupUpload`). @default false */
  readonly backupUpload?: boolean;
  /**
   * Whether the installation runs a statsd_exporter (StatsdExporter, component `statsd`) that its Airflow pods send
   * StatsD to: they may send to its UDP port 9125, and it admits them there. @default false
   */
  readonly statsd?: boolean;
  /**
   * Who may scrape the statsd_exporter's `/metrics` on TCP 9102: your Prometheus's pods, as NetworkPolicy peers, e.g.
   * `[{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]`. @default none: closed
   */
  readonly metricsFrom?: k8s.NetworkPolicyPeer[];
  /**
   * Egress denied by default (the default-deny policy takes `Egress` too) and then allowed, by purpose, in policies
   * `<instanceName>-egress-<purpose>` (see AirflowEgress), or false to leave egress open.
   * @default {}: denied but for DNS, the Kubernetes API, the database, the execution API, Git, log storage and the tasks' own
   */
  readonly egress?: AirflowEgress | false;
}

/**
 * NetworkPolicies for one installation: all ingress and egress of its pods is denied (`<instanceName>-default-deny`),
 * then allowed where the installation needs it. Ingress, in policies named after what they guard (`-api-server`,
 * `-triggerer`, `-postgresql`):
 * - the api-server on port 8080, from this installation's task pods (the Task Execution API; apache/airflow#46926)
 *   and the peers of `apiServerFrom` (your Ingress controller), closed to every other pod by default,
 * - the triggerer's log server on port 8794, from the api-server (logs of running triggers),
 * - PostgreSQL on port 5432 from the components that use the database (not from task pods).
 * Egress, in policies `<instanceName>-egress-<purpose>` (see AirflowEgress): DNS for every pod; the Kubernetes API for
 * the scheduler, the api-server and cleanup-pods; PostgreSQL, PgBouncer or the external database for the pods that
 * connect to it; the execution API for task pods, always; the triggerer's log server for the api-server; Git hosts for
 * git-sync; log storage; the identity provider; metrics targets; and the tasks' own (task pods and the triggerer run
 * DAG code; open by default, `egress.tasks` narrows it).
 * Policies take effect only with a CNI that enforces them. Probes from the kubelet are not affected.
 * @see https://kubernetes.io/docs/concepts/services-networking/network-policies/
 */
export class AirflowNetworkPolicies extends Construct {
  /**
   * @throws AirflowValidationError for an instance name that is not a DNS-1123 label, an unknown component, or an
   * egress rule Kubernetes would refuse (a peer with both an ipBlock and selectors, a bad CIDR, a port out of range).
   */
  constructor(scope: Construct, id: string, props: AirflowNetworkPoliciesProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    for (const key of ['apiServerFrom', 'metricsFrom'] as const) props[key]?.forEach((peer, i) => checkNetworkPolicyPeer(this, `${key}[${i}]`, peer));
    if (Array.isArray(props.postgresql)) checkComponents(this, 'postgresql', props.postgresql);
    for (const key of ['pgbouncer', 'externalDatabase', 'gitSync'] as const) checkComponents(this, key, props[key]);
    const egress = props.egress === false ? undefined : checkEgress(this, props.egress ?? {});
    const installation = { 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': names.instanceName };
    const policy = (component: AirflowComponentName, spec: k8s.NetworkPolicySpec) => new k8s.KubeNetworkPolicy(this, component, {
      metadata: { name: names.name(component), labels: names.labels(component) },
      spec: { ...spec, policyTypes: ['Ingress'] },
    });
    new k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: { name: names.name('default-deny'), labels: names.labels('default-deny') },
      spec: { podSelector: { matchLabels: installation }, policyTypes: egress ? ['Ingress', 'Egress'] : ['Ingress'] },
    });
    if (egress) this.allowEgress(names, installation, props, egress);
    policy('api-server', {
      podSelector: { matchLabels: names.selector('api-server') },
      // task pods call the Task Execution API over HTTP; the dag-processor and the triggerer use it in process
      // (InProcessExecutionAPI) and the scheduler not at all, so no other pod of the installation needs the port
      ingress: [{
        from: [{ podSelector: { matchLabels: names.selector('worker') } }, ...props.apiServerFrom ?? []],
        ports: [{ port: k8s.IntOrString.fromNumber(API_SERVER_PORT), protocol: 'TCP' }],
      }],
    });
    // the api-server reads running triggers' logs from the triggerer's log server
    policy('triggerer', {
      podSelector: { matchLabels: names.selector('triggerer') },
      ingress: [{
        from: [{ podSelector: { matchLabels: names.selector('api-server') } }],
        ports: [{ port: k8s.IntOrString.fromNumber(TRIGGERER_LOG_SERVER_PORT), protocol: 'TCP' }],
      }],
    });
    if (props.statsd) {
      // every Airflow process sends StatsD (task pods too: ti.start, ti.finish); Prometheus scrapes the exporter
      policy('statsd', {
        podSelector: { matchLabels: names.selector('statsd') },
        ingress: [
          { from: [{ podSelector: componentsOf(installation, AIRFLOW_PODS) }], ports: [{ port: k8s.IntOrString.fromNumber(STATSD_PORT), protocol: 'UDP' }] },
          ...(props.metricsFrom?.length ? [{ from: props.metricsFrom, ports: [{ port: k8s.IntOrString.fromNumber(STATSD_METRICS_PORT), protocol: 'TCP' }] }] : []),
        ],
      });
    }
    if (props.postgresql === false) return;
    policy('postgresql', {
      podSelector: { matchLabels: names.selector('postgresql') },
      ingress: [{
        from: [{ podSelector: componentsOf(installation, postgresqlClients(props.postgresql)) }],
        ports: [{ port: k8s.IntOrString.fromNumber(POSTGRESQL_PORT), protocol: 'TCP' }],
      }],
    });
  }

  /** One egress policy per purpose, each selecting the pods that need it. */
  private allowEgress(names: AirflowNames, installation: Record<string, string>, props: AirflowNetworkPoliciesProps, egress: Required<AirflowEgress>): void {
    const podsOf = (components?: readonly AirflowComponentName[]): k8s.LabelSelector => components === undefined ? { matchLabels: installation }
      : componentsOf(installation, components);
    const allow = (purpose: string, components: readonly AirflowComponentName[] | undefined, rules: EgressRule[]) => {
      if (components?.length === 0 || rules.length === 0) return;
      new k8s.KubeNetworkPolicy(this, `egress-${purpose}`, {
        metadata: { name: `${names.name('egress')}-${purpose}`, labels: names.labels('egress') },
        spec: { podSelector: podsOf(components), policyTypes: ['Egress'], egress: rules.map(toK8sRule) },
      });
    };
    const toComponent = (component: AirflowComponentName, port: number, protocol?: EgressPort['protocol']): EgressRule =>
      ({ to: [{ podSelector: { matchLabels: names.selector(component) } }], ports: [{ port, protocol }] });
    allow('dns', undefined, [{ to: egress.dns, ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }]);
    allow('kubernetes-api', KUBERNETES_API_CLIENTS, egress.kubernetesApi);
    // task pods call the Task Execution API, whatever their own egress; the api-server reads running triggers' logs
    allow('execution-api', ['worker'], [toComponent('api-server', API_SERVER_PORT)]);
    allow('trigger-logs', ['api-server'], [toComponent('triggerer', TRIGGERER_LOG_SERVER_PORT)]);
    if (props.postgresql !== false) allow('postgresql', postgresqlClients(props.postgresql), [toComponent('postgresql', POSTGRESQL_PORT)]);
    allow('pgbouncer', props.pgbouncer ?? [], [toComponent('pgbouncer', PGBOUNCER_PORT)]);
    allow('database', props.externalDatabase ?? [], egress.database);
    allow('git', props.gitSync ?? [], egress.git);
    allow('log-storage', props.remoteLogging ? LOG_STORAGE_CLIENTS : [], egress.logStorage);
    allow('backup-upload', props.backupUpload ? ['postgresql-backup'] : [], egress.backupUpload);
    allow('identity-provider', ['api-server'], egress.identityProvider);
    if (props.statsd) allow('statsd', AIRFLOW_PODS, [toComponent('statsd', STATSD_PORT, 'UDP')]);
    allow('metrics', AIRFLOW_PODS, egress.metrics);
    allow('services', AIRFLOW_PODS, egress.services);
    allow('tasks', TASK_CODE_RUNNERS, egress.tasks);
  }
}

/** PostgreSQL's port. */
const POSTGRESQL_PORT = 5432;

/** The pods that run Airflow itself (and emit its metrics): the components, the jobs and the task pods. */
const AIRFLOW_PODS: readonly AirflowComponentName[] = ['scheduler', 'api-server', 'dag-processor', 'triggerer', 'worker', 'db-migrate', 'db-cleanup', 'cleanup-pods', 'pools'];

/** A selector of the installation's pods of these components. */
function componentsOf(installation: Record<string, string>, components: readonly AirflowComponentName[]): k8s.LabelSelector {
  return { matchLabels: installation, matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: [...components] }] };
}


// ipBlock is meant for addresses outside the cluster, and some enforcers (Cilium) never match a pod by it: every
// pod of every namespace is named too, so an in-cluster target (a collector, Vault, Keycloak) is covered as well
const ANY_ADDRESS: k8s.NetworkPolicyPeer[] = [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }, { namespaceSelector: {} }];
/** A rule to any address (IPv4 or IPv6), and any pod of any namespace, on these TCP ports. */
export function anyAddressOn(...ports: number[]): EgressRule[] {
  return [{ to: ANY_ADDRESS, ports: ports.map(port => ({ port })) }];
}

/** The clients of the in-cluster PostgreSQL, as `postgresql` gives them. */
function postgresqlClients(postgresql: true | undefined | readonly AirflowComponentName[]): readonly AirflowComponentName[] {
  return postgresql === true || postgresql === undefined ? DATABASE_CLIENTS : postgresql;
}

function checkComponents(scope: Construct, property: string, components: readonly AirflowComponentName[] | undefined): void {
  (components ?? []).forEach((c, i) => check(AIRFLOW_COMPONENTS.includes(c), scope, `${property}[${i}]`, c,
    () => `a component name (app.kubernetes.io/component), one of ${AIRFLOW_COMPONENTS.join(', ')}`));
}

/** The egress settings with their defaults, every rule checked by Kubernetes' rules for NetworkPolicy peers and ports. */
function checkEgress(scope: Construct, egress: AirflowEgress): Required<AirflowEgress> {
  const full: Required<AirflowEgress> = {
    dns: egress.dns ?? [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
    kubernetesApi: egress.kubernetesApi ?? anyAddressOn(443, 6443),
    database: egress.database ?? anyAddressOn(POSTGRESQL_PORT),
    git: egress.git ?? anyAddressOn(443, 22),
    logStorage: egress.logStorage ?? anyAddressOn(443),
    backupUpload: egress.backupUpload ?? anyAddressOn(443),
    identityProvider: egress.identityProvider ?? [],
    metrics: egress.metrics ?? [],
    services: egress.services ?? [],
    tasks: egress.tasks ?? [{}],
  };
  check(full.dns.length > 0, scope, 'egress.dns', full.dns, 'at least one peer: every pod resolves names (Services, the database, Git hosts)');
  full.dns.forEach((peer, i) => checkNetworkPolicyPeer(scope, `egress.dns[${i}]`, peer));
  for (const key of ['kubernetesApi', 'database', 'git', 'logStorage', 'backupUpload', 'identityProvider', 'metrics', 'services', 'tasks'] as const) {
    full[key].forEach((rule, i) => checkEgressRule(scope, `egress.${key}[${i}]`, rule));
  }
  return full;
}

/** Kubernetes' rules for a NetworkPolicyEgressRule (networking validation: ValidateNetworkPolicyPort, ValidateNetworkPolicyPeer). */
function checkEgressRule(scope: Construct, property: string, rule: EgressRule): void {
  (rule.to ?? []).forEach((peer, i) => checkNetworkPolicyPeer(scope, `${property}.to[${i}]`, peer));
  (rule.ports ?? []).forEach((p, i) => {
    const at = `${property}.ports[${i}]`;
    check(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535, scope, `${at}.port`, p.port, 'a port number from 1 to 65535');
    check(p.endPort === undefined || (Number.isInteger(p.endPort) && p.endPort >= p.port && p.endPort <= 65535), scope, `${at}.endPort`, p.endPort,
      `unset or a port number from port (${p.port}) to 65535`);
    check(p.protocol === undefined || ['TCP', 'UDP', 'SCTP'].includes(p.protocol), scope, `${at}.protocol`, p.protocol, '"TCP", "UDP" or "SCTP"');
  });
}

function toK8sRule(rule: EgressRule): k8s.NetworkPolicyEgressRule {
  return {
    ...(rule.to === undefined ? {} : { to: rule.to }),
    ...(rule.ports === undefined ? {} : {
      ports: rule.ports.map(p => ({ port: k8s.IntOrString.fromNumber(p.port), ...(p.endPort === undefined ? {} : { endPort: p.endPort }), protocol: p.protocol ?? 'TCP' })),
    }),
  };
}
