import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { airflowPodSpec, AirflowPodOptions, checkExtraEnv, DEFAULT_MIGRATION_WAIT_RESOURCES, reservedEnv } from './airflow-pod';
import { Autoscaling, checkAutoscaling, horizontalPodAutoscaler } from '../platform/autoscaling';
import { checkDisruptionBudget, DisruptionBudget, podDisruptionBudget } from '../core/disruption-budget';
import { GitSync } from '../dags/git-sync';
import { checkKnownProps } from '../core/known-props';
import { applyPodOptions, NodeSpreading, PodOptions, SAFE_TO_EVICT, spreadOverNodes } from '../core/pod-options';
import { AirflowComponentName } from '../core/names';
import { ContainerResources, ContainerResourcesProps, renderResources } from '../core/resources';
import { check, checkWholeNumber } from '../core/validation';


/** Properties every Airflow Deployment shares. */
export interface AirflowDeploymentProps {
  /** airflow.cfg, the secret references and the names of this installation. */
  readonly config: AirflowConfig;
  /** The Airflow image, pinned; see AirflowConfig.airflowImage for what is accepted. @default the config's defaultImage (apache/airflow:<AIRFLOW_VERSION>) */
  readonly image?: string;
  /** Number of pods; a whole number >= 1. @default 1 */
  readonly replicas?: number;
  /** CPU and memory of the main container. @default per component, see each construct */
  readonly resources?: ContainerResourcesProps;
  /** CPU and memory of the wait-for-migrations init container. @default requests 50m / 256Mi, limit 512Mi */
  readonly migrationWaitResources?: ContainerResourcesProps;
  /** Extra environment variables of the main container; names unique, none that the library sets. @default [] */
  readonly env?: k8s.EnvVar[];
  /**
   * Spread the pods over nodes (`topologySpreadConstraints` on `kubernetes.io/hostname`, maxSkew 1, counting
   * the pods of one rollout on the nodes they tolerate; see spreadOverNodes): 'DoNotSchedule' keeps a second pod
   * off a node that already runs one (high availability); 'ScheduleAnyway' prefers it. @default 'ScheduleAnyway'
   */
  readonly spreadAcrossNodes?: NodeSpreading;
  /** A PodDisruptionBudget for the pods. @default none */
  readonly disruptionBudget?: DisruptionBudget;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of the pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/** Properties of the components that read DAG files (dag-processor, triggerer). */
export interface DagReaderProps extends AirflowDeploymentProps {
  /**
   * Keeps the DAG files current with a git-sync sidecar; `config.dagsFolder` must be its `dagsFolder`.
   * @default none: DAGs baked into the image at `[core] dags_folder`
   */
  readonly gitSync?: GitSync;
}

/** What a component adds to the shared Deployment shape. */
export interface AirflowDeploymentSpec extends Omit<AirflowPodOptions,
'config' | 'image' | 'resources' | 'migrationWait' | 'extraEnv' | 'containerName' | 'optionSecrets'> {
  readonly component: AirflowComponentName;
  readonly defaultResources: ContainerResources;
  /**
   * sha256 sums of what the pods mount besides airflow.cfg and git-sync (both added here), as
   * `checksum/<name>` pod annotations so a change rolls the pods. @default {}
   */
  readonly checksums?: Record<string, string>;
  /** Environment variables the component sets itself, before the user's `env`. @default [] */
  readonly componentEnv?: k8s.EnvVar[];
  /** A HorizontalPodAutoscaler owns the replicas (the component's `autoscaling` prop). @default none: `replicas` */
  readonly autoscaling?: Autoscaling;
}

/**
 * The Deployment shape the Airflow components share: stable name `<instanceName>-<component>`,
 * `app.kubernetes.io/*` labels, the pod of `airflowPodSpec` (lib/components/airflow-pod.ts), rollout on config change and
 * optional spreading and PodDisruptionBudget. Subclasses supply the command, probes and mounts.
 */
export abstract class AirflowDeployment extends Construct {
  /** The Deployment's name, e.g. `airflow-scheduler`. */
  public readonly name: string;
  /** Number of pods; with an autoscaler, the fewest (`minReplicas`). */
  public readonly replicas: number;
  /** The image the pods run. */
  public readonly image: string;
  /** The installation's configuration the pods read. */
  public readonly config: AirflowConfig;
  /** The Deployment object (escape hatch). */
  public readonly deployment: k8s.KubeDeployment;
  /** The PodDisruptionBudget, if one was asked for. */
  public readonly podDisruptionBudget?: k8s.KubePodDisruptionBudget;
  /** The HorizontalPodAutoscaler that owns the replicas, if the component has one. */
  public readonly autoscaler?: k8s.KubeHorizontalPodAutoscalerV2;

  /** @throws AirflowValidationError for bad replicas, image, resources, env or disruption budget. */
  protected constructor(scope: Construct, id: string, props: AirflowDeploymentProps, spec: AirflowDeploymentSpec) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    this.config = config;
    const names = config.names;
    this.name = names.name(spec.component);
    check(spec.autoscaling === undefined || props.replicas === undefined, this, 'replicas', props.replicas,
      'unset with autoscaling: the HorizontalPodAutoscaler owns the replicas (autoscaling.minReplicas and maxReplicas)');
    const fixedReplicas = spec.autoscaling === undefined ? checkWholeNumber(this, 'replicas', props.replicas ?? 1, 1) : undefined;
    const image = this.image = config.airflowImage(this, 'image', props.image);
    const podSpec = airflowPodSpec(this, {
      ...spec,
      config,
      image,
      containerName: spec.component,
      optionSecrets: 'all',
      resources: renderResources(this, 'resources', props.resources, spec.defaultResources),
      migrationWait: renderResources(this, 'migrationWaitResources', props.migrationWaitResources, DEFAULT_MIGRATION_WAIT_RESOURCES),
      extraEnv: [
        ...spec.componentEnv ?? [],
        ...checkExtraEnv(this, 'env', props.env ?? [], [...reservedEnv(config), ...(spec.componentEnv ?? []).map(e => e.name)], config),
      ],
    });
    const selector = names.selector(spec.component);
    const spread = spreadOverNodes(this, 'spreadAcrossNodes', props.spreadAcrossNodes ?? 'ScheduleAnyway', selector);
    const annotations: Record<string, string> = { [SAFE_TO_EVICT]: 'true', 'checksum/airflow-config': config.checksum };
    if (spec.gitSync) annotations['checksum/git-sync'] = spec.gitSync.sync.checksum;
    for (const [name, sum] of Object.entries(spec.checksums ?? {})) annotations[`checksum/${name}`] = sum;

    const template = applyPodOptions(this, 'pod', {
      labels: names.labels(spec.component, image),
      annotations,
      spec: {
        ...podSpec,
        topologySpreadConstraints: [spread],
      },
    }, spec.component, props.pod);
    const autoscaling = spec.autoscaling && checkAutoscaling(this, spec.autoscaling);
    this.replicas = autoscaling?.minReplicas ?? fixedReplicas!;
    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, labels: names.labels(spec.component, image) },
      spec: {
        // with an autoscaler, no replicas: applying the manifests again would reset what it chose
        replicas: fixedReplicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        template: { metadata: { labels: template.labels, annotations: template.annotations }, spec: template.spec },
      },
    });

    const budget = checkDisruptionBudget(this, props.disruptionBudget, this.replicas);
    if (budget !== undefined) this.podDisruptionBudget = podDisruptionBudget(this, budget, { name: this.name, labels: names.labels(spec.component, image) }, selector);
    if (autoscaling) this.autoscaler = horizontalPodAutoscaler(this, autoscaling, { name: this.name, labels: names.labels(spec.component, image) });
  }
}
