// A real kube-scheduler places prod's replicated pods as docs/getting-started.md says: each replica of a
// component on its own node, none on a tainted control-plane node, and after a drain the drained node's
// replicas on the other nodes. The spread dist/ had before (tainted nodes counted, as `nodeTaintsPolicy`
// unset means) leaves such a replacement Pending: the check can fail. No kubelet runs here, so the pods are
// placed (spec.nodeName), not started; the Nodes are API objects the test makes Ready itself.
import { readFileSync } from 'fs';
import { join } from 'path';
import { stringify } from 'yaml';
import { parseManifests } from '../../scripts/manifests';
import { REPO, setup, TestHost, waitFor } from '../../scripts/integration/host';

jest.setTimeout(1_200_000);

const file = join(REPO, 'dist', 'prod.k8s.yaml');
const prod = parseManifests(file, readFileSync(file, 'utf8')).map(m => m.object as any);
const namespace = prod.find(o => o.kind === 'Namespace').metadata.name;
const spread = prod.filter(o => o.kind === 'Deployment'
  && o.spec.template.spec.topologySpreadConstraints?.some((c: any) => c.whenUnsatisfiable === 'DoNotSchedule'));
const WORKERS = ['node-a', 'node-b', 'node-c'];
/** The pods of a spread component here: its replicas, or, autoscaled, one per worker (the HPA may choose that). */
const podCount = (d: any): number => d.spec.replicas ?? WORKERS.length;
const autoscaler = (d: any) => prod.find(o => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === d.metadata.name);
const CONTROL_PLANE = 'control-plane';

let host: TestHost;

/** A Node the scheduler sees as Ready with room to spare, carrying exactly `taints`. */
function addNode(name: string, taints: object[]): void {
  host.kubectlOk(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } } }));
  // the API server's admission taints a new Node not-ready until the node controller (not running here) clears it
  host.kubectlOk(['patch', 'node', name, '--type=merge', '-p', JSON.stringify({ spec: { taints: taints.length ? taints : null } })]);
  const room = { 'cpu': '16', 'memory': '64Gi', 'ephemeral-storage': '100Gi', 'pods': '110' };
  host.kubectlOk(['patch', 'node', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: {
    capacity: room, allocatable: room,
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test node', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
  } })]);
}

/** A pod of `deployment`'s template, as its ReplicaSet of revision `hash` would create it. */
function createPod(deployment: any, name: string, hash: string, edit: (spec: any) => void = () => undefined): void {
  const t = JSON.parse(JSON.stringify(deployment.spec.template));
  edit(t.spec);
  host.kubectlOk(['create', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Pod',
    metadata: { ...t.metadata, name, namespace, labels: { ...t.metadata.labels, 'pod-template-hash': hash } }, spec: t.spec }));
}

function pod(name: string): any {
  return JSON.parse(host.kubectlOk(['get', 'pod', name, '-n', namespace, '-o', 'json']));
}

async function placed(name: string): Promise<string> {
  return waitFor(`pod ${name} to be placed on a node`, 120, () => pod(name).spec.nodeName as string | undefined)
    .catch(e => { throw new Error(`${e.message}\n${JSON.stringify(pod(name).status)}\n${host.logs()}`); });
}

/** Waits for the scheduler to give up on the pod for now, and returns why. */
async function unschedulable(name: string): Promise<string> {
  return waitFor(`the scheduler to find no node for pod ${name}`, 120, () => {
    const p = pod(name);
    if (p.spec.nodeName) throw new Error(`pod ${name} was placed on ${p.spec.nodeName}`);
    const c = (p.status.conditions ?? []).find((x: any) => x.type === 'PodScheduled' && x.status === 'False' && x.reason === 'Unschedulable');
    return c?.message as string | undefined;
  });
}

beforeAll(async () => {
  host = new TestHost(setup(), 'scheduler');
  await host.startKubeApiserver();
  await host.startKubeScheduler();
  // the ServiceAccounts, PriorityClasses and policies the pods' admission looks up; `default` is the controller
  // manager's to create, which does not run here
  host.kubectlOk(['apply', '-f', file]);
  host.kubectlOk(['create', 'serviceaccount', 'default', '-n', namespace]);
  // the PersistentVolumeClaims the pods mount (the shared task logs), bound as the volume controller (not running
  // here) would bind them to volumes an administrator made
  for (const claim of prod.filter(o => o.kind === 'PersistentVolumeClaim')) {
    const volume = `pv-${claim.metadata.name}`;
    host.kubectlOk(['apply', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: volume }, spec: {
      capacity: { storage: claim.spec.resources.requests.storage }, accessModes: claim.spec.accessModes, storageClassName: claim.spec.storageClassName,
      hostPath: { path: `/srv/${volume}` }, claimRef: { namespace, name: claim.metadata.name } } }));
    host.kubectlOk(['patch', 'pvc', claim.metadata.name, '-n', namespace, '--type=merge', '-p',
      JSON.stringify({ metadata: { annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } }, spec: { volumeName: volume } })]);
  }
  for (const n of WORKERS) addNode(n, []);
  addNode(CONTROL_PLANE, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]);
}, 3600_000);

afterAll(async () => { await host?.stop(); });

test('prod spreads the scheduler, api-server, triggerer and PgBouncer with a DoNotSchedule constraint', () => {
  expect(spread.map(d => d.metadata.name).sort()).toEqual(['airflow-api-server', 'airflow-pgbouncer', 'airflow-scheduler', 'airflow-triggerer']);
  expect(Math.max(...spread.map(podCount))).toBe(WORKERS.length);
  // the one without replicas is autoscaled, and three pods are within its range
  for (const d of spread.filter(x => x.spec.replicas === undefined)) {
    expect(autoscaler(d).spec.minReplicas).toBeLessThanOrEqual(WORKERS.length);
    expect(autoscaler(d).spec.maxReplicas).toBeGreaterThanOrEqual(WORKERS.length);
  }
});

describe('on three worker nodes and a tainted control-plane node', () => {
  const placement: Record<string, Record<string, string>> = {};

  test('each replica of a component gets its own worker node', async () => {
    for (const d of spread) {
      placement[d.metadata.name] = {};
      for (let i = 0; i < podCount(d); i++) {
        const name = `${d.metadata.name}-rev1-${i}`;
        createPod(d, name, 'rev1');
        placement[d.metadata.name][name] = await placed(name);
      }
      const nodes = Object.values(placement[d.metadata.name]);
      expect({ [d.metadata.name]: new Set(nodes).size }).toEqual({ [d.metadata.name]: podCount(d) });
      expect(nodes).not.toContain(CONTROL_PLANE);
    }
  });

  test('draining a node: its replicas are replaced on the other nodes, where the old spread left them Pending', async () => {
    const drained = 'node-c';
    // no control-plane node in view from here on (a managed control plane): only the drain can hold a pod back
    host.kubectlOk(['delete', 'node', CONTROL_PLANE]);
    // `kubectl drain` cordons (spec.unschedulable), and the node controller then taints the node; both here
    host.kubectlOk(['patch', 'node', drained, '--type=merge', '-p', JSON.stringify({ spec: { unschedulable: true,
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } })]);
    const evicted = spread.flatMap(d => Object.entries(placement[d.metadata.name]).filter(([, node]) => node === drained).map(([name]) => ({ d, name })));
    expect(evicted.map(e => e.d.metadata.name)).toContain('airflow-api-server'); // 3 replicas on 3 nodes: one was there
    // gone at once: no kubelet is there to confirm a graceful deletion
    const remove = (name: string) => host.kubectlOk(['delete', 'pod', name, '-n', namespace, '--grace-period=0', '--force']);
    evicted.forEach(e => remove(e.name));

    // the constraint as it was before nodeTaintsPolicy: Honor (unset: tainted nodes count, as holding zero)
    const apiServer = spread.find(d => d.metadata.name === 'airflow-api-server');
    createPod(apiServer, 'airflow-api-server-old-spread', 'rev1', spec => { delete spec.topologySpreadConstraints[0].nodeTaintsPolicy; });
    expect(await unschedulable('airflow-api-server-old-spread')).toMatch(/didn't match pod topology spread constraints/);
    remove('airflow-api-server-old-spread');

    for (const { d, name } of evicted) {
      const replacement = `${name}-replacement`;
      createPod(d, replacement, 'rev1');
      const node = await placed(replacement);
      expect([d.metadata.name, WORKERS.filter(n => n !== drained)]).toEqual([d.metadata.name, expect.arrayContaining([node])]);
    }
  });
});
