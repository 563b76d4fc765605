// npm run e2e: dist/dev.k8s.yaml, unchanged, on a real single-node Kubernetes on this machine
// (scripts/e2e/cluster.sh), with images built here under the names dist/ uses (scripts/e2e/images/) and
// the DAG repository served at the URL the environment names (scripts/e2e/git-server.py), its NetworkPolicies
// enforced (kube-router's network policy controller, run by cluster.sh). Runs the
// checks below in order, each with a timeout and a message saying what failed, stops at the first
// failure, tears down what it started and ends with `e2e: P/N checks passed in S s`.
//   npm run e2e [-- --keep]     --keep: leave the cluster up afterwards (for a look around)
import { spawn, spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { parseManifests } from '../manifests';
import { parse as parseYaml } from 'yaml';
import { waitFor } from '../integration/host';
import { taskPodLeaks } from '../task-pod-facts';
import { restoreProcedure } from './readme-restore';

const REPO = join(__dirname, '..', '..');
const TIER = 'dev';
const DIST = join(REPO, 'dist', `${TIER}.k8s.yaml`);
const E2E = join(REPO, 'scripts', 'e2e');
const KUBECONFIG = join(REPO, '.cache', 'e2e', 'admin.kubeconfig');
const DAG_ID = 'example_simplest_dag';
const started = Date.now();

/** When the running check's time is up: every command it runs is cut off then, blocking ones included. */
let deadline = Infinity;

function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutSeconds?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const timeout = Math.max(1000, Math.min((opts.timeoutSeconds ?? 600) * 1000, deadline - Date.now()));
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: { ...process.env, KUBECONFIG, ...opts.env }, timeout, maxBuffer: 64 << 20 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') throw new Error(`${cmd} ${args.join(' ')}: timed out`);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function must(cmd: string, args: string[], opts: Parameters<typeof sh>[2] = {}): string {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${(r.stdout + r.stderr).trim().slice(-3000)}`);
  return r.stdout;
}

/** The kubectl cluster.sh builds (its version is set in lib.sh). */
const K8S_VERSION = /E2E_K8S_VERSION="\$\{KUBERNETES_VERSION:-(v[0-9.]+)\}"/.exec(readFileSync(join(E2E, 'lib.sh'), 'utf8'))![1];
const kubectlBin = () => join(REPO, '.cache', `kubernetes-${K8S_VERSION}`, 'bin', 'kubectl');
const kubectl = (...args: string[]) => must(kubectlBin(), args);
const kubectlJson = (...args: string[]) => JSON.parse(kubectl(...args, '-o', 'json'));

const objects = parseManifests(DIST, readFileSync(DIST, 'utf8')).map(m => m.object as any);
const NS = objects.find(o => o.kind === 'Namespace').metadata.name;
const ns = (...args: string[]) => kubectl('-n', NS, ...args);
const component = (name: string) => `app.kubernetes.io/component=${name}`;

// --- the api-server, through its Service ---------------------------------------------------------
let token = '';
function api(method: string, path: string, body?: unknown): { status: number; json: any; text: string } {
  const svc = kubectlJson('-n', NS, 'get', 'service', 'airflow-api-server');
  const url = `http://${svc.spec.clusterIP}:${svc.spec.ports[0].port}${path}`;
  const args = ['-sS', '-m', '30', '-o', '-', '-w', '\n%{http_code}', '-X', method, url];
  if (token) args.push('-H', `Authorization: Bearer ${token}`);
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
  const r = sh('curl', args);
  if (r.status !== 0) throw new Error(`${method} ${path}: curl exit ${r.status}: ${r.stderr.trim()}`);
  const i = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, i);
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: Number(r.stdout.slice(i + 1)), json, text };
}

/** A token from /auth/token with the admin password from the Secret, for every later api() call. */
function login(): void {
  token = '';
  const passwords = JSON.parse(Buffer.from(ns('get', 'secret', 'airflow-secrets', '-o', 'jsonpath={.data.simple-auth-manager-passwords}'), 'base64').toString());
  const r = api('POST', '/auth/token', { username: 'admin', password: passwords.admin });
  if (r.status !== 201 || !r.json?.access_token) throw new Error(`POST /auth/token: ${r.status} ${r.text}`);
  token = r.json.access_token;
}

/** The DAG runs of DAG_ID as `run id: state`, sorted. */
function dagRuns(): string[] {
  const r = api('GET', `/api/v2/dags/${DAG_ID}/dagRuns?limit=100`);
  if (r.status !== 200) throw new Error(`GET dagRuns: ${r.status} ${r.text.slice(0, 500)}`);
  return r.json.dag_runs.map((x: any) => `${x.dag_run_id}: ${x.state}`).sort();
}

async function runDag(dagId = DAG_ID): Promise<string> {
  const run = api('POST', `/api/v2/dags/${dagId}/dagRuns`, { logical_date: null });
  if (run.status !== 200) throw new Error(`trigger: ${run.status} ${run.text}`);
  return run.json.dag_run_id;
}

async function runState(runId: string, timeoutSeconds: number, dagId = DAG_ID): Promise<string> {
  return waitFor(`DAG run ${runId} to finish`, timeoutSeconds, () => {
    const s = api('GET', `/api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(runId)}`).json?.state;
    return ['success', 'failed'].includes(s) ? s : undefined;
  }, 3000);
}

// --- NetworkPolicy enforcement (cluster.sh runs kube-router's network policy controller) ---------------
// Connections are probed from inside pods with the image's python3 (a socket connect with a short timeout).
// kube-router REJECTs a connection no policy allows (ICMP port unreachable: 'refused' at once); every target
// probed for a denied path is shown listening by an allowed path first, and kube-router's REJECT rules must
// count the refused connections, so a refusal is the enforcer's, not a closed port.
const PROBE = `import socket, sys, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
try:
    socket.create_connection((host, port), timeout=timeout).close(); r = "connected"
except TimeoutError: r = "timeout"
except ConnectionRefusedError: r = "refused"
except OSError as e: r = "error:" + (str(e) or type(e).__name__).replace(" ", "_")
print(r, round((time.monotonic() - t0) * 1000))`;
const PROBE_TIMEOUT = 3;
const OUTSIDER_NS = 'e2e-netpol';       // a namespace of no installation, without NetworkPolicies
const OUTSIDER_PORT = 8000;             // its pod listens there; no rule of the installation opens it
const TASK_LIKE = 'e2e-netpol-task';    // a pod in the installation's namespace with a task pod's labels
const HOST_PORT = 18080;                // a listener on the node's address that no rule opens

interface Endpoint { ns: string; pod: string; container: string }
function probe(from: Endpoint, host: string, port: number): { result: string; ms: number } {
  const r = sh(kubectlBin(), ['-n', from.ns, 'exec', from.pod, '-c', from.container, '--', 'python3', '-c', PROBE, host, String(port), String(PROBE_TIMEOUT)], { timeoutSeconds: 60 });
  if (r.status !== 0) throw new Error(`probe from ${from.pod} to ${host}:${port}: kubectl exec exit ${r.status}: ${(r.stdout + r.stderr).trim().slice(-1000)}`);
  const [result, ms] = r.stdout.trim().split(/\s+/);
  return { result, ms: Number(ms) };
}

/** The first running pod of a component of the installation, as a place to probe from. */
function componentPod(name: string): Endpoint & { ip: string } {
  const pod = kubectlJson('-n', NS, 'get', 'pods', '-l', component(name), '--field-selector=status.phase=Running').items
    .find((p: any) => !p.metadata.deletionTimestamp);
  if (!pod) throw new Error(`no running ${name} pod`);
  return { ns: NS, pod: pod.metadata.name, container: pod.spec.containers[0].name, ip: pod.status.podIP };
}

/**
 * Packets kube-router's per-pod "rule to REJECT traffic ..." rules have rejected so far. Each of its syncs
 * (iptables-restore, on any pod or policy change and every 60 s) starts the counters again from 0.
 */
function rejectedPackets(): number {
  return must('iptables-save', ['-c', '-t', 'filter']).split('\n')
    .filter(l => /rule to REJECT traffic/.test(l) && /-j REJECT/.test(l))
    .reduce((n, l) => n + Number(/^\[(\d+):\d+\]/.exec(l)?.[1] ?? 0), 0);
}

/** kube-router runs and polices these pods: each has its firewall chain, reached from FORWARD, INPUT and OUTPUT. */
function assertEnforcer(pods: Endpoint[]): string {
  const status = must('bash', [join(E2E, 'cluster.sh'), 'status']);
  if (!/^kube-router: running/m.test(status)) throw new Error(`the NetworkPolicy enforcer is not running (scripts/e2e/cluster.sh status):\n${status}`);
  const rules = must('iptables-save', ['-t', 'filter']);
  for (const chain of ['INPUT', 'FORWARD', 'OUTPUT']) {
    if (!new RegExp(`^-A ${chain} .*-j KUBE-ROUTER-${chain}$`, 'm').test(rules)) throw new Error(`filter ${chain} does not jump to KUBE-ROUTER-${chain}: no enforcement`);
  }
  const unpoliced = pods.filter(p => !rules.includes(`rule to jump traffic from POD name:${p.pod} namespace: ${p.ns} to chain KUBE-POD-FW-`));
  if (unpoliced.length) throw new Error(`pods without a kube-router firewall chain: ${unpoliced.map(p => `${p.ns}/${p.pod}`).join(', ')}`);
  const chains = rules.split('\n').filter(l => /^:KUBE-POD-FW-/.test(l)).length;
  const sets = must('ipset', ['list', '-n']).split('\n').filter(l => /^KUBE-/.test(l)).length;
  return `kube-router running: ${chains} pod firewall chains, ${sets} ipsets`;
}

function throwawayPods(): void {
  const image = objects.find(o => o.kind === 'Deployment' && o.metadata.labels['app.kubernetes.io/component'] === 'scheduler').spec.template.spec.containers[0].image;
  const template = parseYaml(objects.find(o => o.kind === 'ConfigMap' && o.data?.['pod_template_file.yaml']).data['pod_template_file.yaml']);
  const labels: Record<string, string> = template.metadata.labels;
  if (labels['app.kubernetes.io/component'] !== 'worker') throw new Error(`the pod template's labels are not a task pod's: ${JSON.stringify(labels)}`);
  const restricted = {
    securityContext: { runAsNonRoot: true, runAsUser: 50000, runAsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } },
    automountServiceAccountToken: false, enableServiceLinks: false, terminationGracePeriodSeconds: 1,
  };
  const container = (command: string[]) => ({ name: 'probe', image, imagePullPolicy: 'Never', command,
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true } });
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OUTSIDER_NS } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'outsider', namespace: OUTSIDER_NS },
      spec: { ...restricted, containers: [container(['python3', '-m', 'http.server', String(OUTSIDER_PORT), '--directory', '/'])] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: TASK_LIKE, namespace: NS, labels },
      spec: { ...restricted, containers: [container(['sleep', '3600'])] } },
  ];
  must(kubectlBin(), ['apply', '-f', '-'], { input: manifests.map(m => JSON.stringify(m)).join('\n') });
  kubectl('-n', OUTSIDER_NS, 'wait', '--for=condition=Ready', 'pod/outsider', '--timeout=120s');
  kubectl('-n', NS, 'wait', '--for=condition=Ready', `pod/${TASK_LIKE}`, '--timeout=120s');
}

/** A TCP listener on the node's address (the pods' gateway), on a port no rule opens; stopped by the caller. */
function hostListener(): { ip: string; stop(): void } {
  const ip = kubectlJson('get', 'nodes').items[0].status.addresses.find((a: any) => a.type === 'InternalIP').address;
  const child = spawn('/usr/bin/python3', ['-c', `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("${ip}", ${HOST_PORT})); s.listen(16)
while True: s.accept()[0].close()`], { stdio: 'ignore', detached: false });
  spawnSync('sleep', ['0.5']);
  if (child.exitCode !== null) throw new Error(`could not listen on ${ip}:${HOST_PORT}`);
  return { ip, stop: () => { child.kill('SIGKILL'); } };
}

/**
 * Probes FROM → HOST:PORT and compares with the expected result; every outcome as one figure. A denied path
 * must fail to connect AND kube-router's REJECT rules must have counted it (else the refusal is not the
 * enforcer's); a sync of kube-router in between resets the counters, and the probe is then made again.
 */
function expectPaths(paths: { what: string; from: Endpoint; host: string; port: number; expect: 'connected' | 'denied' }[]): string[] {
  const figures: string[] = [];
  const wrong: string[] = [];
  for (const p of paths) {
    let r: { result: string; ms: number };
    let rejected: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const before = p.expect === 'denied' ? rejectedPackets() : 0;
      r = probe(p.from, p.host, p.port);
      const after = p.expect === 'denied' ? rejectedPackets() : 0;
      if (after >= before || attempt === 2) { rejected = p.expect === 'denied' ? after - before : undefined; break; }
    }
    const figure = `${p.what} (${p.host}:${p.port}): ${r.result} in ${r.ms} ms${rejected === undefined ? '' : `, ${rejected} packets rejected by kube-router`}`;
    figures.push(figure);
    const ok = p.expect === 'connected' ? r.result === 'connected' : ['refused', 'timeout'].includes(r.result) && rejected! >= 1;
    if (!ok) wrong.push(`${figure}, expected ${p.expect}`);
  }
  if (wrong.length) throw new Error(`${wrong.join('; ')}\n(all: ${figures.join('; ')})`);
  return figures;
}

// --- the checks -----------------------------------------------------------------------------------
interface Check { readonly name: string; readonly timeoutSeconds: number; run(): Promise<string | void> }
const state: { runId?: string; taskPodSeen?: any; dagProcessorStart?: number } = {};

const checks: Check[] = [
  { name: 'cluster up, images built and imported, DAG repository served at its URL', timeoutSeconds: 3600, async run() {
    const t = Date.now();
    must('bash', [join(E2E, 'cluster.sh'), 'up'], { timeoutSeconds: 3000 });
    const up = Math.round((Date.now() - t) / 1000);
    must('bash', [join(E2E, 'images', 'build.sh')], { timeoutSeconds: 3000 });
    must('bash', [join(E2E, 'images', 'git-server.sh'), 'start'], { timeoutSeconds: 600 });
    must('bash', [join(E2E, 'images', 'dns.sh'), 'apply'], { timeoutSeconds: 300 });
    return `cluster up in ${up} s; images imported; https://github.com/apache/airflow.git served in the cluster`;
  } },
  { name: 'scripts/create-secrets.sh dev, twice: the second run changes nothing', timeoutSeconds: 120, async run() {
    const env = { PATH: `${join(kubectlBin(), '..')}:${process.env.PATH}` };
    must('bash', [join(REPO, 'scripts', 'create-secrets.sh'), TIER], { env });
    const versions = () => ns('get', 'secrets', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}');
    const before = versions();
    const again = must('bash', [join(REPO, 'scripts', 'create-secrets.sh'), TIER], { env });
    if (versions() !== before) throw new Error(`the second run changed Secrets: ${before} -> ${versions()}`);
    return `${before.trim()}; second run: ${again.split('\n').filter(Boolean).length} lines, nothing changed`;
  } },
  { name: 'kubectl apply -f dist/dev.k8s.yaml: no admission failure, no warning', timeoutSeconds: 120, async run() {
    const out = kubectl('apply', '--warnings-as-errors', '-f', DIST);
    return `${out.trim().split('\n').length} objects`;
  } },
  { name: 'PostgreSQL ready', timeoutSeconds: 300, async run() {
    return kubectl('-n', NS, 'rollout', 'status', 'statefulset/airflow-postgresql', '--timeout=300s').trim();
  } },
  { name: 'the migration Job complete', timeoutSeconds: 600, async run() {
    const job = objects.find(o => o.kind === 'Job').metadata.name;
    return kubectl('-n', NS, 'wait', '--for=condition=complete', `job/${job}`, '--timeout=600s').trim();
  } },
  { name: 'every Deployment available; restart counts', timeoutSeconds: 600, async run() {
    kubectl('-n', NS, 'wait', '--for=condition=available', 'deployment', '--all', '--timeout=600s');
    const pods = kubectlJson('-n', NS, 'get', 'pods');
    return pods.items.map((p: any) => `${p.metadata.name}: ${(p.status.containerStatuses ?? []).map((c: any) => `${c.name}=${c.restartCount}`).join(',')}`).join('; ');
  } },
  { name: 'NetworkPolicies enforced: kube-router polices Airflow\'s pods; the allowed paths connect and every container resolves names', timeoutSeconds: 300, async run() {
    throwawayPods();
    const scheduler = componentPod('scheduler'), apiServer = componentPod('api-server'), dagProcessor = componentPod('dag-processor');
    const triggerer = componentPod('triggerer'), postgres = componentPod('postgresql');
    const taskLike = { ns: NS, pod: TASK_LIKE, container: 'probe' };
    const outsider = { ns: OUTSIDER_NS, pod: 'outsider', container: 'probe' };
    const outsiderIp = kubectlJson('-n', OUTSIDER_NS, 'get', 'pod', 'outsider').status.podIP;
    const enforcer = assertEnforcer([scheduler, apiServer, dagProcessor, triggerer, postgres, taskLike]);
    const db = `airflow-postgresql.${NS}.svc.cluster.local`, api = `airflow-api-server.${NS}.svc.cluster.local`;
    const figures = expectPaths([
      { what: 'scheduler -> PostgreSQL', from: scheduler, host: db, port: 5432, expect: 'connected' },
      { what: 'dag-processor -> PostgreSQL', from: dagProcessor, host: db, port: 5432, expect: 'connected' },
      { what: 'triggerer -> PostgreSQL', from: triggerer, host: db, port: 5432, expect: 'connected' },
      { what: 'api-server -> PostgreSQL', from: apiServer, host: db, port: 5432, expect: 'connected' },
      { what: 'scheduler -> the Kubernetes API (its endpoint: the node on 6443)', from: scheduler, host: 'kubernetes.default.svc.cluster.local', port: 443, expect: 'connected' },
      { what: 'dag-processor -> the git server (github.com on the node, 443)', from: dagProcessor, host: 'github.com', port: 443, expect: 'connected' },
      { what: 'task pod -> api-server (execution API)', from: taskLike, host: api, port: 8080, expect: 'connected' },
      { what: 'api-server -> triggerer (trigger logs)', from: apiServer, host: triggerer.ip, port: 8794, expect: 'connected' },
      { what: 'task pod -> a pod in another namespace (tasks\' own egress)', from: taskLike, host: outsiderIp, port: OUTSIDER_PORT, expect: 'connected' },
      // dev opens the api-server's 8080 to 0.0.0.0/0 on purpose (its ingress rule); staging and prod do not
      { what: 'a pod in another namespace -> api-server (dev: from 0.0.0.0/0)', from: outsider, host: api, port: 8080, expect: 'connected' },
    ]);
    // DNS: every container of every running pod of the installation (the egress allow to kube-system's
    // k8s-app=kube-dns pods), with the resolver the container has (getent: glibc's, as Airflow's lookups).
    // statsd_exporter's image holds its binary alone (no resolver to run) and it looks up no name: it only listens
    const resolved: string[] = [], unprobed: string[] = [];
    for (const pod of kubectlJson('-n', NS, 'get', 'pods', '--field-selector=status.phase=Running').items) {
      for (const c of pod.spec.containers) {
        if (c.name === 'statsd-exporter') { unprobed.push(`${pod.metadata.name}/${c.name} (binary-only image, resolves nothing)`); continue; }
        const r = sh(kubectlBin(), ['-n', NS, 'exec', pod.metadata.name, '-c', c.name, '--', 'getent', 'hosts', db], { timeoutSeconds: 60 });
        if (r.status !== 0 || !r.stdout.trim()) throw new Error(`${pod.metadata.name}/${c.name}: getent hosts ${db}: exit ${r.status} ${(r.stdout + r.stderr).trim()}`);
        resolved.push(`${pod.metadata.name}/${c.name}`);
      }
    }
    if (resolved.length < 6) throw new Error(`only ${resolved.length} containers probed for DNS: ${resolved.join(', ')}`);
    return `${enforcer}; ${figures.join('; ')}; ${resolved.length} containers resolved ${db}: ${resolved.join(', ')}; not probed: ${unprobed.join(', ') || 'none'}`;
  } },
  { name: 'NetworkPolicies enforced: the denied paths are refused, each refusal counted by kube-router\'s REJECT rules', timeoutSeconds: 300, async run() {
    const scheduler = componentPod('scheduler'), dagProcessor = componentPod('dag-processor');
    const triggerer = componentPod('triggerer'), postgres = componentPod('postgresql');
    const taskLike = { ns: NS, pod: TASK_LIKE, container: 'probe' };
    const outsider = { ns: OUTSIDER_NS, pod: 'outsider', container: 'probe' };
    const outsiderIp = kubectlJson('-n', OUTSIDER_NS, 'get', 'pod', 'outsider').status.podIP;
    const api = `airflow-api-server.${NS}.svc.cluster.local`;
    const host = hostListener();
    try {
      // Every target below listens: the previous check connected to each, and this one to the node's listener.
      const control = expectPaths([{ what: 'a pod in another namespace -> a listener on the node', from: outsider, host: host.ip, port: HOST_PORT, expect: 'connected' }]);
      const figures = expectPaths([
        { what: 'task pod -> PostgreSQL (its ingress admits the database\'s clients only)', from: taskLike, host: `airflow-postgresql.${NS}.svc.cluster.local`, port: 5432, expect: 'denied' },
        { what: 'a pod in another namespace -> PostgreSQL', from: outsider, host: postgres.ip, port: 5432, expect: 'denied' },
        { what: 'scheduler -> triggerer (only the api-server reads trigger logs)', from: scheduler, host: triggerer.ip, port: 8794, expect: 'denied' },
        { what: 'scheduler -> api-server (no egress allow, though the api-server\'s ingress is open)', from: scheduler, host: api, port: 8080, expect: 'denied' },
        { what: 'dag-processor -> a pod in another namespace on a port no rule opens', from: dagProcessor, host: outsiderIp, port: OUTSIDER_PORT, expect: 'denied' },
        { what: 'dag-processor -> the node on a port no rule opens', from: dagProcessor, host: host.ip, port: HOST_PORT, expect: 'denied' },
        { what: 'dag-processor -> the Kubernetes API (its git allow is 443; the endpoint is 6443)', from: dagProcessor, host: 'kubernetes.default.svc.cluster.local', port: 443, expect: 'denied' },
      ]);
      // The throwaway pods go: later checks count the namespace's pods.
      ns('delete', 'pod', TASK_LIKE, '--wait=true', '--timeout=60s');
      kubectl('delete', 'namespace', OUTSIDER_NS, '--wait=false');
      return `${control.join('; ')}; then ${figures.join('; ')}`;
    } finally {
      host.stop();
    }
  } },
  { name: 'GET /api/v2/monitor/health: all healthy', timeoutSeconds: 120, async run() {
    return waitFor('all components healthy', 120, () => {
      const h = api('GET', '/api/v2/monitor/health').json;
      const bad = Object.entries(h ?? {}).filter(([, v]: [string, any]) => v?.status !== 'healthy');
      if (!h || bad.length) throw new Error(`not healthy: ${JSON.stringify(h)}`);
      return Object.keys(h).join(', ') + ': healthy';
    }, 5000);
  } },
  { name: 'the login page at the api-server\'s NodePort, as kind maps it to http://localhost:30007 (docs/kind-cluster.yaml)', timeoutSeconds: 60, async run() {
    const nodePort = kubectlJson('-n', NS, 'get', 'service', 'airflow-api-server').spec.ports[0].nodePort;
    const node = kubectlJson('get', 'nodes').items[0].status.addresses.find((a: any) => a.type === 'InternalIP').address;
    const url = `http://${node}:${nodePort}/auth/login`;
    const r = sh('curl', ['-sS', '-m', '30', '-o', '-', '-w', '\n%{http_code} %{content_type}', url]);
    if (r.status !== 0) throw new Error(`GET ${url}: curl exit ${r.status}: ${r.stderr.trim()}`);
    const [status, type] = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1).split(' ');
    if (status !== '200' || !type.startsWith('text/html') || !/<html/i.test(r.stdout)) throw new Error(`GET ${url}: ${status} ${type}: ${r.stdout.slice(0, 300)}`);
    return `GET ${url}: ${status} ${type}`;
  } },
  { name: 'a token from /auth/token with the admin password from the Secret', timeoutSeconds: 60, async run() {
    login();
    return 'token issued';
  } },
  { name: `${DAG_ID} visible through the REST API within 60 s of the dag-processor's start`, timeoutSeconds: 120, async run() {
    const pod = kubectlJson('-n', NS, 'get', 'pods', '-l', component('dag-processor')).items[0];
    const main = pod.status.containerStatuses.find((c: any) => c.name === 'dag-processor');
    const start = Date.parse(main.state.running.startedAt);
    await waitFor(`${DAG_ID} in GET /api/v2/dags`, 120, () => api('GET', `/api/v2/dags/${DAG_ID}`).status === 200 || undefined, 2000);
    // When it was first listed: the creation of its first DAG version (a later parse does not move it).
    const versions = api('GET', `/api/v2/dags/${DAG_ID}/dagVersions?order_by=version_number&limit=1`);
    if (versions.status !== 200 || !versions.json?.dag_versions?.length) throw new Error(`GET dagVersions: ${versions.status} ${versions.text.slice(0, 500)}`);
    const seconds = Math.round((Date.parse(versions.json.dag_versions[0].created_at) - start) / 1000);
    if (seconds > 60) throw new Error(`first listed ${seconds} s after the dag-processor started`);
    return `first listed ${seconds} s after the dag-processor started`;
  } },
  { name: 'unpaused and triggered: the task pod is made from our template, and the run succeeds', timeoutSeconds: 420, async run() {
    const p = api('PATCH', `/api/v2/dags/${DAG_ID}`, { is_paused: false });
    if (p.status !== 200) throw new Error(`unpause: ${p.status} ${p.text}`);
    state.runId = await runDag();
    const pod = await waitFor('the task pod', 180, () => kubectlJson('-n', NS, 'get', 'pods', '-l', `dag_id=${DAG_ID}`).items[0], 1000);
    state.taskPodSeen = pod;
    const spec = pod.spec;
    const problems: string[] = [];
    if (spec.containers.map((c: any) => c.name).join() !== 'base') problems.push(`containers ${spec.containers.map((c: any) => c.name)}`);
    if (!(spec.initContainers ?? []).some((c: any) => (c.env ?? []).some((e: any) => e.name === 'GITSYNC_ONE_TIME' && e.value === 'true'))) problems.push('no git-sync init container');
    problems.push(...taskPodLeaks(spec));
    if (problems.length) throw new Error(`task pod ${pod.metadata.name}: ${problems.join('; ')}`);
    const s = await runState(state.runId, 300);
    if (s !== 'success') throw new Error(`run ${state.runId} ended ${s}:\n${ns('get', 'events', '--sort-by=.lastTimestamp').slice(-3000)}`);
    return `pod ${pod.metadata.name}; run ${state.runId}: success`;
  } },
  { name: 'the task\'s log readable through the REST API after its pod is gone', timeoutSeconds: 180, async run() {
    await waitFor('the task pod to be deleted', 120, () => kubectlJson('-n', NS, 'get', 'pods', '-l', `dag_id=${DAG_ID}`).items.length === 0 || undefined, 2000);
    const tis = api('GET', `/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(state.runId!)}/taskInstances`).json.task_instances;
    const ti = tis[0];
    const log = api('GET', `/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(state.runId!)}/taskInstances/${ti.task_id}/logs/${ti.try_number}?full_content=true`);
    const text = JSON.stringify(log.json ?? log.text);
    if (log.status !== 200 || !/Done\. Returned value was/.test(text)) throw new Error(`log of ${ti.task_id}: ${log.status} ${text.slice(0, 1500)}`);
    return `${text.length} characters of log`;
  } },
  { name: 'the statsd_exporter serves the scheduler\'s heartbeat and the task pod\'s ti.finish, labelled by the mapping', timeoutSeconds: 120, async run() {
    // StatsD over UDP from the scheduler and from the task pod (its task runner sends ti.finish) to the Service
    const svc = kubectlJson('-n', NS, 'get', 'service', 'airflow-statsd');
    const port = svc.spec.ports.find((p: any) => p.name === 'metrics').port;
    const url = `http://${svc.spec.clusterIP}:${port}/metrics`;
    const finish = new RegExp(`^airflow_ti_finish\\{dag_id="${DAG_ID}",state="success",task_id="[^"]+"\\} [1-9]`, 'm');
    return waitFor('airflow_scheduler_heartbeat and airflow_ti_finish', 90, () => {
      const r = sh('curl', ['-sS', '-m', '10', url]);
      if (r.status !== 0) throw new Error(`GET ${url}: curl exit ${r.status}: ${r.stderr.trim()}`);
      const heartbeat = /^airflow_scheduler_heartbeat ([0-9.e+]+)$/m.exec(r.stdout);
      const ti = finish.exec(r.stdout);
      return heartbeat && Number(heartbeat[1]) > 0 && ti ? `${heartbeat[0]}; ${ti[0]}` : undefined;
    }, 5000);
  } },
  { name: 'a deferred task: its trigger runs in the triggerer, and its trigger log is read through the REST API after its pods are gone', timeoutSeconds: 600, async run() {
    // TimeDeltaSensor(deferrable=True, 30 s): the task defers, the triggerer fires, a second pod finishes it
    const dagId = 'example_time_delta_sensor_async';
    const p = api('PATCH', `/api/v2/dags/${dagId}`, { is_paused: false });
    if (p.status !== 200) throw new Error(`unpause ${dagId}: ${p.status} ${p.text}`);
    const runId = await runDag(dagId);
    const s = await runState(runId, 420, dagId);
    if (s !== 'success') throw new Error(`run ${runId} of ${dagId} ended ${s}`);
    await waitFor(`${dagId}'s task pods to be deleted`, 180, () => kubectlJson('-n', NS, 'get', 'pods', '-l', `dag_id=${dagId}`).items.length === 0 || undefined, 2000);
    const log = api('GET', `/api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(runId)}/taskInstances/wait/logs/1?full_content=true`);
    const text = JSON.stringify(log.json ?? log.text);
    // DateTimeTrigger's own lines (providers/standard/triggers/temporal.py), written by the triggerer
    if (log.status !== 200 || !/trigger starting/.test(text) || !/yielding event with payload/.test(text)) {
      throw new Error(`log of ${dagId}.wait: ${log.status} ${text.slice(0, 3000)}`);
    }
    return `run ${runId}: success; the wait task's log has the trigger's lines (${text.length} characters)`;
  } },
  { name: 'no liveness probe has failed and no container restarted before the deliberate disruptions', timeoutSeconds: 60, async run() {
    // The exec probes run through the image's /entrypoint; a failing one shows as an Unhealthy event long before
    // the restart it leads to (5 failures, 60 s apart). Checked before the checks that delete the scheduler and
    // PostgreSQL pods: while the database is gone a probe may fail once, as it should.
    // each failure with how often and when it came (seconds after its pod started), to tell a slow start
    // from a stalled heartbeat
    const pods = kubectlJson('-n', NS, 'get', 'pods').items;
    const started = (pod: string) => Date.parse(pods.find((p: any) => p.metadata.name === pod)?.status.startTime ?? '');
    const unhealthy = kubectlJson('-n', NS, 'get', 'events', '--field-selector', 'reason=Unhealthy').items
      .filter((e: any) => /^Liveness probe failed/.test(e.message ?? ''))
      .map((e: any) => `${e.involvedObject.name} (${e.involvedObject.fieldPath}): ${e.count ?? 1} time(s), ` +
        `${(Date.parse(e.firstTimestamp ?? e.eventTime) - started(e.involvedObject.name)) / 1000} s to ` +
        `${(Date.parse(e.lastTimestamp ?? e.eventTime) - started(e.involvedObject.name)) / 1000} s after the pod started: ${e.message.trim()}`);
    if (unhealthy.length) throw new Error(`liveness probes failed:\n${unhealthy.join('\n').slice(0, 3000)}`);
    const restarted = kubectlJson('-n', NS, 'get', 'pods').items.flatMap((p: any) => (p.status.containerStatuses ?? [])
      .filter((c: any) => c.restartCount > 0).map((c: any) => `${p.metadata.name}/${c.name}: ${c.restartCount}`));
    if (restarted.length) throw new Error(`restarted: ${restarted.join(', ')}`);
    const probed = kubectlJson('-n', NS, 'get', 'pods').items.filter((p: any) => p.spec.containers.some((c: any) => c.livenessProbe?.exec)).length;
    return `${probed} running pods with exec liveness probes, none failed, no restart`;
  } },
  { name: 'the scheduler pod deleted while a second run\'s task pod exists; that run still succeeds, no task pod is left', timeoutSeconds: 600, async run() {
    const runId = await runDag();
    // The new scheduler must adopt the task pod the old one launched (its airflow-worker label names the old job).
    const taskPod = await waitFor(`a task pod of run ${runId}`, 180, () => kubectlJson('-n', NS, 'get', 'pods', '-l', `dag_id=${DAG_ID}`).items
      .find((p: any) => p.metadata.annotations?.run_id === runId), 500);
    const pod = kubectlJson('-n', NS, 'get', 'pods', '-l', component('scheduler')).items[0];
    ns('delete', 'pod', pod.metadata.name, '--wait=false');
    const s = await runState(runId, 540);
    if (s !== 'success') throw new Error(`run ${runId} ended ${s}`);
    // A task pod that finished while no scheduler watched it is not deleted by the executor (found by this
    // run); the CronJob <instance>-cleanup-pods deletes it once it has been done for SUCCEEDED_AFTER_SECONDS.
    const cron = objects.find(o => o.kind === 'CronJob' && o.metadata.labels['app.kubernetes.io/component'] === 'cleanup-pods');
    const after = Number(cron.spec.jobTemplate.spec.template.spec.containers[0].env.find((e: any) => e.name === 'SUCCEEDED_AFTER_SECONDS').value);
    const left = kubectlJson('-n', NS, 'get', 'pods', '-l', 'kubernetes_executor=True').items;
    let cleaned = 'none left by the executor';
    if (left.length) {
      await new Promise(r => setTimeout(r, (after + 5) * 1000));
      ns('create', 'job', '--from', `cronjob/${cron.metadata.name}`, 'cleanup-now');
      kubectl('-n', NS, 'wait', '--for=condition=complete', 'job/cleanup-now', '--timeout=120s');
      cleaned = `${left.length} left by the executor, deleted by ${cron.metadata.name}`;
    }
    const remaining = kubectlJson('-n', NS, 'get', 'pods', '-l', 'kubernetes_executor=True').items.map((p: any) => `${p.metadata.name} (${p.status.phase})`);
    if (remaining.length) throw new Error(`task pods left behind: ${remaining.join(', ')}`);
    return `deleted ${pod.metadata.name} while ${taskPod.metadata.name} existed; run ${runId}: success; task pods: ${cleaned}`;
  } },
  { name: 'the PostgreSQL pod deleted; the earlier runs are still there when it is back', timeoutSeconds: 600, async run() {
    ns('delete', 'pod', 'airflow-postgresql-0', '--wait=true', '--timeout=120s');
    kubectl('-n', NS, 'rollout', 'status', 'statefulset/airflow-postgresql', '--timeout=300s');
    const runs = await waitFor('the DAG runs through the API', 300, () => {
      const r = api('GET', `/api/v2/dags/${DAG_ID}/dagRuns`);
      return r.status === 200 && r.json.total_entries >= 2 ? r.json : undefined;
    }, 5000);
    return `${runs.total_entries} runs: ${runs.dag_runs.map((r: any) => r.state).join(', ')}`;
  } },
  { name: 'a backup Job from the CronJob; a DAG run deleted after it; the README\'s restore procedure brings it back', timeoutSeconds: 1500, async run() {
    const cron = objects.find(o => o.kind === 'CronJob' && o.metadata.labels?.['app.kubernetes.io/component'] === 'postgresql-backup');
    if (!cron) throw new Error(`${DIST} has no CronJob of component postgresql-backup (npm run synth)`);
    const before = dagRuns();
    if (before.length < 2) throw new Error(`expected the earlier runs, found ${before.join(', ') || 'none'}`);
    ns('create', 'job', `--from=cronjob/${cron.metadata.name}`, 'e2e-backup');
    // Complete, or Failed at once with its pods' logs (rather than waiting out the timeout).
    const done = await waitFor('the backup Job to finish', 300, () => {
      const types = (kubectlJson('-n', NS, 'get', 'job', 'e2e-backup').status.conditions ?? []).filter((c: any) => c.status === 'True').map((c: any) => c.type);
      return types.includes('Complete') ? 'Complete' : types.includes('Failed') ? 'Failed' : undefined;
    }, 2000);
    if (done === 'Failed') {
      const logs = kubectlJson('-n', NS, 'get', 'pods', '-l', 'job-name=e2e-backup').items
        .map((p: any) => `${p.metadata.name}: ${sh(kubectlBin(), ['-n', NS, 'logs', p.metadata.name, '-c', 'backup']).stdout.trim()}`);
      throw new Error(`the backup Job failed:\n${logs.join('\n').slice(-3000)}`);
    }
    const backupLog = ns('logs', 'job/e2e-backup', '-c', 'backup');
    const dump = /^wrote (\S+\.dump):/m.exec(backupLog)?.[1];
    if (!dump) throw new Error(`the backup Job's log names no dump:\n${backupLog}`);
    // A change after the backup that the restore must undo.
    const victim = before[0].slice(0, before[0].lastIndexOf(': '));
    const del = api('DELETE', `/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(victim)}`);
    if (del.status !== 204) throw new Error(`DELETE dagRun ${victim}: ${del.status} ${del.text}`);
    if (dagRuns().length !== before.length - 1) throw new Error(`run ${victim} not deleted: ${dagRuns().join(', ')}`);
    // The README's commands, as a reader copies them (DUMP=latest: the dump just made).
    const procedure = restoreProcedure();
    if (!new RegExp(`^NS=${NS}\\b`, 'm').test(procedure) || !/^DUMP=latest\b/m.test(procedure)) throw new Error(`the README's procedure does not start with NS=${NS} and DUMP=latest`);
    const out = must('bash', ['-euo', 'pipefail', '-c', procedure], { env: { PATH: `${dirname(kubectlBin())}:${process.env.PATH}` }, timeoutSeconds: 1200 });
    if (!out.includes(`restored ${dump}`)) throw new Error(`the restore Job did not restore ${dump} (a scheduled backup in between?):\n${out.slice(-3000)}`);
    login();
    await waitFor('all components healthy after the restore', 300, () => {
      const h = api('GET', '/api/v2/monitor/health').json;
      return h && Object.values(h).every((v: any) => v?.status === 'healthy') ? true : undefined;
    }, 5000);
    const after = dagRuns();
    if (after.join('\n') !== before.join('\n')) throw new Error(`DAG runs before the backup: ${before.join(', ')}; after the restore: ${after.join(', ')}`);
    return `${dump}; run ${victim} deleted and restored; ${after.length} runs as before: ${after.join(', ')}`;
  } },
  { name: 'kubectl apply again changes nothing (kubectl diff is empty)', timeoutSeconds: 120, async run() {
    const r = sh(kubectlBin(), ['diff', '-f', DIST]);
    if (r.status !== 0) throw new Error(`kubectl diff exit ${r.status}:\n${(r.stdout + r.stderr).slice(0, 3000)}`);
    return 'no difference';
  } },
];

function teardown(): boolean {
  deadline = Infinity;
  sh('bash', [join(E2E, 'images', 'git-server.sh'), 'stop'], { timeoutSeconds: 60 });
  const down = sh('bash', [join(E2E, 'cluster.sh'), 'down'], { timeoutSeconds: 300 });
  if (down.status !== 0) console.log(`e2e: teardown failed (cluster.sh down exit ${down.status}):\n${(down.stdout + down.stderr).slice(-2000)}`);
  return down.status === 0;
}

async function main(): Promise<number> {
  const keep = process.argv.includes('--keep');
  let passed = 0;
  // A run starts from nothing: what an earlier (kept or killed) run left would make its checks pass trivially.
  if (!teardown()) return 1;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { teardown(); process.exit(130); });
  let tornDown = true;
  try {
    for (const [i, check] of checks.entries()) {
      const t0 = Date.now();
      deadline = t0 + check.timeoutSeconds * 1000;
      try {
        const detail = await Promise.race([
          check.run(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${check.timeoutSeconds} s`)), check.timeoutSeconds * 1000).unref()),
        ]);
        passed++;
        console.log(`e2e: [${i + 1}/${checks.length}] ok   ${check.name} (${Math.round((Date.now() - t0) / 1000)} s)${detail ? `: ${detail}` : ''}`);
      } catch (e) {
        console.log(`e2e: [${i + 1}/${checks.length}] FAIL ${check.name} (${Math.round((Date.now() - t0) / 1000)} s): ${e instanceof Error ? e.message : e}`);
        break;
      }
    }
  } finally {
    if (!keep) tornDown = teardown();
  }
  console.log(`e2e: ${passed}/${checks.length} checks passed in ${Math.round((Date.now() - started) / 1000)} s`);
  return passed === checks.length && tornDown ? 0 : 1;
}

main().then(code => process.exit(code), e => { console.error(e); process.exit(2); });
