import { BlockList, isIPv4 } from 'net';
import { Testing } from 'cdk8s';
import { Airflow, AirflowChart, AirflowProps, ENVIRONMENTS, GitAuth, Tier } from '../lib';
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

/** Pod labels of every workload plus the task pod, with whether the pod reads the database URL or password. */
function pods(objects: K8sObject[], instance = 'airflow'): Array<{ what: string; labels: Record<string, string>; usesDatabase: boolean }> {
  const workloads = objects.filter(o => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind))
    .map(o => ({ what: `${o.kind}/${o.metadata.name}`, pod: o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template }));
  return [...workloads, { what: 'task pod', pod: taskPod(objects, instance) }].map(({ what, pod }) => ({
    what,
    labels: pod.metadata.labels,
    // Airflow's URL, or libpq's password (the backups' pg_dump)
    usesDatabase: allContainers(pod.spec).some(c => 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN' in envOf(c) || 'PGPASSWORD' in envOf(c)),
  }));
}

const objects = synth(new AirflowChart(Testing.app(), 'dev', ENVIRONMENTS.dev));
const policies = objects.filter(o => o.kind === 'NetworkPolicy');
const policy = (name: string) => find(objects, 'NetworkPolicy', name).spec;

test('ingress and egress are denied by default; every other policy allows one direction', () => {
  expect(policy('airflow-default-deny').policyTypes).toEqual(['Ingress', 'Egress']);
  for (const p of policies.filter(x => x.metadata.name !== 'airflow-default-deny')) {
    expect({ name: p.metadata.name, types: p.spec.policyTypes }).toEqual({ name: p.metadata.name, types: [p.metadata.name.includes('-egress-') ? 'Egress' : 'Ingress'] });
  }
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
  expect(prod.filter(o => o.kind === 'NetworkPolicy' && !o.metadata.name.includes('-egress-')).map(o => o.metadata.name).sort())
    .toEqual(['airflow-api-server', 'airflow-default-deny', 'airflow-pgbouncer', 'airflow-statsd', 'airflow-triggerer']);
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


/** Where a connection goes: a pod (its labels, in the source's namespace unless `namespaceLabels` says another) or an address. */
type Destination = { labels: Record<string, string>; namespaceLabels?: Record<string, string> } | { ip: string };

/** Whether a NetworkPolicy peer list admits the destination, by the NetworkPolicy v1 rules (a peer with no namespaceSelector means the policy's namespace). */
function peersAdmit(to: any[] | undefined, dest: Destination): boolean {
  if (to === undefined || to.length === 0) return true;
  return to.some(peer => {
    if (peer.ipBlock) {
      if (!('ip' in dest) || isIPv4(dest.ip) !== !peer.ipBlock.cidr.includes(':')) return false;
      const block = (cidr: string) => { const list = new BlockList(); const [net, bits] = cidr.split('/'); list.addSubnet(net, Number(bits), isIPv4(net) ? 'ipv4' : 'ipv6'); return list; };
      const family = isIPv4(dest.ip) ? 'ipv4' : 'ipv6';
      return block(peer.ipBlock.cidr).check(dest.ip, family) && !(peer.ipBlock.except ?? []).some((c: string) => block(c).check(dest.ip, family));
    }
    if ('ip' in dest) return false;
    const namespaceOk = peer.namespaceSelector ? dest.namespaceLabels !== undefined && selects(peer.namespaceSelector, dest.namespaceLabels) : dest.namespaceLabels === undefined;
    return namespaceOk && (peer.podSelector === undefined || selects(peer.podSelector, dest.labels));
  });
}

/** Whether the policies let a pod with these labels open a connection to `dest` on `port`: allowed when no policy selects it for Egress, else when a rule of one of them admits it. */
function egressAllowed(objects: K8sObject[], source: Record<string, string> | undefined, dest: Destination, port: number, protocol = 'TCP'): boolean {
  const applying = objects.filter(o => o.kind === 'NetworkPolicy' && (o.spec.policyTypes ?? []).includes('Egress') && selects(o.spec.podSelector, source ?? {}));
  return applying.length === 0 || applying.some(p => (p.spec.egress ?? []).some((rule: any) =>
    peersAdmit(rule.to, dest) && (rule.ports === undefined || rule.ports.some((x: any) =>
      (x.protocol ?? 'TCP') === protocol && (x.port === undefined || (x.endPort === undefined ? x.port === port : port >= x.port && port <= x.endPort))))));
}

describe('egress', () => {
  const KUBE_DNS = { labels: { 'k8s-app': 'kube-dns' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' } };
  const component = (objects: K8sObject[], kind: string, name: string) => ({ labels: find(objects, kind, name).spec.template.metadata.labels });
  const containerPort = (o: K8sObject, name: string) => podSpec(o).containers.flatMap((c: any) => c.ports ?? []).find((p: any) => p.name === name).containerPort;
  const tiers: Tier[] = ['dev', 'staging', 'prod'];
  const byTier = Object.fromEntries(tiers.map(t => [t, synth(new AirflowChart(Testing.app(), t, ENVIRONMENTS[t]))]));

  test.each(tiers)('%s: every pod of the installation resolves names with the cluster DNS, over UDP and TCP', tier => {
    const all = pods(byTier[tier]);
    expect(all.length).toBeGreaterThan(8);
    for (const pod of all) {
      for (const protocol of ['UDP', 'TCP']) expect({ pod: pod.what, protocol, ok: egressAllowed(byTier[tier], pod.labels, KUBE_DNS, 53, protocol) }).toEqual({ pod: pod.what, protocol, ok: true });
      expect({ pod: pod.what, other: egressAllowed(byTier[tier], pod.labels, { labels: { 'k8s-app': 'kube-dns' } }, 53, 'UDP') }).toEqual({ pod: pod.what, other: pod.what === 'task pod' || pod.what === 'Deployment/airflow-triggerer' });
    }
  });

  test.each(tiers)('%s: every pod that reads the database URL reaches the database it names, and nothing else reaches it', tier => {
    const objects = byTier[tier];
    const pooled = tier !== 'dev';
    const external = tier === 'prod';
    const database: Destination = external ? { ip: '198.51.100.7' } : component(objects, 'StatefulSet', 'airflow-postgresql');
    const pgbouncer = pooled ? component(objects, 'Deployment', 'airflow-pgbouncer') : undefined;
    for (const pod of pods(objects).filter(p => p.usesDatabase)) {
      // the migrations and the backups connect straight to the database; with PgBouncer every other client goes through it
      const direct = !pooled || pod.what.startsWith('Job/airflow-db-migrate') || pod.what === 'CronJob/airflow-postgresql-backup';
      const [target, port] = direct ? [database, 5432] : [pgbouncer!, 6432];
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, target, port) }).toEqual({ pod: pod.what, reaches: true });
      // (the triggerer runs tasks' triggers, whose egress is open by default)
      if (!direct && pod.what !== 'Deployment/airflow-triggerer') expect({ pod: pod.what, straight: egressAllowed(objects, pod.labels, database, 5432) }).toEqual({ pod: pod.what, straight: false });
    }
    if (pooled) expect(egressAllowed(objects, pgbouncer!.labels, database, 5432)).toBe(true);
    for (const pod of pods(objects).filter(p => !p.usesDatabase && !['task pod', 'Deployment/airflow-triggerer', 'Deployment/airflow-pgbouncer'].includes(p.what))) {
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, database, 5432) }).toEqual({ pod: pod.what, reaches: false });
    }
  });

  test.each(tiers)('%s: task pods reach the execution API at the api-server\'s container port, even with no egress of their own', tier => {
    const env = ENVIRONMENTS[tier];
    const narrowed = synth(new AirflowChart(Testing.app(), tier, { ...env, airflow: { ...env.airflow, networkPolicies: { ...env.airflow.networkPolicies, egress: { tasks: [] } } } }));
    for (const objects of [byTier[tier], narrowed]) {
      const apiServer = find(objects, 'Deployment', 'airflow-api-server');
      const task = taskPod(objects).metadata.labels;
      expect(egressAllowed(objects, task, { labels: apiServer.spec.template.metadata.labels }, containerPort(apiServer, 'http'))).toBe(true);
      expect(egressAllowed(objects, task, { labels: apiServer.spec.template.metadata.labels }, 8081)).toBe(objects === byTier[tier]);
    }
  });

  test('the api-server reaches the triggerer\'s log server; no other pod does', () => {
    const objects = synth(new AirflowChart(Testing.app(), 'dev', { ...ENVIRONMENTS.dev, airflow: { ...ENVIRONMENTS.dev.airflow, networkPolicies: { egress: { tasks: [] } } } }));
    const triggerer = find(objects, 'Deployment', 'airflow-triggerer');
    const port = containerPort(triggerer, 'trigger-logs');
    for (const pod of pods(objects).filter(p => p.what !== 'Deployment/airflow-triggerer')) {
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, { labels: triggerer.spec.template.metadata.labels }, port) }).toEqual({ pod: pod.what, reaches: pod.what === 'Deployment/airflow-api-server' });
    }
  });

  test('the Kubernetes API is reachable from the scheduler, the api-server and cleanup-pods only, at the addresses egress.kubernetesApi names', () => {
    const kubernetesApi = [{ to: [{ ipBlock: { cidr: '172.18.0.0/24' } }], ports: [{ port: 6443 }] }];
    const chart = testChart();
    new Airflow(chart, 'airflow', { networkPolicies: { egress: { kubernetesApi, tasks: [] } } });
    const objects = synth(chart);
    const clients = ['Deployment/airflow-scheduler', 'Deployment/airflow-api-server', 'CronJob/airflow-cleanup-pods'];
    for (const pod of pods(objects)) {
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, { ip: '172.18.0.2' }, 6443) }).toEqual({ pod: pod.what, reaches: clients.includes(pod.what) });
      expect({ pod: pod.what, elsewhere: egressAllowed(objects, pod.labels, { ip: '10.0.0.1' }, 6443) }).toEqual({ pod: pod.what, elsewhere: false });
    }
    // the scheduler's ServiceAccount is the one with rights on pods: the cleanup CronJob has its own, with a token
    expect(pods(objects).filter(p => p.what !== 'task pod').length).toBeGreaterThan(clients.length);
  });

  test('tasks reach every destination by default; egress.tasks: [] leaves them the installation\'s own needs only', () => {
    const build = (props: AirflowProps) => { const chart = testChart(); new Airflow(chart, 'airflow', props); return synth(chart); };
    const dags = { repository: 'https://github.com/apache/airflow.git', ref: 'main' };
    const open = build({ dags });
    const closed = build({ dags, networkPolicies: { egress: { tasks: [], git: [{ to: [{ ipBlock: { cidr: '140.82.112.0/20' } }], ports: [{ port: 443 }] }] } } });
    for (const [objects, expected] of [[open, true], [closed, false]] as const) {
      const task = taskPod(objects).metadata.labels;
      const triggerer = find(objects, 'Deployment', 'airflow-triggerer').spec.template.metadata.labels;
      for (const [ip, port] of [['93.184.215.14', 443], ['10.1.2.3', 5439], ['2001:db8::1', 443]] as const) {
        expect({ ip, port, task: egressAllowed(objects, task, { ip }, port), triggerer: egressAllowed(objects, triggerer, { ip }, port) }).toEqual({ ip, port, task: expected, triggerer: expected });
      }
      // git-sync's init container in the task pod still clones from the Git host
      expect(egressAllowed(objects, task, { ip: '140.82.114.4' }, 443)).toBe(true);
    }
    // the other components never had open egress
    const scheduler = find(open, 'Deployment', 'airflow-scheduler').spec.template.metadata.labels;
    expect(egressAllowed(open, scheduler, { ip: '93.184.215.14' }, 80)).toBe(false);
  });

  test.each([
    ['https://github.com/apache/airflow.git', GitAuth.none(), 443],
    ['https://git.example.com:8443/dags.git', GitAuth.none(), 8443],
    ['git@github.com:apache/airflow.git', GitAuth.ssh({ secretName: 'git' }), 22],
    ['ssh://git@git.example.com:2222/dags.git', GitAuth.ssh({ secretName: 'git' }), 2222],
  ])('git-sync in %s reaches port %#: the repository\'s', (repository, auth, port) => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { dags: { repository, ref: 'main', auth } });
    const objects = synth(chart);
    const git = find(objects, 'NetworkPolicy', 'airflow-egress-git').spec;
    expect(git.egress[0].ports).toEqual([{ port, protocol: 'TCP' }]);
    expect(egressAllowed(objects, find(objects, 'Deployment', 'airflow-dag-processor').spec.template.metadata.labels, { ip: '140.82.114.4' }, port)).toBe(true);
  });

  test('prod: the api-server reaches the identity provider on the issuer\'s port; PgBouncer the database on its port', () => {
    const prod = byTier.prod;
    expect(find(prod, 'NetworkPolicy', 'airflow-egress-identity-provider').spec.egress[0].ports).toEqual([{ port: 443, protocol: 'TCP' }]);
    const env = ENVIRONMENTS.prod;
    const moved = synth(new AirflowChart(Testing.app(), 'prod', { ...env, airflow: {
      ...env.airflow, pgbouncer: { ...env.airflow.pgbouncer, database: { host: 'db.example.internal', port: 6543 } },
      authManager: { fab: { oidc: { ...env.airflow.authManager!.fab!.oidc!, issuer: 'https://login.example.com:8443/realms/airflow' } } },
    } }));
    const apiServer = find(moved, 'Deployment', 'airflow-api-server').spec.template.metadata.labels;
    expect(egressAllowed(moved, apiServer, { ip: '203.0.113.5' }, 8443)).toBe(true);
    expect(egressAllowed(moved, find(moved, 'Deployment', 'airflow-pgbouncer').spec.template.metadata.labels, { ip: '198.51.100.7' }, 6543)).toBe(true);
    expect(egressAllowed(moved, find(moved, 'Deployment', 'airflow-pgbouncer').spec.template.metadata.labels, { ip: '198.51.100.7' }, 5432)).toBe(false);
  });

  test('remote logging opens log storage to the pods that write or read logs', () => {
    const chart = testChart();
    const kubernetesApi = [{ to: [{ ipBlock: { cidr: '172.18.0.0/24' } }], ports: [{ port: 6443 }] }];
    new Airflow(chart, 'airflow', { remoteLogging: { s3: { bucket: 'logs' } }, networkPolicies: { egress: { tasks: [], kubernetesApi } } });
    const objects = synth(chart);
    for (const pod of pods(objects)) {
      const writes = ['task pod', 'Deployment/airflow-triggerer', 'Deployment/airflow-api-server'].includes(pod.what);
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, { ip: '52.216.1.1' }, 443) }).toEqual({ pod: pod.what, reaches: writes });
    }
  });

  test('egress.services opens a secrets backend (or SMTP, OpenLineage) to every Airflow pod, and none but those', () => {
    const vault = [{ to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ port: 8200 }] }];
    const build = (props: AirflowProps) => { const chart = testChart(); new Airflow(chart, 'airflow', props); return synth(chart); };
    const backend = { secrets: { backend: 'airflow.providers.hashicorp.secrets.vault.VaultBackend' } };
    const objects = build({ options: backend, networkPolicies: { egress: { services: vault, tasks: [] } } });
    for (const pod of pods(objects)) {
      const airflow = !['StatefulSet/airflow-postgresql', 'CronJob/airflow-postgresql-backup', 'Deployment/airflow-statsd'].includes(pod.what);
      expect({ pod: pod.what, reaches: egressAllowed(objects, pod.labels, { ip: '10.20.3.4' }, 8200) }).toEqual({ pod: pod.what, reaches: airflow });
    }
    // the local file system backend needs no network; egress: false needs no rule
    expect(() => build({ options: { secrets: { backend: 'airflow.secrets.local_filesystem.LocalFilesystemBackend' } } })).not.toThrow();
    expect(() => build({ options: backend, networkPolicies: { egress: false } })).not.toThrow();
  });

  test.each(tiers)('%s: every Airflow pod, task pods included, sends StatsD to the exporter, which admits them; only Prometheus scrapes it', tier => {
    const objects = byTier[tier];
    const exporter = find(objects, 'Deployment', 'airflow-statsd');
    const port = (name: string) => podSpec(exporter).containers[0].ports.find((p: any) => p.name === name);
    expect(port('statsd')).toMatchObject({ containerPort: 9125, protocol: 'UDP' });
    const admits = find(objects, 'NetworkPolicy', 'airflow-statsd').spec;
    expect(selects(admits.podSelector, exporter.spec.template.metadata.labels)).toBe(true);
    const [statsd, scrape] = admits.ingress;
    expect(statsd.ports).toEqual([{ port: 9125, protocol: 'UDP' }]);
    expect(scrape.ports).toEqual([{ port: port('metrics').containerPort, protocol: 'TCP' }]);
    const senders = pods(objects).filter(p => !['StatefulSet/airflow-postgresql', 'CronJob/airflow-postgresql-backup', 'Deployment/airflow-pgbouncer', 'Deployment/airflow-statsd'].includes(p.what));
    expect(senders.map(p => p.what)).toContain('task pod');
    for (const pod of senders) {
      expect({ pod: pod.what, sends: egressAllowed(objects, pod.labels, { labels: exporter.spec.template.metadata.labels }, 9125, 'UDP'),
        admitted: selects(statsd.from[0].podSelector, pod.labels), scrapes: selects(scrape.from[0].podSelector ?? { matchLabels: { never: 'x' } }, pod.labels) })
        .toEqual({ pod: pod.what, sends: true, admitted: true, scrapes: false });
    }
    // Prometheus in the namespace monitoring
    expect(scrape.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  });

  test('metrics to OpenTelemetry: every Airflow pod reaches the collector\'s port, no exporter and no statsd policy', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { metrics: { otel: { host: 'otel-collector.observability', port: 4317 } }, networkPolicies: { egress: { tasks: [] } } });
    const objects = synth(chart);
    expect(objects.filter(o => o.metadata.name.includes('statsd'))).toEqual([]);
    const scheduler = find(objects, 'Deployment', 'airflow-scheduler').spec.template.metadata.labels;
    expect(egressAllowed(objects, scheduler, { ip: '10.96.7.7' }, 4317)).toBe(true);
    expect(egressAllowed(objects, taskPod(objects).metadata.labels, { ip: '10.96.7.7' }, 4317)).toBe(true);
    expect(egressAllowed(objects, scheduler, { ip: '10.96.7.7' }, 4318)).toBe(false);
  });

  test('a backup with an upload step reaches the storage; without one, the backup CronJob reaches PostgreSQL only', () => {
    const build = (props: AirflowProps) => { const chart = testChart(); new Airflow(chart, 'airflow', props); return synth(chart); };
    const upload = { image: 'rclone/rclone:1.68.2', command: ['rclone', 'copy', '/backups', 's3:bucket'] };
    const withUpload = build({ postgres: { backup: { upload } } });
    const without = build({});
    for (const [objects, expected] of [[withUpload, true], [without, false]] as const) {
      const backup = find(objects, 'CronJob', 'airflow-postgresql-backup').spec.jobTemplate.spec.template.metadata.labels;
      expect({ upload: expected, reaches: egressAllowed(objects, backup, { ip: '52.216.1.1' }, 443) }).toEqual({ upload: expected, reaches: expected });
      expect(egressAllowed(objects, backup, { labels: find(objects, 'StatefulSet', 'airflow-postgresql').spec.template.metadata.labels }, 5432)).toBe(true);
    }
    const narrowed = build({ postgres: { backup: { upload } }, networkPolicies: { egress: { backupUpload: [{ to: [{ ipBlock: { cidr: '52.216.0.0/15' } }], ports: [{ port: 443 }] }] } } });
    const backup = find(narrowed, 'CronJob', 'airflow-postgresql-backup').spec.jobTemplate.spec.template.metadata.labels;
    expect([egressAllowed(narrowed, backup, { ip: '52.216.1.1' }, 443), egressAllowed(narrowed, backup, { ip: '93.184.215.14' }, 443)]).toEqual([true, false]);
  });

  test('any address means in-cluster pods too (an enforcer may not match pods by ipBlock): the OTel collector in another namespace', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { metrics: { otel: { host: 'otel-collector.observability' } }, networkPolicies: { egress: { tasks: [] } } });
    const objects = synth(chart);
    const collector = { labels: { app: 'otel-collector' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'observability' } };
    expect(egressAllowed(objects, find(objects, 'Deployment', 'airflow-scheduler').spec.template.metadata.labels, collector, 4318)).toBe(true);
    expect(egressAllowed(objects, find(objects, 'Deployment', 'airflow-scheduler').spec.template.metadata.labels, collector, 4317)).toBe(false);
  });

  test('egress: false leaves egress open: no Egress in the default deny, no egress policy', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { networkPolicies: { egress: false } });
    const objects = synth(chart);
    expect(find(objects, 'NetworkPolicy', 'airflow-default-deny').spec.policyTypes).toEqual(['Ingress']);
    expect(objects.filter(o => o.kind === 'NetworkPolicy' && o.metadata.name.includes('egress'))).toEqual([]);
    for (const pod of pods(objects)) expect(egressAllowed(objects, pod.labels, { ip: '93.184.215.14' }, 25)).toBe(true);
  });
});
