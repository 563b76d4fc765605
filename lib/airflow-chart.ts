import { Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { Airflow, AirflowProps } from './airflow';
import { checkKnownProps } from './core/known-props';
import { AIRFLOW_VERSION } from './core/names';
import { NamespaceQuota, NamespaceQuotaProps } from './platform/namespace-quota';
import { check, checkDnsLabel } from './core/validation';

/** How demanding an environment is; `prod` requires high availability. */
export type Tier = 'dev' | 'staging' | 'prod';

/** One environment: a namespace and a complete Airflow in it. */
export interface AirflowEnvironment {
  readonly tier: Tier;
  /** The Namespace to create; a DNS-1123 label. */
  readonly namespace: string;
  readonly airflow: AirflowProps;
  /**
   * A ResourceQuota and LimitRange for the Namespace, which must hold the installation at its peak (see
   * NamespaceQuota). @default none
   */
  readonly quota?: Omit<NamespaceQuotaProps, 'airflow'>;
}

/**
 * A Chart holding one environment: its Namespace, labelled to enforce Pod Security "restricted",
 * first, then a complete {@link Airflow} and the Namespace's quota, if given. The tier `prod` turns `highAvailability` on, requires `dags.ref` to be a
 * commit id (GitSyncProps.requireCommit) and requires single sign-on (`authManager: { fab: { oidc } }`).
 * @see https://kubernetes.io/docs/concepts/security/pod-security-admission/
 */
export class AirflowChart extends Chart {
  public readonly airflow: Airflow;
  /** The Namespace's quota, if the environment has one. */
  public readonly quota?: NamespaceQuota;

  /** @throws AirflowValidationError for an unknown tier, a bad namespace or any invalid Airflow prop. */
  constructor(scope: Construct, id: string, props: AirflowEnvironment) {
    super(scope, id, { namespace: props.namespace, disableResourceNameHashes: true });
    checkKnownProps(this, props, AirflowChart);
    check(['dev', 'staging', 'prod'].includes(props.tier), this, 'tier', props.tier, '"dev", "staging" or "prod"');
    checkDnsLabel(this, 'namespace', props.namespace);
    check(!/^kube-/.test(props.namespace) && props.namespace !== 'default', this, 'namespace', props.namespace,
      'a namespace of its own, not "default" nor a "kube-" one (reserved for the system): the Chart applies this Namespace ' +
      'with Pod Security "restricted" labels, which would also bind every other pod in it');
    check(props.airflow?.namespace === undefined || props.airflow.namespace === props.namespace, this, 'airflow.namespace',
      props.airflow?.namespace, `unset or the environment's namespace (${props.namespace})`);
    check(props.tier !== 'prod' || props.airflow?.highAvailability !== false, this, 'airflow.highAvailability', false,
      'true or unset: prod is highly available');
    check(props.tier !== 'prod' || props.airflow?.authManager?.fab?.oidc !== undefined, this, 'airflow.authManager', props.airflow?.authManager,
      '{ fab: { oidc: { issuer, clientId, clientSecret, roles } } } in prod: single sign-on through your identity provider ' +
      '(SimpleAuthManager is for development: one shared admin account)');
    check(props.tier !== 'prod' || props.airflow?.dags?.requireCommit !== false, this, 'airflow.dags.requireCommit', false,
      'true or unset: prod runs DAG code only at a commit id, which no push to the repository can move');
    const namespace = new k8s.KubeNamespace(this, 'namespace', {
      metadata: {
        name: props.namespace,
        labels: {
          'app.kubernetes.io/name': 'airflow',
          'app.kubernetes.io/part-of': 'airflow',
          'app.kubernetes.io/version': AIRFLOW_VERSION,
          'app.kubernetes.io/managed-by': 'cdk8s',
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'v1.28',
          'pod-security.kubernetes.io/audit': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
        },
      },
    });
    // The Chart's namespace goes on every object; a Namespace is cluster-scoped and takes none.
    namespace.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    const dags = props.airflow?.dags && props.tier === 'prod' ? { ...props.airflow.dags, requireCommit: true } : props.airflow?.dags;
    this.airflow = new Airflow(this, 'airflow', { ...props.airflow, dags, highAvailability: props.tier === 'prod' || props.airflow?.highAvailability });
    if (props.quota !== undefined) this.quota = new NamespaceQuota(this, 'quota', { ...props.quota, airflow: this.airflow });
  }
}
