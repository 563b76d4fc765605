import { AirflowConfig, GitSync, Triggerer, TriggererProps } from '../lib';
import { envOf, find, podSpec, synth, testChart, expectJobsCheckProbes, expectSyncBeforeStart } from './helpers';

/** A chart with airflow.cfg and the triggerer only. */
function render(props: Partial<TriggererProps> = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config');
  const triggerer = new Triggerer(chart, 'triggerer', { config, ...props });
  const objects = synth(chart);
  const deployment = find(objects, 'Deployment', triggerer.name);
  const spec = podSpec(deployment);
  const container = spec.containers.find((c: any) => c.name === 'triggerer');
  return { config, triggerer, deployment, spec, container };
}

describe('Triggerer', () => {
  test('is the Deployment airflow-triggerer running `airflow triggerer`', () => {
    const { deployment, container, spec } = render();
    expect(deployment.metadata.name).toBe('airflow-triggerer');
    expect(container.args).toEqual(['airflow', 'triggerer']);
    expect(container.command).toBeUndefined();
    expect(spec.containers).toHaveLength(1);
  });

  test('startup and liveness are exec `airflow jobs check` for TriggererJob, startup gating liveness, with generous timeouts', () => {
    expectJobsCheckProbes(render().container, 'TriggererJob');
  });

  test('serves running triggers\' logs: port 8794, the api-server\'s [api] secret_key, named by its pod IP', () => {
    const { container } = render();
    expect(container.ports).toEqual([{ name: 'trigger-logs', containerPort: 8794 }]);
    const env = envOf(container);
    expect(env.AIRFLOW__API__SECRET_KEY).toEqual({ secret: 'airflow-secrets', key: 'api-secret-key' });
    expect(env.AIRFLOW__CORE__HOSTNAME_CALLABLE.value).toBe('airflow.utils.net.get_host_ip_address');
    // the user cannot set it twice
    expect(() => render({ env: [{ name: 'AIRFLOW__CORE__HOSTNAME_CALLABLE', value: 'x.y' }] })).toThrow(/env/);
  });

  test('talks to the database: the connection URL and fernet key come from Secrets', () => {
    const { container, config } = render();
    const env = envOf(container);
    expect(env.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: config.secrets.sqlAlchemyConn.secretName, key: config.secrets.sqlAlchemyConn.key });
    expect(env.AIRFLOW__CORE__FERNET_KEY.secret).toBeDefined();
  });

  test('waits for migrations and needs no Kubernetes API token', () => {
    const { spec } = render();
    expect(spec.initContainers.find((c: any) => c.name === 'wait-for-migrations').args)
      .toEqual(['airflow', 'db', 'check-migrations', '--migration-wait-timeout=60']);
    expect(spec.serviceAccountName).toBeUndefined();
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('defaults to requests 250m / 512Mi and a 1Gi limit; custom resources are honoured', () => {
    expect(render().container.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
    const custom = { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '3Gi', cpu: '2' } };
    expect(render({ resources: custom }).container.resources).toEqual(custom);
  });

  test('honours replicas and image', () => {
    const { deployment, spec } = render({ replicas: 2, image: 'apache/airflow:3.3.1-python3.12' });
    expect(deployment.spec.replicas).toBe(2);
    for (const c of [...spec.initContainers, ...spec.containers]) expect(c.image).toBe('apache/airflow:3.3.1-python3.12');
  });

  test('runs a custom image when the config declares its Airflow version', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config', { airflowVersion: '3.1.7' });
    new Triggerer(chart, 'triggerer', { config, replicas: 2, image: 'registry.example.com/airflow:3.1.7-custom' });
    const deployment = find(synth(chart), 'Deployment', 'airflow-triggerer');
    const spec = deployment.spec.template.spec;
    expect(deployment.spec.replicas).toBe(2);
    for (const c of [...spec.initContainers, ...spec.containers]) expect(c.image).toBe('registry.example.com/airflow:3.1.7-custom');
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<TriggererProps>) => () => new Triggerer(chart, `t${n++}`, { config, ...props });
    test('replicas below one', () => expect(make({ replicas: 0 })).toThrow(/replicas/));
    test('an unpinned image', () => expect(make({ image: 'apache/airflow' })).toThrow(/image/));
    test('a memory limit below the request', () =>
      expect(make({ resources: { requests: { cpu: '100m', memory: '1Gi' }, limits: { memory: '512Mi' } } })).toThrow(/resources\.limits\.memory/));
  });
});

describe('Triggerer with git-sync', () => {
  test('gets the DAG folder (custom triggers beside the DAGs) from a git-sync sidecar, read-only at dags_folder', () => {
    const chart = testChart();
    const gitSync = new GitSync(chart, 'git-sync', { repository: 'https://github.com/example/dags.git', subPath: 'dags' });
    const config = new AirflowConfig(chart, 'config', { dagsFolder: gitSync.dagsFolder });
    new Triggerer(chart, 'triggerer', { config, gitSync });
    const deployment = find(synth(chart), 'Deployment', 'airflow-triggerer');
    const spec = podSpec(deployment);
    const sidecar = spec.containers.find((c: any) => c.name === 'git-sync');
    expect(sidecar.env.find((e: any) => e.name === 'GITSYNC_ONE_TIME')).toBeUndefined();
    const mount = spec.containers[0].volumeMounts.find((m: any) => m.name === 'dags');
    expect(mount.readOnly).toBe(true);
    expect(gitSync.dagsFolder.startsWith(`${mount.mountPath}/`)).toBe(true);
    expect(deployment.spec.template.metadata.annotations['checksum/git-sync']).toBe(gitSync.checksum);
    expectSyncBeforeStart(spec);
  });

  test('a dags_folder that is not where git-sync puts the DAGs is rejected', () => {
    const chart = testChart();
    const gitSync = new GitSync(chart, 'git-sync', { repository: 'https://github.com/example/dags.git' });
    const config = new AirflowConfig(chart, 'config');
    expect(() => new Triggerer(chart, 'triggerer', { config, gitSync })).toThrow(/config\.dagsFolder: got "\/opt\/airflow\/dags"; expected GitSync\.dagsFolder/);
  });
});
