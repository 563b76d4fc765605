import { AirflowConfig, AirflowConfigProps, AirflowScheduler, AirflowSchedulerProps, TaskPodTemplate, TaskPodTemplateProps } from '../lib';
import { airflowCfg, allContainers, envOf, find, podSpec, synth, testChart, expectJobsCheckProbes } from './helpers';

/** A chart with only what the scheduler needs: airflow.cfg, the task pod template and the scheduler. */
function render(o: { config?: AirflowConfigProps; template?: Partial<TaskPodTemplateProps>; scheduler?: Partial<AirflowSchedulerProps> } = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', o.config);
  const podTemplate = new TaskPodTemplate(chart, 'pod-template', { config, ...o.template });
  const scheduler = new AirflowScheduler(chart, 'scheduler', { config, podTemplate, ...o.scheduler });
  const objects = synth(chart);
  const deployment = find(objects, 'Deployment', scheduler.name);
  const spec = podSpec(deployment);
  const container = spec.containers.find((c: any) => c.name === 'scheduler');
  return { chart, config, podTemplate, scheduler, objects, deployment, spec, container };
}

describe('AirflowScheduler', () => {
  test('is the Deployment airflow-scheduler running `airflow scheduler` through the image entrypoint', () => {
    const { deployment, container, scheduler } = render();
    expect(deployment.metadata.name).toBe('airflow-scheduler');
    expect(scheduler.name).toBe('airflow-scheduler');
    expect(container.args).toEqual(['airflow', 'scheduler']);
    expect(container.command).toBeUndefined();
    expect(deployment.spec.replicas).toBe(1);
  });

  test('startup and liveness are exec `airflow jobs check` for SchedulerJob, startup gating liveness, with timeouts that spare a busy scheduler', () => {
    expectJobsCheckProbes(render().container, 'SchedulerJob');
  });

  test('mounts the task pod template exactly at [kubernetes_executor] pod_template_file', () => {
    const { objects, spec, container, podTemplate } = render();
    const templatePath = airflowCfg(objects)['kubernetes_executor']['pod_template_file'];
    const configMap = find(objects, 'ConfigMap', podTemplate.configMapName);
    const keys = Object.keys(configMap.data);
    expect(keys).toHaveLength(1);
    const volume = spec.volumes.find((v: any) => v.configMap?.name === podTemplate.configMapName);
    expect(volume).toBeDefined();
    const file = volume.configMap.items?.find((i: any) => i.key === keys[0])?.path ?? keys[0];
    const mount = container.volumeMounts.find((m: any) => m.name === volume.name);
    expect(mount.subPath).toBeUndefined(); // a directory mount, so ConfigMap updates reach the scheduler
    expect(`${mount.mountPath}/${file}`).toBe(templatePath);
    expect(mount.readOnly).toBe(true);
  });

  test('mounts airflow.cfg from the ConfigMap of its AirflowConfig', () => {
    const { objects, spec, container, config } = render();
    const volume = spec.volumes.find((v: any) => v.configMap?.name === config.configMapName);
    find(objects, 'ConfigMap', volume.configMap.name);
    const mount = container.volumeMounts.find((m: any) => m.name === volume.name);
    expect(mount).toMatchObject({ mountPath: '/opt/airflow/airflow.cfg', subPath: 'airflow.cfg', readOnly: true });
  });

  test('runs as the ServiceAccount airflow-scheduler with its token mounted (it launches task pods)', () => {
    const { spec } = render();
    expect(spec.serviceAccountName).toBe('airflow-scheduler');
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(render({ scheduler: { serviceAccountName: 'custom-sa' } }).spec.serviceAccountName).toBe('custom-sa');
  });

  test('reads the database URL, fernet key and JWT secret from Secrets, never as literals', () => {
    const { container, config } = render();
    const env = envOf(container);
    for (const [name, ref] of [
      ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', config.secrets.sqlAlchemyConn],
      ['AIRFLOW__CORE__FERNET_KEY', config.secrets.fernetKey],
      ['AIRFLOW__API_AUTH__JWT_SECRET', config.secrets.jwtSecret],
    ] as const) {
      expect(env[name]).toEqual({ secret: ref.secretName, key: ref.key });
      expect(container.env.find((e: any) => e.name === name).value).toBeUndefined();
    }
    expect(env.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
  });

  test('waits for the database migrations in an init container', () => {
    const { spec } = render();
    const wait = (spec.initContainers ?? []).find((c: any) => c.name === 'wait-for-migrations');
    expect(wait.args).toEqual(['airflow', 'db', 'check-migrations', '--migration-wait-timeout=60']);
    expect(envOf(wait).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN.secret).toBeDefined();
  });

  test('rolls its pods when the task pod template or airflow.cfg changes, and only then', () => {
    const annotations = (o?: Parameters<typeof render>[0]) => render(o).deployment.spec.template.metadata.annotations;
    const { deployment, podTemplate } = render();
    const base = deployment.spec.template.metadata.annotations;
    expect(base['checksum/pod-template']).toBe(podTemplate.checksum);
    expect(annotations()).toEqual(base);

    const bigTasks = annotations({ template: { resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } } } });
    expect(bigTasks['checksum/pod-template']).not.toBe(base['checksum/pod-template']);
    expect(bigTasks['checksum/airflow-config']).toBe(base['checksum/airflow-config']);

    const tuned = annotations({ config: { options: { core: { parallelism: 64 } } } });
    expect(tuned['checksum/airflow-config']).not.toBe(base['checksum/airflow-config']);
  });

  test('honours replicas', () => {
    const { deployment, scheduler } = render({ scheduler: { replicas: 3 } });
    expect(deployment.spec.replicas).toBe(3);
    expect(scheduler.replicas).toBe(3);
  });

  test('takes its names from the instance name', () => {
    const { objects, spec, container } = render({ config: { instanceName: 'team-a' } });
    find(objects, 'Deployment', 'team-a-scheduler');
    expect(spec.serviceAccountName).toBe('team-a-scheduler');
    const configMaps = spec.volumes.filter((v: any) => v.configMap).map((v: any) => v.configMap.name).sort();
    expect(configMaps).toEqual(['team-a-config', 'team-a-pod-template']);
    expect(envOf(container).AIRFLOW__API_AUTH__JWT_SECRET.secret).toBe('team-a-secrets');
  });

  test('two installations in one chart produce no object twice', () => {
    const chart = testChart();
    for (const instanceName of ['airflow', 'team-b']) {
      const config = new AirflowConfig(chart, `config-${instanceName}`, { instanceName });
      const podTemplate = new TaskPodTemplate(chart, `pod-template-${instanceName}`, { config });
      new AirflowScheduler(chart, `scheduler-${instanceName}`, { config, podTemplate });
    }
    const ids = synth(chart).map(o => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['Deployment/airflow-scheduler', 'Deployment/team-b-scheduler']));
  });

  test('every container has resource requests and a memory limit', () => {
    for (const c of allContainers(render().spec)) {
      expect(typeof c.resources.requests.cpu).toBe('string');
      expect(typeof c.resources.requests.memory).toBe('string');
      expect(typeof c.resources.limits.memory).toBe('string');
    }
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    const podTemplate = new TaskPodTemplate(chart, 'pod-template', { config });
    let n = 0;
    const make = (props: Partial<AirflowSchedulerProps>) => () => new AirflowScheduler(chart, `s${n++}`, { config, podTemplate, ...props });

    test('replicas below one or fractional', () => {
      expect(make({ replicas: 0 })).toThrow(/replicas/);
      expect(make({ replicas: 1.5 })).toThrow(/replicas/);
    });
    test('an unpinned image', () => {
      expect(make({ image: 'apache/airflow' })).toThrow(/image/);
      expect(make({ image: 'apache/airflow:latest' })).toThrow(/image/);
    });
    test('a missing podTemplate', () => {
      expect(make({ podTemplate: undefined as any })).toThrow(/podTemplate/);
    });
    test('an invalid ServiceAccount name', () => {
      expect(make({ serviceAccountName: 'Not_A_Name' })).toThrow(/serviceAccountName/);
    });
  });
});
