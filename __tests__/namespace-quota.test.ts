import { Testing } from 'cdk8s';
import * as k8s from '../imports/k8s';
import { Airflow, AIRFLOW_DEFAULT_PARALLELISM, AirflowChart, ENVIRONMENTS, installationPeak, NamespaceQuota, parseQuantity, podResource } from '../lib';
import { find, podSpec, synth, testChart } from './helpers';

const container = (name: string, cpu: string, memory: string, restartPolicy?: string): k8s.Container =>
  ({ name, image: 'x:1', restartPolicy, resources: { requests: { cpu: k8s.Quantity.fromString(cpu), memory: k8s.Quantity.fromString(memory) } } });

describe('podResource: a pod as the scheduler and quotas count it', () => {
  test('its containers together', () => {
    expect(podResource({ containers: [container('a', '250m', '1Gi'), container('b', '50m', '64Mi')] }, 'requests', 'cpu')).toBeCloseTo(0.3);
  });

  test('its largest init container when that is more', () => {
    const spec = { initContainers: [container('init', '2', '64Mi')], containers: [container('a', '250m', '1Gi')] };
    expect(podResource(spec, 'requests', 'cpu')).toBe(2);
    expect(podResource(spec, 'requests', 'memory')).toBe(2 ** 30);
  });

  test('a sidecar (an init container with restartPolicy Always) adds to the containers and to the init containers after it', () => {
    const spec = { initContainers: [container('sidecar', '100m', '128Mi', 'Always'), container('init', '1', '64Mi')], containers: [container('a', '250m', '1Gi')] };
    expect(podResource(spec, 'requests', 'cpu')).toBeCloseTo(1.1);
    expect(podResource(spec, 'requests', 'memory')).toBe(2 ** 30 + 128 * 2 ** 20);
  });

  test('no limit counts as none', () => {
    expect(podResource({ containers: [container('a', '250m', '1Gi')] }, 'limits', 'memory')).toBe(0);
  });
});

describe('installationPeak', () => {
  const chart = new AirflowChart(Testing.app(), 'prod', ENVIRONMENTS.prod);
  const peak = installationPeak(chart.airflow);
  const objects = synth(chart);
  const part = (prefix: string) => {
    const found = peak.filter(p => p.what.startsWith(prefix));
    expect(found).toHaveLength(1);
    return found[0];
  };

  test('a Deployment: its replicas and the 25 % Kubernetes surges by default, rounded up', () => {
    const scheduler = find(objects, 'Deployment', 'airflow-scheduler');
    expect(scheduler.spec.strategy).toBeUndefined();
    expect(part('Deployment airflow-scheduler').pods).toBe(scheduler.spec.replicas + Math.ceil(scheduler.spec.replicas / 4));
    expect(part('Deployment airflow-scheduler').cpu).toBeCloseTo(podResource(podSpec(scheduler), 'requests', 'cpu') * 3);
  });

  test('an autoscaled Deployment: the autoscaler\'s maxReplicas and their surge', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'airflow-api-server');
    expect(part('Deployment airflow-api-server').pods).toBe(hpa.spec.maxReplicas + Math.ceil(hpa.spec.maxReplicas / 4));
  });

  test('a Deployment with its own maxSurge: that many', () => {
    const pgbouncer = find(objects, 'Deployment', 'airflow-pgbouncer');
    expect(pgbouncer.spec.strategy.rollingUpdate.maxSurge).toBe(1);
    expect(part('Deployment airflow-pgbouncer').pods).toBe(pgbouncer.spec.replicas + 1);
  });

  test('one pod of each Job and CronJob', () => {
    for (const kind of ['Job', 'CronJob']) {
      for (const o of objects.filter(x => x.kind === kind)) expect(part(`${kind} ${o.metadata.name}`).pods).toBe(1);
    }
  });

  test('task pods: [core] parallelism per scheduler, prod\'s profiles\' slots full, the rest as the template asks', () => {
    const tasks = part('task pods');
    expect(tasks.pods).toBe(128 * 3); // 2 schedulers and the one their rollout adds
    const t = chart.airflow.podTemplate;
    const memory = (spec: any) => podResource(spec, 'requests', 'memory');
    const slotted = Object.entries(t.profiles).filter(([, p]) => p.slots !== undefined);
    const unbounded = Math.max(memory(t.pod.spec), ...Object.entries(t.profiles).filter(([, p]) => p.slots === undefined).map(([n]) => memory(t.profilePods[n].spec)));
    const used = slotted.reduce((a, [, p]) => a + p.slots!, 0);
    expect(tasks.memory).toBe(slotted.reduce((a, [n, p]) => a + p.slots! * Math.max(unbounded, memory(t.profilePods[n].spec)), 0) + (384 - used) * unbounded);
  });

  test('Airflow\'s default parallelism when airflow.cfg sets none', () => {
    const c = testChart();
    const airflow = new Airflow(c, 'airflow', { scheduler: { replicas: 3 } });
    expect(airflow.config.cfgOptions.core.parallelism).toBeUndefined();
    // 3 schedulers and the one their rollout adds (25 % of 3, rounded up)
    expect(installationPeak(airflow).find(p => p.what.startsWith('task pods'))!.pods).toBe(AIRFLOW_DEFAULT_PARALLELISM * 4);
  });

  test('task pod profiles: one with slots counts that many pods at its size, one without counts at every other task pod', () => {
    const taskCpu = (profiles: object) => {
      const airflow = new Airflow(testChart(), 'airflow', {
        options: { core: { parallelism: 10 } }, networkPolicies: false,
        taskPods: { resources: { requests: { cpu: '250m' } }, profiles: profiles as any },
      });
      return installationPeak(airflow).find(p => p.what.startsWith('task pods'))!.cpu;
    };
    const big = { resources: { requests: { cpu: '2' } } };
    const mid = { resources: { requests: { cpu: '500m' } } };
    // 20 task pods: parallelism 10 for the scheduler and for the one its rollout adds
    expect(taskCpu({})).toBeCloseTo(20 * 0.25);
    expect(taskCpu({ big: { ...big, slots: 3 } })).toBeCloseTo(3 * 2 + 17 * 0.25);
    expect(taskCpu({ big: { ...big, slots: 3 }, mid })).toBeCloseTo(3 * 2 + 17 * 0.5);
    expect(taskCpu({ big, mid })).toBeCloseTo(20 * 2);
    // a profile smaller than what any task may take counts at that larger size
    expect(taskCpu({ tiny: { resources: { requests: { cpu: '100m' } }, slots: 4 }, mid })).toBeCloseTo(20 * 0.5);
    // more slots than task pods: the task pods bound them
    expect(taskCpu({ big: { ...big, slots: 30 } })).toBeCloseTo(20 * 2);
  });

  test('every workload is in it, and nothing else', () => {
    const workloads = objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind)).map(o => `${o.kind} ${o.metadata.name}`);
    expect(peak.map(p => p.what.split(':')[0]).sort()).toEqual([...workloads, 'task pods'].sort());
  });
});

describe('NamespaceQuota', () => {
  const build = (quota: Partial<ConstructorParameters<typeof NamespaceQuota>[2]> = {}) => {
    const c = testChart();
    const airflow = new Airflow(c, 'airflow', { options: { core: { parallelism: 4 } } });
    const q = new NamespaceQuota(c, 'quota', { airflow, requests: { cpu: '20', memory: '64Gi' }, limits: { memory: '128Gi' }, pods: 50, ...quota });
    return { q, objects: synth(c) };
  };

  test('a ResourceQuota on requests, memory limits and pods, and a LimitRange that fills in what a container leaves out', () => {
    const { objects } = build();
    const quota = find(objects, 'ResourceQuota', 'airflow-quota');
    expect(quota.metadata.namespace).toBe('airflow-test');
    expect(quota.spec.hard).toEqual({ 'requests.cpu': '20', 'requests.memory': '64Gi', 'limits.memory': '128Gi', 'pods': '50' });
    const range = find(objects, 'LimitRange', 'airflow-quota');
    expect(range.spec.limits).toEqual([{ type: 'Container', defaultRequest: { cpu: '100m', memory: '256Mi' }, default: { memory: '512Mi' } }]);
  });

  test('every container of the installation states its requests and memory limit: the LimitRange changes none of them', () => {
    const { objects } = build();
    const specs = objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind)).map(podSpec);
    for (const spec of specs) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        expect([c.name, c.resources?.requests?.cpu !== undefined, c.resources?.requests?.memory !== undefined, c.resources?.limits?.memory !== undefined])
          .toEqual([c.name, true, true, true]);
      }
    }
  });

  test('a quota below the peak fails, saying what it takes and what makes it up', () => {
    const { q } = build();
    const cpu = q.peak.reduce((a, p) => a + p.cpu, 0);
    const below = `${Math.floor(cpu * 1000) - 1}m`;
    const tasks = Math.round(q.peak.find(p => p.what.startsWith('task pods'))!.cpu * 1000);
    expect(() => build({ requests: { cpu: below, memory: '64Gi' } })).toThrow(
      new RegExp(`requests\\.cpu: got "${below}"; expected at least ${Math.ceil(cpu * 1000)}m, .*task pods: \\[core\\] parallelism 4 × 2 schedulers \\(the rollout's included\\): ${tasks}m`));
    expect(() => build({ requests: { cpu: `${Math.ceil(cpu * 1000)}m`, memory: '64Gi' } })).not.toThrow();
  });

  test('the presets\' quotas hold their peaks', () => {
    for (const tier of ['dev', 'staging', 'prod'] as const) {
      const chart = new AirflowChart(Testing.app(), tier, ENVIRONMENTS[tier]);
      const hard = find(synth(chart), 'ResourceQuota', 'airflow-quota').spec.hard;
      const sum = (k: 'cpu' | 'memory' | 'memoryLimits' | 'pods') => chart.quota!.peak.reduce((a, p) => a + p[k], 0);
      expect(parseQuantity(hard['requests.cpu'])).toBeGreaterThanOrEqual(sum('cpu'));
      expect(parseQuantity(hard['requests.memory'])).toBeGreaterThanOrEqual(sum('memory'));
      expect(parseQuantity(hard['limits.memory'])).toBeGreaterThanOrEqual(sum('memoryLimits'));
      expect(Number(hard.pods)).toBeGreaterThanOrEqual(sum('pods'));
    }
  });
});
