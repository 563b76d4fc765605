import {
  AirflowConfig, AirflowScheduler, AirflowValidationError, ApiServer, DagProcessor, GitSync, MigrateDatabaseJob, TaskLogVolume,
  TaskLogVolumeProps, TaskPodTemplate, Triggerer,
} from '../lib';
import { find, mountAt, podSpec, synth, taskPod, testChart } from './helpers';

/** Every Airflow component of one installation, with or without a shared task log volume. */
function render(logs?: TaskLogVolumeProps, withGitSync = false) {
  const chart = testChart();
  const gitSync = withGitSync ? new GitSync(chart, 'git-sync', { repository: 'https://github.com/example/dags.git' }) : undefined;
  const volume = logs ? new TaskLogVolume(chart, 'logs', { storageClassName: 'nfs-client', ...logs }) : undefined;
  const config = new AirflowConfig(chart, 'config', { taskLogVolume: volume, dagsFolder: gitSync?.dagsFolder });
  const podTemplate = new TaskPodTemplate(chart, 'tasks', { config, gitSync });
  new AirflowScheduler(chart, 'scheduler', { config, podTemplate, serviceAccountName: 'airflow-scheduler' });
  new ApiServer(chart, 'api-server', { config, serviceAccountName: 'airflow-api-server' });
  new DagProcessor(chart, 'dag-processor', { config, gitSync });
  new Triggerer(chart, 'triggerer', { config, gitSync });
  const job = new MigrateDatabaseJob(chart, 'migrate', { config });
  const objects = synth(chart);
  const pods: Record<string, any> = {
    'task pod': taskPod(objects).spec,
    'api-server': podSpec(find(objects, 'Deployment', 'airflow-api-server')),
    triggerer: podSpec(find(objects, 'Deployment', 'airflow-triggerer')),
    scheduler: podSpec(find(objects, 'Deployment', 'airflow-scheduler')),
    'dag-processor': podSpec(find(objects, 'Deployment', 'airflow-dag-processor')),
    'migration Job': podSpec(find(objects, 'Job', job.name)),
  };
  return { objects, pods };
}

/** The volume behind the main container's /opt/airflow/logs. */
function logsVolume(spec: any): any {
  const mount = mountAt(spec.containers[0], '/opt/airflow/logs');
  return spec.volumes.find((v: any) => v.name === mount.name);
}

describe('TaskLogVolume', () => {
  test('is the PersistentVolumeClaim <instance>-logs with the size, access mode and class given', () => {
    const { objects } = render({ size: '2Gi', accessMode: 'ReadWriteOnce', storageClassName: 'standard' });
    const claim = find(objects, 'PersistentVolumeClaim', 'airflow-logs');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'standard', resources: { requests: { storage: '2Gi' } } });
    expect(claim.metadata.labels?.['app.kubernetes.io/component']).toBe('logs');
  });

  test('defaults: 5Gi, ReadWriteMany, on the StorageClass given', () => {
    const claim = find(render({}).objects, 'PersistentVolumeClaim', 'airflow-logs');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'nfs-client', resources: { requests: { storage: '5Gi' } } });
  });

  test('ReadWriteMany needs a StorageClass (a default class would leave the claim Pending); ReadWriteOnce takes the default', () => {
    expect(() => new TaskLogVolume(testChart(), 'logs', {})).toThrow(/^TaskLogVolume \[test\/logs\] storageClassName: got undefined; expected a StorageClass that offers ReadWriteMany/);
    const chart = testChart();
    new TaskLogVolume(chart, 'logs', { accessMode: 'ReadWriteOnce' });
    expect(find(synth(chart), 'PersistentVolumeClaim', 'airflow-logs').spec.storageClassName).toBeUndefined();
  });

  test('task pods, the triggerer and the api-server write and read logs on it, with one fsGroup', () => {
    const { pods } = render({ fsGroup: 0 });
    for (const name of ['task pod', 'api-server', 'triggerer']) {
      expect({ name, volume: logsVolume(pods[name]) }).toEqual({ name, volume: { name: 'logs', persistentVolumeClaim: { claimName: 'airflow-logs' } } });
      expect({ name, fsGroup: pods[name].securityContext.fsGroup }).toEqual({ name, fsGroup: 0 });
    }
  });

  test('the scheduler, dag-processor and migration Job keep their own emptyDir (their logs are not task logs)', () => {
    const { pods } = render({});
    for (const name of ['scheduler', 'dag-processor', 'migration Job']) expect({ name, volume: logsVolume(pods[name]) }).toEqual({ name, volume: { name: 'logs', emptyDir: {} } });
  });

  test('without it, every pod logs to an emptyDir', () => {
    const { objects, pods } = render();
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    for (const [name, spec] of Object.entries(pods)) expect({ name, volume: logsVolume(spec) }).toEqual({ name, volume: { name: 'logs', emptyDir: {} } });
  });

  test('with git-sync, the volume must use git-sync\'s group as fsGroup', () => {
    expect(() => render({ fsGroup: 0 }, true)).toThrow(/config\.taskLogVolume\.fsGroup: got 0; expected git-sync's group \(65533\)/);
    const { pods } = render({ fsGroup: 65533 }, true);
    expect(pods.triggerer.securityContext.fsGroup).toBe(65533);
    expect(pods['task pod'].securityContext.fsGroup).toBe(65533);
  });

  test.each([
    [{ size: '10GB' }, 'size', /byte quantity/],
    [{ size: '-1Gi' }, 'size', /byte quantity/],
    [{ accessMode: 'ReadOnlyMany' as any }, 'accessMode', /"ReadWriteMany" or "ReadWriteOnce"/],
    [{ fsGroup: -1 }, 'fsGroup', /group id/],
    [{ fsGroup: 1.5 }, 'fsGroup', /group id/],
    [{ storageClassName: 'Fast_SSD' }, 'storageClassName', /DNS-1123 subdomain/],
  ])('rejects %j (property %s)', (props, property, expected) => {
    const chart = testChart();
    let error: unknown;
    try { new TaskLogVolume(chart, 'logs', { storageClassName: 'nfs-client', ...props }); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^TaskLogVolume \\[test/logs\\] ${property}: got `));
    expect((error as Error).message).toMatch(expected);
  });
});
