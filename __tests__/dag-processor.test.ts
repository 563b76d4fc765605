import { AIRFLOW_RELEASES, AirflowConfig, DagProcessor, DagProcessorProps, GitSync, GitSyncProps } from '../lib';
import { airflowCfg, airflowReference, envOf, expectSyncBeforeStart, find, podSpec, synth, testChart, expectJobsCheckProbes, mountAt } from './helpers';

const REPO = 'https://github.com/example/dags.git';

/** A chart with airflow.cfg, optionally a GitSync, and the dag-processor. */
function render(o: { gitSync?: GitSyncProps; props?: Partial<DagProcessorProps> } = {}) {
  const chart = testChart();
  const gitSync = o.gitSync ? new GitSync(chart, 'git-sync', o.gitSync) : undefined;
  const config = new AirflowConfig(chart, 'config', { dagsFolder: gitSync?.dagsFolder });
  const dagProcessor = new DagProcessor(chart, 'dag-processor', { config, gitSync, ...o.props });
  const objects = synth(chart);
  const deployment = find(objects, 'Deployment', dagProcessor.name);
  const spec = podSpec(deployment);
  const container = spec.containers.find((c: any) => c.name === 'dag-processor');
  return { config, gitSync, objects, deployment, spec, container };
}

describe('DagProcessor', () => {
  test('is the Deployment airflow-dag-processor running `airflow dag-processor`', () => {
    const { deployment, container } = render();
    expect(deployment.metadata.name).toBe('airflow-dag-processor');
    expect(container.args).toEqual(['airflow', 'dag-processor']);
    expect(container.command).toBeUndefined();
  });

  test('startup and liveness are exec `airflow jobs check` for DagProcessorJob, startup gating liveness, with generous timeouts', () => {
    expectJobsCheckProbes(render().container, 'DagProcessorJob');
  });

  // `airflow jobs check` calls a DagProcessorJob dead after its health threshold without a heartbeat (jobs/job.py
  // health_check_threshold): 3.1 uses job_heartbeat_sec × 2.1, 3.2 added [dag_processor] health_check_threshold.
  // The probe fails the pod only after failureThreshold misses, so a parse that holds the heartbeat up longer than
  // the threshold, but less than minutes, restarts nothing.
  test.each(Object.entries(AIRFLOW_RELEASES))('Airflow %s (%s): the probe gives more time than the heartbeat threshold', (series, release) => {
    const ref = airflowReference(release);
    const threshold = ref.sections.dag_processor.health_check_threshold?.default;
    if (series === '3.1') expect(threshold).toBeUndefined();
    else expect(threshold).toBe('30');
    const seconds = Number(threshold ?? Number(ref.sections.scheduler.job_heartbeat_sec.default) * 2.1);
    const probe = render().container.livenessProbe;
    expect(probe.periodSeconds * (probe.failureThreshold - 1)).toBeGreaterThan(4 * seconds);
  });

  test('reads the database URL from a Secret, has no Kubernetes API token, waits for migrations', () => {
    const { container, spec } = render();
    expect(envOf(container).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
    expect(spec.serviceAccountName).toBeUndefined();
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.initContainers.map((c: any) => c.name)).toContain('wait-for-migrations');
  });

  test('without git-sync it runs the airflow container alone', () => {
    const { spec } = render();
    expect(spec.containers.map((c: any) => c.name)).toEqual(['dag-processor']);
    expect(spec.volumes.map((v: any) => v.name)).not.toContain('dags');
  });

  // Regression: an emptyDir once covered all of AIRFLOW_HOME (/opt/airflow), hiding DAGs baked into the
  // image at the default [core] dags_folder /opt/airflow/dags (and plugins).
  test('without git-sync, DAGs baked into the image at [core] dags_folder stay visible', () => {
    const { objects, spec, container } = render();
    const dagsFolder = airflowCfg(objects)['core']['dags_folder'];
    expect(dagsFolder).toBe('/opt/airflow/dags');
    const mount = mountAt(container, dagsFolder);
    const volume = mount && spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume?.emptyDir).toBeUndefined();
  });

  describe('with git-sync', () => {
    const gitSyncProps: GitSyncProps = { repository: REPO, ref: 'main', subPath: 'dags' };

    test('runs a git-sync v4 sidecar configured only with GITSYNC_* variables', () => {
      const { spec } = render({ gitSync: gitSyncProps });
      const sidecar = spec.containers.find((c: any) => c.name === 'git-sync');
      expect(sidecar).toBeDefined();
      const env = envOf(sidecar);
      const names = Object.keys(env);
      expect(names.filter(n => n.startsWith('GIT_SYNC_'))).toEqual([]);
      expect(names.every(n => n.startsWith('GITSYNC_'))).toBe(true);
      expect(env.GITSYNC_REPO.value).toBe(REPO);
      expect(env.GITSYNC_REF.value).toBe('main');
      expect(env.GITSYNC_ONE_TIME).toBeUndefined(); // a sidecar that exits after one sync would crash-loop
      expect(sidecar.resources.requests.cpu).toBeDefined();
      expect(sidecar.resources.limits.memory).toBeDefined();
    });

    test('syncs once in an init container before the dag-processor starts, so its first look finds the DAGs', () => {
      expectSyncBeforeStart(render({ gitSync: gitSyncProps }).spec);
    });

    test('the airflow container reads the DAGs read-only at /opt/airflow/dags, where [core] dags_folder points', () => {
      const { spec, container, config, gitSync, objects } = render({ gitSync: gitSyncProps });
      const sidecar = spec.containers.find((c: any) => c.name === 'git-sync');
      const env = envOf(sidecar);
      const syncMount = sidecar.volumeMounts.find((m: any) => m.mountPath === env.GITSYNC_ROOT.value);
      expect(syncMount).toBeDefined();
      expect(syncMount.readOnly).not.toBe(true);
      const dagsMount = container.volumeMounts.find((m: any) => m.name === syncMount.name);
      expect(dagsMount).toMatchObject({ mountPath: '/opt/airflow/dags', readOnly: true });
      expect(spec.volumes.find((v: any) => v.name === syncMount.name).emptyDir).toBeDefined();
      // git-sync publishes the checkout at <root>/<link>; the airflow container sees <root> at the dags mount.
      const expected = `${dagsMount.mountPath}/${env.GITSYNC_LINK.value}/dags`;
      expect(gitSync!.dagsFolder).toBe(expected);
      expect(config.dagsFolder).toBe(gitSync!.dagsFolder);
      expect(airflowCfg(objects)['core']['dags_folder']).toBe(expected);
    });

    test('rolls the pods when the git-sync settings change', () => {
      const sum = (p: GitSyncProps) => render({ gitSync: p }).deployment.spec.template.metadata.annotations['checksum/git-sync'];
      const base = sum(gitSyncProps);
      expect(base).toMatch(/^[0-9a-f]{64}$/);
      expect(sum(gitSyncProps)).toBe(base);
      expect(sum({ ...gitSyncProps, period: '5m' })).not.toBe(base);
      expect(sum({ ...gitSyncProps, ref: 'release' })).not.toBe(base);
    });

    test('rejects an AirflowConfig whose dagsFolder is not where git-sync puts the DAGs', () => {
      const chart = testChart();
      const gitSync = new GitSync(chart, 'git-sync', gitSyncProps);
      const config = new AirflowConfig(chart, 'config'); // default /opt/airflow/dags
      expect(() => new DagProcessor(chart, 'dag-processor', { config, gitSync })).toThrow(/dagsFolder/);
    });
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<DagProcessorProps>) => () => new DagProcessor(chart, `d${n++}`, { config, ...props });
    test('replicas below one', () => expect(make({ replicas: 0 })).toThrow(/replicas/));
    test('an unpinned image', () => expect(make({ image: 'apache/airflow' })).toThrow(/image/));
    test('a missing config', () => expect(make({ config: undefined as any })).toThrow(/\] config: got/));
  });
});
