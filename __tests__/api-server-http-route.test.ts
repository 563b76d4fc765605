import { Airflow, AirflowConfig, ApiServer, ApiServerHttpRoute, ApiServerIngress } from '../lib';
import { K8S_SCHEMAS, SchemaValidator } from '../scripts/schema';
import { find, synth, testChart } from './helpers';

const validators = K8S_SCHEMAS.map(p => new SchemaValidator(p));

/** An api-server and its HTTPRoute alone in a chart. */
function render(props: Partial<ConstructorParameters<typeof ApiServerHttpRoute>[2]> = {}, options?: Record<string, Record<string, string>>) {
  const chart = testChart();
  const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config', { options }) });
  new ApiServerHttpRoute(chart, 'route', { apiServer, gateway: { name: 'shared', namespace: 'gateways', sectionName: 'https' }, hosts: ['airflow.example.com'], ...props });
  const objects = synth(chart);
  return { apiServer, objects, route: find(objects, 'HTTPRoute', apiServer.name) };
}

describe('ApiServerHttpRoute', () => {
  test('a v1 HTTPRoute on the Gateway\'s listener: the UI and API to the api-server, the execution API to a Service without pods', () => {
    const { route, objects, apiServer } = render();
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.metadata.namespace).toBe('airflow-test');
    expect(route.spec.parentRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'shared', namespace: 'gateways', sectionName: 'https' }]);
    expect(route.spec.hostnames).toEqual(['airflow.example.com']);
    const rules = route.spec.rules.map((r: any) => [r.matches[0].path.type, r.matches[0].path.value, r.backendRefs[0].name, r.backendRefs[0].port]);
    const service = find(objects, 'Service', apiServer.name);
    expect(rules).toEqual([['PathPrefix', '/execution', 'airflow-no-route', 80], ['PathPrefix', '/', service.metadata.name, service.spec.ports[0].port]]);
    expect(find(objects, 'Service', 'airflow-no-route').spec.selector).toBeUndefined();
  });

  test('below [api] base_url\'s path', () => {
    const { route } = render({}, { api: { base_url: 'https://example.com/airflow' } });
    expect(route.spec.rules.map((r: any) => r.matches[0].path.value)).toEqual(['/airflow/execution', '/airflow']);
  });

  test('valid by the HTTPRoute CRD\'s schema, under both Kubernetes schemas; a field the CRD lacks is not', () => {
    const { route } = render();
    for (const v of validators) {
      expect(v.validate({ source: 'route', text: '', object: route })).toEqual([]);
      expect(v.validate({ source: 'route', text: '', object: { ...route, spec: { ...route.spec, hostname: 'x' } } }).join()).toMatch(/must NOT have additional properties 'hostname'/);
    }
  });

  test('with an Ingress beside it, one Service without pods serves both', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', {
      networkPolicies: false, ingress: { hosts: ['airflow.example.com'] }, httpRoute: { gateway: { name: 'shared' } },
    });
    const objects = synth(chart);
    expect(objects.filter(o => o.kind === 'Service' && o.metadata.name === 'airflow-no-route')).toHaveLength(1);
    expect(find(objects, 'HTTPRoute', 'airflow-api-server').spec.hostnames).toBeUndefined();
    expect(find(objects, 'Ingress', 'airflow-api-server')).toBeDefined();
  });

  test('in an Airflow: the api-server\'s NetworkPolicy must admit the Gateway', () => {
    expect(() => new Airflow(testChart(), 'airflow', { httpRoute: { gateway: { name: 'shared' } } }))
      .toThrow(/networkPolicies\.apiServerFrom: got undefined; expected the Gateway's pods with httpRoute set/);
  });

  test('the construct alone, as ApiServerIngress is: no Airflow needed', () => {
    const chart = testChart();
    const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config') });
    new ApiServerIngress(chart, 'ingress', { apiServer, hosts: ['airflow.example.com'] });
    new ApiServerHttpRoute(chart, 'route', { apiServer, gateway: { name: 'shared' } });
    expect(synth(chart).map(o => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HTTPRoute', 'Ingress', 'Service', 'Service']);
  });
});
