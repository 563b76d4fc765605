import { AirflowConfig, AirflowConfigProps, AirflowScheduler, ApiServer, DagProcessor, GitSync, TaskPodTemplate, Triggerer, TriggererProps } from '../lib';
import { allContainers, envOf, find, K8sObject, podSpec, synth, testChart } from './helpers';

const LABELS = ['name', 'instance', 'component', 'part-of', 'version', 'managed-by'].map(l => `app.kubernetes.io/${l}`);

/** The shared Deployment behaviour, through the simplest component: airflow.cfg and a Triggerer. */
function render(props: Partial<TriggererProps> = {}, configProps?: AirflowConfigProps) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', configProps);
  const triggerer = new Triggerer(chart, 'triggerer', { config, ...props });
  const objects = synth(chart);
  const deployment = find(objects, 'Deployment', triggerer.name);
  const spec = podSpec(deployment);
  return { config, triggerer, objects, deployment, spec, container: spec.containers[0] };
}

/** Every Airflow Deployment kind, each in its own chart, for the checks that hold for all of them. */
const EVERY_KIND: Array<[string, () => K8sObject[]]> = [
  ['triggerer', () => render().objects],
  ['scheduler', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    new AirflowScheduler(chart, 'scheduler', { config, podTemplate: new TaskPodTemplate(chart, 'pod-template', { config }) });
    return synth(chart);
  }],
  ['api-server', () => {
    const chart = testChart();
    new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config') });
    return synth(chart);
  }],
  ['dag-processor with git-sync', () => {
    const chart = testChart();
    const gitSync = new GitSync(chart, 'git-sync', { repository: 'https://github.com/example/dags.git' });
    new DagProcessor(chart, 'dag-processor', { config: new AirflowConfig(chart, 'config', { dagsFolder: gitSync.dagsFolder }), gitSync });
    return synth(chart);
  }],
];
const deploymentsOf = (objects: K8sObject[]) => objects.filter(o => o.kind === 'Deployment');
/** Containers that run Airflow: the Airflow image through its entrypoint (a helper such as the api-server's
 * auth-passwords copier uses the image with its own command and runs no Airflow process). */
const isAirflow = (c: any) => c.image.startsWith('apache/airflow:') && c.command === undefined;

/** Whether `path` is on a writable emptyDir in this container (the deepest mount covering it decides). */
function writableEmptyDir(spec: any, container: any, path: string): boolean {
  const mount = (container.volumeMounts ?? [])
    .filter((m: any) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0];
  return mount !== undefined && mount.readOnly !== true && spec.volumes.find((v: any) => v.name === mount.name)?.emptyDir !== undefined;
}

describe('AirflowDeployment (shared by every component)', () => {
  describe.each(EVERY_KIND)('%s', (_kind, objectsOf) => {
    const objects = objectsOf();

    test('every container, init containers included, requests CPU and memory and has a memory limit', () => {
      for (const d of deploymentsOf(objects)) {
        for (const c of allContainers(podSpec(d))) {
          expect(typeof c.resources?.requests?.cpu).toBe('string');
          expect(typeof c.resources?.requests?.memory).toBe('string');
          expect(typeof c.resources?.limits?.memory).toBe('string');
        }
      }
    });

    test('pod and every container meet Pod Security "restricted" with a read-only root filesystem', () => {
      for (const d of deploymentsOf(objects)) {
        const spec = podSpec(d);
        expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        for (const c of allContainers(spec)) {
          expect(c.securityContext).toMatchObject({
            allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true,
          });
          expect(c.securityContext.privileged).not.toBe(true);
          expect(c.securityContext.capabilities.add ?? []).toEqual([]);
        }
        expect(spec.hostNetwork ?? false).toBe(false);
      }
    });

    test('airflow containers run as the image user 50000, group 0, with AIRFLOW_HOME=/opt/airflow and writable /tmp and logs', () => {
      for (const d of deploymentsOf(objects)) {
        const spec = podSpec(d);
        const airflow = allContainers(spec).filter(isAirflow);
        expect(airflow.length).toBeGreaterThan(0);
        for (const c of airflow) {
          expect(c.securityContext.runAsUser ?? spec.securityContext.runAsUser).toBe(50000);
          expect(c.securityContext.runAsGroup ?? spec.securityContext.runAsGroup).toBe(0);
          expect(envOf(c).AIRFLOW_HOME).toEqual({ value: '/opt/airflow' });
          expect(writableEmptyDir(spec, c, '/tmp')).toBe(true);
          expect(writableEmptyDir(spec, c, '/opt/airflow/logs')).toBe(true);
        }
      }
    });

    test('every object carries the app.kubernetes.io labels, and pod templates too', () => {
      for (const o of objects) {
        const labels = o.metadata.labels ?? {};
        for (const l of LABELS) expect(labels[l]).toEqual(expect.any(String));
        expect(labels['app.kubernetes.io/name']).toBe('airflow');
        expect(labels['app.kubernetes.io/instance']).toBe('airflow');
        expect(labels['app.kubernetes.io/part-of']).toBe('airflow');
        expect(labels['app.kubernetes.io/managed-by']).toBe('cdk8s');
      }
      for (const d of deploymentsOf(objects)) {
        for (const l of LABELS) expect(d.spec.template.metadata.labels[l]).toEqual(expect.any(String));
      }
    });

    test('the selector picks its own pods by name, instance and component only (never the version: selectors are immutable)', () => {
      for (const d of deploymentsOf(objects)) {
        const selector = d.spec.selector.matchLabels;
        expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name']);
        for (const [k, v] of Object.entries(selector)) expect(d.spec.template.metadata.labels[k]).toBe(v);
        expect(`airflow-${selector['app.kubernetes.io/component']}`).toBe(d.metadata.name);
      }
    });
  });

  test('pods without a ServiceAccount mount no API token', () => {
    const { spec } = render();
    expect(spec.serviceAccountName).toBeUndefined();
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('the init container runs the same image as the main container', () => {
    const { spec } = render({ image: 'apache/airflow:3.3.1' });
    for (const c of allContainers(spec)) expect(c.image).toBe('apache/airflow:3.3.1');
  });

  test('spreads pods over nodes: ScheduleAnyway by default, DoNotSchedule when asked', () => {
    const constraint = (props: Partial<TriggererProps>) => {
      const { spec, deployment } = render(props);
      const c = spec.topologySpreadConstraints.find((t: any) => t.topologyKey === 'kubernetes.io/hostname');
      expect(c.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      expect(c.maxSkew).toBe(1);
      return c.whenUnsatisfiable;
    };
    expect(constraint({})).toBe('ScheduleAnyway');
    expect(constraint({ spreadAcrossNodes: 'DoNotSchedule' })).toBe('DoNotSchedule');
  });

  test.each(EVERY_KIND)('%s: the spread counts one rollout\'s pods on the nodes they tolerate', (_, objects) => {
    for (const d of deploymentsOf(objects())) {
      const [c] = podSpec(d).topologySpreadConstraints;
      // a drained (tainted) node must not count as a domain with zero pods: the replacement would stay Pending
      expect(c.nodeTaintsPolicy).toBe('Honor');
      // the ReplicaSet's own label: old pods of a rollout do not push new ones aside
      expect(c.matchLabelKeys).toEqual(['pod-template-hash']);
    }
  });

  test.each(EVERY_KIND)('%s: the cluster autoscaler may move its pods (safe-to-evict "true"), unless the pod options say otherwise', (_, objects) => {
    for (const d of deploymentsOf(objects())) {
      expect(d.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
    }
    const kept = render({ pod: { annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } } }).deployment;
    expect(kept.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('false');
  });

  test('a disruption budget is a PodDisruptionBudget with the Deployment\'s name and selector', () => {
    expect(render().objects.filter(o => o.kind === 'PodDisruptionBudget')).toEqual([]);
    const { objects, deployment } = render({ disruptionBudget: { maxUnavailable: 1 } });
    const pdb = find(objects, 'PodDisruptionBudget', deployment.metadata.name);
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
    const min = render({ replicas: 3, disruptionBudget: { minAvailable: 2 } });
    expect(find(min.objects, 'PodDisruptionBudget', 'airflow-triggerer').spec).toMatchObject({ minAvailable: 2 });
  });

  test('extra env is appended after the library\'s variables', () => {
    const { container } = render({ env: [{ name: 'TEAM', value: 'data' }, { name: 'REGION', value: 'eu' }] });
    const names = container.env.map((e: any) => e.name);
    expect(names.slice(-2)).toEqual(['TEAM', 'REGION']);
    expect(names).toEqual(expect.arrayContaining(['AIRFLOW_HOME', 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']));
  });

  test('a config change rolls the pods; identical input gives identical annotations', () => {
    const sum = (c?: AirflowConfigProps) => render({}, c).deployment.spec.template.metadata.annotations['checksum/airflow-config'];
    expect(sum()).toMatch(/^[0-9a-f]{64}$/);
    expect(sum()).toBe(sum());
    expect(sum({ options: { core: { parallelism: 64 } } })).not.toBe(sum());
  });

  test('migrationWaitResources sets the init container\'s resources', () => {
    const resources = { requests: { cpu: '20m', memory: '128Mi' }, limits: { memory: '256Mi' } };
    const { spec } = render({ migrationWaitResources: resources });
    expect(spec.initContainers.find((c: any) => c.name === 'wait-for-migrations').resources).toEqual(resources);
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<TriggererProps>) => () => new Triggerer(chart, `t${n++}`, { config, ...props });
    test('replicas that are not a whole number >= 1', () => {
      for (const replicas of [0, -1, 1.5]) expect(make({ replicas })).toThrow(/replicas/);
    });
    test('unpinned images', () => {
      for (const image of ['apache/airflow', 'apache/airflow:latest', 'not an image:1']) expect(make({ image })).toThrow(/image/);
    });
    test('malformed or inconsistent resources', () => {
      expect(make({ resources: { requests: { cpu: '2 cores', memory: '1Gi' }, limits: { memory: '1Gi' } } })).toThrow(/resources\.requests\.cpu/);
      expect(make({ resources: { requests: { cpu: '1', memory: '2GB' }, limits: { memory: '4Gi' } } })).toThrow(/resources\.requests\.memory/);
      expect(make({ resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '1Gi' } } })).toThrow(/resources\.limits\.memory/);
      expect(make({ resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '1Gi', cpu: '500m' } } })).toThrow(/resources\.limits\.cpu/);
      expect(make({ migrationWaitResources: { requests: { cpu: '0', memory: '1Gi' }, limits: { memory: '1Gi' } } })).toThrow(/migrationWaitResources/);
    });
    test('env that repeats a name, has a bad name or overrides what the library sets', () => {
      expect(make({ env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] })).toThrow(/env/);
      expect(make({ env: [{ name: '1BAD', value: '1' }] })).toThrow(/env\.name/);
      expect(make({ env: [{ name: 'AIRFLOW_HOME', value: '/x' }] })).toThrow(/env/);
      expect(make({ env: [{ name: 'AIRFLOW__CORE__FERNET_KEY', value: 'literal' }] })).toThrow(/env/);
    });
    test('an unknown spreadAcrossNodes', () => expect(make({ spreadAcrossNodes: 'Sometimes' as any })).toThrow(/spreadAcrossNodes/));
    test('disruption budgets that would block node drains or are ambiguous', () => {
      expect(make({ disruptionBudget: { maxUnavailable: 0 } })).toThrow(/maxUnavailable/);
      expect(make({ disruptionBudget: { minAvailable: 1 } })).toThrow(/minAvailable/); // replicas 1
      expect(make({ replicas: 2, disruptionBudget: { minAvailable: 2 } })).toThrow(/minAvailable/);
      expect(make({ disruptionBudget: { maxUnavailable: 1, minAvailable: 0 } })).toThrow(/disruptionBudget/);
      expect(make({ disruptionBudget: {} })).toThrow(/disruptionBudget/);
    });
  });
});
