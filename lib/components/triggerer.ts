import { Construct } from 'constructs';
import { AirflowDeployment, DagReaderProps } from './airflow-deployment';
import { jobsCheckProbes } from './airflow-pod';

/** The triggerer's log server port: Airflow reads `[logging] triggerer_log_server_port`, default 8794 (`file_task_handler.py`). */
export const TRIGGERER_LOG_SERVER_PORT = 8794;

/** Properties of {@link Triggerer}. */
export interface TriggererProps extends DagReaderProps {}

/**
 * `airflow triggerer`, which runs the triggers of deferrable operators and sensors, as the
 * Deployment `<instanceName>-triggerer`. With `gitSync`, custom triggers kept beside the DAGs
 * (importable because `[core] dags_folder` is on `sys.path`) are there too.
 *
 * Startup and liveness: exec `airflow jobs check --job-type TriggererJob --local` (`jobsCheckProbes`: startup
 * every 10 s for up to 5 minutes, then liveness every 60 s, 20 s timeout, 5 failures).
 * Resources default to requests 250m CPU / 512Mi, limit 1Gi.
 *
 * Logs of running triggers: the api-server asks `http://<the triggerer job's hostname>:8794/log/...` with a JWT
 * signed with `[api] secret_key` (`utils/serve_logs/log_server.py`). So the triggerer gets the api-server's
 * `[api] secret_key`, names itself by its pod IP (`[core] hostname_callable =
 * airflow.utils.net.get_host_ip_address`, for this process only: a pod's name is not in DNS), and exposes port
 * 8794 (`trigger-logs`), which AirflowNetworkPolicies opens to the api-server only. It runs DAG authors' triggers and
 * holds no JWT secret: it reaches the execution API in process (`in_process_api_server()`,
 * `jobs/triggerer_job_runner.py`) and signs no task token.
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
      secretUses: ['sqlAlchemyConn', 'fernetKey', 'apiSecretKey'],
      ports: [{ name: 'trigger-logs', containerPort: TRIGGERER_LOG_SERVER_PORT }],
      componentEnv: [{ name: 'AIRFLOW__CORE__HOSTNAME_CALLABLE', value: 'airflow.utils.net.get_host_ip_address' }],
      defaultResources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      ...jobsCheckProbes('TriggererJob'),
      gitSync: gitSync ? { sync: gitSync, as: 'sidecar' } : undefined,
    });
  }
}
