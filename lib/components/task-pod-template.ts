import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { airflowPodSpec, checkExtraEnv, reservedEnv } from './airflow-pod';
import { GitSync } from '../dags/git-sync';
import { checkKnownProps } from '../core/known-props';
import { annotationsOf, applyPodOptions, PodOptions, SAFE_TO_EVICT } from '../core/pod-options';
import { AIRFLOW_HOME, POD_TEMPLATE_DIR, POD_TEMPLATE_FILE_NAME } from '../core/names';
import { ContainerResources, ContainerResourcesProps, renderResources } from '../core/resources';
import { check, checkDnsLabel, checkDnsSubdomain, checkWholeNumber } from '../core/validation';

const LOCAL_SETTINGS = 'airflow_local_settings.py';

/** airflow_local_settings.py whose task_policy puts a task on a profile with slots in that profile's pool. */
function clusterPolicy(pools: string[]): string {
  return [
    '# Made by cdk8s-airflow from the task pod profiles (TaskPodTemplate): a task that takes a profile with slots runs',
    '# in that profile\'s pool, so that no more of its pods run at once than its slots.',
    'PROFILE_POOLS = {',
    ...pools,
    '}',
    '',
    '',
    'def task_policy(task):',
    '    pool = PROFILE_POOLS.get((task.executor_config or {}).get("pod_template_file"))',
    '    if pool is not None:',
    '        task.pool = pool',
    '',
  ].join('\n');
}

/** A pod manifest as a pod_template_file holds it. */
export type TaskPodManifest = { apiVersion: 'v1'; kind: 'Pod'; metadata: k8s.ObjectMeta; spec: k8s.PodSpec };

/** The `base` container's resources unless given. */
export const DEFAULT_TASK_RESOURCES: ContainerResources = {
  requests: { cpu: '250m', memory: '512Mi', ephemeralStorage: '1Gi' },
  limits: { memory: '1Gi', ephemeralStorage: '4Gi' },
};

/** The extended resource a profile's `gpus` asks for: NVIDIA's device plugin's. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/**
 * A task pod profile: one more pod_template_file, the template changed by what is given here. A task picks it with
 * `executor_config={"pod_template_file": "/opt/airflow/pod_templates/<name>.yaml"}` (TaskPodTemplate.profileFiles).
 */
export interface TaskPodProfile {
  /** CPU, memory and local disk of the `base` container, field by field over the template's. @default the template's */
  readonly resources?: ContainerResourcesProps;
  /** GPUs of the `base` container (`nvidia.com/gpu` requests and limits), a whole number >= 1. @default none */
  readonly gpus?: number;
  /** Node labels the pods must match, over the template's (`spec.nodeSelector`), e.g. a GPU node pool's. @default the template's */
  readonly nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate, after the template's (`spec.tolerations`), e.g. a GPU node pool's. @default the template's */
  readonly tolerations?: k8s.Toleration[];
  /**
   * At most this many of the profile's task pods at once, a whole number >= 1: `Airflow` makes an Airflow pool named
   * after the profile with that many slots, which the profile's tasks name (`pool="<name>"`), and NamespaceQuota
   * counts only that many pods at this size. @default none: any task may take it, and the quota counts every task
   * pod at the largest unbounded profile
   */
  readonly slots?: number;
}

/** Properties of {@link TaskPodTemplate}. */
export interface TaskPodTemplateProps {
  readonly config: AirflowConfig;
  /** The image tasks run in. @default the config's defaultImage (AirflowConfig.airflowImage says what is accepted) */
  readonly image?: string;
  /**
   * CPU, memory and local disk of the `base` container; a task overrides them with
   * `executor_config={"pod_override": ...}`. The disk counts the DAG clone (an emptyDir) and the task's
   * temporary files: size it to your repository. @default requests 250m CPU / 512Mi / 1Gi ephemeral-storage,
   * limits 1Gi memory / 4Gi ephemeral-storage
   */
  readonly resources?: ContainerResourcesProps;
  /** DAG files from Git, synced once by an init container before the task starts. @default none: DAGs baked into the image */
  readonly gitSync?: GitSync;
  /** ServiceAccount of task pods, e.g. one bound to cloud IAM. Without it task pods get no Kubernetes API token. @default none */
  readonly serviceAccountName?: string;
  /**
   * Give task pods `[core] fernet_key`. Airflow 3 tasks read connections and variables through the
   * Task Execution API, which decrypts them in the api-server, so tasks do not need it. @default false
   */
  readonly includeFernetKey?: boolean;
  /** Extra environment variables of the `base` container. @default [] */
  readonly env?: k8s.EnvVar[];
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
  /**
   * Task pod profiles by name (a DNS-1123 label): each a pod_template_file `<name>.yaml` beside the template, e.g.
   * `{ large: { resources: { requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi' } } }, gpu: { gpus: 1,
   * nodeSelector: { pool: 'gpu' }, tolerations: [...] } }`. @default none
   */
  readonly profiles?: Record<string, TaskPodProfile>;
}

/**
 * The KubernetesExecutor's `pod_template_file`, kept in the ConfigMap `<instanceName>-pod-template`
 * and mounted by the scheduler at `[kubernetes_executor] pod_template_file`
 * (`/opt/airflow/pod_templates/pod_template_file.yaml`).
 *
 * The first container is named `base` (the executor merges its own container, with the task
 * command, into it), `command` is left to the image entrypoint and `restartPolicy` is `Never`. The
 * pod gets airflow.cfg (with `[core] execution_api_server_url`), the DAG files at the path the
 * dag-processor saw, and no database credentials: Airflow 3 tasks talk to the Task Execution API. Each of
 * `profiles` is one more file in the same ConfigMap and folder (`<name>.yaml`), the same pod with its own
 * resources, GPUs, node selector and tolerations, which a task chooses with
 * `executor_config={"pod_template_file": "/opt/airflow/pod_templates/<name>.yaml"}`.
 * @see https://airflow.apache.org/docs/apache-airflow-providers-cncf-kubernetes/stable/kubernetes_executor.html
 */
export class TaskPodTemplate extends Construct {
  /** The pod manifest. */
  public readonly pod: TaskPodManifest;
  /** Each profile's pod manifest, by profile name. */
  public readonly profilePods: Record<string, TaskPodManifest>;
  /** Each profile's pod_template_file, by profile name, for `executor_config={"pod_template_file": ...}`. */
  public readonly profileFiles: Record<string, string>;
  /** The profiles as given, by name. */
  public readonly profiles: Record<string, TaskPodProfile>;
  /**
   * Airflow's `airflow_local_settings.py` with a cluster policy (`task_policy`) that puts each task taking a profile
   * with `slots` in that profile's pool, whatever pool its DAG names; the dag-processor loads it (policyVolumeMount),
   * so the serialized DAG the scheduler reads has the pool. Undefined when no profile has slots.
   * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/cluster-policies.html
   */
  public readonly clusterPolicy?: string;
  /** The rendered pod_template_file. */
  public readonly podTemplateYaml: string;
  /** sha256 of the rendered template and profiles, for the scheduler's rollout annotation. */
  public readonly checksum: string;
  public readonly configMapName: string;
  /** The configuration of the installation the template belongs to. */
  public readonly config: AirflowConfig;

  /** @throws AirflowValidationError for a bad image, resources, env, ServiceAccount name, or DAG folder that differs from git-sync's. */
  constructor(scope: Construct, id: string, props: TaskPodTemplateProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config, gitSync } = props;
    checkConfig(this, config);
    if (props.serviceAccountName !== undefined) checkDnsSubdomain(this, 'serviceAccountName', props.serviceAccountName);
    this.config = config;
    const names = config.names;
    this.configMapName = names.name('pod-template');
    const image = config.airflowImage(this, 'image', props.image);
    const render = (property: string, resources: ContainerResourcesProps | undefined, options: PodOptions | undefined, gpus?: number): TaskPodManifest => {
      const rendered = renderResources(this, property, resources, DEFAULT_TASK_RESOURCES);
      const gpu: Record<string, k8s.Quantity> = gpus === undefined ? {} : { [GPU_RESOURCE]: k8s.Quantity.fromNumber(gpus) };
      const spec = airflowPodSpec(this, {
        config,
        image,
        containerName: 'base',
        resources: { requests: { ...rendered.requests, ...gpu }, limits: { ...rendered.limits, ...gpu } },
        secretUses: props.includeFernetKey ? ['fernetKey'] : [],
        optionSecrets: 'task',
        extraEnv: [
          // The image entrypoint waits for the database unless this is 0; task pods have no database URL
          // (Airflow 3 tasks use the Task Execution API), so the check could only fail.
          { name: 'CONNECTION_CHECK_MAX_COUNT', value: '0' },
          ...checkExtraEnv(this, 'env', props.env ?? [], [...reservedEnv(config), 'CONNECTION_CHECK_MAX_COUNT'], config),
        ],
        gitSync: gitSync ? { sync: gitSync, as: 'init' } : undefined,
        serviceAccountName: props.serviceAccountName,
        restartPolicy: 'Never',
        sharedLogs: true,
      });
      // the cluster autoscaler leaves a node alone while a task runs on it (a scale-down would kill the task)
      const pod = applyPodOptions(this, 'pod', { labels: names.labels('worker', image), annotations: { [SAFE_TO_EVICT]: 'false' }, spec }, 'base', options, true);
      return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'placeholder-name', labels: pod.labels, ...annotationsOf(pod) }, spec: pod.spec };
    };
    this.pod = render('resources', props.resources, props.pod);
    this.profilePods = {};
    this.profileFiles = {};
    this.profiles = { ...props.profiles };
    for (const [name, profile] of Object.entries(props.profiles ?? {})) {
      const at = `profiles.${name}`;
      checkDnsLabel(this, 'profiles', name);
      check(profile !== null && typeof profile === 'object', this, at, profile, '{ resources?, gpus?, nodeSelector?, tolerations? }');
      if (profile.gpus !== undefined) checkWholeNumber(this, `${at}.gpus`, profile.gpus, 1);
      if (profile.slots !== undefined) checkWholeNumber(this, `${at}.slots`, profile.slots, 1);
      const resources = { requests: { ...props.resources?.requests, ...profile.resources?.requests }, limits: { ...props.resources?.limits, ...profile.resources?.limits } };
      const nodeSelector = { ...props.pod?.nodeSelector, ...profile.nodeSelector };
      const tolerations = [...props.pod?.tolerations ?? [], ...profile.tolerations ?? []];
      const options: PodOptions = {
        ...props.pod,
        ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
        ...(tolerations.length ? { tolerations } : {}),
      };
      this.profilePods[name] = render(`${at}.resources`, resources, options, profile.gpus);
      this.profileFiles[name] = `${POD_TEMPLATE_DIR}/${name}.yaml`;
    }
    // toJson_PodSpec turns the typed spec into Kubernetes JSON (quantities to strings, field names
    // such as hostIPC spelled as the API spells them), as synth does for every other object.
    const yaml = (pod: TaskPodManifest) => stringify({ ...pod, spec: k8s.toJson_PodSpec(pod.spec) }, { lineWidth: 0 });
    this.podTemplateYaml = yaml(this.pod);
    const data: Record<string, string> = { [POD_TEMPLATE_FILE_NAME]: this.podTemplateYaml };
    for (const [name, pod] of Object.entries(this.profilePods)) data[`${name}.yaml`] = yaml(pod);
    const pools = Object.entries(this.profiles).filter(([, p]) => p.slots !== undefined).map(([name]) => `    ${JSON.stringify(this.profileFiles[name])}: ${JSON.stringify(name)},`);
    if (pools.length > 0) data[LOCAL_SETTINGS] = this.clusterPolicy = clusterPolicy(pools);
    // the template's, then each profile's under its file name (without profiles: the template's alone)
    this.checksum = createHash('sha256').update(Object.entries(data).map(([file, text], i) => i === 0 ? text : `\n# ${file}\n${text}`).join('')).digest('hex');
    new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: this.configMapName, labels: names.labels('pod-template') },
      data,
    });
  }

  /**
   * Mounts clusterPolicy as `$AIRFLOW_HOME/config/airflow_local_settings.py`, where Airflow imports it from (a file of
   * that name in the image is hidden by it); give it with volume(). Undefined when there is no clusterPolicy.
   */
  public policyVolumeMount(): k8s.VolumeMount | undefined {
    return this.clusterPolicy === undefined ? undefined
      : { name: 'pod-template', mountPath: `${AIRFLOW_HOME}/config/${LOCAL_SETTINGS}`, subPath: LOCAL_SETTINGS, readOnly: true };
  }

  /** The ConfigMap as a volume named `pod-template`. */
  public volume(): k8s.Volume {
    return { name: 'pod-template', configMap: { name: this.configMapName } };
  }

  /** Mounts the template at `[kubernetes_executor] pod_template_file`. */
  public volumeMount(): k8s.VolumeMount {
    return { name: 'pod-template', mountPath: POD_TEMPLATE_DIR, readOnly: true };
  }
}
