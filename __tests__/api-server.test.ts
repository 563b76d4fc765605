import { AirflowConfig, AirflowConfigProps, AirflowScheduler, ApiServer, ApiServerProps, TaskPodTemplate } from '../lib';
import { airflowCfg, envOf, find, podSpec, synth, testChart } from './helpers';

/** A chart with airflow.cfg and the api-server only. */
function render(props: Partial<ApiServerProps> = {}, configProps?: AirflowConfigProps) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', configProps);
  const apiServer = new ApiServer(chart, 'api-server', { config, ...props });
  const objects = synth(chart);
  const deployment = find(objects, 'Deployment', apiServer.name);
  const service = find(objects, 'Service', apiServer.name);
  const spec = podSpec(deployment);
  const container = spec.containers.find((c: any) => c.name === 'api-server');
  return { config, apiServer, objects, deployment, service, spec, container };
}

describe('ApiServer', () => {
  test('is the Deployment airflow-api-server running `airflow api-server`', () => {
    const { deployment, container } = render();
    expect(deployment.metadata.name).toBe('airflow-api-server');
    expect(container.args).toEqual(['airflow', 'api-server']);
    expect(container.command).toBeUndefined();
  });

  test('the Service airflow-api-server exposes port 8080 on the container port named http', () => {
    const { service, container, apiServer } = render();
    expect(service.metadata.name).toBe('airflow-api-server');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toHaveLength(1);
    const [port] = service.spec.ports;
    expect(port.port).toBe(8080);
    expect(apiServer.port).toBe(8080);
    const target = container.ports.find((p: any) => p.name === port.targetPort || p.containerPort === port.targetPort);
    expect(target).toMatchObject({ name: 'http', containerPort: 8080 });
  });

  test('the Service selects exactly the api-server pods', () => {
    const { service, deployment } = render();
    const podLabels = deployment.spec.template.metadata.labels;
    expect(Object.keys(service.spec.selector).length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(service.spec.selector)) expect(podLabels[key]).toBe(value);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.selector['app.kubernetes.io/component']).toBe('api-server');
  });

  test('task pods reach the Task Execution API through this Service', () => {
    const { objects, service } = render();
    expect(airflowCfg(objects)['core']['execution_api_server_url'])
      .toBe(`http://${service.metadata.name}.${service.metadata.namespace}:${service.spec.ports[0].port}/execution/`);
  });

  test('startup, readiness and liveness probes GET /api/v2/monitor/health on the http port', () => {
    const { container } = render();
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/api/v2/monitor/health', port: 'http' });
      expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(1);
    }
    expect(container.ports.map((p: any) => p.name)).toContain('http');
  });

  test('shares the JWT secret with the scheduler and reads the API secret key from a Secret', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    const podTemplate = new TaskPodTemplate(chart, 'pod-template', { config });
    new AirflowScheduler(chart, 'scheduler', { config, podTemplate });
    new ApiServer(chart, 'api-server', { config });
    const objects = synth(chart);
    const scheduler = envOf(podSpec(find(objects, 'Deployment', 'airflow-scheduler')).containers[0]);
    const api = envOf(podSpec(find(objects, 'Deployment', 'airflow-api-server')).containers[0]);
    for (const name of ['AIRFLOW__API_AUTH__JWT_SECRET', 'AIRFLOW__CORE__FERNET_KEY', 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']) {
      expect(api[name].secret).toBeDefined();
      expect(api[name]).toEqual(scheduler[name]);
    }
    expect(api.AIRFLOW__API__SECRET_KEY).toEqual({ secret: config.secrets.apiSecretKey.secretName, key: config.secrets.apiSecretKey.key });
  });

  test('runs as the ServiceAccount airflow-api-server with its token (it reads task pod logs)', () => {
    const { spec } = render();
    expect(spec.serviceAccountName).toBe('airflow-api-server');
    expect(spec.automountServiceAccountToken).toBe(true);
  });

  test('waits for the database migrations', () => {
    const wait = render().spec.initContainers.find((c: any) => c.name === 'wait-for-migrations');
    expect(wait.args).toEqual(['airflow', 'db', 'check-migrations', '--migration-wait-timeout=60']);
  });

  test('honours serviceType, replicas and the instance name', () => {
    expect(render({ serviceType: 'LoadBalancer' }).service.spec.type).toBe('LoadBalancer');
    expect(render({ replicas: 2 }).deployment.spec.replicas).toBe(2);
    const { service, deployment } = render({}, { instanceName: 'team-a' });
    expect(service.metadata.name).toBe('team-a-api-server');
    expect(deployment.metadata.name).toBe('team-a-api-server');
    expect(service.spec.selector['app.kubernetes.io/instance']).toBe('team-a');
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<ApiServerProps>) => () => new ApiServer(chart, `a${n++}`, { config, ...props });
    test('replicas below one', () => expect(make({ replicas: 0 })).toThrow(/replicas/));
    test('an unpinned image', () => expect(make({ image: 'apache/airflow' })).toThrow(/image/));
    test('an unknown Service type', () => expect(make({ serviceType: 'ExternalName' as any })).toThrow(/serviceType/));
    test('an invalid ServiceAccount name', () => expect(make({ serviceAccountName: 'UPPER' })).toThrow(/serviceAccountName/));
  });
});

describe("SimpleAuthManager's password file", () => {
  test('is on a writable emptyDir, pre-filled from the optional Secret so every replica shares one password', () => {
    const { objects, spec, container } = render({ replicas: 2 });
    const file = airflowCfg(objects).core.simple_auth_manager_passwords_file;
    const dir = file.slice(0, file.lastIndexOf('/'));
    const mount = container.volumeMounts.find((m: any) => m.mountPath === dir);
    expect(spec.volumes.find((v: any) => v.name === mount.name).emptyDir).toEqual({});
    expect(mount.readOnly).toBeFalsy();

    const init = spec.initContainers.find((c: any) => c.name === 'auth-passwords');
    const secretMount = init.volumeMounts.find((m: any) => m.readOnly);
    const secretVolume = spec.volumes.find((v: any) => v.name === secretMount.name).secret;
    expect(secretVolume).toMatchObject({ secretName: 'airflow-secrets', optional: true });
    expect(secretVolume.items).toEqual([{ key: 'simple-auth-manager-passwords', path: file.slice(dir.length + 1) }]);
    // copies the Secret's file to exactly the path Airflow reads, on the shared emptyDir
    expect(init.command.join(' ')).toContain(`cp ${secretMount.mountPath}/${file.slice(dir.length + 1)} ${dir}/`);
    expect(init.volumeMounts.find((m: any) => m.mountPath === dir).name).toBe(mount.name);
    expect(init.resources.limits.memory).toBeDefined();
    expect(init.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  test('other components do not get the passwords', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    const podTemplate = new TaskPodTemplate(chart, 'tasks', { config });
    new AirflowScheduler(chart, 'scheduler', { config, podTemplate });
    const text = JSON.stringify(synth(chart));
    expect(text).not.toContain('simple-auth-manager-passwords');
  });
});
