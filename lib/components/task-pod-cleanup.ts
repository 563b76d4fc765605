import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, checkConfig } from '../config/airflow-config';
import { checkSchedule, maintenanceCronJob } from './cron-job';
import { airflowPodSpec } from './airflow-pod';
import { checkKnownProps } from '../core/known-props';
import { PodOptions } from '../core/pod-options';
import { ContainerResourcesProps, renderResources } from '../core/resources';
import { grant } from '../platform/scheduler-rbac';
import { checkWholeNumber } from '../core/validation';

/** Properties of {@link TaskPodCleanup}. */
export interface TaskPodCleanupProps {
  readonly config: AirflowConfig;
  /** The image the job runs (it uses the Kubernetes client that ships with Airflow). @default the config's defaultImage (AirflowConfig.airflowImage says what is accepted) */
  readonly image?: string;
  /** When it runs, a five-field cron schedule in the controller-manager's time zone. @default every 15 minutes */
  readonly schedule?: string;
  /** Seconds after its last container ended that a succeeded task pod is deleted. @default 300 (5 minutes) */
  readonly succeededAfterSeconds?: number;
  /**
   * Seconds after its last container ended that a failed task pod is deleted (they are kept, with
   * `[kubernetes_executor] delete_worker_pods_on_failure = False`, to be looked at). @default 86400 (a day)
   */
  readonly failedAfterSeconds?: number;
  /** @default requests 50m CPU / 256Mi, limit 512Mi */
  readonly resources?: ContainerResourcesProps;
  /** Scheduling, pull secrets, metadata, sidecars and extra volumes of its pods (see PodOptions). @default none */
  readonly pod?: PodOptions;
}

/** Deletes this installation's finished task pods once they are old enough; run inside the job's pod. */
const CLEANUP = `
import datetime, os
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
after = {"Succeeded": int(os.environ["SUCCEEDED_AFTER_SECONDS"]), "Failed": int(os.environ["FAILED_AFTER_SECONDS"])}
now = datetime.datetime.now(datetime.timezone.utc)
selector = "kubernetes_executor=True,app.kubernetes.io/instance=" + os.environ["INSTANCE"]
for pod in api.list_namespaced_pod(ns, label_selector=selector).items:
    if pod.status.phase not in after:
        continue
    ended = [s.state.terminated.finished_at for s in pod.status.container_statuses or [] if s.state.terminated]
    age = (now - max(ended, default=pod.metadata.creation_timestamp)).total_seconds()
    if age >= after[pod.status.phase]:
        print(f"deleting {pod.status.phase.lower()} task pod {pod.metadata.name}, ended {int(age)} s ago", flush=True)
        api.delete_namespaced_pod(pod.metadata.name, ns)
`.trim();

/**
 * A CronJob `<instanceName>-cleanup-pods` that deletes this installation's finished task pods: succeeded
 * ones after a few minutes, failed ones (kept for debugging) after a day. The executor deletes the pods
 * it watches itself, but not those that finish while no scheduler watches them (found by the e2e run:
 * a task pod that finished while the scheduler was replaced stayed forever), as the official chart's
 * `airflow kubernetes cleanup-pods` CronJob also covers. Its ServiceAccount
 * `<instanceName>-cleanup-pods` may only list and delete pods in the namespace.
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
 */
export class TaskPodCleanup extends Construct {
  public readonly name: string;
  public readonly cronJob: k8s.KubeCronJob;

  /** @throws AirflowValidationError for a bad schedule, ages, image or resources. */
  constructor(scope: Construct, id: string, props: TaskPodCleanupProps) {
    super(scope, id);
    checkKnownProps(this, props);
    const { config } = props;
    checkConfig(this, config);
    const image = props.config.airflowImage(this, 'image', props.image);
    const schedule = checkSchedule(this, 'schedule', props.schedule ?? '*/15 * * * *');
    const succeeded = checkWholeNumber(this, 'succeededAfterSeconds', props.succeededAfterSeconds ?? 300, 0);
    const failed = checkWholeNumber(this, 'failedAfterSeconds', props.failedAfterSeconds ?? 86400, 0);
    const names = config.names;
    const serviceAccountName = grant(this, names, Chart.of(this).namespace, 'cleanup-pods', [
      { apiGroups: [''], resources: ['pods'], verbs: ['delete', 'list'] },
    ]);
    const podSpec = airflowPodSpec(this, {
      config,
      image,
      containerName: 'cleanup-pods',
      args: ['python', '-c', CLEANUP],
      resources: renderResources(this, 'resources', props.resources, { requests: { cpu: '50m', memory: '256Mi' }, limits: { memory: '512Mi' } }),
      secretUses: [],
      optionSecrets: 'task',
      extraEnv: [
        { name: 'CONNECTION_CHECK_MAX_COUNT', value: '0' }, // no database: skip the entrypoint's wait for one
        { name: 'INSTANCE', value: names.instanceName },
        { name: 'SUCCEEDED_AFTER_SECONDS', value: String(succeeded) },
        { name: 'FAILED_AFTER_SECONDS', value: String(failed) },
      ],
      serviceAccountName,
      restartPolicy: 'OnFailure',
    });
    this.name = names.name('cleanup-pods');
    const labels = names.labels('cleanup-pods', image);
    this.cronJob = maintenanceCronJob(this, { name: this.name, labels, schedule, historyLimit: 1, backoffLimit: 2, podSpec, pod: props.pod, main: podSpec.containers[0].name });
  }
}
