import { IConstruct } from 'constructs';
import * as k8s from '../imports/k8s';
import { check, checkBytes, checkCpu } from './validation';

/**
 * CPU and memory for one container, in Kubernetes quantity strings.
 * @see https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
 */
export interface ContainerResources {
  /** What the scheduler reserves for the container. */
  readonly requests: {
    /** CPU in cores ("1.5") or millicores ("250m"). */
    readonly cpu: string;
    /** Memory in bytes with a binary suffix ("512Mi", "2Gi"). */
    readonly memory: string;
    /** Local disk the container's writable layer, logs and the pod's emptyDirs use, in bytes ("1Gi"). @default - none */
    readonly ephemeralStorage?: string;
  };
  /** The ceilings. A memory limit is required: a container without one can take its node's memory. */
  readonly limits: {
    /** Memory in bytes with a binary suffix; at least the request. */
    readonly memory: string;
    /** CPU ceiling, cores or millicores; at least the request. @default - none: CPU throttling hurts Airflow's heartbeats more than sharing does */
    readonly cpu?: string;
    /**
     * Local disk ceiling in bytes ("4Gi"); at least the request. The kubelet evicts the pod when its containers'
     * writable layers, logs and emptyDirs together pass the sum of its containers' limits. @default - none
     */
    readonly ephemeralStorage?: string;
  };
}

/**
 * Validates resources and turns them into the Kubernetes shape.
 * @throws AirflowValidationError for a malformed quantity or a limit below its request.
 */
export function renderResources(scope: IConstruct, property: string, r: ContainerResources): k8s.ResourceRequirements {
  check(r !== undefined && r.requests !== undefined && r.limits !== undefined, scope, property, r,
    'an object { requests: { cpu, memory }, limits: { memory, cpu? } }');
  const cpuRequest = checkCpu(scope, `${property}.requests.cpu`, r.requests.cpu);
  const memoryRequest = checkBytes(scope, `${property}.requests.memory`, r.requests.memory);
  const memoryLimit = checkBytes(scope, `${property}.limits.memory`, r.limits.memory);
  check(memoryLimit >= memoryRequest, scope, `${property}.limits.memory`, r.limits.memory,
    `a memory limit at least the request (${r.requests.memory})`);
  const limits: Record<string, k8s.Quantity> = { memory: k8s.Quantity.fromString(r.limits.memory) };
  if (r.limits.cpu !== undefined) {
    const cpuLimit = checkCpu(scope, `${property}.limits.cpu`, r.limits.cpu);
    check(cpuLimit >= cpuRequest, scope, `${property}.limits.cpu`, r.limits.cpu, `a CPU limit at least the request (${r.requests.cpu})`);
    limits.cpu = k8s.Quantity.fromString(r.limits.cpu);
  }
  const requests: Record<string, k8s.Quantity> = { cpu: k8s.Quantity.fromString(r.requests.cpu), memory: k8s.Quantity.fromString(r.requests.memory) };
  const diskRequest = r.requests.ephemeralStorage === undefined ? 0 : checkBytes(scope, `${property}.requests.ephemeralStorage`, r.requests.ephemeralStorage);
  if (r.requests.ephemeralStorage !== undefined) requests['ephemeral-storage'] = k8s.Quantity.fromString(r.requests.ephemeralStorage);
  if (r.limits.ephemeralStorage !== undefined) {
    const diskLimit = checkBytes(scope, `${property}.limits.ephemeralStorage`, r.limits.ephemeralStorage);
    check(diskLimit >= diskRequest, scope, `${property}.limits.ephemeralStorage`, r.limits.ephemeralStorage,
      `an ephemeral-storage limit at least the request (${r.requests.ephemeralStorage})`);
    limits['ephemeral-storage'] = k8s.Quantity.fromString(r.limits.ephemeralStorage);
  }
  return { requests, limits };
}
