// AirflowChart: the Namespace first and Pod Security "restricted", every object in it, recommended
// labels everywhere, stable names without cdk8s hash suffixes, and its own input errors.
import { Testing } from 'cdk8s';
import { AirflowChart, AirflowEnvironment, AirflowValidationError, ENVIRONMENTS, Tier } from '../lib';
import { K8sObject, synth, synthEnvironment, TIERS } from './helpers';

/** A custom environment besides the presets: another instance name and namespace. */
const CUSTOM: AirflowEnvironment = {
  tier: 'dev',
  namespace: 'data-platform',
  airflow: { instanceName: 'data', dags: { repository: 'https://github.com/example/dags.git', subPath: 'dags' } },
};

const CASES: Array<[string, string, string, () => K8sObject[]]> = [
  ...TIERS.map(tier => [tier, ENVIRONMENTS[tier].namespace, 'airflow', () => synthEnvironment(tier)] as [string, string, string, () => K8sObject[]]),
  ['custom instance "data"', 'data-platform', 'data', () => synth(new AirflowChart(Testing.app(), 'custom', CUSTOM))],
];

describe.each(CASES)('%s', (_label, namespace, instance, build) => {
  const objects = build();
  /** Cluster-scoped admission objects (prod's task pod policy) carry the namespace in their name instead. */
  const CLUSTER_SCOPED = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
  const [first, ...all] = objects;
  const rest = all.filter(o => !CLUSTER_SCOPED.includes(o.kind));
  const clusterScoped = all.filter(o => CLUSTER_SCOPED.includes(o.kind));

  test('the Namespace is the first object, enforces Pod Security "restricted" and has no namespace itself', () => {
    expect(first.kind).toBe('Namespace');
    expect(first.apiVersion).toBe('v1');
    expect(first.metadata.name).toBe(namespace);
    expect(first.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(first.metadata.labels?.['pod-security.kubernetes.io/warn']).toBe('restricted');
    expect(first.metadata.labels?.['pod-security.kubernetes.io/audit']).toBe('restricted');
    expect(first.metadata).not.toHaveProperty('namespace');
    expect(objects.filter(o => o.kind === 'Namespace')).toHaveLength(1);
  });

  test('every other object is in that namespace; the cluster-scoped ones have none and are named after it', () => {
    expect(rest.length).toBeGreaterThan(15);
    for (const o of rest) expect({ object: `${o.kind}/${o.metadata.name}`, namespace: o.metadata.namespace }).toEqual({ object: `${o.kind}/${o.metadata.name}`, namespace });
    for (const o of clusterScoped) expect({ object: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }).toEqual({ object: o.kind, namespace: undefined, name: `${namespace}-${instance}-task-pods` });
  });

  test('every object carries the recommended labels', () => {
    for (const o of objects) {
      const labels = o.metadata.labels ?? {};
      const where = `${o.kind}/${o.metadata.name}`;
      expect({ where, name: labels['app.kubernetes.io/name'] }).toEqual({ where, name: 'airflow' });
      expect({ where, partOf: labels['app.kubernetes.io/part-of'] }).toEqual({ where, partOf: 'airflow' });
      expect({ where, managedBy: labels['app.kubernetes.io/managed-by'] }).toEqual({ where, managedBy: 'cdk8s' });
      if (o.kind === 'Namespace') continue;
      expect({ where, instance: labels['app.kubernetes.io/instance'] }).toEqual({ where, instance });
      expect({ where, component: typeof labels['app.kubernetes.io/component'] }).toEqual({ where, component: 'string' });
      expect(labels['app.kubernetes.io/component'].length).toBeGreaterThan(0);
    }
  });

  test('names are what the library computes, without cdk8s hash suffixes', () => {
    for (const o of rest) {
      const name = o.metadata.name;
      const component = o.metadata.labels!['app.kubernetes.io/component'];
      expect(name.startsWith(instance)).toBe(true);
      expect(name).not.toMatch(/-c8[0-9a-f]{6}$/);
      if (o.kind === 'Job') expect(name).toMatch(new RegExp(`^${instance}-(db-migrate|pools)-[0-9a-f]{10}$`));
      // the egress allows: one NetworkPolicy per purpose, `<instance>-egress-<purpose>`
      else if (component === 'egress') expect({ kind: o.kind, name }).toEqual({ kind: 'NetworkPolicy', name: expect.stringMatching(new RegExp(`^${instance}-egress-[a-z]+(-[a-z]+)*$`)) });
      else expect({ kind: o.kind, name }).toEqual({ kind: o.kind, name: `${instance}-${component}` });
    }
    // the runbook names
    const names = rest.map(o => `${o.kind}/${o.metadata.name}`);
    for (const c of ['scheduler', 'api-server', 'dag-processor', 'triggerer']) expect(names).toContain(`Deployment/${instance}-${c}`);
    expect(names).toContain(`Service/${instance}-api-server`);
    expect(names).toContain(`ConfigMap/${instance}-config`);
    expect(names).toContain(`ConfigMap/${instance}-pod-template`);
    // and no two objects share kind and name
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });
});

describe('AirflowChart rejects', () => {
  function error(f: () => unknown): AirflowValidationError {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(AirflowValidationError);
      return e as AirflowValidationError;
    }
    throw new Error('no error thrown');
  }

  test('an unknown tier', () => {
    const err = error(() => new AirflowChart(Testing.app(), 'qa', { ...ENVIRONMENTS.staging, tier: 'qa' as Tier }));
    expect(err.constructPath).toBe('qa');
    expect(err.property).toBe('tier');
    expect(err.message).toBe('AirflowChart [qa] tier: got "qa"; expected "dev", "staging" or "prod".');
  });

  test('an Airflow namespace that is not the environment\'s', () => {
    const dev = ENVIRONMENTS.dev;
    const err = error(() => new AirflowChart(Testing.app(), 'dev', { ...dev, airflow: { ...dev.airflow, namespace: 'airflow-staging' } }));
    expect(err.constructPath).toBe('dev');
    expect(err.property).toBe('airflow.namespace');
    expect(err.value).toBe('airflow-staging');
    expect(err.message).toContain('AirflowChart [dev] airflow.namespace: got "airflow-staging"; expected');
    expect(err.message).toContain('(airflow-dev)');
  });

  test('a namespace that is not a DNS-1123 label', () => {
    for (const namespace of ['Airflow-Dev', 'airflow_dev', '-airflow', 'a'.repeat(64), '']) {
      const err = error(() => new AirflowChart(Testing.app(), 'dev', { ...ENVIRONMENTS.dev, namespace }));
      expect(err.property).toBe('namespace');
      expect(err.message).toContain(`got ${JSON.stringify(namespace)}; expected a DNS-1123 label`);
    }
  });

  test('prod without high availability', () => {
    const prod = ENVIRONMENTS.prod;
    const err = error(() => new AirflowChart(Testing.app(), 'prod', { ...prod, airflow: { ...prod.airflow, highAvailability: false } }));
    expect(err.property).toBe('airflow.highAvailability');
  });

  test('and accepts the Airflow namespace when it equals the environment\'s', () => {
    const dev = ENVIRONMENTS.dev;
    expect(() => new AirflowChart(Testing.app(), 'dev', { ...dev, airflow: { ...dev.airflow, namespace: dev.namespace } })).not.toThrow();
  });
});

test('the presets are not modified by building charts from them', () => {
  const before = JSON.stringify(ENVIRONMENTS);
  for (const tier of TIERS) synthEnvironment(tier);
  expect(JSON.stringify(ENVIRONMENTS)).toBe(before);
});
