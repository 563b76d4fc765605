import { createHash } from 'crypto';
import { parse } from 'yaml';
import { AirflowConfig, AirflowConfigProps, DagProcessor, GitSync, GitSyncProps, GPU_RESOURCE, POD_TEMPLATE_DIR, SecretKeyRef, TaskPodTemplate, TaskPodTemplateProps } from '../lib';
import { airflowCfg, allContainers, envOf, find, podSpec, runCheck, synth, taskPod, testChart, writeYaml } from './helpers';

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

describe('TaskPodTemplate profiles', () => {
  const GPU_NODES = { 'nvidia.com/gpu.present': 'true' };
  const GPU_TAINT = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };
  const profiles = () => render({ gitSync: { repository: REPO }, props: {
    resources: { requests: { cpu: '500m' } },
    pod: { nodeSelector: { pool: 'tasks' }, tolerations: [{ key: 'tasks', operator: 'Exists', effect: 'NoSchedule' }] },
    profiles: {
      large: { resources: { requests: { memory: '8Gi' }, limits: { memory: '8Gi' } }, slots: 2 },
      gpu: { gpus: 1, nodeSelector: GPU_NODES, tolerations: [GPU_TAINT] },
    },
  } });
  const file = (objects: any[], name: string) => parse(find(objects, 'ConfigMap', 'airflow-pod-template').data[`${name}.yaml`]);

  test('each is one more file in the template\'s ConfigMap, at the path the scheduler mounts it', () => {
    const { objects, template } = profiles();
    // and the cluster policy that puts large's tasks in its pool (below)
    expect(Object.keys(find(objects, 'ConfigMap', 'airflow-pod-template').data).sort()).toEqual(['airflow_local_settings.py', 'gpu.yaml', 'large.yaml', 'pod_template_file.yaml']);
    expect(template.profileFiles).toEqual({ large: `${POD_TEMPLATE_DIR}/large.yaml`, gpu: `${POD_TEMPLATE_DIR}/gpu.yaml` });
  });

  test('the same pod as the template but for what the profile changes: resources field by field, GPUs, node selector, tolerations', () => {
    const { objects, pod } = profiles();
    const large = file(objects, 'large');
    const gpu = file(objects, 'gpu');
    const strip = (p: any) => ({ ...p.spec, containers: p.spec.containers.map((c: any) => ({ ...c, resources: undefined })), nodeSelector: undefined, tolerations: undefined });
    expect(strip(large)).toEqual(strip(pod));
    expect(strip(gpu)).toEqual(strip(pod));
    expect(large.metadata).toEqual(pod.metadata);
    expect(large.spec.containers[0].resources).toEqual({ ...pod.spec.containers[0].resources,
      requests: { ...pod.spec.containers[0].resources.requests, cpu: '500m', memory: '8Gi' }, limits: { ...pod.spec.containers[0].resources.limits, memory: '8Gi' } });
    expect(gpu.spec.containers[0].resources.requests[GPU_RESOURCE]).toBe(1);
    expect(gpu.spec.containers[0].resources.limits[GPU_RESOURCE]).toBe(1);
    expect(gpu.spec.nodeSelector).toEqual({ pool: 'tasks', ...GPU_NODES });
    expect(gpu.spec.tolerations).toEqual([{ key: 'tasks', operator: 'Exists', effect: 'NoSchedule' }, GPU_TAINT]);
    expect(large.spec.nodeSelector).toEqual({ pool: 'tasks' });
  });

  test('the scheduler\'s rollout checksum covers them: a changed profile rolls the scheduler', () => {
    const a = profiles().template.checksum;
    const b = render({ props: { profiles: { large: { gpus: 2 } } } }).template.checksum;
    const none = render();
    expect(a).not.toBe(b);
    // without profiles, the template's own hash, as before profiles existed
    expect(none.template.checksum).toBe(createHash('sha256').update(none.template.podTemplateYaml).digest('hex'));
  });

  test('every profile file passes the strict schema and Pod Security checks of npm run check', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    new TaskPodTemplate(chart, 'pod-template', { config, profiles: { large: { resources: { requests: { cpu: '4' } } }, gpu: { gpus: 1 } } });
    const { status, report } = runCheck(writeYaml(synth(chart)));
    expect(report.podTemplates).toBe(3);
    expect([status, report.schemaErrors, report.policyViolations, report.hygieneProblems]).toEqual([0, [], [], []]);
  });
});

describe('the cluster policy of task pod profiles with slots', () => {
  const build = (profiles: TaskPodTemplateProps['profiles']) => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    const template = new TaskPodTemplate(chart, 'pod-template', { config, profiles });
    const processor = new DagProcessor(chart, 'dag-processor', { config, podTemplate: template });
    const objects = synth(chart);
    return { template, objects, processor: find(objects, 'Deployment', processor.name) };
  };

  test('airflow_local_settings.py maps each slotted profile\'s file to its pool; the dag-processor mounts it where Airflow imports it', () => {
    const { template, objects, processor } = build({ large: { slots: 2 }, small: {} });
    const data = find(objects, 'ConfigMap', 'airflow-pod-template').data;
    expect(data['airflow_local_settings.py']).toBe(template.clusterPolicy);
    expect(template.clusterPolicy).toContain(`PROFILE_POOLS = {\n    "${POD_TEMPLATE_DIR}/large.yaml": "large",\n}`);
    expect(template.clusterPolicy).toContain('def task_policy(task):');
    expect(template.clusterPolicy).not.toContain('small');
    const mount = podSpec(processor).containers[0].volumeMounts.find((m: any) => m.subPath === 'airflow_local_settings.py');
    expect(mount).toEqual({ name: 'pod-template', mountPath: '/opt/airflow/config/airflow_local_settings.py', subPath: 'airflow_local_settings.py', readOnly: true });
    expect(podSpec(processor).volumes).toEqual(expect.arrayContaining([{ name: 'pod-template', configMap: { name: 'airflow-pod-template' } }]));
    expect(processor.spec.template.metadata.annotations['checksum/pod-template']).toBe(template.checksum);
  });

  test('without a slotted profile: no policy, nothing mounted', () => {
    const { template, objects, processor } = build({ small: {} });
    expect(template.clusterPolicy).toBeUndefined();
    expect(Object.keys(find(objects, 'ConfigMap', 'airflow-pod-template').data).sort()).toEqual(['pod_template_file.yaml', 'small.yaml']);
    expect(JSON.stringify(podSpec(processor))).not.toContain('"name":"pod-template"');
  });
});
