import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { Airflow } from '../airflow';
import { checkKnownProps } from '../core/known-props';
import type { TaskPodTemplate } from '../components/task-pod-template';
import { pythonNumber } from '../config/airflow-config';
import { check, checkBytes, checkCpu, checkWholeNumber, parseQuantity } from '../core/validation';

/**
 * `[core] parallelism` when airflow.cfg does not set it: the task instances one scheduler runs at once
 * (airflow-core 3.3.2, config_templates/config.yml; the same in 3.1 and 3.2). With the KubernetesExecutor each is a
 * task pod.
 */
export const AIRFLOW_DEFAULT_PARALLELISM = 32;

/** Requests, memory limits and pods of a set of pods: CPU in cores, memory in bytes. */
export interface PodUsage {
  readonly cpu: number;
  readonly memory: number;
  readonly memoryLimits: number;
  readonly pods: number;
}

/** What one part of an installation uses at the peak: e.g. `Deployment airflow-api-server: 10 pods + 3 surging`. */
export interface PeakPart extends PodUsage {
  readonly what: string;
}

/**
 * What an installation's pods ask of its namespace at their peak: a new release rolling out while everything runs.
 * Each Deployment at its most pods (`replicas`, or its HorizontalPodAutoscaler's `maxReplicas`) plus the pods
 * its rolling update adds (`maxSurge`, Kubernetes' default 25 % rounded up); each StatefulSet's replicas; a pod
 * of every Job (the migrations) and of every CronJob at once; and `[core] parallelism` task pods per scheduler, the
 * one the rollout adds included, as large as the task pod profiles let them be (a profile with `slots` only that
 * many times).
 * A pod counts as Kubernetes counts it against a quota: its containers and sidecars, or its largest init
 * container if that is more.
 * @see https://kubernetes.io/docs/concepts/policy/resource-quotas/
 * @see https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers
 */
export function installationPeak(airflow: Airflow): PeakPart[] {
  const objects = airflow.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject).map(o => o.toJson());
  const parts: PeakPart[] = [];
  for (const o of objects) {
    const name = `${o.kind} ${o.metadata.name}`;
    if (o.kind === 'Deployment') {
      const hpa = objects.find(h => h.kind === 'HorizontalPodAutoscaler' && h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === o.metadata.name);
      const replicas: number = hpa ? hpa.spec.maxReplicas : o.spec.replicas ?? 1;
      const surge = surgePods(o.spec.strategy, replicas);
      parts.push(times(`${name}: ${count(replicas)}${hpa ? ' (autoscaled, at most)' : ''} + ${surge} surging`, replicas + surge, o.spec.template.spec));
    } else if (o.kind === 'StatefulSet') {
      parts.push(times(`${name}: ${count(o.spec.replicas ?? 1)}`, o.spec.replicas ?? 1, o.spec.template.spec));
    } else if (o.kind === 'Job') {
      parts.push(times(`${name}: ${count(o.spec.parallelism ?? 1)}`, o.spec.parallelism ?? 1, o.spec.template.spec));
    } else if (o.kind === 'CronJob') {
      parts.push(times(`${name}: 1 pod`, 1, o.spec.jobTemplate.spec.template.spec));
    }
  }
  const parallelism = pythonNumber(airflow.config.cfgOptions.core?.parallelism ?? String(AIRFLOW_DEFAULT_PARALLELISM));
  // a scheduler the rollout adds starts its own parallelism while the old ones' task pods still run (until they
  // finish or the new scheduler adopts them)
  const schedulers = airflow.scheduler.replicas + surgePods(airflow.scheduler.deployment.toJson().spec.strategy, airflow.scheduler.replicas);
  parts.push(taskPods(airflow.podTemplate, parallelism * schedulers,
    `task pods: [core] parallelism ${parallelism} × ${schedulers} schedulers (the rollout's included)`));
  return parts;
}

const count = (pods: number) => `${pods} pod${pods === 1 ? '' : 's'}`;

/** The pods a RollingUpdate Deployment adds above `replicas` while it rolls out (none with Recreate). */
function surgePods(strategy: k8s.DeploymentStrategy | undefined, replicas: number): number {
  if (strategy?.type === 'Recreate') return 0;
  const surge: unknown = strategy?.rollingUpdate?.maxSurge ?? '25%';
  return typeof surge === 'number' ? surge : Math.ceil(replicas * Number(String(surge).replace('%', '')) / 100);
}

/**
 * `pods` task pods at their largest: a profile with `slots` (an Airflow pool) takes at most that many, largest
 * first; the others are as large as the template or the largest profile without slots, which any task may take.
 */
function taskPods(template: TaskPodTemplate, pods: number, what: string): PeakPart {
  const profiles = Object.entries(template.profiles);
  const unbounded = [template.pod.spec, ...profiles.filter(([, p]) => p.slots === undefined).map(([name]) => template.profilePods[name].spec)];
  const bounded = profiles.filter(([, p]) => p.slots !== undefined).map(([name, p]) => ({ slots: p.slots!, spec: template.profilePods[name].spec }));
  const most = (kind: 'requests' | 'limits', resource: 'cpu' | 'memory') => {
    const any = Math.max(...unbounded.map(spec => podResource(spec, kind, resource)));
    let left = pods;
    let total = 0;
    for (const b of bounded.map(x => ({ ...x, size: Math.max(any, podResource(x.spec, kind, resource)) })).sort((a, c) => c.size - a.size)) {
      const n = Math.min(b.slots, left);
      total += n * b.size;
      left -= n;
    }
    return total + left * any;
  };
  const named = profiles.length === 0 ? '' : `, profiles ${profiles.map(([name, p]) => p.slots === undefined ? name : `${name} (${p.slots} slot${p.slots === 1 ? '' : 's'})`).join(', ')}`;
  return { what: `${what}${named}`, pods, cpu: most('requests', 'cpu'), memory: most('requests', 'memory'), memoryLimits: most('limits', 'memory') };
}

/** `pods` pods of one pod spec. */
function times(what: string, pods: number, spec: k8s.PodSpec): PeakPart {
  const each = (kind: 'requests' | 'limits', resource: 'cpu' | 'memory') => podResource(spec, kind, resource) * pods;
  return { what, pods, cpu: each('requests', 'cpu'), memory: each('requests', 'memory'), memoryLimits: each('limits', 'memory') };
}

/**
 * A pod's effective request or limit of one resource, as the scheduler and quotas compute it: the larger of its
 * containers plus its sidecars (init containers with `restartPolicy: Always`), and of each other init container
 * plus the sidecars started before it.
 */
export function podResource(spec: k8s.PodSpec, kind: 'requests' | 'limits', resource: 'cpu' | 'memory'): number {
  const of = (c: k8s.Container) => {
    // a Quantity in the constructs' specs, its string once rendered
    const q: unknown = (c.resources?.[kind] as Record<string, unknown> | undefined)?.[resource];
    return q === undefined ? 0 : parseQuantity(q instanceof k8s.Quantity ? String(q.value) : String(q)) ?? 0;
  };
  let sidecars = 0;
  let initPeak = 0;
  for (const c of spec.initContainers ?? []) {
    if (c.restartPolicy === 'Always') sidecars += of(c);
    else initPeak = Math.max(initPeak, sidecars + of(c));
  }
  return Math.max(initPeak, sidecars + spec.containers.reduce((a, c) => a + of(c), 0));
}

/** Properties of {@link NamespaceQuota}. Quantities as in a ResourceQuota's `spec.hard`. */
export interface NamespaceQuotaProps {
  /** The installation the quota must hold at its peak (see installationPeak); the objects go to its namespace. */
  readonly airflow: Airflow;
  /** Totals of the namespace's pods' requests (`requests.cpu`, `requests.memory`). */
  readonly requests: {
    /** CPU in cores ("16") or millicores ("16000m"). */
    readonly cpu: string;
    /** Memory in bytes with a binary suffix ("64Gi"). */
    readonly memory: string;
  };
  /** Total of the pods' memory limits (`limits.memory`). */
  readonly limits: {
    /** Memory in bytes with a binary suffix ("96Gi"). */
    readonly memory: string;
  };
  /** Pods at most, those not yet finished (`pods`). */
  readonly pods: number;
  /**
   * What the LimitRange gives a container that states no request or memory limit (a sidecar a DAG's
   * `pod_override` adds): a namespace with a quota on requests refuses such pods otherwise. Every container of the
   * library states its own.
   * Each field left out keeps its default. @default requests: 100m CPU and 256Mi; limits: 512Mi memory
   */
  readonly containerDefaults?: {
    readonly requests?: { readonly cpu?: string; readonly memory?: string };
    readonly limits?: { readonly memory?: string };
  };
}

const DEFAULT_CONTAINER = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } };

/**
 * A ResourceQuota and a LimitRange for the namespace of an installation. The quota bounds what the namespace's
 * pods request and may use (`requests.cpu`, `requests.memory`, `limits.memory`, `pods`); the LimitRange fills in
 * a container's request and memory limit when it states none, which the quota would refuse. At synth, the
 * quota must hold the installation at its peak (see installationPeak): a task pod the quota refuses is not
 * retried by the KubernetesExecutor by default (`[kubernetes_executor] task_publish_max_retries` 0), the task fails.
 * Create it after the Airflow, in the same Chart or any other.
 * @see https://kubernetes.io/docs/concepts/policy/resource-quotas/
 * @see https://kubernetes.io/docs/concepts/policy/limit-range/
 * @throws AirflowValidationError for a malformed quantity, or a quota below the installation's peak (the message
 * lists what makes it up).
 */
export class NamespaceQuota extends Construct {
  /** The installation's peak, part by part. */
  public readonly peak: PeakPart[];
  public readonly resourceQuota: k8s.KubeResourceQuota;
  public readonly limitRange: k8s.KubeLimitRange;

  constructor(scope: Construct, id: string, props: NamespaceQuotaProps) {
    super(scope, id);
    checkKnownProps(this, props);
    for (const key of ['requests', 'limits'] as const) check(props[key] !== undefined, this, key, undefined, 'given: { requests: { cpu, memory }, limits: { memory }, pods }');
    const hard = {
      cpu: checkCpu(this, 'requests.cpu', props.requests.cpu),
      memory: checkBytes(this, 'requests.memory', props.requests.memory),
      memoryLimits: checkBytes(this, 'limits.memory', props.limits.memory),
      pods: checkWholeNumber(this, 'pods', props.pods, 1),
    };
    const defaults = {
      requests: { ...DEFAULT_CONTAINER.requests, ...props.containerDefaults?.requests },
      limits: { ...DEFAULT_CONTAINER.limits, ...props.containerDefaults?.limits },
    };
    checkCpu(this, 'containerDefaults.requests.cpu', defaults.requests.cpu);
    const defaultRequest = checkBytes(this, 'containerDefaults.requests.memory', defaults.requests.memory);
    check(checkBytes(this, 'containerDefaults.limits.memory', defaults.limits.memory) >= defaultRequest, this,
      'containerDefaults.limits.memory', defaults.limits.memory, `at least containerDefaults.requests.memory (${defaults.requests.memory})`);

    this.peak = installationPeak(props.airflow);
    const total = (k: keyof PodUsage) => this.peak.reduce((a, p) => a + p[k], 0);
    const given: Record<keyof PodUsage, [string, string | number, (v: number) => string]> = {
      cpu: ['requests.cpu', props.requests.cpu, v => `${Math.ceil(v * 1000)}m`],
      memory: ['requests.memory', props.requests.memory, mebibytes],
      memoryLimits: ['limits.memory', props.limits.memory, mebibytes],
      pods: ['pods', props.pods, v => String(v)],
    };
    for (const k of Object.keys(given) as Array<keyof PodUsage>) {
      const [property, value, show] = given[k];
      const need = total(k);
      check(hard[k] >= need - 1e-9, this, property, value, () => `at least ${show(need)}, what the installation's pods take at their peak ` +
        `(a release rolling out while everything runs): ${this.peak.filter(p => p[k] > 0).map(p => `${p.what}: ${show(p[k])}`).join('; ')}; ` +
        'raise it, or lower replicas, maxReplicas or [core] parallelism');
    }

    const namespace = props.airflow.config.namespace;
    const labels = props.airflow.config.names.labels('quota');
    const name = props.airflow.config.names.name('quota');
    this.resourceQuota = new k8s.KubeResourceQuota(this, 'Resource', {
      metadata: { name, namespace, labels },
      spec: { hard: {
        'requests.cpu': k8s.Quantity.fromString(props.requests.cpu),
        'requests.memory': k8s.Quantity.fromString(props.requests.memory),
        'limits.memory': k8s.Quantity.fromString(props.limits.memory),
        'pods': k8s.Quantity.fromString(String(props.pods)),
      } },
    });
    this.limitRange = new k8s.KubeLimitRange(this, 'LimitRange', {
      metadata: { name, namespace, labels },
      spec: { limits: [{
        type: 'Container',
        defaultRequest: { cpu: k8s.Quantity.fromString(defaults.requests.cpu), memory: k8s.Quantity.fromString(defaults.requests.memory) },
        default: { memory: k8s.Quantity.fromString(defaults.limits.memory) },
      }] },
    });
  }
}

const mebibytes = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)}Mi`;
