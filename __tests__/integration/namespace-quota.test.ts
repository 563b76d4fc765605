// The quota's arithmetic against Kubernetes' own. dev, with a ResourceQuota set to exactly the peak the library
// computes (installationPeak), on a real kube-apiserver and kube-controller-manager (the controllers that create
// pods, and the quota controller that counts them; no kubelet runs the pods): every pod of the peak is admitted
// (the components, a rollout's surging pods, the migration Job, a run of every CronJob, [core] parallelism task
// pods for each scheduler, the one the rollout adds included), Kubernetes counts exactly the quota, and one task
// pod more is refused. A peak computed too low refuses a
// pod of the peak; one computed too high leaves the count below the quota: either fails here.
import { Testing } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { AirflowChart, ENVIRONMENTS, parseQuantity, PodUsage } from '../../lib';
import { setup, TestHost, waitFor } from '../../scripts/integration/host';

jest.setTimeout(1_200_000);

const env = ENVIRONMENTS.dev;
const namespace = env.namespace;
const peak = new AirflowChart(Testing.app(), 'dev', env).quota!.peak;
const total = (k: keyof PodUsage) => peak.reduce((a, p) => a + p[k], 0);
// the quota at exactly the peak: millicores and bytes, as Kubernetes counts them
const exact = { requests: { cpu: `${Math.round(total('cpu') * 1000)}m`, memory: String(total('memory')) },
  limits: { memory: String(total('memoryLimits')) }, pods: total('pods') };
const chart = new AirflowChart(Testing.app(), 'dev', { ...env, quota: { ...exact, containerDefaults: undefined } });
const objects: any[] = Testing.synth(chart);
const taskPod = parse(objects.find(o => o.kind === 'ConfigMap' && o.data?.['pod_template_file.yaml']).data['pod_template_file.yaml']);
const parallelism = Number(chart.airflow.config.cfgOptions.core.parallelism);

let host: TestHost;

const kubectlJson = (...args: string[]) => JSON.parse(host.kubectlOk([...args, '-n', namespace, '-o', 'json']));
const pods = () => kubectlJson('get', 'pods').items as any[];
// Admission charges the quota by updating its status, with optimistic concurrency: while controllers create pods
// at the same time, it may answer 409 "Operation cannot be fulfilled on resourcequotas", which every client retries
// (the controllers do). A refusal for the quota is never retried.
const QUOTA_CONFLICT = /Operation cannot be fulfilled on resourcequotas/;
const createTaskPod = (name: string) => {
  const pod = stringify({ ...taskPod, metadata: { ...taskPod.metadata, name, namespace } });
  for (let attempt = 1; ; attempt++) {
    const r = host.kubectl(['create', '-f', '-'], pod);
    if (r.status === 0 || attempt === 5 || !QUOTA_CONFLICT.test(r.stderr)) return r;
  }
};

beforeAll(async () => {
  host = new TestHost(setup(), 'quota');
  await host.startKubeApiserver();
  await host.startKubeControllerManager(['resourcequota-controller', 'deployment-controller', 'replicaset-controller',
    'statefulset-controller', 'job-controller']);
  // The Namespace and its quota first: admission refuses every pod ("status unknown for quota") until the quota
  // controller has filled in the quota's status. Controllers retry such refusals, but this test counts refusals.
  const first = (o: any) => ['Namespace', 'ResourceQuota'].includes(o.kind);
  host.kubectlOk(['apply', '-f', '-'], objects.filter(first).map(o => stringify(o)).join('---\n'));
  // what the serviceaccount controller (not running here) would make: task pods and Jobs run as `default`
  host.kubectlOk(['create', 'serviceaccount', 'default', '-n', namespace]);
  await waitFor('the quota\'s status', 60, () => kubectlJson('get', 'resourcequota').items[0]?.status?.hard !== undefined || undefined);
  host.kubectlOk(['apply', '-f', '-'], objects.filter(o => !first(o)).map(o => stringify(o)).join('---\n'));
}, 3600_000);

afterAll(async () => { await host?.stop(); });

test('the quota of dist/dev is the preset\'s, at least the peak', () => {
  const hard = objects.find(o => o.kind === 'ResourceQuota').spec.hard;
  expect(Object.keys(hard).sort()).toEqual(['limits.memory', 'pods', 'requests.cpu', 'requests.memory']);
  expect(parallelism).toBe(8);
  // each scheduler's, and the one the rollout adds (the scheduler Deployment's default maxSurge: one more)
  expect(peak.at(-1)!.pods).toBe(parallelism * (chart.airflow.scheduler.replicas + 1));
});

test('every pod of the peak is admitted, Kubernetes counts exactly the quota, and one task pod more is refused', async () => {
  const deployments = objects.filter(o => o.kind === 'Deployment');
  const steady = deployments.reduce((a, d) => a + (d.spec.replicas ?? 1), 0)
    + objects.filter(o => ['StatefulSet', 'Job'].includes(o.kind)).length;
  await waitFor(`${steady} pods of the Deployments, StatefulSet and migration Job`, 120, () => pods().length === steady || undefined);

  // a new release rolling out: each Deployment adds its surging pods; the old ones stay (no kubelet makes the new ready)
  host.kubectlOk(['rollout', 'restart', 'deployment', '-n', namespace, '-l', 'app.kubernetes.io/instance=airflow']);
  for (const cronJob of objects.filter(o => o.kind === 'CronJob')) {
    host.kubectlOk(['create', 'job', `${cronJob.metadata.name}-now`, `--from=cronjob/${cronJob.metadata.name}`, '-n', namespace]);
  }
  // what the schedulers run at once, the old one's and the new one's
  for (let i = 0; i < peak.at(-1)!.pods; i++) {
    const r = createTaskPod(`task-${i}`);
    expect({ i, status: r.status, stderr: r.stderr }).toEqual({ i, status: 0, stderr: '' });
  }

  const expectedPods = total('pods');
  await waitFor(`${expectedPods} pods`, 120, () => pods().length === expectedPods || undefined)
    .catch(e => { throw new Error(`${e.message}: ${pods().map(p => p.metadata.name).join(', ')}\n${host.kubectl(['get', 'events', '-n', namespace]).stdout}`); });
  // no pod of the peak was refused for the quota, not even once (a conflict is retried and not a refusal)
  const refused = kubectlJson('get', 'events', '--field-selector', 'reason=FailedCreate').items
    .filter((e: any) => !QUOTA_CONFLICT.test(e.message)).map((e: any) => `${e.involvedObject.name}: ${e.message}`);
  expect(refused).toEqual([]);
  const used = await waitFor('the quota controller to count every pod', 120, () => {
    const status = kubectlJson('get', 'resourcequota').items[0].status;
    if (Number(status.used?.pods) === expectedPods) return status.used;
    throw new Error(`used ${JSON.stringify(status.used)} for ${pods().length} pods, expected ${expectedPods}`);
  });
  const count = (q: string) => parseQuantity(q)!;
  expect({
    cpu: count(used['requests.cpu']), memory: count(used['requests.memory']), memoryLimits: count(used['limits.memory']), pods: count(used.pods),
  }).toEqual({ cpu: count(exact.requests.cpu), memory: count(exact.requests.memory), memoryLimits: count(exact.limits.memory), pods: exact.pods });

  const extra = createTaskPod('task-one-more');
  expect(extra.status).not.toBe(0);
  expect(extra.stderr).toMatch(/exceeded quota: airflow-quota/);
});
