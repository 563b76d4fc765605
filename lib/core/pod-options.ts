import { IConstruct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { check, checkAnnotations, checkDnsLabel, checkDnsSubdomain, checkLabels, checkUniqueNames, checkWholeNumber } from './validation';

/**
 * What a platform adds to a pod the library makes: scheduling, registry credentials, metadata, sidecars and extra
 * volumes. One shape for every pod: the Airflow components, the jobs, the task pod template, PgBouncer and
 * PostgreSQL. Given installation-wide (`Airflow.pod`) and per component (`scheduler.pod`, ...): a component's
 * field replaces the installation's field of the same name (a component's `tolerations` replace the
 * installation's; maps are not merged).
 *
 * What is added must keep the pod within Pod Security "restricted", or synth fails naming the field: added
 * containers get the restricted securityContext defaults (no privilege escalation, every capability dropped,
 * non-root, RuntimeDefault seccomp, read-only root filesystem) under what they set themselves, and what they set
 * must still meet the profile; volumes are of the kinds the profile allows. Added containers declare CPU and memory
 * requests and a memory limit.
 * @see https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
 * @see https://kubernetes.io/docs/concepts/scheduling-eviction/
 */
export interface PodOptions {
  /** Node labels the pod must be scheduled on (`spec.nodeSelector`). @default none */
  readonly nodeSelector?: Record<string, string>;
  /** Taints the pod tolerates (`spec.tolerations`). @default none */
  readonly tolerations?: k8s.Toleration[];
  /** Node and pod (anti-)affinity (`spec.affinity`). @default none */
  readonly affinity?: k8s.Affinity;
  /**
   * Topology spread constraints, after the library's own (a Deployment's spread over `kubernetes.io/hostname`);
   * Kubernetes refuses two with the same topologyKey and whenUnsatisfiable. @default none
   */
  readonly topologySpreadConstraints?: k8s.TopologySpreadConstraint[];
  /** A PriorityClass by name (a DNS subdomain). @default none: the cluster's default priority */
  readonly priorityClassName?: string;
  /** Pod annotations, e.g. `sidecar.istio.io/inject: 'false'`; the library's `checksum/*` are reserved. @default none */
  readonly annotations?: Record<string, string>;
  /** Pod labels; `app.kubernetes.io/*` are the library's (selectors and NetworkPolicies use them). @default none */
  readonly labels?: Record<string, string>;
  /** Secrets of type kubernetes.io/dockerconfigjson to pull the pod's images with, by name. @default none */
  readonly imagePullSecrets?: string[];
  /** Extra volumes; names unique in the pod; kinds Pod Security "restricted" allows. @default none */
  readonly volumes?: k8s.Volume[];
  /** Extra mounts of the main container, each of a volume of the pod. @default none */
  readonly volumeMounts?: k8s.VolumeMount[];
  /**
   * Sidecar containers (a cloud SQL proxy, a secrets agent), after the library's; long-running pods only (the
   * components, PgBouncer, PostgreSQL): a Job's or a task's pod would never end. @default none
   */
  readonly containers?: k8s.Container[];
  /** Init containers, after the library's (which wait for migrations and sync DAGs). @default none */
  readonly initContainers?: k8s.Container[];
  /** Secrets and ConfigMaps whose keys become environment variables of the main container (`envFrom`). @default none */
  readonly envFrom?: k8s.EnvFromSource[];
  /** Seconds the pod gets to stop after SIGTERM, a whole number >= 0. @default Kubernetes' 30 */
  readonly terminationGracePeriodSeconds?: number;
}

/**
 * The cluster autoscaler's pod annotation: `"true"` on the replicated components (their emptyDir volumes would
 * otherwise keep a node from being scaled down), `"false"` on task pods (scaling a node down would kill a running
 * task). `PodOptions.annotations` can override it.
 * @see https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md#what-types-of-pods-can-prevent-ca-from-removing-a-node
 */
export const SAFE_TO_EVICT = 'cluster-autoscaler.kubernetes.io/safe-to-evict';

/**
 * How a component's replicas spread over nodes: 'DoNotSchedule' keeps a second pod off a node that already runs one
 * (high availability), 'ScheduleAnyway' prefers it.
 */
export type NodeSpreading = 'DoNotSchedule' | 'ScheduleAnyway';

/**
 * The library's spread of a Deployment's pods over nodes (`kubernetes.io/hostname`, maxSkew 1), counting only
 * - pods of the same ReplicaSet (`matchLabelKeys: [pod-template-hash]`): during a rollout the new pods spread among
 *   themselves, the old ones going away do not push them aside;
 * - nodes whose taints the pod tolerates (`nodeTaintsPolicy: Honor`): a cordoned or drained node
 *   (`node.kubernetes.io/unschedulable`) or one tainted for other workloads is not a domain with zero pods that
 *   would leave a 'DoNotSchedule' replacement Pending while the node is drained.
 * @throws AirflowValidationError at `property` for a value other than 'DoNotSchedule' or 'ScheduleAnyway'.
 * @see https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/
 */
export function spreadOverNodes(scope: IConstruct, property: string, when: NodeSpreading, selector: Record<string, string>): k8s.TopologySpreadConstraint {
  check(['DoNotSchedule', 'ScheduleAnyway'].includes(when), scope, property, when, '"DoNotSchedule" or "ScheduleAnyway"');
  return {
    maxSkew: 1,
    topologyKey: 'kubernetes.io/hostname',
    whenUnsatisfiable: when,
    labelSelector: { matchLabels: selector },
    matchLabelKeys: ['pod-template-hash'],
    nodeTaintsPolicy: 'Honor',
  };
}

const FIELDS: readonly (keyof PodOptions)[] = ['nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints', 'priorityClassName',
  'annotations', 'labels', 'imagePullSecrets', 'volumes', 'volumeMounts', 'containers', 'initContainers', 'envFrom', 'terminationGracePeriodSeconds'];

/** Volume kinds Pod Security "restricted" allows (the "Volume Types" control). */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardApi', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** The installation-wide options with a component's on top: each field the component sets replaces the installation's. */
export function mergePodOptions(installation: PodOptions | undefined, component: PodOptions | undefined): PodOptions | undefined {
  if (installation === undefined || component === undefined) return component ?? installation;
  return { ...installation, ...component };
}

/** A pod template as the library builds it, before the options. */
export interface PodTemplate {
  readonly labels: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly spec: k8s.PodSpec;
}

/**
 * The pod template with `options` added; `main` names the container that gets `volumeMounts` and `envFrom`.
 * @throws AirflowValidationError at `<property>.<field>` for an option Kubernetes or Pod Security "restricted" refuses
 */
export function applyPodOptions(scope: IConstruct, property: string, template: PodTemplate, main: string, options: PodOptions | undefined,
  runToCompletion = false): PodTemplate {
  if (options === undefined) return template;
  // a pod that must end (a Job's, a task's) ends when its containers do: a sidecar that keeps running keeps it
  check(!runToCompletion || options.containers === undefined, scope, `${property}.containers`, options.containers?.map(c => c?.name),
    'no extra containers in a pod that runs to completion (a Job\'s or a task\'s): a sidecar that keeps running keeps it from ending; use initContainers');
  const at = (field: string) => `${property}.${field}`;
  check(typeof options === 'object' && options !== null && !Array.isArray(options), scope, property, options, 'an object of pod options');
  for (const key of Object.keys(options)) {
    check((FIELDS as string[]).includes(key), scope, property, key, `one of the pod options ${FIELDS.join(', ')}`);
  }
  const o = options;
  const spec: { -readonly [K in keyof k8s.PodSpec]: k8s.PodSpec[K] } = { ...template.spec };
  const labels = { ...template.labels };
  const annotations = { ...template.annotations };

  if (o.labels !== undefined) {
    for (const key of Object.keys(checkLabels(scope, at('labels'), o.labels))) {
      check(!key.startsWith('app.kubernetes.io/'), scope, at('labels'), key,
        'a label outside app.kubernetes.io/: the library sets those, and its selectors and NetworkPolicies match on them');
    }
    Object.assign(labels, o.labels);
  }
  if (o.annotations !== undefined) {
    for (const key of Object.keys(checkAnnotations(scope, at('annotations'), o.annotations))) {
      check(!key.startsWith('checksum/'), scope, at('annotations'), key, 'an annotation outside checksum/: the library rolls pods with those');
    }
    Object.assign(annotations, o.annotations);
  }
  if (o.nodeSelector !== undefined) spec.nodeSelector = checkLabels(scope, at('nodeSelector'), o.nodeSelector);
  if (o.tolerations !== undefined) spec.tolerations = checkTolerations(scope, at('tolerations'), o.tolerations);
  if (o.affinity !== undefined) {
    check(typeof o.affinity === 'object' && o.affinity !== null, scope, at('affinity'), o.affinity, 'an Affinity object (nodeAffinity, podAffinity, podAntiAffinity)');
    spec.affinity = o.affinity;
  }
  if (o.topologySpreadConstraints !== undefined) {
    const all = [...spec.topologySpreadConstraints ?? [], ...checkList(scope, at('topologySpreadConstraints'), o.topologySpreadConstraints)];
    o.topologySpreadConstraints.forEach((c, i) => {
      check(['DoNotSchedule', 'ScheduleAnyway'].includes(c.whenUnsatisfiable), scope, `${at('topologySpreadConstraints')}[${i}].whenUnsatisfiable`, c.whenUnsatisfiable, '"DoNotSchedule" or "ScheduleAnyway"');
      checkWholeNumber(scope, `${at('topologySpreadConstraints')}[${i}].maxSkew`, c.maxSkew, 1);
      check(all.filter(d => d.topologyKey === c.topologyKey && d.whenUnsatisfiable === c.whenUnsatisfiable).length === 1, scope,
        `${at('topologySpreadConstraints')}[${i}]`, `${c.topologyKey}/${c.whenUnsatisfiable}`,
        'a topologyKey and whenUnsatisfiable pair no other constraint of the pod has (Kubernetes refuses duplicates; the library spreads Deployments over kubernetes.io/hostname)');
    });
    spec.topologySpreadConstraints = all;
  }
  if (o.priorityClassName !== undefined) spec.priorityClassName = checkDnsSubdomain(scope, at('priorityClassName'), o.priorityClassName);
  if (o.imagePullSecrets !== undefined) {
    spec.imagePullSecrets = checkList(scope, at('imagePullSecrets'), o.imagePullSecrets)
      .map(name => ({ name: checkDnsSubdomain(scope, at('imagePullSecrets'), name) }));
  }
  if (o.terminationGracePeriodSeconds !== undefined) {
    spec.terminationGracePeriodSeconds = checkWholeNumber(scope, at('terminationGracePeriodSeconds'), o.terminationGracePeriodSeconds, 0);
  }
  if (o.volumes !== undefined) {
    checkList(scope, at('volumes'), o.volumes).forEach((v, i) => {
      checkDnsLabel(scope, `${at('volumes')}[${i}].name`, v.name);
      const kinds = Object.keys(v).filter(k => k !== 'name');
      check(kinds.length === 1 && RESTRICTED_VOLUMES.includes(kinds[0]), scope, `${at('volumes')}[${i}]`, kinds.join(', '),
        `one volume source of the kinds Pod Security "restricted" allows: ${RESTRICTED_VOLUMES.join(', ')}`);
    });
    spec.volumes = checkUniqueNames(scope, at('volumes'), [...spec.volumes ?? [], ...o.volumes]);
  }
  const volumeNames = new Set((spec.volumes ?? []).map(v => v.name));
  const containers: { -readonly [K in keyof k8s.Container]: k8s.Container[K] }[] = spec.containers.map(c => ({ ...c }));
  const mainContainer = containers.find(c => c.name === main)!;
  if (o.volumeMounts !== undefined) {
    checkList(scope, at('volumeMounts'), o.volumeMounts).forEach((m, i) => {
      check(volumeNames.has(m.name), scope, `${at('volumeMounts')}[${i}].name`, m.name, `a volume of the pod (${[...volumeNames].join(', ')})`);
      check(typeof m.mountPath === 'string' && m.mountPath.startsWith('/') && !(mainContainer.volumeMounts ?? []).some(n => n.mountPath === m.mountPath),
        scope, `${at('volumeMounts')}[${i}].mountPath`, m.mountPath, `an absolute path the ${main} container does not mount already`);
    });
    mainContainer.volumeMounts = [...mainContainer.volumeMounts ?? [], ...o.volumeMounts];
  }
  if (o.envFrom !== undefined) {
    checkList(scope, at('envFrom'), o.envFrom).forEach((e, i) => {
      const ref = e.secretRef ?? e.configMapRef;
      check((e.secretRef === undefined) !== (e.configMapRef === undefined), scope, `${at('envFrom')}[${i}]`, e, 'one of secretRef or configMapRef');
      checkDnsSubdomain(scope, `${at('envFrom')}[${i}].${e.secretRef ? 'secretRef' : 'configMapRef'}.name`, ref!.name!);
    });
    mainContainer.envFrom = [...mainContainer.envFrom ?? [], ...o.envFrom];
  }
  const sidecars = (o.containers === undefined ? [] : checkList(scope, at('containers'), o.containers)).map((c, i) => restrictedContainer(scope, `${at('containers')}[${i}]`, c, volumeNames));
  const inits = (o.initContainers === undefined ? [] : checkList(scope, at('initContainers'), o.initContainers)).map((c, i) => restrictedContainer(scope, `${at('initContainers')}[${i}]`, c, volumeNames));
  spec.containers = [...containers, ...sidecars];
  if (inits.length > 0) spec.initContainers = [...spec.initContainers ?? [], ...inits];
  checkUniqueNames(scope, `${property}.containers and initContainers`, [...spec.initContainers ?? [], ...spec.containers]);
  return { labels, annotations, spec };
}

/**
 * A pod template (`spec.template` of a Deployment, StatefulSet or Job) with the user's pod options added, as
 * {@link applyPodOptions} adds them at the property `pod`.
 */
export function podTemplateSpec(scope: IConstruct, options: PodOptions | undefined, main: string,
  template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: k8s.PodSpec }, runToCompletion = false): k8s.PodTemplateSpec {
  const t = applyPodOptions(scope, 'pod', { labels: template.metadata.labels, annotations: template.metadata.annotations, spec: template.spec }, main, options, runToCompletion);
  return { metadata: { labels: t.labels, ...annotationsOf(t) }, spec: t.spec };
}

/** `{ annotations }` of a template when it has any, else nothing: a template without annotations stays as it was. */
export function annotationsOf(template: PodTemplate): { annotations?: Record<string, string> } {
  return template.annotations && Object.keys(template.annotations).length > 0 ? { annotations: template.annotations } : {};
}

function checkList<T>(scope: IConstruct, property: string, value: T[]): T[] {
  check(Array.isArray(value), scope, property, value, 'a list');
  return value;
}

/** Tolerations by Kubernetes' rules (validateTolerations): operator, effect, and no value with Exists. */
function checkTolerations(scope: IConstruct, property: string, tolerations: k8s.Toleration[]): k8s.Toleration[] {
  checkList(scope, property, tolerations).forEach((t, i) => {
    const at = `${property}[${i}]`;
    const operator = t.operator ?? 'Equal';
    check(['Equal', 'Exists'].includes(operator), scope, `${at}.operator`, t.operator, '"Equal" or "Exists"');
    check(t.key !== undefined || operator === 'Exists', scope, `${at}.key`, t.key, 'a taint key, unless operator is "Exists" (which tolerates every taint)');
    if (t.key !== undefined) checkLabels(scope, `${at}.key`, { [t.key]: '' });
    check(operator === 'Equal' || !t.value, scope, `${at}.value`, t.value, 'no value with operator "Exists"');
    check(t.effect === undefined || ['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect), scope, `${at}.effect`, t.effect,
      '"NoSchedule", "PreferNoSchedule" or "NoExecute" (or unset: every effect)');
    check(t.tolerationSeconds === undefined || t.effect === 'NoExecute', scope, `${at}.tolerationSeconds`, t.tolerationSeconds, 'tolerationSeconds only with effect "NoExecute"');
  });
  return tolerations;
}

/**
 * An added container with the restricted securityContext defaults under its own, checked against the profile:
 * no privileged or privilege escalation, non-root, capabilities dropping ALL and adding at most NET_BIND_SERVICE,
 * RuntimeDefault or Localhost seccomp, no host ports; its mounts name volumes of the pod.
 */
function restrictedContainer(scope: IConstruct, property: string, c: k8s.Container, volumes: Set<string>): k8s.Container {
  checkDnsLabel(scope, `${property}.name`, c.name);
  check(typeof c.image === 'string' && c.image.length > 0, scope, `${property}.image`, c.image, 'an image');
  const sc: k8s.SecurityContext = {
    allowPrivilegeEscalation: false,
    privileged: false,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    seccompProfile: { type: 'RuntimeDefault' },
    ...c.securityContext,
    capabilities: { drop: ['ALL'], ...c.securityContext?.capabilities },
  };
  const at = `${property}.securityContext`;
  check(sc.privileged !== true, scope, `${at}.privileged`, sc.privileged, 'false: Pod Security "restricted" admits no privileged container');
  check(sc.allowPrivilegeEscalation === false, scope, `${at}.allowPrivilegeEscalation`, sc.allowPrivilegeEscalation, 'false (Pod Security "restricted")');
  check(sc.runAsNonRoot !== false && sc.runAsUser !== 0, scope, `${at}.${sc.runAsUser === 0 ? 'runAsUser' : 'runAsNonRoot'}`, sc.runAsUser === 0 ? 0 : sc.runAsNonRoot,
    'a non-root user (Pod Security "restricted")');
  check(['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile?.type ?? ''), scope, `${at}.seccompProfile.type`, sc.seccompProfile?.type,
    '"RuntimeDefault" or "Localhost" (Pod Security "restricted")');
  check((sc.capabilities!.drop ?? []).includes('ALL'), scope, `${at}.capabilities.drop`, sc.capabilities!.drop, 'a list with "ALL" (Pod Security "restricted")');
  check((sc.capabilities!.add ?? []).every(a => a === 'NET_BIND_SERVICE'), scope, `${at}.capabilities.add`, sc.capabilities!.add,
    'at most NET_BIND_SERVICE (Pod Security "restricted")');
  const r = c.resources;
  // cdk8s writes a quantity from a k8s.Quantity; a plain string would silently vanish from the YAML
  const quantity = (q: unknown) => q instanceof k8s.Quantity;
  check(quantity(r?.requests?.cpu) && quantity(r?.requests?.memory) && quantity(r?.limits?.memory), scope, `${property}.resources`, r,
    'CPU and memory requests and a memory limit, as every container of the library has (k8s.Quantity.fromString(\'50m\'), ...): the scheduler places pods by requests, and the limit bounds what one container can take from its node');
  (c.ports ?? []).forEach((p, i) => check(!p.hostPort, scope, `${property}.ports[${i}].hostPort`, p.hostPort, 'no host port (Pod Security "baseline")'));
  (c.volumeMounts ?? []).forEach((m, i) => check(volumes.has(m.name), scope, `${property}.volumeMounts[${i}].name`, m.name, `a volume of the pod (${[...volumes].join(', ')})`));
  return { ...c, securityContext: sc };
}
