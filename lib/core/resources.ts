import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
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
 * Resources as constructs take them: each field left out keeps the construct's default, so that
 * `{ requests: { cpu: '2' } }` changes the CPU request alone. Units as in {@link ContainerResources}.
 */
export interface ContainerResourcesProps {
  readonly requests?: Partial<ContainerResources['requests']>;
  readonly limits?: Partial<ContainerResources['limits']>;
}

/**
 * Merges `given` over `defaults` field by field, validates the result and turns it into the Kubernetes shape.
 * @throws AirflowValidationError for a malformed quantity or a limit below its request.
 */
export function renderResources(scope: IConstruct, property: string, given: ContainerResourcesProps | undefined, defaults: ContainerResources): k8s.ResourceRequirements {
  check(given === undefined || (typeof given === 'object' && given !== null), scope, property, given,
    'an object { requests?: { cpu?, memory?, ephemeralStorage? }, limits?: { memory?, cpu?, ephemeralStorage? } }');
  const defined = (o: object | undefined) => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));
  const r: ContainerResources = {
    requests: { ...defaults.requests, ...defined(given?.requests) },
    limits: { ...defaults.limits, ...defined(given?.limits) },
  };
  /** "expected" for a limit below its request: both in one unit, and whether the limit is this construct's default. */
  const atLeast = (what: string, field: 'memory' | 'cpu' | 'ephemeralStorage', limit: number, request: number) => () => {
    const [unit, size] = field === 'cpu' ? ['millicores', 1e-3] : ['MiB', 2 ** 20];
    const inUnit = (v: number) => `${Number((v / size).toFixed(3))} ${unit}`;
    const fromDefault = given?.limits?.[field] === undefined ? `; ${r.limits[field]} is the default limit: set ${property}.limits.${field} as well` : '';
    return `${what} limit at least the request: the limit ${r.limits[field]} is ${inUnit(limit)}, less than the request ` +
      `${r.requests[field]}, ${inUnit(request)}${fromDefault}`;
  };
  const cpuRequest = checkCpu(scope, `${property}.requests.cpu`, r.requests.cpu);
  const memoryRequest = checkBytes(scope, `${property}.requests.memory`, r.requests.memory);
  const memoryLimit = checkBytes(scope, `${property}.limits.memory`, r.limits.memory);
  check(memoryLimit >= memoryRequest, scope, `${property}.limits.memory`, r.limits.memory, atLeast('a memory', 'memory', memoryLimit, memoryRequest));
  const limits: Record<string, k8s.Quantity> = { memory: k8s.Quantity.fromString(r.limits.memory) };
  if (r.limits.cpu !== undefined) {
    const cpuLimit = checkCpu(scope, `${property}.limits.cpu`, r.limits.cpu);
    check(cpuLimit >= cpuRequest, scope, `${property}.limits.cpu`, r.limits.cpu, atLeast('a CPU', 'cpu', cpuLimit, cpuRequest));
    limits.cpu = k8s.Quantity.fromString(r.limits.cpu);
  }
  const requests: Record<string, k8s.Quantity> = { cpu: k8s.Quantity.fromString(r.requests.cpu), memory: k8s.Quantity.fromString(r.requests.memory) };
  const diskRequest = r.requests.ephemeralStorage === undefined ? 0 : checkBytes(scope, `${property}.requests.ephemeralStorage`, r.requests.ephemeralStorage);
  if (r.requests.ephemeralStorage !== undefined) requests['ephemeral-storage'] = k8s.Quantity.fromString(r.requests.ephemeralStorage);
  if (r.limits.ephemeralStorage !== undefined) {
    const diskLimit = checkBytes(scope, `${property}.limits.ephemeralStorage`, r.limits.ephemeralStorage);
    check(diskLimit >= diskRequest, scope, `${property}.limits.ephemeralStorage`, r.limits.ephemeralStorage,
      atLeast('an ephemeral-storage', 'ephemeralStorage', diskLimit, diskRequest));
    limits['ephemeral-storage'] = k8s.Quantity.fromString(r.limits.ephemeralStorage);
  }
  return { requests, limits };
}
