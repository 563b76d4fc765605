// PodOptions: one typed set of pod options for every pod the library makes (issue 13, point 1). Each option is
// asserted present where set, absent where not, refused where Kubernetes or Pod Security "restricted" refuse it;
// the output with every option set passes `npm run check` (strict schemas and Pod Security "restricted").
import { App, Chart, Testing } from 'cdk8s';
import { Quantity } from '../imports/k8s';
import { Airflow, AirflowProps, AirflowValidationError, ENVIRONMENTS, PodOptions, SecretKeyRef } from '../lib';
import { K8sObject } from './helpers';
import { podSpec, runCheck, synth, synthEnvironment, taskPod, writeYaml } from './helpers';

const RESOURCES = { requests: { cpu: Quantity.fromString('10m'), memory: Quantity.fromString('32Mi') }, limits: { memory: Quantity.fromString('64Mi') } };
const EVERY_OPTION: PodOptions = {
  nodeSelector: { 'node.kubernetes.io/pool': 'airflow' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'airflow', effect: 'NoSchedule' }],
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }] } } },
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
  priorityClassName: 'airflow-high',
  annotations: { 'sidecar.istio.io/inject': 'false' },
  labels: { team: 'data' },
  imagePullSecrets: ['regcred'],
  volumes: [{ name: 'ca-bundle', configMap: { name: 'corporate-ca' } }],
  volumeMounts: [{ name: 'ca-bundle', mountPath: '/etc/ssl/corporate', readOnly: true }],
  initContainers: [{ name: 'wait-for-vault', image: 'registry.example.com/vault-wait:1.2.0', args: ['--timeout=60s'], resources: RESOURCES }],
  envFrom: [{ secretRef: { name: 'airflow-connections' } }],
  terminationGracePeriodSeconds: 120,
};
const SIDECAR = { name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1', args: ['--port=5432', 'project:region:db'], resources: RESOURCES };

/** Every pod template an installation renders: Deployments, the StatefulSet, the migration Job, CronJobs and the task pod. */
function pods(objects: K8sObject[]): { where: string; metadata: any; spec: any }[] {
  const templates = objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind)).map(o => ({
    where: `${o.kind}/${o.metadata.name}`,
    metadata: o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.metadata : o.spec.template.metadata,
    spec: podSpec(o),
  }));
  const task = taskPod(objects);
  return [...templates, { where: 'task pod', metadata: task.metadata, spec: task.spec }];
}

function render(props: AirflowProps): K8sObject[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'airflow-test', disableResourceNameHashes: true });
  new Airflow(chart, 'airflow', props);
  return synth(chart);
}

/** staging's preset (PgBouncer, in-cluster PostgreSQL with backups: every kind of pod) with `change` applied. */
const staging = (change: Partial<AirflowProps>): AirflowProps => ({ ...ENVIRONMENTS.staging.airflow, ...change });

describe('installation-wide pod options reach every pod', () => {
  const objects = render(staging({ pod: EVERY_OPTION, apiServer: { pod: { containers: [SIDECAR] } } }));
  const all = pods(objects);

  test('there is every kind of pod: four components, PgBouncer, the metrics exporter, PostgreSQL, its backup, the jobs and the task pod', () => {
    expect(all.map(p => p.where)).toEqual(expect.arrayContaining(['Deployment/airflow-scheduler', 'Deployment/airflow-pgbouncer',
      'StatefulSet/airflow-postgresql', 'CronJob/airflow-postgresql-backup', 'CronJob/airflow-db-cleanup', 'CronJob/airflow-cleanup-pods', 'task pod']));
    expect(all.some(p => p.where.startsWith('Job/airflow-db-migrate-'))).toBe(true);
    expect(all.some(p => p.where.startsWith('Job/airflow-pools-'))).toBe(true); // the pools of the task pod profiles
    expect(all.length).toBe(13);
  });

  test.each(['nodeSelector', 'tolerations', 'affinity', 'priorityClassName', 'terminationGracePeriodSeconds'] as const)('%s', field => {
    for (const p of all) expect([p.where, p.spec[field]]).toEqual([p.where, EVERY_OPTION[field]]);
  });

  test('imagePullSecrets by name, labels and annotations beside the library\'s', () => {
    for (const p of all) {
      expect([p.where, p.spec.imagePullSecrets]).toEqual([p.where, [{ name: 'regcred' }]]);
      expect(p.metadata.labels).toMatchObject({ 'team': 'data', 'app.kubernetes.io/part-of': 'airflow' });
      expect(p.metadata.annotations).toMatchObject({ 'sidecar.istio.io/inject': 'false' });
    }
    // the library's own annotations stay
    expect(all.find(p => p.where === 'Deployment/airflow-scheduler')!.metadata.annotations['checksum/airflow-config']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('topology spread constraints after the library\'s own', () => {
    const scheduler = all.find(p => p.where === 'Deployment/airflow-scheduler')!.spec;
    expect(scheduler.topologySpreadConstraints.map((c: any) => c.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  });

  test('volumes, mounts and envFrom go to the main container; init containers after the library\'s, with restricted defaults', () => {
    for (const p of all) {
      expect(p.spec.volumes).toContainEqual({ name: 'ca-bundle', configMap: { name: 'corporate-ca' } });
      const main = p.spec.containers[0];
      expect([p.where, main.volumeMounts]).toEqual([p.where, expect.arrayContaining([{ name: 'ca-bundle', mountPath: '/etc/ssl/corporate', readOnly: true }])]);
      expect([p.where, main.envFrom]).toEqual([p.where, [{ secretRef: { name: 'airflow-connections' } }]]);
      const inits = p.spec.initContainers;
      expect(inits[inits.length - 1]).toMatchObject({
        name: 'wait-for-vault',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      });
    }
    const scheduler = all.find(p => p.where === 'Deployment/airflow-scheduler')!.spec;
    expect(scheduler.initContainers.map((c: any) => c.name)).toEqual(['wait-for-migrations', 'wait-for-vault']);
  });

  test('a downward API volume is one of the kinds allowed', () => {
    const objects = render(staging({ pod: { volumes: [{ name: 'podinfo', downwardApi: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }] } }));
    expect(pods(objects).every(p => p.spec.volumes.some((v: any) => v.name === 'podinfo' && v.downwardAPI))).toBe(true);
  });

  test('installation-wide sidecars go to the long-running pods only, not to task pods, Jobs or CronJobs', () => {
    const all = pods(render(staging({ pod: { containers: [SIDECAR] } })));
    const withSidecar = all.filter(p => p.spec.containers.some((c: any) => c.name === 'cloud-sql-proxy')).map(p => p.where).sort();
    expect(withSidecar).toEqual(['Deployment/airflow-api-server', 'Deployment/airflow-dag-processor', 'Deployment/airflow-pgbouncer',
      'Deployment/airflow-scheduler', 'Deployment/airflow-statsd', 'Deployment/airflow-triggerer', 'StatefulSet/airflow-postgresql']);
  });

  test('a component\'s sidecar is in its pods only', () => {
    const withSidecar = all.filter(p => p.spec.containers.some((c: any) => c.name === 'cloud-sql-proxy')).map(p => p.where);
    expect(withSidecar).toEqual(['Deployment/airflow-api-server']);
  });

  test('every object still passes the strict schemas and Pod Security "restricted"', () => {
    const { status, report } = runCheck(writeYaml(objects));
    expect([...report.schemaErrors, ...report.policyViolations, ...report.hygieneProblems]).toEqual([]);
    expect(report.podSpecsChecked).toBeGreaterThanOrEqual(11);
    expect(status).toBe(0);
  });
});

describe('absent where not set, and a component\'s field replaces the installation\'s', () => {
  test('the presets set none: no pod of any environment has a nodeSelector, tolerations, priority class or pull secret', () => {
    for (const tier of ['dev', 'staging', 'prod'] as const) {
      for (const p of pods(synthEnvironment(tier))) {
        for (const field of ['nodeSelector', 'tolerations', 'affinity', 'priorityClassName', 'imagePullSecrets', 'terminationGracePeriodSeconds']) {
          if (field === 'terminationGracePeriodSeconds' && /pgbouncer|postgresql$/.test(p.where)) continue; // theirs is 60
          expect([p.where, field, p.spec[field]]).toEqual([p.where, field, undefined]);
        }
      }
    }
  });

  test('scheduler.pod.tolerations replace the installation\'s for the scheduler; the rest keep the installation\'s', () => {
    const gpu = [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }];
    const all = pods(render(staging({ pod: { tolerations: EVERY_OPTION.tolerations, priorityClassName: 'airflow' }, scheduler: { pod: { tolerations: gpu } } })));
    const scheduler = all.find(p => p.where === 'Deployment/airflow-scheduler')!.spec;
    expect(scheduler.tolerations).toEqual(gpu);
    expect(scheduler.priorityClassName).toBe('airflow'); // not given by the component: the installation's
    expect(all.find(p => p.where === 'Deployment/airflow-triggerer')!.spec.tolerations).toEqual(EVERY_OPTION.tolerations);
  });

  test('a new pod option gives the migration Job a new name (its template cannot change in place)', () => {
    const name = (objects: K8sObject[]) => objects.find(o => o.kind === 'Job')!.metadata.name;
    expect(name(render(staging({})))).not.toBe(name(render(staging({ migrations: { pod: { priorityClassName: 'airflow' } } }))));
    expect(name(render(staging({})))).toBe(name(render(staging({}))));
  });
});

describe('refused at synth, naming the field', () => {
  const refuse = (props: AirflowProps, path: RegExp, expected: RegExp) => {
    let error: unknown;
    try { render(props); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(path);
    expect((error as Error).message).toMatch(expected);
  };

  test.each<[string, PodOptions | Record<string, unknown>, RegExp, RegExp]>([
    ['a label the library owns', { labels: { 'app.kubernetes.io/component': 'x' } }, /pod\.labels: got "app\.kubernetes\.io\/component"/, /outside app\.kubernetes\.io\//],
    ['a label value with a space', { labels: { team: 'data eng' } }, /pod\.labels\.team: got "data eng"/, /a label value/],
    ['a checksum annotation', { annotations: { 'checksum/airflow-config': 'x' } }, /pod\.annotations: got "checksum\/airflow-config"/, /outside checksum\//],
    ['a nodeSelector key with two slashes', { nodeSelector: { 'a/b/c': 'x' } }, /pod\.nodeSelector: got "a\/b\/c"/, /label keys/],
    ['a toleration operator "In"', { tolerations: [{ key: 'a', operator: 'In' }] }, /pod\.tolerations\[0\]\.operator: got "In"/, /"Equal" or "Exists"/],
    ['a toleration with a value and Exists', { tolerations: [{ key: 'a', operator: 'Exists', value: 'b' }] }, /pod\.tolerations\[0\]\.value/, /no value with operator "Exists"/],
    ['a toleration effect "NoRun"', { tolerations: [{ key: 'a', value: 'b', effect: 'NoRun' }] }, /pod\.tolerations\[0\]\.effect: got "NoRun"/, /"NoSchedule", "PreferNoSchedule" or "NoExecute"/],
    ['tolerationSeconds without NoExecute', { tolerations: [{ key: 'a', value: 'b', effect: 'NoSchedule', tolerationSeconds: 60 }] }, /pod\.tolerations\[0\]\.tolerationSeconds/, /only with effect "NoExecute"/],
    ['a priority class in capitals', { priorityClassName: 'High' }, /pod\.priorityClassName: got "High"/, /DNS subdomain|lower-case/],
    ['a pull Secret name with "_"', { imagePullSecrets: ['reg_cred'] }, /pod\.imagePullSecrets: got "reg_cred"/, /DNS subdomain|lower-case/],
    ['a hostPath volume', { volumes: [{ name: 'host', hostPath: { path: '/var/run' } }] }, /pod\.volumes\[0\]: got "hostPath"/, /kinds Pod Security "restricted" allows/],
    ['a volume named like the library\'s', { volumes: [{ name: 'tmp', emptyDir: {} }] }, /pod\.volumes/, /unique|once|twice/],
    ['a mount of a volume the pod lacks', { volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, /pod\.volumeMounts\[0\]\.name: got "nope"/, /a volume of the pod/],
    ['a mount over the library\'s /tmp', { volumes: [{ name: 'x', emptyDir: {} }], volumeMounts: [{ name: 'x', mountPath: '/tmp' }] }, /pod\.volumeMounts\[0\]\.mountPath: got "\/tmp"/, /does not mount already/],
    ['envFrom with both refs', { envFrom: [{ secretRef: { name: 'a' }, configMapRef: { name: 'b' } }] }, /pod\.envFrom\[0\]/, /one of secretRef or configMapRef/],
    ['a negative grace period', { terminationGracePeriodSeconds: -1 }, /pod\.terminationGracePeriodSeconds: got -1/, /whole number >= 0/],
    ['a second hostname spread', { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }] }, /pod\.topologySpreadConstraints\[0\]/, /Kubernetes refuses duplicates/],
    ['a privileged init container', { initContainers: [{ name: 'x', image: 'busybox:1.37', resources: RESOURCES, securityContext: { privileged: true } }] }, /pod\.initContainers\[0\]\.securityContext\.privileged: got true/, /no privileged container/],
    ['an init container as root', { initContainers: [{ name: 'x', image: 'busybox:1.37', resources: RESOURCES, securityContext: { runAsUser: 0 } }] }, /pod\.initContainers\[0\]\.securityContext\.runAsUser: got 0/, /non-root/],
    ['an added capability', { initContainers: [{ name: 'x', image: 'busybox:1.37', resources: RESOURCES, securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }, /capabilities\.add/, /at most NET_BIND_SERVICE/],
    ['an unconfined seccomp profile', { initContainers: [{ name: 'x', image: 'busybox:1.37', resources: RESOURCES, securityContext: { seccompProfile: { type: 'Unconfined' } } }] }, /seccompProfile\.type: got "Unconfined"/, /"RuntimeDefault" or "Localhost"/],
    ['an init container named like the library\'s', { initContainers: [{ name: 'wait-for-migrations', image: 'busybox:1.37', resources: RESOURCES }] }, /pod\.containers and initContainers/, /unique|once|twice/],
    ['a misspelt option', { nodeSelectr: { a: 'b' } }, /pod\.nodeSelectr/, /did you mean "nodeSelector"/],
    ['an init container without resources', { initContainers: [{ name: 'x', image: 'busybox:1.37' }] }, /pod\.initContainers\[0\]\.resources: got undefined/, /CPU and memory requests and a memory limit/],
    ['a misspelt toleration field', { tolerations: [{ key: 'a', value: 'b', efect: 'NoSchedule' }] }, /pod\.tolerations\[0\]\.efect/, /did you mean "effect"/],
  ])('%s', (_what, pod, path, expected) => refuse(staging({ pod: pod as PodOptions }), path, expected));

  test('a sidecar with a host port', () => refuse(staging({ apiServer: { pod: { containers: [{ ...SIDECAR, ports: [{ containerPort: 5432, hostPort: 5432 }] }] } } }),
    /apiServer|api-server/, /no host port/));
  test.each<[string, Partial<AirflowProps>]>([
    ['task pods', { taskPods: { pod: { containers: [SIDECAR] } } }],
    ['the migration Job', { migrations: { pod: { containers: [SIDECAR] } } }],
    ['the pools Job', { pools: { pools: { etl: { slots: 1 } }, pod: { containers: [SIDECAR] } } }],
    ['the cleanup CronJob', { databaseCleanup: { pod: { containers: [SIDECAR] } } }],
  ])('a sidecar in %s, which would keep a pod that must end running', (_what, change) => refuse(staging(change),
    /pod\.containers: got \["cloud-sql-proxy"\]/, /no extra containers in a pod that runs to completion/));
  test('quantities given as strings, which cdk8s would drop from the YAML', () => refuse(staging({
    pod: { initContainers: [{ name: 'x', image: 'busybox:1.37', resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } } as any }] },
  }), /pod\.initContainers\[0\]\.resources/, /CPU and memory requests and a memory limit/));
  test('a literal where the Secret name of envFrom belongs is still only a name', () => {
    expect(() => render(staging({ pod: { envFrom: [{ secretRef: { name: SecretKeyRef.of('airflow-connections', 'x') as any } }] } }))).toThrow(AirflowValidationError);
  });
});

test('the typed options compile in someone else\'s chart: an Airflow with a private image and its pull Secret', () => {
  const chart = new Chart(new App(), 'platform', { namespace: 'data' });
  new Airflow(chart, 'airflow', {
    image: 'registry.example.com/data/airflow:3.3.2-acme.1', airflowVersion: '3.3.2',
    pod: { imagePullSecrets: ['regcred'], envFrom: [{ secretRef: { name: 'airflow-connections' } }] },
  });
  const all = pods(synth(chart));
  for (const p of all.filter(q => q.spec.containers[0].image.startsWith('registry.example.com/'))) expect(p.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  expect(all.filter(q => q.spec.containers[0].image.startsWith('registry.example.com/')).length).toBeGreaterThanOrEqual(7);
});

test('custom images per component and for task pods, of the installation\'s declared Airflow version; another version fails', () => {
  const spark = 'registry.example.com/data/airflow:3.3.2-spark';
  const objects = render({ airflowVersion: '3.3.2', taskPods: { image: spark, pod: { imagePullSecrets: ['regcred'] } }, scheduler: { image: 'registry.example.com/data/airflow:3.3.2-slim' } });
  const all = pods(objects);
  expect(all.find(p => p.where === 'task pod')!.spec.containers[0].image).toBe(spark);
  expect(all.find(p => p.where === 'task pod')!.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  expect(all.find(p => p.where === 'Deployment/airflow-scheduler')!.spec.containers[0].image).toBe('registry.example.com/data/airflow:3.3.2-slim');
  expect(all.find(p => p.where === 'Deployment/airflow-api-server')!.spec.containers[0].image).toBe('apache/airflow:3.3.2');
  expect(() => render({ taskPods: { image: 'apache/airflow:3.2.2' } })).toThrow(/taskPods|pod-template.*image: got "apache\/airflow:3\.2\.2"; expected an image of the installation's Airflow 3\.3 series/);
});
