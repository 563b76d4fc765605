import { Construct } from 'constructs';
import { AirflowDeployment, DagReaderProps } from './airflow-deployment';
import { jobsCheckProbes } from './airflow-pod';
import { TaskPodTemplate } from './task-pod-template';
import { check } from '../core/validation';

/** Properties of {@link DagProcessor}. */
export interface DagProcessorProps extends DagReaderProps {
  /**
   * The installation's task pod template, whose cluster policy (TaskPodTemplate.clusterPolicy: tasks on a profile
   * with slots run in its pool) the dag-processor loads when it parses DAGs. @default none
   */
  readonly podTemplate?: TaskPodTemplate;
}

/**
 * `airflow dag-processor`, which Airflow 3 always runs standalone: it parses the DAG files and
 * stores serialized DAGs for the scheduler and api-server. Deployment `<instanceName>-dag-processor`.
 *
 * Startup and liveness: exec `airflow jobs check --job-type DagProcessorJob --local` (`jobsCheckProbes`: startup
 * every 10 s for up to 5 minutes, then liveness every 60 s, 20 s timeout, 5 failures).
 * Resources default to requests 250m CPU / 512Mi, limit 1Gi.
 *
 * It runs DAG authors' code, so it holds no JWT secret: it reaches the execution API in process
 * (`InProcessExecutionAPI`, `dag_processing/manager.py`), whose auth is bypassed, and signs no token; only the scheduler
 * and the api-server sign task tokens.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/dagfile-processing.html
 */
export class DagProcessor extends AirflowDeployment {
  /** @throws AirflowValidationError for bad props, or a `[core] dags_folder` that is not where git-sync puts the DAGs. */
  constructor(scope: Construct, id: string, props: DagProcessorProps) {
    const { gitSync } = props;
    const policy = props.podTemplate instanceof TaskPodTemplate ? props.podTemplate.policyVolumeMount() : undefined;
    super(scope, id, props, {
      component: 'dag-processor',
      args: ['airflow', 'dag-processor'],
      secretUses: ['sqlAlchemyConn', 'fernetKey'],
      defaultResources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      ...jobsCheckProbes('DagProcessorJob'),
      gitSync: gitSync ? { sync: gitSync, as: 'sidecar' } : undefined,
      ...(policy ? {
        extraVolumes: [props.podTemplate!.volume()],
        extraVolumeMounts: [policy],
        checksums: { 'pod-template': props.podTemplate!.checksum },
      } : {}),
    });
    if (props.podTemplate !== undefined) {
      check(props.podTemplate instanceof TaskPodTemplate && props.podTemplate.config === props.config, this, 'podTemplate', props.podTemplate?.node?.path,
        'the TaskPodTemplate of the same installation (made with the same AirflowConfig)');
    }
  }
}
