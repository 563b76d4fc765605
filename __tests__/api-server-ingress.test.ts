import { Airflow, AirflowConfig, ApiServer, ApiServerIngress } from '../lib';
import { find, synth, testChart } from './helpers';

/** An api-server and its Ingress alone in a chart, as a platform team would compose them. */
function render(props: Partial<ConstructorParameters<typeof ApiServerIngress>[2]> = {}, options?: Record<string, Record<string, string>>) {
  const chart = testChart();
  const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config', { options }) });
  const ingress = new ApiServerIngress(chart, 'ingress', { apiServer, hosts: ['airflow.example.com'], ...props });
  const objects = synth(chart);
  return { apiServer, ingress, objects, resource: find(objects, 'Ingress', apiServer.name) };
}

describe('ApiServerIngress', () => {
  test('routes every host\'s paths to the api-server Service\'s port, and the execution API to a Service without pods', () => {
    const { resource, objects, apiServer } = render({ hosts: ['airflow.example.com', '*.airflow.example.com'] });
    expect(resource.apiVersion).toBe('networking.k8s.io/v1');
    expect(resource.spec.rules.map((r: any) => r.host)).toEqual(['airflow.example.com', '*.airflow.example.com']);
    const service = find(objects, 'Service', apiServer.name);
    for (const rule of resource.spec.rules) {
      const byPath = Object.fromEntries(rule.http.paths.map((p: any) => [p.path, [p.pathType, p.backend.service.name, p.backend.service.port.number]]));
      expect(byPath['/']).toEqual(['Prefix', service.metadata.name, service.spec.ports[0].port]);
      expect(byPath['/execution']).toEqual(['Prefix', 'airflow-no-route', 80]);
    }
    const closed = find(objects, 'Service', 'airflow-no-route');
    // no selector: no endpoints, so the controller has nowhere to send the execution API's requests
    expect(closed.spec.selector).toBeUndefined();
    expect(closed.spec.ports.map((p: any) => p.port)).toEqual([80]);
  });

  test('below [api] base_url\'s path: the UI there, its execution API closed', () => {
    const { resource } = render({}, { api: { base_url: 'https://example.com/airflow' } });
    expect(resource.spec.rules[0].http.paths.map((p: any) => p.path)).toEqual(['/airflow/', '/airflow/execution']);
  });

  test('class, TLS Secret by name and annotations as given; none by default', () => {
    const given = render({ className: 'nginx', tlsSecretName: 'airflow-tls', annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } }).resource;
    expect(given.spec.ingressClassName).toBe('nginx');
    expect(given.spec.tls).toEqual([{ hosts: ['airflow.example.com'], secretName: 'airflow-tls' }]);
    expect(given.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt' });
    const plain = render().resource;
    expect([plain.spec.ingressClassName, plain.spec.tls, plain.metadata.annotations]).toEqual([undefined, undefined, undefined]);
  });

  test('in an Airflow: the api-server\'s NetworkPolicy must admit the controller', () => {
    const build = (props: object) => () => new Airflow(testChart(), 'airflow', { ingress: { hosts: ['airflow.example.com'] }, ...props });
    expect(build({})).toThrow(/networkPolicies\.apiServerFrom: got undefined; expected the Ingress controller's pods with ingress set/);
    expect(build({ networkPolicies: false })).not.toThrow();
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }];
    const chart = testChart();
    new Airflow(chart, 'airflow', { ingress: { hosts: ['airflow.example.com'] }, networkPolicies: { apiServerFrom: from } });
    const objects = synth(chart);
    expect(find(objects, 'NetworkPolicy', 'airflow-api-server').spec.ingress[0].from).toEqual(expect.arrayContaining(from));
    expect(find(objects, 'Ingress', 'airflow-api-server').spec.rules[0].host).toBe('airflow.example.com');
  });
});

describe('ApiServer nodePort', () => {
  test('on the Service\'s port with serviceType NodePort', () => {
    const chart = testChart();
    const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config'), serviceType: 'NodePort', nodePort: 30007 });
    const service = find(synth(chart), 'Service', apiServer.name);
    expect(service.spec.type).toBe('NodePort');
    expect(service.spec.ports).toEqual([expect.objectContaining({ port: 8080, nodePort: 30007 })]);
  });
});
