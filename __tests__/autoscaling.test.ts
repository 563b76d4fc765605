import { AirflowConfig, ApiServer, Autoscaling } from '../lib';
import { find, synth, testChart } from './helpers';

const AUTOSCALING: Autoscaling = { minReplicas: 2, maxReplicas: 6, cpuUtilization: 75 };

/** An api-server with `autoscaling` alone in a chart of its own, as a platform team would compose it. */
function render(autoscaling: Autoscaling, extra: object = {}) {
  const chart = testChart();
  const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config'), autoscaling, ...extra });
  const objects = synth(chart);
  return { apiServer, objects, deployment: find(objects, 'Deployment', apiServer.name) };
}

describe('autoscaling', () => {
  test('a HorizontalPodAutoscaler autoscaling/v2 of the Deployment, with its range and one Resource metric per target', () => {
    const { objects, deployment } = render({ ...AUTOSCALING, memoryUtilization: 85 });
    const hpa = find(objects, 'HorizontalPodAutoscaler', deployment.metadata.name);
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.metadata.labels).toEqual(deployment.metadata.labels);
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 75 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 85 } } },
      ],
    });
  });

  test('one target gives one metric', () => {
    const { objects, deployment } = render({ minReplicas: 1, maxReplicas: 3, memoryUtilization: 90 });
    const hpa = find(objects, 'HorizontalPodAutoscaler', deployment.metadata.name);
    expect(hpa.spec.metrics.map((m: any) => m.resource.name)).toEqual(['memory']);
  });

  test('the Deployment leaves replicas to the autoscaler; the construct reports the fewest', () => {
    const { apiServer, deployment } = render(AUTOSCALING);
    expect('replicas' in deployment.spec).toBe(false);
    expect(apiServer.replicas).toBe(2);
    expect(apiServer.autoscaler).toBeDefined();
  });

  test('without autoscaling: replicas on the Deployment, no autoscaler', () => {
    const chart = testChart();
    const apiServer = new ApiServer(chart, 'api-server', { config: new AirflowConfig(chart, 'config'), replicas: 3 });
    const objects = synth(chart);
    expect(find(objects, 'Deployment', apiServer.name).spec.replicas).toBe(3);
    expect(objects.filter(o => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    expect(apiServer.autoscaler).toBeUndefined();
  });

  test('a PodDisruptionBudget is checked against minReplicas: maxUnavailable 1 of at least 2 is fine, minAvailable 2 is not', () => {
    const { objects, deployment } = render(AUTOSCALING, { disruptionBudget: { maxUnavailable: 1 } });
    expect(find(objects, 'PodDisruptionBudget', deployment.metadata.name).spec.maxUnavailable).toBe(1);
    expect(() => render(AUTOSCALING, { disruptionBudget: { minAvailable: 2 } })).toThrow(/disruptionBudget\.minAvailable: got 2/);
  });
});
