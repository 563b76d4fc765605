import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { AirflowConfig, AUTH_DIR } from '../config/airflow-config';
import { AirflowDeployment, AirflowDeploymentProps } from './airflow-deployment';
import { AirflowPodOptions } from './airflow-pod';
import { Autoscaling } from '../platform/autoscaling';
import { WEBSERVER_CONFIG_FILE } from '../config/auth-manager';
import { AIRFLOW_GID, AIRFLOW_UID, API_SERVER_PORT } from '../core/names';
import { restrictedContainerSecurity } from '../core/security';
import { check, checkDnsSubdomain, claimOncePerCluster } from '../core/validation';

/** The api-server's health endpoint. */
export const HEALTH_PATH = '/api/v2/monitor/health';

const PASSWORDS_FILE = 'simple_auth_manager_passwords.json.generated';

/**
 * What the api-server's auth manager needs in its pod.
 *
 * SimpleAuthManager (Airflow's default) reads and writes its password file (`a+`), so the file
 * must be on a writable volume: the `auth` emptyDir at `[core] simple_auth_manager_passwords_file`'s
 * folder. An init container copies the passwords from the Secret there first when the Secret has
 * them (the volume is optional), so that all replicas share one password.
 *
 * The FAB auth manager reads webserver_config.py (from the config's ConfigMap, at `[fab] config_file`) and, with
 * OIDC, the client secret from its Secret and the provider's CA if one is given. Only the api-server gets them.
 */
function authManagerPod(config: AirflowConfig | undefined, image: string | undefined): Pick<AirflowPodOptions, 'extraVolumes' | 'extraVolumeMounts' | 'extraInitContainers'> & { componentEnv?: k8s.EnvVar[] } {
  if (!(config instanceof AirflowConfig)) return {}; // AirflowDeployment reports the bad config
  const auth = config.authManager;
  if (auth.kind === 'fab') {
    return {
      componentEnv: auth.env,
      extraVolumes: auth.volumes,
      extraVolumeMounts: [{ name: 'config', mountPath: WEBSERVER_CONFIG_FILE, subPath: 'webserver_config.py', readOnly: true }, ...auth.volumeMounts],
    };
  }
  const ref = config.secrets.simpleAuthManagerPasswords;
  return {
    extraVolumes: [
      { name: 'auth', emptyDir: {} },
      { name: 'auth-passwords', secret: { secretName: ref.secretName, optional: true, items: [{ key: ref.key, path: PASSWORDS_FILE }] } },
    ],
    extraVolumeMounts: [{ name: 'auth', mountPath: AUTH_DIR }],
    extraInitContainers: [{
      name: 'auth-passwords',
      image: image ?? config.defaultImage,
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/sh', '-c', `if [ -f /passwords/${PASSWORDS_FILE} ]; then cp /passwords/${PASSWORDS_FILE} ${AUTH_DIR}/; fi`],
      resources: {
        requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('16Mi') },
        limits: { memory: k8s.Quantity.fromString('64Mi') },
      },
      securityContext: restrictedContainerSecurity(AIRFLOW_UID, AIRFLOW_GID),
      volumeMounts: [{ name: 'auth', mountPath: AUTH_DIR }, { name: 'auth-passwords', mountPath: '/passwords', readOnly: true }],
    }],
  };
}

/** Kubernetes' default `--service-node-port-range` (kube-apiserver). */
const NODE_PORTS = [30000, 32767] as const;

/** Properties of {@link ApiServer}. */
export interface ApiServerProps extends AirflowDeploymentProps {
  /**
   * ServiceAccount allowed to read running task pods' logs. It must exist: SchedulerRbac creates
   * `<instanceName>-api-server` with exactly those rights. @default '<instanceName>-api-server'
   */
  readonly serviceAccountName?: string;
  /** Type of the Service. @default 'ClusterIP' (expose it with your Ingress or Gateway) */
  readonly serviceType?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /**
   * The port every node opens for the Service (`nodePort`), with `serviceType` NodePort or LoadBalancer: 30000 to
   * 32767, Kubernetes' default `--service-node-port-range`, e.g. 30007 for a kind cluster's port mapping
   * (docs/kind-cluster.yaml). @default one Kubernetes picks
   * @see https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport
   */
  readonly nodePort?: number;
  /**
   * A HorizontalPodAutoscaler owns the replicas (see Autoscaling), e.g. `{ minReplicas: 2, maxReplicas: 10,
   * cpuUtilization: 70, memoryUtilization: 80 }`; `replicas` must then be unset. @default none: `replicas` pods
   */
  readonly autoscaling?: Autoscaling;
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
      sharedLogs: true,
      secretUses: ['sqlAlchemyConn', 'fernetKey', 'jwtSecret', 'jwtPublicKeys', 'apiSecretKey'],
      defaultResources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      serviceAccountName,
      ports: [{ name: 'http', containerPort: API_SERVER_PORT }],
      ...authManagerPod(props.config, props.image),
      startupProbe: probe(6, 20),
      readinessProbe: probe(5, 5),
      livenessProbe: probe(5, 5),
      autoscaling: props.autoscaling,
    });
    checkDnsSubdomain(this, 'serviceAccountName', serviceAccountName!);
    const serviceType = props.serviceType ?? 'ClusterIP';
    check(['ClusterIP', 'NodePort', 'LoadBalancer'].includes(serviceType), this, 'serviceType', serviceType, '"ClusterIP", "NodePort" or "LoadBalancer"');
    if (props.nodePort !== undefined) {
      check(serviceType !== 'ClusterIP', this, 'nodePort', props.nodePort, 'unset with serviceType "ClusterIP", which opens no port on the nodes (or serviceType "NodePort")');
      check(Number.isInteger(props.nodePort) && props.nodePort >= NODE_PORTS[0] && props.nodePort <= NODE_PORTS[1], this, 'nodePort', props.nodePort,
        `a port of Kubernetes' default NodePort range, ${NODE_PORTS[0]} to ${NODE_PORTS[1]}`);
      claimOncePerCluster(this, 'nodePort', 'NodePort', String(props.nodePort),
        'every node opens a NodePort for one Service: the API server refuses the second, "provided port is already allocated"');
    }
    const names = props.config.names;
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, labels: names.labels('api-server', this.image) },
      spec: {
        type: serviceType,
        selector: names.selector('api-server'),
        ports: [{ name: 'http', port: API_SERVER_PORT, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP', nodePort: props.nodePort }],
      },
    });
  }

  /**
   * A Service with no selector and so no endpoints (`<instanceName>-no-route`, port 80), for the paths an Ingress or
   * HTTPRoute must not forward to the api-server (the Task Execution API): Ingress controllers and Gateways answer
   * them with an error (HTTP 503 or 500). Made once, by the first caller.
   */
  public noRouteService(): k8s.KubeService {
    const existing = this.node.tryFindChild('NoRoute');
    if (existing) return existing as k8s.KubeService;
    const names = this.config.names;
    return new k8s.KubeService(this, 'NoRoute', {
      metadata: { name: names.name('no-route'), labels: names.labels('no-route') },
      spec: { type: 'ClusterIP', ports: [{ name: 'closed', port: 80, protocol: 'TCP' }] },
    });
  }
}
