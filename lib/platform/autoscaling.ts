import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { check, checkWholeNumber } from '../core/validation';

/**
 * A HorizontalPodAutoscaler (`autoscaling/v2`) that owns a Deployment's replicas: between `minReplicas` and
 * `maxReplicas`, aiming at the pods' average use of their requests (`Resource` metrics, `Utilization`). The Deployment
 * then has no `replicas` field, so that applying the manifests again does not undo the autoscaler's choice. Needs the
 * cluster's metrics API (metrics-server); without it the autoscaler keeps the replicas within range but does not scale.
 * Moving an existing Deployment from `replicas` to autoscaling needs one step before the apply (docs/operations.md,
 * "Handing the replicas to an autoscaler").
 * @see https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
 */
export interface Autoscaling {
  /** The fewest pods, 1 or more (2 or more for high availability). */
  readonly minReplicas: number;
  /** The most pods, `minReplicas` or more. */
  readonly maxReplicas: number;
  /** Target average CPU use, in percent of the pods' CPU requests (1 or more; above 100 is allowed). @default none */
  readonly cpuUtilization?: number;
  /** Target average memory use, in percent of the pods' memory requests (1 or more). @default none */
  readonly memoryUtilization?: number;
}

const TARGETS = { cpu: 'cpuUtilization', memory: 'memoryUtilization' } as const;
const RESOURCES = Object.keys(TARGETS) as Array<keyof typeof TARGETS>;

/**
 * Checks `autoscaling`: whole numbers in order and at least one target. The utilization is a percentage of the
 * pods' requests, which every container of the library has (CPU and memory, checked where it is made).
 * Returns it.
 * @throws AirflowValidationError at `autoscaling...`
 */
export function checkAutoscaling(scope: Construct, autoscaling: Autoscaling): Autoscaling {
  check(autoscaling !== null && typeof autoscaling === 'object', scope, 'autoscaling', autoscaling,
    '{ minReplicas, maxReplicas, cpuUtilization?, memoryUtilization? }');
  const min = checkWholeNumber(scope, 'autoscaling.minReplicas', autoscaling.minReplicas, 1);
  checkWholeNumber(scope, 'autoscaling.maxReplicas', autoscaling.maxReplicas, min);
  const targeted = RESOURCES.filter(r => autoscaling[TARGETS[r]] !== undefined);
  check(targeted.length > 0, scope, 'autoscaling', autoscaling, 'cpuUtilization, memoryUtilization or both: what the autoscaler aims at');
  for (const resource of targeted) checkWholeNumber(scope, `autoscaling.${TARGETS[resource]}`, autoscaling[TARGETS[resource]]!, 1);
  return autoscaling;
}

/** The HorizontalPodAutoscaler (id `Autoscaler`) of a checked `autoscaling`, scaling the Deployment `metadata.name`. */
export function horizontalPodAutoscaler(scope: Construct, autoscaling: Autoscaling, metadata: k8s.ObjectMeta & { name: string }): k8s.KubeHorizontalPodAutoscalerV2 {
  const metrics = RESOURCES.filter(r => autoscaling[TARGETS[r]] !== undefined)
    .map((name): k8s.MetricSpecV2 => ({ type: 'Resource', resource: { name, target: { type: 'Utilization', averageUtilization: autoscaling[TARGETS[name]] } } }));
  return new k8s.KubeHorizontalPodAutoscalerV2(scope, 'Autoscaler', {
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: metadata.name },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics,
    },
  });
}
