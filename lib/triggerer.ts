import { Construct } from 'constructs';
import { AirflowDeployment, DagReaderProps } from './airflow-deployment';
import { jobsCheckProbe } from './airflow-pod';

/** Properties of {@link Triggerer}. */
export interface TriggererProps extends DagReaderProps {}

/**
 * `airflow triggerer`, which runs the triggers of deferrable operators and sensors, as the
 * Deployment `<instanceName>-triggerer`. With `gitSync`, custom triggers kept beside the DAGs
 * (importable because `[core] dags_folder` is on `sys.path`) are there too.
 *
 * Liveness: exec `airflow jobs check --job-type TriggererJob --local` (every 60 s, 20 s timeout,
 * 5 failures). Resources default to requests 250m CPU / 512Mi, limit 1Gi.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html
 */
export class Triggerer extends AirflowDeployment {
  /** @throws AirflowValidationError for bad props (see AirflowDeploymentProps). */
  constructor(scope: Construct, id: string, props: TriggererProps) {
    const { gitSync } = props;
    super(scope, id, props, {
      component: 'triggerer',
      args: ['airflow', 'triggerer'],
      sharedLogs: true,
      secretUses: ['sqlAlchemyConn', 'fernetKey', 'jwtSecret'],
      defaultResources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      livenessProbe: jobsCheckProbe('TriggererJob'),
      gitSync: gitSync ? { sync: gitSync, as: 'sidecar' } : undefined,
    });
  }
}
