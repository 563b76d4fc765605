import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { checkKnownProps } from './known-props';
import { AIRFLOW_COMPONENTS, AirflowComponentName, AirflowNames, API_SERVER_PORT } from './names';
import { TRIGGERER_LOG_SERVER_PORT } from './triggerer';
import { check, checkNetworkPolicyPeer } from './validation';

/** The components that talk to the metadata database (Airflow 3 task pods do not). */
export const DATABASE_CLIENTS: readonly AirflowComponentName[] = ['scheduler', 'api-server', 'dag-processor', 'triggerer', 'db-migrate', 'db-cleanup', 'postgresql-backup'];

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
}

/**
 * Ingress NetworkPolicies for one installation, each named after what it guards
 * (`<instanceName>-default-deny`, `-api-server`, `-triggerer`, `-postgresql`): all ingress to its pods is denied except
 * - the api-server on port 8080, from this installation's task pods (the Task Execution API; apache/airflow#46926)
 *   and the peers of `apiServerFrom` (your Ingress controller), closed to every other pod by default,
 * - the triggerer's log server on port 8794, from the api-server (logs of running triggers),
 * - PostgreSQL on port 5432 from the components that use the database (not from task pods).
 * Egress is left open: tasks reach whatever their DAGs need. Policies take effect only with a CNI
 * that enforces them. Probes from the kubelet are not affected.
 * @see https://kubernetes.io/docs/concepts/services-networking/network-policies/
 */
export class AirflowNetworkPolicies extends Construct {
  /** @throws AirflowValidationError for an instance name that is not a DNS-1123 label. */
  constructor(scope: Construct, id: string, props: AirflowNetworkPoliciesProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    if (props.apiServerFrom !== undefined) props.apiServerFrom.forEach((peer, i) => checkNetworkPolicyPeer(this, `apiServerFrom[${i}]`, peer));
    if (Array.isArray(props.postgresql)) {
      props.postgresql.forEach((c, i) => check(AIRFLOW_COMPONENTS.includes(c), this, `postgresql[${i}]`, c,
        () => `a component name (app.kubernetes.io/component), one of ${AIRFLOW_COMPONENTS.join(', ')}`));
    }
    const installation = { 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': names.instanceName };
    const policy = (component: AirflowComponentName, spec: k8s.NetworkPolicySpec) => new k8s.KubeNetworkPolicy(this, component, {
      metadata: { name: names.name(component), labels: names.labels(component) },
      spec: { ...spec, policyTypes: ['Ingress'] },
    });
    policy('default-deny', { podSelector: { matchLabels: installation } });
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
    if (props.postgresql === false) return;
    policy('postgresql', {
      podSelector: { matchLabels: names.selector('postgresql') },
      ingress: [{
        from: [{
          podSelector: {
            matchLabels: installation,
            matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: props.postgresql === true || props.postgresql === undefined ? [...DATABASE_CLIENTS] : [...props.postgresql] }],
          },
        }],
        ports: [{ port: k8s.IntOrString.fromNumber(5432), protocol: 'TCP' }],
      }],
    });
  }
}
