import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { ApiServer } from '../components/api-server';
import { checkKnownProps } from '../core/known-props';
import { API_SERVER_PORT } from '../core/names';
import { check, checkAnnotations, checkDnsSubdomain, checkHostName, claimOncePerCluster } from '../core/validation';

/** Properties of {@link ApiServerIngress}. */
export interface ApiServerIngressProps {
  /** The api-server the Ingress routes to, through its Service. */
  readonly apiServer: ApiServer;
  /**
   * The host names people reach Airflow at, e.g. `['airflow.example.com']`: DNS-1123 subdomains, a leading `*.` for a
   * wildcard; at least one.
   */
  readonly hosts: string[];
  /** The IngressClass (`spec.ingressClassName`), e.g. 'nginx'. @default the cluster's default IngressClass */
  readonly className?: string;
  /**
   * The Secret of type kubernetes.io/tls in the namespace that holds the hosts' certificate and key, by name (made
   * by you or cert-manager; never by this library). @default none: plain HTTP
   */
  readonly tlsSecretName?: string;
  /** Annotations for the Ingress controller, e.g. `{ 'cert-manager.io/cluster-issuer': 'letsencrypt' }`. @default none */
  readonly annotations?: Record<string, string>;
}

/**
 * A networking.k8s.io/v1 Ingress to the api-server's UI and REST API (`[api] base_url`'s path, or `/`), with the
 * Task Execution API (`<path>/execution`) closed: its more specific path goes to a Service with no pods
 * (`<instanceName>-no-route`, no selector, no endpoints), so the controller answers it with an error instead of
 * forwarding it. Task pods reach the execution API inside the cluster; a task token from outside gets nowhere.
 * The api-server's NetworkPolicy must admit the controller (`networkPolicies.apiServerFrom`), which `Airflow`
 * checks.
 * @see https://kubernetes.io/docs/concepts/services-networking/ingress/
 * @throws AirflowValidationError for a host, class or Secret name Kubernetes would refuse, or no host.
 */
export class ApiServerIngress extends Construct {
  public readonly ingress: k8s.KubeIngress;
  /** The Service without endpoints that the execution API's path goes to (ApiServer.noRouteService). */
  public readonly noRoute: k8s.KubeService;

  constructor(scope: Construct, id: string, props: ApiServerIngressProps) {
    super(scope, id);
    checkKnownProps(this, props);
    check(Array.isArray(props.hosts) && props.hosts.length > 0, this, 'hosts', props.hosts, 'one host name or more, e.g. ["airflow.example.com"]');
    props.hosts.forEach((host, i) => {
      checkHostName(this, `hosts[${i}]`, host);
    });
    check(new Set(props.hosts).size === props.hosts.length, this, 'hosts', props.hosts, 'each host once');
    if (props.className !== undefined) checkDnsSubdomain(this, 'className', props.className);
    if (props.tlsSecretName !== undefined) checkDnsSubdomain(this, 'tlsSecretName', props.tlsSecretName);
    if (props.annotations !== undefined) checkAnnotations(this, 'annotations', props.annotations);

    const config = props.apiServer.config;
    const base = config.apiBasePath;
    const labels = config.names.labels('api-server', props.apiServer.image);
    this.noRoute = props.apiServer.noRouteService();
    const backend = (name: string, port: number): k8s.IngressBackend => ({ service: { name, port: { number: port } } });
    const paths: k8s.HttpIngressPath[] = [
      { path: `${base}/`, pathType: 'Prefix', backend: backend(props.apiServer.service.name, API_SERVER_PORT) },
      // longer prefixes win (Ingress v1): the execution API is for task pods inside the cluster only
      { path: `${base}/execution`, pathType: 'Prefix', backend: backend(this.noRoute.name, 80) },
    ];
    props.hosts.forEach((host, i) => claimOncePerCluster(this, `hosts[${i}]`, 'host and path of an Ingress class',
      `${props.className ?? '<the default class>'}: ${host}${base}/`, 'an Ingress controller sends a host and path to one backend: the other installation would get the first one\'s traffic'));
    this.ingress = new k8s.KubeIngress(this, 'Resource', {
      metadata: { name: props.apiServer.name, labels, annotations: props.annotations },
      spec: {
        ingressClassName: props.className,
        tls: props.tlsSecretName === undefined ? undefined : [{ hosts: props.hosts, secretName: props.tlsSecretName }],
        rules: props.hosts.map(host => ({ host, http: { paths } })),
      },
    });
  }
}
