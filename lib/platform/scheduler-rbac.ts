import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { AirflowComponentName, AirflowNames } from '../core/names';
import { checkNamespace } from '../core/validation';

/** Properties of {@link SchedulerRbac}. */
export interface SchedulerRbacProps {
  /** Prefix of the object names. @default 'airflow' */
  readonly instanceName?: string;
  /**
   * Namespace of the ServiceAccounts named in the RoleBindings: the Chart's, where the ServiceAccounts are made
   * (a RoleBinding naming one elsewhere would bind nothing that exists). @default the Chart's namespace
   */
  readonly namespace?: string;
}

/**
 * The Kubernetes API rights Airflow needs, in its namespace, and nothing more:
 * - ServiceAccount, Role and RoleBinding `<instanceName>-scheduler`: the KubernetesExecutor creates,
 *   watches, patches and deletes task pods (`pods`: create, get, list, watch, delete, patch),
 *   reads their logs (`pods/log`: get) and lists events for debugging (`events`: list, watch).
 * - ServiceAccount, Role and RoleBinding `<instanceName>-api-server`: shows the logs of running tasks
 *   (`pods`: get, list; `pods/log`: get).
 * Other pods (dag-processor, triggerer, task pods, Postgres) mount no API token.
 * @see https://kubernetes.io/docs/reference/access-authn-authz/rbac/
 */
export class SchedulerRbac extends Construct {
  public readonly schedulerServiceAccountName: string;
  public readonly apiServerServiceAccountName: string;

  /** @throws AirflowValidationError for an instance name that is not a DNS-1035 label, or a namespace other than the Chart's. */
  constructor(scope: Construct, id: string, props: SchedulerRbacProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    const namespace = props.namespace ?? Chart.of(this).namespace;
    if (namespace !== undefined) checkNamespace(this, 'namespace', namespace);
    this.schedulerServiceAccountName = grant(this, names, namespace, 'scheduler', [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] },
    ]);
    this.apiServerServiceAccountName = grant(this, names, namespace, 'api-server', [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
  }
}

/**
 * A ServiceAccount (no token mounted unless a pod asks), a Role with `rules` and the RoleBinding between
 * them, all named `<instanceName>-<component>`, as children of `scope`. Returns the name.
 */
export function grant(scope: Construct, names: AirflowNames, namespace: string | undefined, component: AirflowComponentName, rules: k8s.PolicyRule[]): string {
  const name = names.name(component);
  const metadata = { name, labels: names.labels(component) };
  new k8s.KubeServiceAccount(scope, `${component}-account`, { metadata, automountServiceAccountToken: false });
  new k8s.KubeRole(scope, `${component}-role`, { metadata, rules });
  new k8s.KubeRoleBinding(scope, `${component}-binding`, {
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, ...(namespace ? { namespace } : {}) }],
  });
  return name;
}
