// A real kube-apiserver (built from the Go module proxy, with etcd) judges dist/: every object of every
// environment is admitted by a server-side dry run with PodSecurity enforcing and warnings as errors, and
// the ServiceAccounts get exactly the rights the README documents, nothing in other namespaces.
import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { Airflow, TEAMS } from '../../lib';
import { REPO, setup, TestHost, waitFor } from '../../scripts/integration/host';
import { distFile, distObjects, earlierDist } from '../../scripts/integration/releases';
import { CRD_SCHEMAS } from '../../scripts/schema';
import { TIERS } from '../helpers';


/** The README's RBAC table: ServiceAccount -> resource -> verbs. */
function documentedRights(): Record<string, Record<string, string[]>> {
  const rows = readFileSync(join(REPO, 'README.md'), 'utf8').split('\n')
    .map(l => /^\s*\| `([a-z0-9-]+)` \| `([a-z/]+)` \| ([a-z, ]+) \|$/.exec(l)).filter((m): m is RegExpExecArray => !!m);
  const out: Record<string, Record<string, string[]>> = {};
  for (const [, sa, resource, verbs] of rows) (out[sa] ??= {})[resource] = verbs.split(',').map(v => v.trim()).sort();
  return out;
}

/**
 * What `kubectl auth can-i --list` grants, as resource -> sorted verbs, leaving out what Kubernetes grants
 * every authenticated user (system:basic-user, system:discovery, system:public-info-viewer: the
 * self-reviews and the non-resource URLs).
 */
function parseCanIList(text: string): Record<string, string[]> {
  const EVERYONE = new Set(['selfsubjectreviews.authentication.k8s.io', 'selfsubjectaccessreviews.authorization.k8s.io', 'selfsubjectrulesreviews.authorization.k8s.io']);
  const out: Record<string, string[]> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$/.exec(line.trim());
    if (!m) continue;
    const [, resource, nonResource, , verbs] = m;
    if (EVERYONE.has(resource) || nonResource) continue;
    const r = resource.replace(/\.$/, '');
    out[r] = [...new Set([...(out[r] ?? []), ...verbs.split(' ').filter(Boolean)])].sort();
  }
  return out;
}

// Starting real servers takes longer than a unit test may: each test sets its own waits.
jest.setTimeout(1_200_000);

let host: TestHost;

beforeAll(async () => {
  host = new TestHost(setup(), 'apiserver');
  await host.startKubeApiserver();
}, 3600_000);

afterAll(async () => { await host?.stop(); });

describe.each(TIERS)('%s on a real kube-apiserver', tier => {
  const objects = distObjects(tier);
  const namespace = objects.find(o => o.kind === 'Namespace').metadata.name;

  test('an upgrade applies: this dist/ goes over the previous version, applied for real, with nothing deleted by hand', () => {
    // immutable fields (selectors, volumeClaimTemplates, Job templates, roleRefs) would fail here
    const previous = earlierDist(tier);
    const old = host.kubectl(['apply', '-f', '-'], previous.yaml);
    expect({ rev: previous.rev, status: old.status, stderr: old.stderr }).toEqual({ rev: previous.rev, status: 0, stderr: '' });
    const r = host.kubectl(['apply', '--warnings-as-errors', '-f', distFile(tier)]);
    expect({ rev: previous.rev, status: r.status, stderr: r.stderr }).toEqual({ rev: previous.rev, status: 0, stderr: '' });
  });

  test('every object is admitted by a server-side dry run, PodSecurity enforcing, warnings as errors', () => {
    // A dry run of namespaced objects needs their Namespace to exist: it is applied for real first.
    host.kubectlOk(['apply', '--warnings-as-errors', '-f', '-'], stringify(objects.find(o => o.kind === 'Namespace')));
    const r = host.kubectl(['apply', '--dry-run=server', '--warnings-as-errors', '-f', distFile(tier)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const admitted = r.stdout.split('\n').filter(l => / \(server dry run\)$/.test(l));
    expect(admitted).toHaveLength(objects.length);
    const labels = JSON.parse(host.kubectlOk(['get', 'namespace', namespace, '-o', 'json'])).metadata.labels;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('the same dry run refuses a pod template that breaks Pod Security "restricted" (the check can fail)', () => {
    const broken = objects.map(o => JSON.parse(JSON.stringify(o)));
    const deployment = broken.find(o => o.kind === 'Deployment');
    delete deployment.spec.template.spec.securityContext.runAsNonRoot;
    for (const c of deployment.spec.template.spec.containers) c.securityContext.runAsNonRoot = false;
    const r = host.kubectl(['apply', '--dry-run=server', '--warnings-as-errors', '-f', '-'], broken.map(o => stringify(o)).join('---\n'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/would violate PodSecurity "restricted:[^"]+": runAsNonRoot/);
  });

  test('applied for real, each ServiceAccount has exactly the rights the README documents', () => {
    host.kubectlOk(['apply', '--warnings-as-errors', '-f', distFile(tier)]);
    const documented = documentedRights();
    const accounts = objects.filter(o => o.kind === 'ServiceAccount').map(o => o.metadata.name).sort();
    expect(accounts).toEqual(Object.keys(documented).sort());
    for (const sa of accounts) {
      const as = `--as=system:serviceaccount:${namespace}:${sa}`;
      expect({ [sa]: parseCanIList(host.kubectlOk(['auth', 'can-i', '--list', '-n', namespace, as])) }).toEqual({ [sa]: documented[sa] });
      // (`kubectl auth can-i create pods/exec` would ask about a pod named "exec": subresources need --subresource.)
      for (const forbidden of [['get', 'secrets'], ['list', 'secrets'], ['create', 'pods', '--subresource=exec'], ['create', 'pods', '--subresource=portforward'],
        ['create', 'pods', '--subresource=eviction'], ['update', 'configmaps'], ['create', 'rolebindings'], ['impersonate', 'serviceaccounts'], ['create', 'serviceaccounts', '--subresource=token']]) {
        expect(`${sa} ${forbidden.join(' ')}: ${host.kubectl(['auth', 'can-i', ...forbidden, '-n', namespace, as]).stdout.trim()}`).toBe(`${sa} ${forbidden.join(' ')}: no`);
      }
      const allowed = Object.entries(documented[sa]).flatMap(([resource, verbs]) => verbs.map(v => [v, ...resource.split('/').map((p, i) => i ? `--subresource=${p}` : p)]));
      for (const a of allowed) expect(`${sa} ${a.join(' ')}: ${host.kubectl(['auth', 'can-i', ...a, '-n', namespace, as]).stdout.trim()}`).toBe(`${sa} ${a.join(' ')}: yes`);
      for (const elsewhere of ['default', 'kube-system']) {
        expect(parseCanIList(host.kubectlOk(['auth', 'can-i', '--list', '-n', elsewhere, as]))).toEqual({});
      }
      expect(host.kubectl(['auth', 'can-i', 'list', 'pods', '--all-namespaces', as]).stdout.trim()).toBe('no');
    }
  });
});

describe('cdk8s-airflow secrets on a real kube-apiserver (real kubectl)', () => {
  const secretsCommand = (args: string[]) => host.inNetns([process.execPath, '-r', './scripts/register.js', 'scripts/secrets.ts', ...args], {
    cwd: REPO, env: { ...process.env, KUBECONFIG: host.kubeconfig, PATH: `${dirname(host.kubectlBinary())}:${process.env.PATH}` },
  });
  const secretData = (ns: string, name: string): Record<string, string> => Object.fromEntries(
    Object.entries<string>(JSON.parse(host.kubectlOk(['-n', ns, 'get', 'secret', name, '-o', 'json'])).data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

  // (no namespace is deleted here: this API server runs without the controller manager that finalizes it)
  test('creates staging\'s Secrets, labelled; a re-run and a missing key change only what is missing', () => {
    const first = secretsCommand([distFile('staging')]);
    expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: '' });
    expect(first.stdout).toContain('secrets: writing to cluster context "test"');
    const created = secretData('airflow-staging', 'airflow-secrets');
    const password = secretData('airflow-staging', 'airflow-postgresql').password;
    expect(created['sql-alchemy-conn']).toBe(`postgresql+psycopg2://airflow:${password}@airflow-pgbouncer.airflow-staging:6432/airflow`);
    expect(secretData('airflow-staging', 'airflow-pgbouncer')['userlist.txt']).toBe(`"airflow" "${password}"\n`);
    expect(JSON.parse(host.kubectlOk(['-n', 'airflow-staging', 'get', 'secret', 'airflow-secrets', '-o', 'json'])).metadata.labels)
      .toEqual({ 'app.kubernetes.io/managed-by': 'cdk8s-airflow-secrets' });

    host.kubectlOk(['-n', 'airflow-staging', 'patch', 'secret', 'airflow-secrets', '--type', 'json', '-p', '[{"op":"remove","path":"/data/jwt-secret"}]']);
    const again = secretsCommand([distFile('staging')]);
    expect({ status: again.status, stderr: again.stderr }).toEqual({ status: 0, stderr: '' });
    expect(again.stdout).toContain('airflow-staging/airflow-secrets: added jwt-secret');
    const after = secretData('airflow-staging', 'airflow-secrets');
    expect(after['jwt-secret']).toMatch(/^[0-9a-f]{64}$/);
    expect({ ...after, 'jwt-secret': undefined }).toEqual({ ...created, 'jwt-secret': undefined });

    // the environment then applies and its Secrets satisfy every reference: a server-side dry run passes
    expect(host.kubectl(['apply', '--dry-run=server', '-f', distFile('staging')]).status).toBe(0);
  });
});

describe('prod\'s task pod admission policy on a real kube-apiserver: what the scheduler may create', () => {
  const objects = distObjects('prod');
  const namespace = objects.find(o => o.kind === 'Namespace').metadata.name;
  const scheduler = `system:serviceaccount:${namespace}:airflow-scheduler`;
  const templates: Record<string, string> = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-pod-template').data;
  const template = parse(templates['pod_template_file.yaml']);
  /** The template (or a profile's) as the KubernetesExecutor makes a pod of it (its labels and arguments added), changed by `change`. */
  const taskPod = (change: (pod: any) => void = () => undefined, from = template) => {
    const pod = JSON.parse(JSON.stringify(from));
    pod.metadata = { ...pod.metadata, name: 'example-task-abc123', namespace, labels: { ...pod.metadata.labels, dag_id: 'example', task_id: 't', airflow_worker: '1', kubernetes_executor: 'True' } };
    pod.spec.containers[0].args = ['python', '-m', 'airflow.sdk.execution_time.execute_workload', '--json-string', '{}'];
    change(pod);
    return stringify(pod);
  };
  /** `kubectl create --dry-run=server` of the pod as the scheduler, or as the cluster admin (admission runs; nothing is stored). */
  const create = (yaml: string, as: 'scheduler' | 'admin' = 'scheduler') =>
    host.kubectl(['create', '--dry-run=server', ...(as === 'scheduler' ? [`--as=${scheduler}`] : []), '-f', '-'], yaml);

  beforeAll(async () => {
    host.kubectlOk(['apply', '-f', distFile('prod')]);
    // what a cluster's controller-manager would make: the namespace's default ServiceAccount, which task pods run as
    host.kubectl(['-n', namespace, 'create', 'serviceaccount', 'default']);
    // a newly created policy takes a moment to be enforced: wait until it refuses what it must
    const deadline = Date.now() + 60_000;
    while (!/denied request/.test(create(taskPod(p => { p.spec.containers[0].image = 'busybox:1.37'; })).stderr)) {
      if (Date.now() > deadline) throw new Error('the policy was not enforced within 60 s');
      await new Promise(r => setTimeout(r, 1000));
    }
  }, 120_000);

  test('the policy and its binding are in prod, for the scheduler\'s ServiceAccount and prod\'s namespace', () => {
    const policy = JSON.parse(host.kubectlOk(['get', 'validatingadmissionpolicy', `${namespace}-airflow-task-pods`, '-o', 'json']));
    expect(policy.spec.matchConditions[0].expression).toContain(scheduler);
    expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });

  test('admits the task pod the executor makes from the template', () => {
    const r = create(taskPod());
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('admits a task pod of each task pod profile (their GPUs, node selectors and tolerations)', () => {
    const profiles = Object.keys(templates).filter(f => f.endsWith('.yaml') && f !== 'pod_template_file.yaml');
    expect(profiles.sort()).toEqual(['gpu.yaml', 'large.yaml', 'medium.yaml', 'small.yaml']);
    for (const file of profiles) {
      const r = create(taskPod(undefined, parse(templates[file])));
      expect({ file, status: r.status, stderr: r.stderr }).toEqual({ file, status: 0, stderr: '' });
    }
  });

  test.each<[string, (pod: any) => void, RegExp]>([
    ['another image', p => { p.spec.containers[0].image = 'busybox:1.37'; }, /task pods run only the allowed images/],
    ['another image in an init container', p => { p.spec.initContainers[0].image = 'alpine:3.22'; }, /task pods run only the allowed images/],
    ['the scheduler\'s own ServiceAccount', p => { p.spec.serviceAccountName = 'airflow-scheduler'; }, /task pods run as the ServiceAccount default without a token/],
    ['a ServiceAccount token', p => { p.spec.automountServiceAccountToken = true; }, /without a token/],
    ['the installation\'s Secret as a volume', p => {
      p.spec.volumes.push({ name: 'loot', secret: { secretName: 'airflow-secrets' } });
      p.spec.containers[0].volumeMounts.push({ name: 'loot', mountPath: '/loot', readOnly: true });
    }, /task pods mount only emptyDirs and the task pod template's ConfigMaps, Secrets and claims/],
    ['the installation\'s Secret in env', p => {
      p.spec.containers[0].env.push({ name: 'X', valueFrom: { secretKeyRef: { name: 'airflow-secrets', key: 'fernet-key' } } });
    }, /task pods reference only the Secret keys of the task pod template/],
    ['the installation\'s Secret through envFrom', p => { p.spec.containers[0].envFrom = [{ secretRef: { name: 'airflow-database' } }]; }, /task pods reference only the Secret keys/],
    ['a pod labelled as another component', p => { p.metadata.labels['app.kubernetes.io/component'] = 'scheduler'; }, /the scheduler creates only task pods of this installation/],
  ])('refuses %s', (_what, change, message) => {
    const r = create(taskPod(change));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ValidatingAdmissionPolicy '.*-airflow-task-pods' with binding '.*-airflow-task-pods' denied request/);
    expect(r.stderr).toMatch(message);
  });

  test('judges only the scheduler: the cluster admin may create the same pod with another image', () => {
    const r = create(taskPod(p => { p.spec.containers[0].image = 'busybox:1.37'; }), 'admin');
    expect(r.stdout).toMatch(/created \(server dry run\)/);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('on update, the scheduler may change labels and annotations, and nothing else', () => {
    const name = 'example-task-update';
    host.kubectlOk(['create', '-f', '-'], taskPod(p => { p.metadata.name = name; }));
    try {
      const patch = (body: object) => host.kubectl(['-n', namespace, 'patch', 'pod', name, `--as=${scheduler}`, '--type=merge', '-p', JSON.stringify(body)]);
      const labels = patch({ metadata: { labels: { airflow_executor_done: 'True' } } });
      expect({ status: labels.status, stderr: labels.stderr }).toEqual({ status: 0, stderr: '' });
      const spec = patch({ spec: { activeDeadlineSeconds: 5 } });
      expect(spec.status).not.toBe(0);
      expect(spec.stderr).toMatch(/the scheduler changes only the labels and annotations of pods/);
    } finally {
      host.kubectlOk(['-n', namespace, 'delete', 'pod', name, '--wait=false']);
    }
  });
});

describe('the task pod admission policy reads Secrets no further than the template (a real kube-apiserver)', () => {
  test('a template that reads one key of the installation\'s Secret: that key is admitted, another key and the whole Secret are not', async () => {
    const chart = new Chart(Testing.app(), 'keys', { namespace: 'airflow-keys', disableResourceNameHashes: true });
    const airflow = new Airflow(chart, 'airflow', { taskPodAdmissionPolicy: true, taskPods: { includeFernetKey: true } });
    const objects = Testing.synth(chart) as any[];
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'airflow-keys', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } };
    host.kubectlOk(['apply', '-f', '-'], [ns, ...objects].map(o => stringify(o)).join('---\n'));
    host.kubectl(['-n', 'airflow-keys', 'create', 'serviceaccount', 'default']);
    const template = parse(airflow.podTemplate.podTemplateYaml);
    const pod = (change: (p: any) => void) => {
      const p = JSON.parse(JSON.stringify(template));
      p.metadata = { ...p.metadata, name: 'keys-task', namespace: 'airflow-keys' };
      change(p);
      return stringify(p);
    };
    const as = `--as=system:serviceaccount:airflow-keys:airflow-scheduler`;
    const create = (yaml: string) => host.kubectl(['create', '--dry-run=server', as, '-f', '-'], yaml);
    const deadline = Date.now() + 60_000;
    while (!/denied request/.test(create(pod(p => { p.spec.containers[0].image = 'busybox:1.37'; })).stderr)) {
      if (Date.now() > deadline) throw new Error('the policy was not enforced within 60 s');
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(create(pod(() => undefined)).status).toBe(0);
    const otherKey = create(pod(p => { p.spec.containers[0].env.push({ name: 'X', valueFrom: { secretKeyRef: { name: 'airflow-secrets', key: 'sql-alchemy-conn' } } }); }));
    expect(otherKey.stderr).toMatch(/task pods reference only the Secret keys of the task pod template: airflow-secrets\/fernet-key/);
    const whole = create(pod(p => { p.spec.containers[0].envFrom = [{ secretRef: { name: 'airflow-secrets' } }]; }));
    expect(whole.stderr).toMatch(/task pods reference only the Secret keys/);
  });
});

describe('the Gateway API HTTPRoute on a real kube-apiserver with the CRD installed (its CEL rules enforced)', () => {
  const namespace = 'airflow-routes';
  let route: any;

  beforeAll(async () => {
    // too large for kubectl apply's last-applied annotation (256 KiB): created
    host.kubectlOk(['create', '-f', CRD_SCHEMAS[0]]);
    // polled: `kubectl wait --for=condition=Established` fails, instead of waiting, while the CRD has no conditions yet
    await waitFor('the HTTPRoute CRD to be established', 60, () => {
      const crd = JSON.parse(host.kubectlOk(['get', 'crd', 'httproutes.gateway.networking.k8s.io', '-o', 'json']));
      return crd.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True') || undefined;
    });
    const chart = new Chart(Testing.app(), 'routes', { namespace });
    new Airflow(chart, 'airflow', {
      httpRoute: { gateway: { name: 'shared', namespace: 'gateways', sectionName: 'https' }, hosts: ['airflow.example.com'] },
      networkPolicies: { apiServerFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateways' } } }] },
    });
    route = Testing.synth(chart).find((o: any) => o.kind === 'HTTPRoute');
    host.kubectlOk(['create', 'namespace', namespace]);
  });

  test('the route the library makes is admitted, warnings as errors', () => {
    const r = host.kubectl(['apply', '--dry-run=server', '--warnings-as-errors', '-f', '-'], stringify(route));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('the CRD\'s own rules run there: a path without its leading slash is refused', () => {
    const broken = JSON.parse(JSON.stringify(route));
    broken.spec.rules[0].matches[0].path.value = 'execution';
    const r = host.kubectl(['apply', '--dry-run=server', '-f', '-'], stringify(broken));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/must be an absolute path/);
  });
});

describe('the environments and the teams (TEAMS) together on one real kube-apiserver', () => {
  const charts = [...TIERS, ...Object.keys(TEAMS)];

  beforeAll(() => {
    for (const chart of charts) {
      const r = host.kubectl(['apply', '--warnings-as-errors', '-f', distFile(chart)]);
      expect({ chart, status: r.status, stderr: r.stderr }).toEqual({ chart, status: 0, stderr: '' });
    }
  });

  test('every chart of dist/ applies beside the others, each team in its own namespace', () => {
    const namespaces = charts.map(c => distObjects(c).find(o => o.kind === 'Namespace').metadata.name);
    expect(new Set(namespaces).size).toBe(charts.length);
    for (const ns of namespaces) expect(host.kubectlOk(['get', 'namespace', ns, '-o', 'name']).trim()).toBe(`namespace/${ns}`);
  });

  test('a team\'s ServiceAccounts have no right in another team\'s namespace', () => {
    const [a, b] = Object.keys(TEAMS).map(t => distObjects(t));
    const nsOf = (objects: any[]) => objects.find(o => o.kind === 'Namespace').metadata.name;
    for (const [from, to] of [[a, b], [b, a]]) {
      for (const sa of from.filter(o => o.kind === 'ServiceAccount').map(o => o.metadata.name)) {
        const rights = parseCanIList(host.kubectlOk(['auth', 'can-i', '--list', '-n', nsOf(to), `--as=system:serviceaccount:${nsOf(from)}:${sa}`]));
        expect({ sa: `${nsOf(from)}/${sa}`, in: nsOf(to), rights }).toEqual({ sa: `${nsOf(from)}/${sa}`, in: nsOf(to), rights: {} });
      }
    }
  });

  test('the API server refuses a second Service on dev\'s NodePort, which synth refuses first (claimOncePerCluster)', () => {
    const dev = distObjects('dev').find(o => o.kind === 'Service' && o.spec.type === 'NodePort');
    const copy = { ...dev, metadata: { name: 'airflow-api-server', namespace: 'airflow-team-b' } };
    const r = host.kubectl(['apply', '--dry-run=server', '-f', '-'], stringify(copy));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`provided port is already allocated|${dev.spec.ports[0].nodePort}.*already allocated`));
  });
});

describe('the ServiceMonitor and PrometheusRule on a real kube-apiserver with the Prometheus Operator\'s CRDs installed', () => {
  const namespace = 'airflow-monitoring';
  let objects: any[];

  beforeAll(async () => {
    for (const file of CRD_SCHEMAS.filter(f => /prometheus-operator-/.test(f))) host.kubectlOk(['create', '-f', file]);
    for (const crd of ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
      await waitFor(`the CRD ${crd} to be established`, 60, () => {
        const o = JSON.parse(host.kubectlOk(['get', 'crd', crd, '-o', 'json']));
        return o.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True') || undefined;
      });
    }
    const chart = new Chart(Testing.app(), 'monitoring', { namespace });
    new Airflow(chart, 'airflow', { metrics: { serviceMonitor: { labels: { release: 'kube-prometheus-stack' } }, prometheusRule: true }, networkPolicies: { metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] } });
    objects = Testing.synth(chart).filter((o: any) => ['ServiceMonitor', 'PrometheusRule'].includes(o.kind));
    host.kubectlOk(['create', 'namespace', namespace]);
  });

  test('both are admitted, warnings as errors', () => {
    expect(objects.map(o => o.kind).sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
    const r = host.kubectl(['apply', '--dry-run=server', '--warnings-as-errors', '-f', '-'], objects.map(o => stringify(o)).join('---\n'));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('the CRD\'s own rules run there: a scrape interval that is no Prometheus duration is refused', () => {
    const broken = JSON.parse(JSON.stringify(objects.find(o => o.kind === 'ServiceMonitor')));
    broken.spec.endpoints[0].interval = '30 seconds';
    const r = host.kubectl(['apply', '--dry-run=server', '-f', '-'], stringify(broken));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.endpoints\[0\]\.interval/);
  });
});
