import { createHash } from 'crypto';
import { AirflowConfig, AirflowConfigProps, DagProcessor, GitSync, GitSyncProps, SecretKeyRef, TaskPodTemplate, TaskPodTemplateProps } from '../lib';
import { airflowCfg, allContainers, envOf, find, podSpec, synth, taskPod, testChart } from './helpers';

const REPO = 'https://github.com/example/dags.git';
const SERVER_SECRETS = ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'AIRFLOW__API_AUTH__JWT_SECRET', 'AIRFLOW__API__SECRET_KEY'];

/** A chart with airflow.cfg, optionally a GitSync, and the task pod template; `pod` is the parsed template. */
function render(o: { props?: Partial<TaskPodTemplateProps>; config?: AirflowConfigProps; gitSync?: GitSyncProps } = {}) {
  const chart = testChart();
  const gitSync = o.gitSync ? new GitSync(chart, 'git-sync', o.gitSync) : undefined;
  const config = new AirflowConfig(chart, 'config', { dagsFolder: gitSync?.dagsFolder, ...o.config });
  const template = new TaskPodTemplate(chart, 'pod-template', { config, gitSync, ...o.props });
  const objects = synth(chart);
  const pod = taskPod(objects, config.names.instanceName);
  const base = pod.spec.containers[0];
  return { chart, config, gitSync, template, objects, pod, base };
}

describe('TaskPodTemplate', () => {
  test('the base container requests and limits local disk (the DAG clone and temporary files), by default 1Gi and 4Gi', () => {
    const { base } = render();
    expect(base.resources.requests['ephemeral-storage']).toBe('1Gi');
    expect(base.resources.limits['ephemeral-storage']).toBe('4Gi');
  });

  test('is a v1 Pod in the ConfigMap airflow-pod-template, under the file name [kubernetes_executor] pod_template_file names', () => {
    const { objects, pod } = render();
    expect(pod.apiVersion).toBe('v1');
    expect(pod.kind).toBe('Pod');
    const configMap = find(objects, 'ConfigMap', 'airflow-pod-template');
    expect(Object.keys(configMap.data)).toEqual(['pod_template_file.yaml']);
    expect(airflowCfg(objects)['kubernetes_executor']['pod_template_file'].split('/').pop()).toBe('pod_template_file.yaml');
  });

  test('the first container is `base`, with no command or args, so the executor can merge the task command', () => {
    const { base } = render();
    expect(base.name).toBe('base');
    expect(base).not.toHaveProperty('command');
    expect(base).not.toHaveProperty('args');
  });

  test('restartPolicy is Never', () => {
    expect(render().pod.spec.restartPolicy).toBe('Never');
  });

  test('mounts airflow.cfg at /opt/airflow/airflow.cfg from the ConfigMap airflow-config', () => {
    const { pod, base, objects } = render();
    const mount = base.volumeMounts.find((m: any) => m.mountPath === '/opt/airflow/airflow.cfg');
    expect(mount).toMatchObject({ subPath: 'airflow.cfg', readOnly: true });
    const volume = pod.spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.configMap.name).toBe('airflow-config');
    // that airflow.cfg tells tasks where the Task Execution API is
    expect(airflowCfg(objects)['core']['execution_api_server_url']).toMatch(/^http:\/\/airflow-api-server\.airflow-test:8080\/execution\/$/);
  });

  test('gives tasks no database URL, JWT secret, API secret key or fernet key by default', () => {
    const { pod } = render();
    for (const c of allContainers(pod.spec)) {
      const env = envOf(c);
      for (const name of [...SERVER_SECRETS, 'AIRFLOW__CORE__FERNET_KEY']) expect(env[name]).toBeUndefined();
      expect(Object.values(env).filter(e => e.secret !== undefined)).toEqual([]);
    }
    expect(JSON.stringify(pod)).not.toMatch(/sql-alchemy-conn|jwt-secret|api-secret-key|fernet-key/);
  });

  test('includeFernetKey gives `base` the fernet key from its Secret, and nothing more', () => {
    const { pod, base, config } = render({ props: { includeFernetKey: true } });
    expect(envOf(base).AIRFLOW__CORE__FERNET_KEY).toEqual({ secret: config.secrets.fernetKey.secretName, key: config.secrets.fernetKey.key });
    for (const c of allContainers(pod.spec)) for (const name of SERVER_SECRETS) expect(envOf(c)[name]).toBeUndefined();
  });

  // Regression: secret options once reached every component except task pods, yet
  // [workers] secrets_backend_kwargs exists only for workers.
  test('secret options that workers read ([workers] secrets_backend_kwargs) reach the task pods', () => {
    const { base } = render({
      config: {
        options: {
          workers: {
            secrets_backend: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
            secrets_backend_kwargs: SecretKeyRef.of('vault-kwargs', 'kwargs'),
          },
        },
      },
    });
    expect(envOf(base).AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS).toEqual({ secret: 'vault-kwargs', key: 'kwargs' });
  });

  // Regression: an emptyDir over /opt/airflow once hid DAGs baked into the image at the default
  // [core] dags_folder, so without git-sync tasks failed with "dag_id could not be found".
  test('without git-sync, DAGs baked into the image at [core] dags_folder stay visible to tasks', () => {
    const { pod, base, objects } = render();
    const dagsFolder = airflowCfg(objects)['core']['dags_folder'];
    const covering = base.volumeMounts
      .filter((m: any) => dagsFolder === m.mountPath || dagsFolder.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
      .sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0];
    const volume = covering && pod.spec.volumes.find((v: any) => v.name === covering.name);
    expect(volume?.emptyDir).toBeUndefined();
  });

  test('has no wait-for-migrations init container and, without git-sync, no init container at all', () => {
    const { pod } = render();
    expect(pod.spec.initContainers ?? []).toEqual([]);
  });

  test('mounts no Kubernetes API token by default; a given ServiceAccount gets its token', () => {
    const { pod } = render();
    expect(pod.spec.serviceAccountName).toBeUndefined();
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    const withAccount = render({ props: { serviceAccountName: 'task-runner' } }).pod.spec;
    expect(withAccount.serviceAccountName).toBe('task-runner');
    expect(withAccount.automountServiceAccountToken).toBe(true);
  });

  test('resources are plain quantity strings (they once rendered as {value: "100m"})', () => {
    const { base } = render({ props: { resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '768Mi' } } } });
    // the disk request and limit not given keep their defaults (resources merge field by field)
    expect(base.resources).toEqual({ requests: { 'cpu': '100m', 'memory': '256Mi', 'ephemeral-storage': '1Gi' }, limits: { 'memory': '768Mi', 'ephemeral-storage': '4Gi' } });
    const defaults = render().base.resources;
    for (const q of [defaults.requests.cpu, defaults.requests.memory, defaults.limits.memory]) expect(typeof q).toBe('string');
  });

  test('meets Pod Security "restricted" as the official image user', () => {
    const { pod } = render({ gitSync: { repository: REPO } });
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of allContainers(pod.spec)) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, readOnlyRootFilesystem: true });
      expect(typeof c.resources.requests.cpu).toBe('string');
      expect(typeof c.resources.limits.memory).toBe('string');
    }
    expect(pod.spec.containers[0].securityContext).toMatchObject({ runAsUser: 50000, runAsGroup: 0 });
  });

  test('checksum is the sha256 of the rendered file and follows its content', () => {
    const { objects, template } = render();
    expect(template.checksum).toBe(createHash('sha256').update(find(objects, 'ConfigMap', 'airflow-pod-template').data['pod_template_file.yaml']).digest('hex'));
    expect(render().template.checksum).toBe(template.checksum);
    expect(render({ props: { image: 'apache/airflow:3.3.1' } }).template.checksum).not.toBe(template.checksum);
  });

  test('asks the cluster autoscaler to keep a node while a task runs on it (safe-to-evict "false"), unless the pod options say otherwise', () => {
    expect(render().pod.metadata.annotations).toEqual({ 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' });
    const moved = render({ props: { pod: { annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' } } } }).pod;
    expect(moved.metadata.annotations?.['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
  });

  test('honours image and extra env, and uses the instance name', () => {
    const { base, objects } = render({ props: { image: 'apache/airflow:3.3.1', env: [{ name: 'TEAM', value: 'a' }] }, config: { instanceName: 'team-a' } });
    expect(base.image).toBe('apache/airflow:3.3.1');
    expect(envOf(base).TEAM).toEqual({ value: 'a' });
    expect(envOf(base).AIRFLOW_HOME).toEqual({ value: '/opt/airflow' });
    find(objects, 'ConfigMap', 'team-a-pod-template');
  });

  describe('with git-sync', () => {
    test('syncs the DAGs once in an init container, to the path the dag-processor reads them from', () => {
      const chart = testChart();
      const gitSync = new GitSync(chart, 'git-sync', { repository: REPO, ref: 'main' });
      const config = new AirflowConfig(chart, 'config', { dagsFolder: gitSync.dagsFolder });
      new TaskPodTemplate(chart, 'pod-template', { config, gitSync });
      new DagProcessor(chart, 'dag-processor', { config, gitSync });
      const objects = synth(chart);
      const pod = taskPod(objects);
      const init = pod.spec.initContainers.find((c: any) => envOf(c).GITSYNC_ONE_TIME);
      expect(envOf(init).GITSYNC_ONE_TIME).toEqual({ value: 'true' });
      expect(envOf(init).GITSYNC_REPO).toEqual({ value: REPO });
      expect(envOf(init).GITSYNC_REF).toEqual({ value: 'main' });

      const dagsVolume = init.volumeMounts.find((m: any) => m.mountPath === envOf(init).GITSYNC_ROOT.value).name;
      const taskMount = pod.spec.containers[0].volumeMounts.find((m: any) => m.name === dagsVolume);
      const processor = podSpec(find(objects, 'Deployment', 'airflow-dag-processor'));
      const sidecar = processor.containers.find((c: any) => c.name === 'git-sync');
      const processorVolume = sidecar.volumeMounts.find((m: any) => m.mountPath === envOf(sidecar).GITSYNC_ROOT.value).name;
      const processorMount = processor.containers[0].volumeMounts.find((m: any) => m.name === processorVolume);
      expect(taskMount.mountPath).toBe(processorMount.mountPath);
      expect(taskMount.readOnly).toBe(true);
      expect(config.dagsFolder.startsWith(`${taskMount.mountPath}/`)).toBe(true);
    });

    test('rejects an AirflowConfig whose dagsFolder is not where git-sync puts the DAGs', () => {
      const chart = testChart();
      const gitSync = new GitSync(chart, 'git-sync', { repository: REPO });
      const config = new AirflowConfig(chart, 'config');
      expect(() => new TaskPodTemplate(chart, 'pod-template', { config, gitSync })).toThrow(/dagsFolder/);
    });
  });

  describe('rejects', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    let n = 0;
    const make = (props: Partial<TaskPodTemplateProps>) => () => new TaskPodTemplate(chart, `p${n++}`, { config, ...props });
    test('an unpinned image', () => expect(make({ image: 'apache/airflow' })).toThrow(/image/));
    test('an invalid ServiceAccount name', () => expect(make({ serviceAccountName: 'Bad_Name' })).toThrow(/serviceAccountName/));
    test('extra env that smuggles in the database URL', () =>
      expect(make({ env: [{ name: 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', value: 'postgresql://x' }] })).toThrow(/env/));
    test('malformed resources', () =>
      expect(make({ resources: { requests: { cpu: '100m', memory: '2GB' }, limits: { memory: '4Gi' } } })).toThrow(/resources\.requests\.memory/));
  });
});

describe('TaskPodTemplate start-up', () => {
  // The image entrypoint (scripts/docker/entrypoint_prod.sh) runs `airflow db check` before any command
  // unless CONNECTION_CHECK_MAX_COUNT is 0; a task pod has no database URL, so the check would fail.
  test('the base container skips the entrypoint database check', () => {
    const { base } = render();
    expect(envOf(base).CONNECTION_CHECK_MAX_COUNT).toEqual({ value: '0' });
    expect(envOf(base).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toBeUndefined();
  });

  test('the check cannot be turned back on through env', () => {
    expect(() => render({ props: { env: [{ name: 'CONNECTION_CHECK_MAX_COUNT', value: '20' }] } })).toThrow(/env: got "CONNECTION_CHECK_MAX_COUNT"/);
  });
});
