// A private test host for the integration tests: one network namespace of its own (nothing it starts
// listens outside it), an /etc/hosts that sends the installation's Service names to its loopback, and
// the servers the manifests expect around them: PostgreSQL from Debian, etcd and a kube-apiserver built
// from the Go module proxy. Everything it starts is stopped by stop().
import { ChildProcess, execFileSync, spawn, spawnSync, SpawnSyncOptions } from 'child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

export const REPO = join(__dirname, '..', '..');

/** Runs setup.sh (installs what is missing, quick when all is there) and returns the cache folder. */
export function setup(): string {
  const r = spawnSync(join(REPO, 'scripts', 'integration', 'setup.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/integration/setup.sh failed (exit ${r.status}): see its output above`);
  return r.stdout.trim().split('\n').pop()!;
}

export interface RunResult { readonly status: number | null; readonly stdout: string; readonly stderr: string }

/** A long-running process of the host and the output it has written so far. */
export class Process {
  public output = '';
  public exited: Promise<number | null>;
  constructor(public readonly name: string, public readonly child: ChildProcess) {
    child.stdout?.on('data', d => { this.output += d; });
    child.stderr?.on('data', d => { this.output += d; });
    this.exited = new Promise(resolve => child.on('exit', code => resolve(code)));
  }

  public get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  /** SIGTERM to the process group, then SIGKILL after `graceSeconds`. */
  public async stop(graceSeconds = 10): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    const signal = (s: NodeJS.Signals) => { try { process.kill(-this.child.pid!, s); } catch { /* gone */ } };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), graceSeconds * 1000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Waits until `probe` returns a value (not undefined), polling; throws `what` with the last reason on timeout. */
export async function waitFor<T>(what: string, timeoutSeconds: number, probe: () => T | undefined | Promise<T | undefined>, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutSeconds} s waiting for ${what}${last ? `: ${last instanceof Error ? last.message : last}` : ''}`);
    await new Promise(r => setTimeout(r, intervalMs));
  }
}

export class TestHost {
  public readonly dir: string;
  public readonly netns: string;
  public readonly hostsFile: string;
  private readonly hostNames = new Set<string>(['localhost']);
  private readonly processes: Process[] = [];
  private kubeconfigPath?: string;

  constructor(public readonly cache: string, label: string) {
    this.dir = mkdtempSync(join(tmpdir(), `cdk8s-airflow-${label}-`));
    chmodSync(this.dir, 0o755);
    this.netns = `cdk8s-airflow-${label}-${process.pid}`;
    execFileSync('ip', ['netns', 'add', this.netns]);
    this.inNetns(['ip', 'link', 'set', 'lo', 'up']);
    this.hostsFile = join(this.dir, 'hosts');
    this.writeHosts();
  }

  /** Makes these names resolve to this host's loopback in every sandbox (Service DNS names, a database host). */
  public addHostNames(...names: string[]): void {
    names.forEach(n => this.hostNames.add(n));
    this.writeHosts();
  }

  private writeHosts(): void {
    writeFileSync(this.hostsFile, `127.0.0.1\t${[...this.hostNames].join(' ')}\n::1\tip6-localhost ip6-loopback\n`);
    chmodSync(this.hostsFile, 0o644);
  }

  /** argv run inside the network namespace. */
  public netnsArgv(argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.netns, ...argv];
  }

  public inNetns(argv: string[], options: SpawnSyncOptions = {}): RunResult {
    const [cmd, ...args] = this.netnsArgv(argv);
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
    return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /** Starts a long-running process inside the network namespace, in its own process group. */
  public start(name: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Process {
    const [cmd, ...args] = this.netnsArgv(argv);
    const p = new Process(name, spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.processes.push(p);
    return p;
  }

  /** An HTTP GET from inside the namespace: status code and body. */
  public httpGet(url: string, headers: Record<string, string> = {}): { status: number; body: string } {
    return this.http(url, ['--get'], headers);
  }

  public httpPostJson(url: string, body: unknown, headers: Record<string, string> = {}): { status: number; body: string } {
    return this.http(url, ['-X', 'POST', '--data-binary', JSON.stringify(body)], { 'Content-Type': 'application/json', ...headers });
  }

  public httpPatchJson(url: string, body: unknown, headers: Record<string, string> = {}): { status: number; body: string } {
    return this.http(url, ['-X', 'PATCH', '--data-binary', JSON.stringify(body)], { 'Content-Type': 'application/json', ...headers });
  }

  private http(url: string, args: string[], headers: Record<string, string>): { status: number; body: string } {
    const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const r = this.inNetns(['curl', '-sS', '-m', '20', '-o', '-', '-w', '\n%{http_code}', ...h, ...args, url]);
    if (r.status !== 0) throw new Error(`${args.includes('-X') ? args[args.indexOf('-X') + 1] : 'GET'} ${url}: curl exit ${r.status}: ${r.stderr.trim()}`);
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }

  // --- PostgreSQL ------------------------------------------------------------------------------

  /**
   * The CA (PEM file) that signs the certificates of the TLS servers this host starts (PostgreSQL, an identity
   * provider): what a managed service's provider publishes as its CA bundle. Made on first use.
   */
  public get testCaFile(): string {
    const dir = join(this.dir, 'test-ca');
    if (!existsSync(join(dir, 'ca.crt'))) {
      mkdirSync(dir, { recursive: true });
      openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca',
        '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt')]);
    }
    return join(dir, 'ca.crt');
  }

  /** A server certificate signed by {@link testCaFile} for localhost, 127.0.0.1 and `names`: `<dir>/server.crt` and `<dir>/server.key`. */
  public serverCertificate(dir: string, names: string[] = []): { cert: string; key: string } {
    const ca = this.testCaFile;
    const p = (f: string) => join(dir, f);
    writeFileSync(p('server.ext'), `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', ...names.map(n => `DNS:${n}`)].join(',')}\n`);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${names[0] ?? 'localhost'}`, '-keyout', p('server.key'), '-out', p('server.csr')]);
    openssl(['x509', '-req', '-in', p('server.csr'), '-CA', ca, '-CAkey', ca.replace(/crt$/, 'key'), '-CAcreateserial',
      '-CAserial', p('ca.srl'), '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt')]);
    return { cert: p('server.crt'), key: p('server.key') };
  }

  /**
   * A PostgreSQL server from Debian's packages on 127.0.0.1:`port` with one superuser and database, as
   * the postgres image makes them from POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB; with TLS on, its
   * certificate signed by {@link testCaFile} for localhost, 127.0.0.1 and `serverNames`, so that
   * `sslmode=require` and `verify-full` (with that CA) work.
   */
  public async startPostgres(user: string, password: string, database: string, port = 5432, serverNames: string[] = []): Promise<Process> {
    const bin = postgresBin();
    const root = mkdtempSync(join(this.dir, `postgres-${port}-`));
    const pwfile = join(root, 'pwfile');
    writeFileSync(pwfile, password);
    const data = join(root, 'data');
    this.serverCertificate(root, serverNames);
    const { uid, gid } = userIds('postgres');
    for (const f of [root, pwfile, join(root, 'server.key'), join(root, 'server.crt')]) chownSync(f, uid, gid);
    chmodSync(join(root, 'server.key'), 0o600);
    const asPostgres = (argv: string[]) => ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', ...argv];
    const [initdb, ...initArgs] = asPostgres([join(bin, 'initdb'), '-D', data, '-U', user, `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8']);
    const init = spawnSync(initdb, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const server = this.start(`postgres:${port}`, asPostgres([join(bin, 'postgres'), '-D', data, '-k', root,
      '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', 'ssl=on',
      '-c', `ssl_cert_file=${join(root, 'server.crt')}`, '-c', `ssl_key_file=${join(root, 'server.key')}`]));
    await waitFor(`PostgreSQL on port ${port}`, 60, () => {
      if (!server.running) throw new Error(server.output);
      return this.inNetns([join(bin, 'pg_isready'), '-h', '127.0.0.1', '-p', String(port)]).status === 0 || undefined;
    }, 300);
    const create = this.inNetns(asPostgres([join(bin, 'psql'), '-h', root, '-p', String(port), '-U', user, '-d', 'postgres',
      '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE "${database}"`]));
    if (create.status !== 0 && !/already exists/.test(create.stderr)) throw new Error(`CREATE DATABASE failed: ${create.stderr}`);
    return server;
  }

  // --- Kubernetes API server -------------------------------------------------------------------

  /** kubeconfig of the cluster admin (a static token in group system:masters). */
  public get kubeconfig(): string {
    if (!this.kubeconfigPath) throw new Error('startKubeApiserver() first');
    return this.kubeconfigPath;
  }

  public get caFile(): string { return join(this.dir, 'pki', 'ca.crt'); }

  /**
   * etcd (Debian) and a kube-apiserver (built by setup.sh) on 127.0.0.1:6443, with RBAC and Node
   * authorization, the default admission plugins (PodSecurity among them) and service account tokens.
   * No controller-manager: what the tests need of it (default ServiceAccounts) they create themselves.
   */
  public async startKubeApiserver(): Promise<void> {
    const pki = join(this.dir, 'pki');
    mkdirSync(pki);
    const p = (f: string) => join(pki, f);
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-cluster-ca', '-keyout', p('ca.key'), '-out', p('ca.crt')]);
    writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n');
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', p('server.key'), '-out', p('server.csr')]);
    openssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt')]);
    openssl(['genrsa', '-out', p('sa.key'), '2048']);
    openssl(['rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub')]);
    const token = execFileSync('openssl', ['rand', '-hex', '24'], { encoding: 'utf8' }).trim();
    writeFileSync(p('tokens.csv'), `${token},cluster-admin,cluster-admin,"system:masters"\n`);
    chmodSync(p('tokens.csv'), 0o600);

    const etcd = this.start('etcd', ['etcd', '--name', 'test', '--data-dir', join(this.dir, 'etcd'),
      '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'test=http://127.0.0.1:2380', '--log-level', 'warn']);
    const bin = join(this.cache, 'kubernetes-' + KUBERNETES_VERSION, 'bin');
    const apiserver = this.start('kube-apiserver', [join(bin, 'kube-apiserver'),
      '--etcd-servers=http://127.0.0.1:2379', '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', '--secure-port=6443',
      `--tls-cert-file=${p('server.crt')}`, `--tls-private-key-file=${p('server.key')}`, `--client-ca-file=${p('ca.crt')}`,
      `--token-auth-file=${p('tokens.csv')}`, '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16', '--allow-privileged=false', '--v=0']);

    this.kubeconfigPath = join(this.dir, 'kubeconfig');
    writeFileSync(this.kubeconfigPath, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      'clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443", certificate-authority: "' + p('ca.crt') + '"}}]',
      'users: [{name: admin, user: {token: "' + token + '"}}]',
      'contexts: [{name: test, context: {cluster: test, user: admin}}]', ''].join('\n'));
    chmodSync(this.kubeconfigPath, 0o600);
    await waitFor('kube-apiserver /readyz', 120, () => {
      for (const proc of [etcd, apiserver]) if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.output.slice(-3000)}`);
      return this.kubectl(['get', '--raw', '/readyz']).status === 0 || undefined;
    });
  }

  /**
   * A kube-scheduler (built by setup.sh) against the kube-apiserver, with its default profile: it places the
   * pods the tests create on the Nodes they create (no kubelet runs them). Call startKubeApiserver() first.
   */
  public async startKubeScheduler(): Promise<void> {
    const bin = join(this.cache, 'kubernetes-' + KUBERNETES_VERSION, 'bin');
    const scheduler = this.start('kube-scheduler', [join(bin, 'kube-scheduler'), `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`, `--authorization-kubeconfig=${this.kubeconfig}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=10259', '--v=0']);
    await waitFor('kube-scheduler /readyz', 120, () => {
      if (!scheduler.running) throw new Error(`kube-scheduler exited:\n${scheduler.output.slice(-3000)}`);
      return this.inNetns(['curl', '-ksf', 'https://127.0.0.1:10259/readyz']).status === 0 || undefined;
    });
  }

  /**
   * A kube-controller-manager (built by setup.sh) against the kube-apiserver, running only `controllers` (its
   * names, e.g. `horizontal-pod-autoscaler-controller`), each sync period 1 s where a flag sets one. Call
   * startKubeApiserver() first.
   */
  public async startKubeControllerManager(controllers: string[]): Promise<void> {
    const bin = join(this.cache, 'kubernetes-' + KUBERNETES_VERSION, 'bin');
    const manager = this.start('kube-controller-manager', [join(bin, 'kube-controller-manager'), `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`, `--authorization-kubeconfig=${this.kubeconfig}`,
      `--controllers=${controllers.join(',')}`, '--horizontal-pod-autoscaler-sync-period=1s',
      // the quota controller recounts from its informers every 5 s, not every 5 min: a recount from an informer that
      // lagged behind a burst of pod creations (a loaded CI machine) otherwise stands until the next resync
      '--resource-quota-sync-period=5s',
      '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=10257', '--v=2']);
    await waitFor('kube-controller-manager /healthz', 120, () => {
      if (!manager.running) throw new Error(`kube-controller-manager exited:\n${manager.output.slice(-3000)}`);
      return this.inNetns(['curl', '-ksf', 'https://127.0.0.1:10257/healthz']).status === 0 || undefined;
    });
  }

  public kubectlBinary(): string { return join(this.cache, 'kubernetes-' + KUBERNETES_VERSION, 'bin', 'kubectl'); }

  /** kubectl as the cluster admin, inside the namespace; `input` goes to its stdin. */
  public kubectl(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): RunResult {
    return this.inNetns([this.kubectlBinary(), ...args], { input, env: { ...process.env, KUBECONFIG: this.kubeconfig, ...env } });
  }

  /** Like kubectl(), but throws with kubectl's message when it fails. */
  public kubectlOk(args: string[], input?: string): string {
    const r = this.kubectl(args, input);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Stops everything this host started and removes its namespace and files. */
  public async stop(): Promise<void> {
    for (const p of [...this.processes].reverse()) await p.stop();
    spawnSync('ip', ['netns', 'delete', this.netns]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The output of every process this host started, for a failing test's message. */
  public logs(): string {
    return this.processes.map(p => `--- ${p.name} (${p.running ? 'running' : 'exited'})\n${p.output.slice(-4000)}`).join('\n');
  }
}

/** The Kubernetes release scripts/integration/build-kubernetes.sh builds. */
export const KUBERNETES_VERSION = readFileSync(join(REPO, 'scripts', 'integration', 'build-kubernetes.sh'), 'utf8')
  .match(/KUBERNETES_VERSION:-(v[0-9.]+)/)![1];

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

function postgresBin(): string {
  const r = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'], { encoding: 'utf8' });
  const bin = r.stdout.trim();
  if (!bin) throw new Error('no PostgreSQL server under /usr/lib/postgresql: run scripts/integration/setup.sh');
  return bin;
}

/** uid and gid of a local user. */
export function userIds(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find(l => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user} in /etc/passwd`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
