// prod's api-server HorizontalPodAutoscaler on a real kube-apiserver and kube-controller-manager (only its
// horizontal-pod-autoscaler controller; no metrics server): a fresh install gets `minReplicas` pods although the
// Deployment names none, and docs/operations.md, "Handing the replicas to an autoscaler", run as written, keeps
// the pods of the last release with a fixed `replicas` through the upgrade, where a plain `kubectl apply` would
// drop them to one.
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { parse, stringify } from 'yaml';
import { REPO, setup, TestHost, waitFor } from '../../scripts/integration/host';
import { distFile, distObjects, earlierDist } from '../../scripts/integration/releases';

jest.setTimeout(1_200_000);

const NAME = 'airflow-api-server';
const prod = distObjects('prod');
const namespace = prod.find(o => o.kind === 'Namespace').metadata.name;
const hpa = prod.find(o => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === NAME);
const apiServer = (objects: any[]) => objects.find(o => o.kind === 'Deployment' && o.metadata.name === NAME);

let host: TestHost;

const replicas = (ns: string): number | undefined =>
  JSON.parse(host.kubectlOk(['get', 'deployment', NAME, '-n', ns, '-o', 'json'])).spec.replicas;

beforeAll(async () => {
  host = new TestHost(setup(), 'autoscaler');
  await host.startKubeApiserver();
  await host.startKubeControllerManager(['horizontal-pod-autoscaler-controller']);
}, 3600_000);

afterAll(async () => { await host?.stop(); });

test('prod\'s api-server Deployment has no replicas; its autoscaler scales it from 2 to 10', () => {
  expect('replicas' in apiServer(prod).spec).toBe(false);
  expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: NAME });
  expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([2, 10]);
});

test('a fresh install: the autoscaler raises the api-server to minReplicas, with no metrics server', async () => {
  const fresh = 'airflow-fresh';
  const objects = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: fresh } },
    ...[apiServer(prod), hpa].map(o => ({ ...o, metadata: { ...o.metadata, namespace: fresh } }))];
  host.kubectlOk(['apply', '-f', '-'], objects.map(o => stringify(o)).join('---\n'));
  const scaled = await waitFor(`the autoscaler to scale ${NAME} to ${hpa.spec.minReplicas}`, 120,
    () => replicas(fresh) === hpa.spec.minReplicas || undefined).catch(e => { throw new Error(`${e.message}\n${host.logs()}`); });
  expect(scaled).toBe(true);
});

describe('upgrading from the last release with a fixed replicas', () => {
  const previous = earlierDist('prod', yaml => apiServer(distObjects('prod', yaml))?.spec.replicas !== undefined);
  const before: number = apiServer(distObjects('prod', previous.yaml)).spec.replicas;
  const section = /### Handing the replicas to an autoscaler([\s\S]*?)\n### /.exec(readFileSync(join(REPO, 'docs', 'operations.md'), 'utf8'))![1];
  // the client-side steps, then the server-side ones
  const [steps, serverSide] = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map(m => m[1]);
  const run = (script: string) => host.inNetns(['bash', '-euc', script], {
    cwd: REPO, env: { ...process.env, KUBECONFIG: host.kubeconfig, PATH: `${dirname(host.kubectlBinary())}:${process.env.PATH}` },
  });

  test('that release ran more pods than Kubernetes\' default of one', () => {
    expect(before).toBeGreaterThan(1);
    expect(before).toBeLessThanOrEqual(hpa.spec.maxReplicas);
  });

  test('without the documented step, applying this dist/ would drop the api-server to one pod', () => {
    host.kubectlOk(['apply', '-f', '-'], previous.yaml);
    expect(replicas(namespace)).toBe(before);
    const dry = host.kubectlOk(['apply', '--dry-run=server', '-o', 'yaml', '-f', '-'], stringify(apiServer(prod)));
    expect(parse(dry).spec.replicas).toBe(1);
  });

  test('the documented step and apply keep the api-server\'s pods; the autoscaler owns them; nothing is left to apply', async () => {
    const r = run(steps);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(replicas(namespace)).toBe(before);
    // the autoscaler has looked at the Deployment and left the count alone: within its range, and no metrics
    // to act on (what docs/operations.md says it reports without a metrics server)
    const status = await waitFor('the autoscaler\'s status', 60, () => {
      const s = JSON.parse(host.kubectlOk(['get', 'hpa', NAME, '-n', namespace, '-o', 'json'])).status;
      return s?.conditions?.some((c: any) => c.type === 'ScalingActive') ? s : undefined;
    });
    const conditions = Object.fromEntries(status.conditions.map((c: any) => [c.type, [c.status, c.reason]]));
    expect({ current: status.currentReplicas, conditions }).toEqual({ current: before,
      conditions: expect.objectContaining({ AbleToScale: ['True', 'SucceededGetScale'], ScalingActive: ['False', 'FailedGetResourceMetric'] }) });
    expect(replicas(namespace)).toBe(before);
    // the annotation lost only replicas: a diff against this dist/ is empty
    const diff = host.kubectl(['diff', '-f', distFile('prod')]);
    expect({ status: diff.status, diff: diff.stdout, stderr: diff.stderr }).toEqual({ status: 0, diff: '', stderr: '' });
  });

  test('server-side apply: the documented handover to a field manager of its own keeps the pods, where a plain apply drops them', () => {
    // the same release applied server-side, in a namespace of its own (the steps and files renamed to it)
    const rename = (text: string, ns: string) => text.replace(/airflow-prod/g, ns);
    const files = mkdtempSync(join(host.dir, 'ssa-'));
    const apply = (yaml: string, ns: string) => host.kubectlOk(['apply', '--server-side', '-f', '-'], rename(yaml, ns));
    const current = (ns: string) => { const f = join(files, `${ns}.yaml`); writeFileSync(f, rename(readFileSync(distFile('prod'), 'utf8'), ns)); return f; };

    apply(previous.yaml, 'airflow-plain');
    expect(replicas('airflow-plain')).toBe(before);
    // (a dry run: the autoscaler, which runs here, would raise a real drop to its minimum within a second)
    const dry = parse(host.kubectlOk(['apply', '--server-side', '--dry-run=server', '-o', 'yaml', '-f', '-'],
      rename(stringify(apiServer(prod)), 'airflow-plain')));
    expect(dry.spec.replicas).toBe(1);

    apply(previous.yaml, 'airflow-ssa');
    const r = run(rename(serverSide, 'airflow-ssa').replace('dist/prod.k8s.yaml', current('airflow-ssa')));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(replicas('airflow-ssa')).toBe(before);
    const managers = JSON.parse(host.kubectlOk(['get', 'deployment', NAME, '-n', 'airflow-ssa', '-o', 'json', '--show-managed-fields'])).metadata.managedFields
      .filter((f: any) => JSON.stringify(f.fieldsV1 ?? {}).includes('"f:replicas"') && f.operation === 'Apply').map((f: any) => f.manager);
    expect(managers).toEqual(['handover-to-hpa']);
  });
});
