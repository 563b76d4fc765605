import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { check } from './validation';

/**
 * A PodDisruptionBudget for a component's pods: exactly one of the two fields.
 * @see https://kubernetes.io/docs/tasks/run-application/configure-pdb/
 */
export interface DisruptionBudget {
  /** Pods that may be down at once during voluntary disruptions: a count, or a percentage of the replicas ("50%", rounded up); at least one pod. */
  readonly maxUnavailable?: number | string;
  /** Pods that must stay up: a count, or a percentage of the replicas ("50%", rounded up); below the replicas. */
  readonly minAvailable?: number | string;
}

/**
 * The pods a count or percentage stands for, as the disruption controller scales it (percentages of the replicas
 * rounded up, `GetScaledValueFromIntOrPercent`); NaN when it is neither.
 */
function budgetPods(value: number | string, replicas: number): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : NaN;
  const m = /^(\d+)%$/.exec(value);
  return m ? Math.ceil((Number(m[1]) * replicas) / 100) : NaN;
}

/**
 * Checks a budget for `replicas` pods: exactly one field, and never one that blocks every eviction (node drains
 * would hang). Returns it.
 * @throws AirflowValidationError at `disruptionBudget...`
 */
export function checkDisruptionBudget(scope: Construct, budget: DisruptionBudget | undefined, replicas: number): DisruptionBudget | undefined {
  if (budget === undefined) return undefined;
  const { maxUnavailable, minAvailable } = budget;
  check((maxUnavailable === undefined) !== (minAvailable === undefined), scope, 'disruptionBudget', budget,
    'exactly one of maxUnavailable and minAvailable');
  if (maxUnavailable !== undefined) {
    check(budgetPods(maxUnavailable, replicas) >= 1, scope, 'disruptionBudget.maxUnavailable', maxUnavailable,
      'a whole number >= 1 or a percentage such as "50%" above 0 (0 blocks every eviction, so node drains hang)');
  } else {
    const pods = budgetPods(minAvailable!, replicas);
    check(pods >= 0 && pods < replicas, scope, 'disruptionBudget.minAvailable', minAvailable,
      `a whole number or a percentage such as "50%" below replicas (${replicas}, percentages rounded up); as many as the replicas blocks every eviction, so node drains hang`);
  }
  return budget;
}

/** The PodDisruptionBudget object (id `Budget`) of a checked budget, selecting `selector`. */
export function podDisruptionBudget(scope: Construct, budget: DisruptionBudget, metadata: k8s.ObjectMeta, selector: Record<string, string>): k8s.KubePodDisruptionBudget {
  const intOrPercent = (v: number | string) => typeof v === 'number' ? k8s.IntOrString.fromNumber(v) : k8s.IntOrString.fromString(v);
  return new k8s.KubePodDisruptionBudget(scope, 'Budget', {
    metadata,
    spec: {
      selector: { matchLabels: selector },
      ...(budget.maxUnavailable !== undefined ? { maxUnavailable: intOrPercent(budget.maxUnavailable) } : { minAvailable: intOrPercent(budget.minAvailable!) }),
    },
  });
}
