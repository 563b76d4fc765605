import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { AUTH_DIR } from './airflow-config';
import { AirflowDeployment, AirflowDeploymentProps } from './airflow-deployment';
import { API_SERVER_PORT } from './names';
import { check, checkDnsSubdomain } from './validation';

/** The api-server's health endpoint. */
export const HEALTH_PATH = '/api/v2/monitor/health';

/** Properties of {@link ApiServer}. */
export interface ApiServerProps extends AirflowDeploymentProps {
  /** ServiceAccount allowed to read task pods' logs (see SchedulerRbac). @default '<instanceName>-api-server' */
  readonly serviceAccountName?: string;
  /** Type of the Service. @default 'ClusterIP' (expose it with your Ingress or Gateway) */
  readonly serviceType?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
}

/**
 * `airflow api-server` (UI, REST API and the Task Execution API at `/execution/`) as the Deployment
 * and Service `<instanceName>-api-server`, port 8080.
 *
 * Startup, readiness and liveness probes on `GET /api/v2/monitor/health` (below the path of
 * `[api] base_url` when it has one). Resources default to
 * requests 500m CPU / 1Gi, limit 2Gi.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/check-health.html
 */
export class ApiServer extends AirflowDeployment {
  /** The Service task pods and users reach the api-server through. */
  public readonly service: k8s.KubeService;
  public readonly port = API_SERVER_PORT;

  /** @throws AirflowValidationError for bad props (see AirflowDeploymentProps) or Service type. */
  constructor(scope: Construct, id: string, props: ApiServerProps) {
    const serviceAccountName = props.serviceAccountName ?? props.config?.names.name('api-server');
    const probe = (failureThreshold: number, timeoutSeconds: number): k8s.Probe => ({
      httpGet: { path: `${props.config?.apiBasePath ?? ''}${HEALTH_PATH}`, port: k8s.IntOrString.fromString('http') },
      periodSeconds: 10,
      timeoutSeconds,
      failureThreshold,
    });
    super(scope, id, props, {
      component: 'api-server',
      args: ['airflow', 'api-server'],
      secretUses: ['sqlAlchemyConn', 'fernetKey', 'jwtSecret', 'apiSecretKey'],
      defaultResources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      serviceAccountName,
      ports: [{ name: 'http', containerPort: API_SERVER_PORT }],
      extraVolumes: [{ name: 'auth', emptyDir: {} }],
      extraVolumeMounts: [{ name: 'auth', mountPath: AUTH_DIR }],
      startupProbe: probe(6, 20),
      readinessProbe: probe(5, 5),
      livenessProbe: probe(5, 5),
      checksums: {},
    });
    checkDnsSubdomain(this, 'serviceAccountName', serviceAccountName!);
    const serviceType = props.serviceType ?? 'ClusterIP';
    check(['ClusterIP', 'NodePort', 'LoadBalancer'].includes(serviceType), this, 'serviceType', serviceType, '"ClusterIP", "NodePort" or "LoadBalancer"');
    const names = props.config.names;
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, labels: names.labels('api-server', this.image) },
      spec: {
        type: serviceType,
        selector: names.selector('api-server'),
        ports: [{ name: 'http', port: API_SERVER_PORT, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });
  }
}
