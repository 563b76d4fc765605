import { Construct } from 'constructs';
import { AirflowDeployment, AirflowDeploymentProps } from './airflow-deployment';
import { jobsCheckProbes } from './airflow-pod';
import { TaskPodTemplate } from './task-pod-template';
import { check, checkDnsSubdomain } from '../core/validation';

/** Properties of {@link AirflowScheduler}. */
export interface AirflowSchedulerProps extends AirflowDeploymentProps {
  /** The task pod template the KubernetesExecutor launches tasks from; mounted at `[kubernetes_executor] pod_template_file`. */
  readonly podTemplate: TaskPodTemplate;
  /**
   * ServiceAccount allowed to manage task pods. It must exist: SchedulerRbac creates
   * `<instanceName>-scheduler` with exactly the rights the KubernetesExecutor needs.
   * @default '<instanceName>-scheduler'
   */
  readonly serviceAccountName?: string;
}

/**
 * `airflow scheduler` with the KubernetesExecutor, as the Deployment `<instanceName>-scheduler`.
 * Several replicas run active-active (Airflow coordinates them through the database).
 *
 * Startup and liveness: exec `airflow jobs check --job-type SchedulerJob --local` (`jobsCheckProbes`): startup
 * every 10 s for up to 5 minutes, then liveness every 60 s with a 20 s timeout and 5 failures allowed, so a
 * scheduler busy with a long loop is not killed.
 * Resources default to requests 500m CPU / 1Gi, limit 2Gi.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/scheduler.html
 */
export class AirflowScheduler extends AirflowDeployment {
  /** @throws AirflowValidationError for bad props (see AirflowDeploymentProps) or a missing podTemplate. */
  constructor(scope: Construct, id: string, props: AirflowSchedulerProps) {
    const { podTemplate } = props;
    const serviceAccountName = props.serviceAccountName ?? props.config?.names.name('scheduler');
    super(scope, id, props, {
      component: 'scheduler',
      args: ['airflow', 'scheduler'],
      secretUses: ['sqlAlchemyConn', 'fernetKey', 'jwtSecret'],
      defaultResources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      serviceAccountName,
      ...jobsCheckProbes('SchedulerJob'),
      extraVolumes: podTemplate instanceof TaskPodTemplate ? [podTemplate.volume()] : [],
      extraVolumeMounts: podTemplate instanceof TaskPodTemplate ? [podTemplate.volumeMount()] : [],
      checksums: podTemplate instanceof TaskPodTemplate ? { 'pod-template': podTemplate.checksum } : {},
    });
    check(podTemplate instanceof TaskPodTemplate, this, 'podTemplate', typeof podTemplate, 'a TaskPodTemplate');
    check(podTemplate.config === props.config, this, 'podTemplate', podTemplate.node.path,
      'the TaskPodTemplate of the same installation (made with the same AirflowConfig), else tasks would use another airflow.cfg');
    checkDnsSubdomain(this, 'serviceAccountName', serviceAccountName!);
  }
}
