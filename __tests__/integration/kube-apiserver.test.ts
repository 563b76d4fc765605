// A real kube-apiserver (built from the Go module proxy, with etcd) judges dist/: every object of every
// environment is admitted by a server-side dry run with PodSecurity enforcing and warnings as errors, and
// the ServiceAccounts get exactly the rights the README documents, nothing in other namespaces.
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { stringify } from 'yaml';
import { parseManifests } from '../../scripts/manifests';
import { REPO, setup, TestHost } from '../../scripts/integration/host';
import { TIERS } from '../helpers';

const distFile = (tier: string) => join(REPO, 'dist', `${tier}.k8s.yaml`);
const objectsOf = (tier: string) => parseManifests(distFile(tier), readFileSync(distFile(tier), 'utf8')).map(m => m.object as any);

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

/**
 * The version of dist/<tier>.k8s.yaml before this one: the newest in git history that differs from the file
 * as it is now (in CI, the release the new one is applied over).
 */
function previousDist(tier: string): { rev: string; yaml: string } {
  const file = `dist/${tier}.k8s.yaml`;
  const current = readFileSync(distFile(tier), 'utf8');
  const git = (...args: string[]) => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  for (const rev of git('log', '--format=%H', '--', file).split('\n').filter(Boolean)) {
    const yaml = git('show', `${rev}:${file}`);
    if (yaml !== current) return { rev, yaml };
  }
  throw new Error(`no earlier version of ${file} in git history (a shallow clone? fetch the history)`);
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
  const objects = objectsOf(tier);
  const namespace = objects.find(o => o.kind === 'Namespace').metadata.name;

  test('an upgrade applies: this dist/ goes over the previous version, applied for real, with nothing deleted by hand', () => {
    // immutable fields (selectors, volumeClaimTemplates, Job templates, roleRefs) would fail here
    const previous = previousDist(tier);
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
