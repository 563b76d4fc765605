import { AirflowConfig, AirflowValidationError, TaskPodCleanup, TaskPodCleanupProps } from '../lib';
import { envOf, find, podSpec, synth, testChart } from './helpers';

function render(props: Partial<TaskPodCleanupProps> = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config');
  const cleanup = new TaskPodCleanup(chart, 'cleanup', { config, ...props });
  const objects = synth(chart);
  const cronJob = find(objects, 'CronJob', cleanup.name);
  const spec = podSpec(cronJob);
  return { objects, cronJob, spec, container: spec.containers[0] };
}

describe('TaskPodCleanup', () => {
  test('is the CronJob airflow-cleanup-pods, every 15 minutes, one at a time', () => {
    const { cronJob } = render();
    expect(cronJob.metadata.name).toBe('airflow-cleanup-pods');
    expect(cronJob.spec).toMatchObject({ schedule: '*/15 * * * *', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 });
  });

  test('runs as its own ServiceAccount, which may only list and delete pods in the namespace', () => {
    const { objects, spec } = render();
    expect(spec.serviceAccountName).toBe('airflow-cleanup-pods');
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(find(objects, 'Role', 'airflow-cleanup-pods').rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['delete', 'list'] }]);
    expect(find(objects, 'RoleBinding', 'airflow-cleanup-pods').subjects).toEqual([{ kind: 'ServiceAccount', name: 'airflow-cleanup-pods', namespace: 'airflow-test' }]);
  });

  test('deletes only this installation\'s executor pods, succeeded after 5 minutes and failed after a day by default', () => {
    const { container } = render();
    const env = envOf(container);
    expect(env.INSTANCE.value).toBe('airflow');
    expect(env.SUCCEEDED_AFTER_SECONDS.value).toBe('300');
    expect(env.FAILED_AFTER_SECONDS.value).toBe('86400');
    expect(container.args.slice(0, 2)).toEqual(['python', '-c']);
    expect(container.args[2]).toContain('label_selector=selector');
    expect(container.args[2]).toContain('"kubernetes_executor=True,app.kubernetes.io/instance="');
    expect(env.CONNECTION_CHECK_MAX_COUNT.value).toBe('0'); // no database to wait for
    expect(Object.keys(env).filter(n => /SQL_ALCHEMY|FERNET|JWT|SECRET/.test(n))).toEqual([]);
  });

  test('takes its schedule and ages', () => {
    const { cronJob, container } = render({ schedule: '0 * * * *', succeededAfterSeconds: 60, failedAfterSeconds: 3600 });
    expect(cronJob.spec.schedule).toBe('0 * * * *');
    expect(envOf(container).SUCCEEDED_AFTER_SECONDS.value).toBe('60');
    expect(envOf(container).FAILED_AFTER_SECONDS.value).toBe('3600');
  });

  test.each([
    [{ schedule: 'every 15 minutes' }, 'schedule', /a cron schedule Kubernetes accepts: five fields in range/],
    [{ schedule: '*/15 * * *' }, 'schedule', /a cron schedule Kubernetes accepts: five fields in range/],
    [{ succeededAfterSeconds: -1 }, 'succeededAfterSeconds', /whole number/],
    [{ failedAfterSeconds: 1.5 }, 'failedAfterSeconds', /whole number/],
    [{ image: 'apache/airflow:latest' }, 'image', /pinned/],
  ])('rejects %j', (props, property, expected) => {
    let error: unknown;
    try { render(props as Partial<TaskPodCleanupProps>); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^TaskPodCleanup \\[test/cleanup\\] ${property}: got `));
    expect((error as Error).message).toMatch(expected);
  });
});
