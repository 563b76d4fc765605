import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import * as k8s from '../imports/k8s';
import { AirflowConfig, checkConfig } from './airflow-config';
import { airflowPodSpec, checkExtraEnv, reservedEnv } from './airflow-pod';
import { GitSync } from './git-sync';
import { checkKnownProps } from './known-props';
import { annotationsOf, applyPodOptions, PodOptions, SAFE_TO_EVICT } from './pod-options';
import { POD_TEMPLATE_DIR, POD_TEMPLATE_FILE_NAME } from './names';
import { ContainerResources, ContainerResourcesProps, renderResources } from './resources';
import { checkDnsSubdomain } from './validation';

/** The `base` container's resources unless given. */
export const DEFAULT_TASK_RESOURCES: ContainerResources = {
  requests: { cpu: '250m', memory: '512Mi', ephemeralStorage: '1Gi' },
  limits: { memory: '1Gi', ephemeralStorage: '4Gi' },
};

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
}

/**
 * The KubernetesExecutor's `pod_template_file`, kept in the ConfigMap `<instanceName>-pod-template`
 * and mounted by the scheduler at `[kubernetes_executor] pod_template_file`
 * (`/opt/airflow/pod_templates/pod_template_file.yaml`).
 *
 * The first container is named `base` (the executor merges its own container, with the task
 * command, into it), `command` is left to the image entrypoint and `restartPolicy` is `Never`. The
 * pod gets airflow.cfg (with `[core] execution_api_server_url`), the DAG files at the path the
 * dag-processor saw, and no database credentials: Airflow 3 tasks talk to the Task Execution API.
 * @see https://airflow.apache.org/docs/apache-airflow-providers-cncf-kubernetes/stable/kubernetes_executor.html
 */
export class TaskPodTemplate extends Construct {
  /** The pod manifest. */
  public readonly pod: { apiVersion: 'v1'; kind: 'Pod'; metadata: k8s.ObjectMeta; spec: k8s.PodSpec };
  /** The rendered pod_template_file. */
  public readonly podTemplateYaml: string;
  /** sha256 of the rendered template, for the scheduler's rollout annotation. */
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
    const spec = airflowPodSpec(this, {
      config,
      image,
      containerName: 'base',
      resources: renderResources(this, 'resources', props.resources, DEFAULT_TASK_RESOURCES),
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
    const pod = applyPodOptions(this, 'pod', { labels: names.labels('worker', image), annotations: { [SAFE_TO_EVICT]: 'false' }, spec }, 'base', props.pod, true);
    this.pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'placeholder-name', labels: pod.labels, ...annotationsOf(pod) },
      spec: pod.spec,
    };
    // toJson_PodSpec turns the typed spec into Kubernetes JSON (quantities to strings, field names
    // such as hostIPC spelled as the API spells them), as synth does for every other object.
    this.podTemplateYaml = stringify({ ...this.pod, spec: k8s.toJson_PodSpec(pod.spec) }, { lineWidth: 0 });
    this.checksum = createHash('sha256').update(this.podTemplateYaml).digest('hex');
    new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: this.configMapName, labels: names.labels('pod-template') },
      data: { [POD_TEMPLATE_FILE_NAME]: this.podTemplateYaml },
    });
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
