import { Construct } from 'constructs';
import { AirflowProps } from './airflow';
import { AirflowChart, AirflowEnvironment, Tier } from './airflow-chart';
import { ENVIRONMENTS } from './environments';
import { GitSyncProps } from './dags/git-sync';
import { checkKnownProps } from './core/known-props';
import { check } from './core/validation';
import { NamespaceQuotaProps } from './platform/namespace-quota';

/**
 * One team's Airflow, as data: a tier's preset with the team's own DAG repository, namespace, quota and whatever
 * else differs (see AirflowTeamChart).
 */
export interface AirflowTeam {
  /** The preset the team's Airflow starts from (`presets[tier]`). */
  readonly tier: Tier;
  /** The team's DAG repository (git-sync), in place of the preset's. */
  readonly dags: GitSyncProps;
  /** The team's Namespace, a DNS-1123 label. @default `airflow-<the chart's id>` */
  readonly namespace?: string;
  /** The team's ResourceQuota and LimitRange (NamespaceQuota). @default the tier's */
  readonly quota?: Omit<NamespaceQuotaProps, 'airflow'>;
  /**
   * Airflow props laid over the tier's preset, key by key (a key given here replaces the preset's whole value), e.g.
   * `{ pgbouncer: { ...prod.pgbouncer, database: { host: 'team-a-db.example.internal' } } }`. @default none
   */
  readonly airflow?: AirflowProps;
}

/** Properties of {@link AirflowTeamChart}. */
export interface AirflowTeamChartProps extends AirflowTeam {
  /** The environments the tiers name. @default ENVIRONMENTS (the project's dev, staging and prod) */
  readonly presets?: Record<Tier, AirflowEnvironment>;
}

/**
 * The AirflowChart of one team: `presets[tier]` with the team's namespace (`airflow-<id>` by default), DAGs, quota
 * and Airflow props over it. Each team gets its own Namespace (Pod Security "restricted"), ServiceAccounts and RBAC
 * in it, quota, NetworkPolicies that select only its pods, Secrets (its own `airflow-secrets` in its namespace) and
 * metadata database: the in-cluster PostgreSQL of its namespace (dev and staging tiers) or, on the prod tier, the
 * external database its own Secret `airflow-database` names, behind `airflow.pgbouncer.database.host`.
 *
 * What a cluster has once is checked across the App at synth (claimOncePerCluster): two teams on one NodePort, one
 * Ingress host and path, or one metadata database fail synth, naming both.
 * @throws AirflowValidationError for an unknown prop, a namespace that is no DNS-1123 label, or anything AirflowChart refuses.
 */
export class AirflowTeamChart extends AirflowChart {
  constructor(scope: Construct, id: string, props: AirflowTeamChartProps) {
    const preset = (props.presets ?? ENVIRONMENTS)[props.tier];
    super(scope, id, {
      ...preset,
      tier: props.tier,
      namespace: props.namespace ?? `airflow-${id}`,
      airflow: { ...preset?.airflow, dags: props.dags, ...props.airflow },
      quota: props.quota ?? preset?.quota,
    });
    checkKnownProps(this, props);
    check(props.airflow?.dags === undefined, this, 'airflow.dags', props.airflow?.dags, 'unset: the team\'s DAGs are its `dags`');
  }
}
