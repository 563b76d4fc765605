import { Testing } from 'cdk8s';
import { Airflow, AirflowChart, ENVIRONMENTS } from '../lib';
import { allContainers, envOf, find, K8sObject, podSpec, synth, taskPod, testChart } from './helpers';

/** Whether a label selector (matchLabels, matchExpressions with In/NotIn/Exists) selects these labels. */
function selects(selector: any, labels: Record<string, string> = {}): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((e: any) =>
    e.operator === 'In' ? e.values.includes(labels[e.key])
      : e.operator === 'NotIn' ? !e.values.includes(labels[e.key])
        : e.operator === 'Exists' ? e.key in labels : false);
  return byLabel && byExpression;
}

/** Pod labels of every workload plus the task pod, with whether the pod reads the database URL. */
function pods(objects: K8sObject[], instance = 'airflow'): Array<{ what: string; labels: Record<string, string>; usesDatabase: boolean }> {
  const workloads = objects.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map(o => ({ what: `${o.kind}/${o.metadata.name}`, pod: o.spec.template }));
  return [...workloads, { what: 'task pod', pod: taskPod(objects, instance) }].map(({ what, pod }) => ({
    what,
    labels: pod.metadata.labels,
    usesDatabase: allContainers(pod.spec).some(c => 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN' in envOf(c)),
  }));
}

const objects = synth(new AirflowChart(Testing.app(), 'dev', ENVIRONMENTS.dev));
const policies = objects.filter(o => o.kind === 'NetworkPolicy');
const policy = (name: string) => find(objects, 'NetworkPolicy', name).spec;

test('ingress only: egress stays open for tasks', () => {
  expect(policies).toHaveLength(4);
  for (const p of policies) expect(p.spec.policyTypes).toEqual(['Ingress']);
});

test('every pod of the installation, task pods included, is under the default deny', () => {
  const deny = policy('airflow-default-deny');
  expect(deny.ingress).toBeUndefined();
  for (const pod of pods(objects)) expect({ pod: pod.what, selected: selects(deny.podSelector, pod.labels) }).toEqual({ pod: pod.what, selected: true });
});

test('the triggerer\'s log server port is open to the api-server only', () => {
  const triggerer = find(objects, 'Deployment', 'airflow-triggerer');
  const apiServer = find(objects, 'Deployment', 'airflow-api-server');
  const p = policy('airflow-triggerer');
  expect(selects(p.podSelector, triggerer.spec.template.metadata.labels)).toBe(true);
  const port = podSpec(triggerer).containers.find((c: any) => c.name === 'triggerer').ports.find((x: any) => x.name === 'trigger-logs').containerPort;
  expect(p.ingress).toHaveLength(1);
  expect(p.ingress[0].ports).toEqual([{ port, protocol: 'TCP' }]);
  expect(p.ingress[0].from).toHaveLength(1);
  expect(selects(p.ingress[0].from[0].podSelector, apiServer.spec.template.metadata.labels)).toBe(true);
  for (const pod of pods(objects).filter(x => x.what !== 'Deployment/airflow-api-server')) {
    expect({ pod: pod.what, selected: selects(p.ingress[0].from[0].podSelector, pod.labels) }).toEqual({ pod: pod.what, selected: false });
  }
});

test('the api-server policy guards the api-server\'s container port and selects the api-server pods', () => {
  const apiServer = find(objects, 'Deployment', 'airflow-api-server');
  const p = policy('airflow-api-server');
  expect(selects(p.podSelector, apiServer.spec.template.metadata.labels)).toBe(true);
  const containerPort = podSpec(apiServer).containers[0].ports.find((x: any) => x.name === 'http').containerPort;
  expect(p.ingress[0].ports).toEqual([{ port: containerPort, protocol: 'TCP' }]);
});

test('PostgreSQL accepts exactly the pods that read the database URL, not task pods', () => {
  const postgres = find(objects, 'StatefulSet', 'airflow-postgresql');
  const p = policy('airflow-postgresql');
  expect(selects(p.podSelector, postgres.spec.template.metadata.labels)).toBe(true);
  expect(p.ingress[0].ports).toEqual([{ port: podSpec(postgres).containers[0].ports[0].containerPort, protocol: 'TCP' }]);
  const [peer] = p.ingress[0].from;
  const clients = pods(objects).filter(x => x.what !== 'StatefulSet/airflow-postgresql');
  expect(clients.some(x => !x.usesDatabase)).toBe(true); // the task pod
  for (const pod of clients) expect({ pod: pod.what, allowed: selects(peer.podSelector, pod.labels) }).toEqual({ pod: pod.what, allowed: pod.usesDatabase });
});

test("one installation's policies do not select another's pods in the same namespace", () => {
  const chart = testChart();
  new Airflow(chart, 'a', { instanceName: 'a' });
  new Airflow(chart, 'b', { instanceName: 'b', networkPolicies: false });
  const both = synth(chart);
  const deny = find(both, 'NetworkPolicy', 'a-default-deny').spec;
  const podsOfB = pods(both.filter(o => o.metadata.name.startsWith('b-')), 'b');
  expect(podsOfB.length).toBeGreaterThan(5);
  for (const pod of podsOfB) expect({ pod: pod.what, selected: selects(deny.podSelector, pod.labels) }).toEqual({ pod: pod.what, selected: false });
  expect(both.filter(o => o.kind === 'NetworkPolicy' && o.metadata.name.startsWith('b-'))).toEqual([]);
});

test('by default only the installation\'s task pods reach the api-server: no other pod, of this namespace or another', () => {
  const chart = testChart();
  new Airflow(chart, 'airflow', {});
  const defaults = synth(chart);
  const p = find(defaults, 'NetworkPolicy', 'airflow-api-server').spec;
  expect(p.ingress).toHaveLength(1);
  expect(p.ingress[0].from).toHaveLength(1);
  const [peer] = p.ingress[0].from;
  expect(peer.namespaceSelector).toBeUndefined(); // a podSelector alone: pods of the policy's own namespace
  const allowed = pods(defaults).filter(pod => selects(peer.podSelector, pod.labels)).map(pod => pod.what);
  expect(allowed).toEqual(['task pod']);
});

test('dev opens the api-server to every source for its NodePort; staging keeps it to task pods', () => {
  expect(policy('airflow-api-server').ingress[0].from.slice(1)).toEqual([{ ipBlock: { cidr: '0.0.0.0/0' } }]);
  expect(find(objects, 'Service', 'airflow-api-server').spec.type).toBe('NodePort');
  const staging = synth(new AirflowChart(Testing.app(), 'staging', ENVIRONMENTS.staging));
  expect(find(staging, 'NetworkPolicy', 'airflow-api-server').spec.ingress[0].from).toHaveLength(1);
});

test('apiServerFrom opens the api-server to your clients, and never cuts task pods off from the execution API', () => {
  const chart = testChart();
  const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }];
  new Airflow(chart, 'airflow', { networkPolicies: { apiServerFrom: from } });
  const objects2 = synth(chart);
  const peers = find(objects2, 'NetworkPolicy', 'airflow-api-server').spec.ingress[0].from;
  expect(peers.slice(1)).toEqual(from);
  expect(selects(peers[0].podSelector, taskPod(objects2).metadata.labels)).toBe(true);
});

test('with an external database there is no PostgreSQL policy (PgBouncer has its own)', () => {
  const prod = synth(new AirflowChart(Testing.app(), 'prod', ENVIRONMENTS.prod));
  expect(prod.filter(o => o.kind === 'NetworkPolicy').map(o => o.metadata.name).sort()).toEqual(['airflow-api-server', 'airflow-default-deny', 'airflow-pgbouncer', 'airflow-triggerer']);
});

test.each([
  ['dev', ['api-server', 'dag-processor', 'db-cleanup', 'db-migrate', 'postgresql-backup', 'scheduler', 'triggerer']],
  // behind PgBouncer the components cannot reach PostgreSQL themselves
  ['staging', ['db-migrate', 'pgbouncer', 'postgresql-backup']],
] as const)('%s: PostgreSQL is open to exactly the pods that connect to it: %j', (tier, components) => {
  const objects = synth(new AirflowChart(Testing.app(), tier, ENVIRONMENTS[tier]));
  const policy = find(objects, 'NetworkPolicy', 'airflow-postgresql');
  expect([...policy.spec.ingress[0].from[0].podSelector.matchExpressions[0].values].sort()).toEqual(components);
  // and each of them does connect: a URL or password of the database's Secret, or PgBouncer's ini naming it
  const connects = (component: string) => {
    const owners = objects.filter(o => o.metadata.labels?.['app.kubernetes.io/component'] === component && o.kind !== 'NetworkPolicy');
    return /airflow-postgresql|SQL_ALCHEMY_CONN|PGPASSWORD/.test(JSON.stringify(owners));
  };
  for (const c of components) expect({ c, connects: connects(c) }).toEqual({ c, connects: true });
});
