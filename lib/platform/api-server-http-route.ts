import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { ApiServer } from '../components/api-server';
import { checkKnownProps } from '../core/known-props';
import { API_SERVER_PORT } from '../core/names';
import { check, checkDnsLabel, checkDnsSubdomain, checkHostName, claimOncePerCluster } from '../core/validation';

/** The Gateway an HTTPRoute attaches to (a `parentRefs` entry). */
export interface GatewayRef {
  /** The Gateway's name. */
  readonly name: string;
  /** Its namespace; its listener must allow routes from the installation's (`allowedRoutes`). @default the installation's */
  readonly namespace?: string;
  /** One listener of it (`sectionName`), e.g. 'https'. @default every listener that allows the route */
  readonly sectionName?: string;
}

/** Properties of {@link ApiServerHttpRoute}. */
export interface ApiServerHttpRouteProps {
  /** The api-server the route forwards to, through its Service. */
  readonly apiServer: ApiServer;
  /** The Gateway (and listener) that serves the route; TLS is the Gateway's listener's. */
  readonly gateway: GatewayRef;
  /** Host names the route answers (`hostnames`): DNS-1123 subdomains, a leading `*.` for a wildcard. @default the listener's */
  readonly hosts?: string[];
}

/** The Gateway API version whose HTTPRoute CRD (standard channel) the output is validated against. */
export const GATEWAY_API_VERSION = 'v1.7.0';

/**
 * A Gateway API HTTPRoute (`gateway.networking.k8s.io/v1`, standard channel) to the api-server's UI and REST API
 * (`[api] base_url`'s path, or `/`), with the Task Execution API (`<path>/execution`, a longer prefix, which the
 * Gateway API ranks first) sent to a Service with no endpoints (ApiServer.noRouteService), so the Gateway answers
 * it with an error (503, or 500) instead of forwarding it. Needs the Gateway API CRDs in the cluster (v1.0 or
 * newer). The api-server's NetworkPolicy must admit the Gateway's data plane (`networkPolicies.apiServerFrom`),
 * which `Airflow` checks.
 * @see https://gateway-api.sigs.k8s.io/reference/spec/#httproute
 * @throws AirflowValidationError for a Gateway, namespace, listener or host name Kubernetes would refuse.
 */
export class ApiServerHttpRoute extends Construct {
  public readonly route: ApiObject;

  constructor(scope: Construct, id: string, props: ApiServerHttpRouteProps) {
    super(scope, id);
    checkKnownProps(this, props);
    check(props.gateway !== undefined && typeof props.gateway === 'object', this, 'gateway', props.gateway, '{ name, namespace?, sectionName? }');
    checkDnsSubdomain(this, 'gateway.name', props.gateway.name);
    if (props.gateway.namespace !== undefined) checkDnsLabel(this, 'gateway.namespace', props.gateway.namespace);
    if (props.gateway.sectionName !== undefined) checkDnsSubdomain(this, 'gateway.sectionName', props.gateway.sectionName);
    props.hosts?.forEach((host, i) => {
      checkHostName(this, `hosts[${i}]`, host);
    });

    const config = props.apiServer.config;
    const base = config.apiBasePath;
    const closed = props.apiServer.noRouteService();
    const listener = `${props.gateway.namespace ?? config.namespace}/${props.gateway.name}${props.gateway.sectionName ? `/${props.gateway.sectionName}` : ''}`;
    (props.hosts ?? ['<the listener\'s hosts>']).forEach((host, i) => claimOncePerCluster(this, props.hosts ? `hosts[${i}]` : 'hosts', 'host and path of a Gateway',
      `${listener}: ${host}${base || '/'}`, 'a Gateway sends a host and path to the oldest route that claims it: the other installation would get no traffic'));
    this.route = new ApiObject(this, 'Resource', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: props.apiServer.name, namespace: config.namespace, labels: config.names.labels('api-server', props.apiServer.image) },
      spec: {
        parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', ...props.gateway }],
        hostnames: props.hosts,
        rules: [
          // the execution API is for task pods inside the cluster only
          { matches: [{ path: { type: 'PathPrefix', value: `${base}/execution` } }], backendRefs: [{ name: closed.name, port: 80 }] },
          { matches: [{ path: { type: 'PathPrefix', value: base || '/' } }], backendRefs: [{ name: props.apiServer.service.name, port: API_SERVER_PORT }] },
        ],
      },
    });
  }
}
