// Runs the containers of a pod spec the way a kubelet would, without a container runtime: each
// container's process in a bubblewrap sandbox on the test host's network namespace, with
//   - a read-only root file system (the host's /usr, /etc, ... read-only; no /opt, /home or /tmp of the
//     host), writable only where the pod's volumes are mounted: emptyDir, configMap, secret (with items
//     and subPath), and the service account token when the pod mounts one;
//   - the pod's user and group (runAsUser/runAsGroup, fsGroup as a supplementary group);
//   - env and envFrom resolved from the manifests' Secrets and ConfigMaps, plus what a kubelet adds
//     (HOSTNAME, KUBERNETES_SERVICE_HOST/PORT);
//   - the pod name as host name, and the test host's /etc/hosts (Service names on loopback).
// An image is stood in for by an ImageRuntime: the environment its Dockerfile sets, its users, and the
// program its entrypoint runs. Probes run the manifest's exact exec command in a fresh sandbox of the
// same container, its httpGet against the container's port, or its tcpSocket connection.
import { execFileSync } from 'child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, readFileSync, statSync, writeFileSync } from 'fs';
import { dirname, join, posix } from 'path';
import { Process, RunResult, TestHost, waitFor } from './host';

/** What an image contributes to a container: ENV, USER, WORKDIR, /etc/passwd lines and its entrypoint. */
export interface ImageRuntime {
  readonly env: Record<string, string>;
  readonly user: { uid: number; gid: number };
  readonly workingDir: string;
  /** Extra /etc/passwd lines (the image's users). */
  readonly passwd: string[];
  /** Directories the image has (empty, read-only) that the host lacks, such as HOME. */
  readonly dirs: string[];
  /** Host files or folders the image carries, bound read-only: [host path, path in the container]. */
  readonly files?: [string, string][];
  /** The argv the container runs, from its `command` and `args` (Kubernetes' rules: command replaces the ENTRYPOINT). */
  argv(command: string[] | undefined, args: string[] | undefined): string[];
}

/** Where the pod's Secrets and ConfigMaps come from. */
export interface PodSources {
  secret(name: string): Record<string, string> | undefined;
  configMap(name: string): Record<string, string> | undefined;
  /** The folder that holds a PersistentVolumeClaim's data (the same for every pod that mounts it). */
  persistentVolume?(claimName: string): string;
  /** A token and CA for the pod's ServiceAccount, when the pod mounts one. */
  serviceAccountToken?(serviceAccount: string): { token: string; ca: string };
  /** The image that stands in for a container's image. */
  image(image: string): ImageRuntime;
}

const HIDDEN_TOP_LEVEL = new Set(['proc', 'dev', 'sys', 'tmp', 'run', 'home', 'root', 'opt', 'mnt', 'media', 'srv', 'boot', 'lost+found']);
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Mount { readonly source: string; readonly target: string; readonly readOnly: boolean }

export class SandboxPod {
  public readonly dir: string;
  private readonly volumes = new Map<string, string>();
  private readonly processes = new Map<string, Process>();

  constructor(
    private readonly host: TestHost,
    public readonly name: string,
    public readonly namespace: string,
    public readonly spec: any,
    private readonly sources: PodSources,
  ) {
    mkdirSync(join(host.dir, 'pods'), { recursive: true });
    this.dir = mkdtempSync(join(host.dir, 'pods', `${namespace}-${name}-`)); // each pod its own emptyDirs
    host.addHostNames(name);
    for (const v of spec.volumes ?? []) this.volumes.set(v.name, this.materialize(v));
    if (this.mountsToken) this.volumes.set('kube-api-access', this.serviceAccountVolume());
  }

  /** The volume's folder on the host (emptyDir contents are inspected and seeded through it). */
  public volume(name: string): string {
    const dir = this.volumes.get(name);
    if (!dir) throw new Error(`pod ${this.name} has no volume ${name}`);
    return dir;
  }

  public container(name: string): any {
    const c = [...(this.spec.initContainers ?? []), ...this.spec.containers].find((x: any) => x.name === name);
    if (!c) throw new Error(`pod ${this.name} has no container ${name}`);
    return c;
  }

  private get mountsToken(): boolean {
    return this.spec.automountServiceAccountToken !== false;
  }

  private materialize(v: any): string {
    if (v.persistentVolumeClaim) return this.claim(v.persistentVolumeClaim.claimName);
    const dir = join(this.dir, 'volumes', v.name);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777); // as the kubelet makes an emptyDir (mkdir's mode would be cut by the umask)
    const files = (data: Record<string, string> | undefined, items: any[] | undefined, what: string, optional: boolean) => {
      if (!data) {
        if (optional) return;
        throw new Error(`pod ${this.name}: volume ${v.name} needs ${what}, which does not exist`);
      }
      const entries: [string, string][] = items
        ? items.map((i: any) => {
          if (!(i.key in data)) throw new Error(`pod ${this.name}: volume ${v.name}: ${what} has no key ${i.key}`);
          return [i.path, data[i.key]];
        })
        : Object.entries(data);
      for (const [path, content] of entries) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content, { mode: 0o644 });
      }
    };
    if (v.emptyDir) { /* an empty folder, mode 0777 as the kubelet makes it */ }
    else if (v.configMap) files(this.sources.configMap(v.configMap.name), v.configMap.items, `ConfigMap ${v.configMap.name}`, !!v.configMap.optional);
    else if (v.secret) files(this.sources.secret(v.secret.secretName), v.secret.items, `Secret ${v.secret.secretName}`, !!v.secret.optional);
    else throw new Error(`pod ${this.name}: volume ${v.name}: only emptyDir, configMap, secret and persistentVolumeClaim volumes are supported here`);
    return dir;
  }

  /**
   * A claim's own folder, which outlives the pod; with fsGroup, owned by that group and setgid, as the
   * kubelet makes it (fsGroupChangePolicy: OnRootMismatch).
   */
  private claim(claimName: string): string {
    if (!this.sources.persistentVolume) throw new Error(`pod ${this.name}: claim ${claimName}, but this test gives no persistent volumes`);
    const data = this.sources.persistentVolume(claimName);
    const fsGroup = this.spec.securityContext?.fsGroup;
    if (fsGroup !== undefined && statSync(data).gid !== fsGroup) {
      execFileSync('chown', ['-R', `:${fsGroup}`, data]);
      execFileSync('chmod', ['-R', 'g+rwX', data]);
      execFileSync('find', [data, '-type', 'd', '-exec', 'chmod', 'g+s', '{}', '+']);
    }
    return data;
  }

  private serviceAccountVolume(): string {
    const dir = join(this.dir, 'volumes', 'kube-api-access');
    mkdirSync(dir, { recursive: true });
    const sa = this.spec.serviceAccountName ?? 'default';
    if (!this.sources.serviceAccountToken) throw new Error(`pod ${this.name} mounts a token for ${sa}, but this test gives none`);
    const { token, ca } = this.sources.serviceAccountToken(sa);
    writeFileSync(join(dir, 'token'), token, { mode: 0o644 });
    writeFileSync(join(dir, 'ca.crt'), ca, { mode: 0o644 });
    writeFileSync(join(dir, 'namespace'), this.namespace, { mode: 0o644 });
    return dir;
  }

  /** The container's environment, resolved as the kubelet resolves it. */
  public env(container: any): Record<string, string> {
    const image = this.sources.image(container.image);
    const env: Record<string, string> = { ...image.env, HOSTNAME: this.name };
    for (const from of container.envFrom ?? []) {
      const src = from.secretRef ? this.sources.secret(from.secretRef.name) : this.sources.configMap(from.configMapRef.name);
      if (!src && !(from.secretRef ?? from.configMapRef).optional) throw new Error(`pod ${this.name}: envFrom ${(from.secretRef ?? from.configMapRef).name} does not exist`);
      for (const [k, val] of Object.entries(src ?? {})) env[(from.prefix ?? '') + k] = val;
    }
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = expand(e.value, env);
      else if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef;
        const data = e.valueFrom.secretKeyRef ? this.sources.secret(ref.name) : this.sources.configMap(ref.name);
        const value = data?.[ref.key];
        if (value === undefined) {
          if (ref.optional) continue;
          throw new Error(`pod ${this.name}: env ${e.name} needs key ${ref.key} of ${e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap'} ${ref.name}, which does not exist (CreateContainerConfigError)`);
        }
        env[e.name] = value;
      } else if (e.valueFrom?.fieldRef) {
        const field = e.valueFrom.fieldRef.fieldPath;
        env[e.name] = ({ 'metadata.name': this.name, 'metadata.namespace': this.namespace, 'status.podIP': '127.0.0.1', 'spec.nodeName': 'test-node' } as Record<string, string>)[field] ?? '';
      } else env[e.name] = '';
    }
    // The kubelet adds the API server's address to every container, whatever enableServiceLinks says.
    env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    env.KUBERNETES_SERVICE_PORT = '6443';
    return env;
  }

  private mounts(container: any): Mount[] {
    const mounts: Mount[] = (container.volumeMounts ?? []).map((m: any) => ({
      source: m.subPath ? join(this.volume(m.name), m.subPath) : this.volume(m.name),
      target: m.mountPath,
      readOnly: !!m.readOnly,
    }));
    if (this.mountsToken && !mounts.some(m => m.target === SA_DIR)) mounts.push({ source: this.volume('kube-api-access'), target: SA_DIR, readOnly: true });
    for (const m of mounts) if (!existsSync(m.source)) throw new Error(`pod ${this.name}: ${container.name} mounts ${m.target} from ${m.source}, which does not exist`);
    return mounts.map(m => ({ ...m, target: m.target.replace(/^\/var\/run\//, '/run/') }));
  }

  /** The bwrap argv that runs `argv` as this container. */
  public sandboxArgv(container: any, argv: string[], extraEnv: Record<string, string> = {}): string[] {
    const image = this.sources.image(container.image);
    const podSc = this.spec.securityContext ?? {};
    const sc = container.securityContext ?? {};
    const uid = sc.runAsUser ?? podSc.runAsUser ?? image.user.uid;
    const gid = sc.runAsGroup ?? podSc.runAsGroup ?? image.user.gid;
    const groups = [podSc.fsGroup, ...(podSc.supplementalGroups ?? [])].filter((g: unknown) => g !== undefined);
    const mounts = this.mounts(container).sort((a, b) => a.target.split('/').length - b.target.split('/').length);
    const env = { ...this.env(container), ...extraEnv };

    const passwd = join(this.dir, 'passwd');
    writeFileSync(passwd, readFileSync('/etc/passwd', 'utf8') + image.passwd.map(l => l + '\n').join(''), { mode: 0o644 });

    const args = ['bwrap', '--die-with-parent', '--unshare-pid', '--unshare-uts', '--hostname', this.name, '--tmpfs', '/'];
    const created = new Set<string>(['/']);
    // Host folders that hold a mount point the host lacks are rebuilt entry by entry; the rest is bound whole.
    const missing = [...mounts.map(m => m.target), ...image.dirs]
      .filter(t => !HIDDEN_TOP_LEVEL.has(t.split('/')[1]) && !existsSync(t));
    args.push(...layout('/', missing, created));
    args.push('--proc', '/proc', '--dev', '/dev', '--ro-bind', this.host.hostsFile, '/etc/hosts', '--ro-bind', passwd, '/etc/passwd');
    for (const d of ['/tmp', ...image.dirs]) args.push(...mkdirs(d, created));
    for (const [source, target] of image.files ?? []) args.push(...mkdirs(posix.dirname(target), created), '--ro-bind', source, target);
    for (const m of mounts) {
      args.push(...mkdirs(posix.dirname(m.target), created));
      args.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target);
    }
    args.push('--remount-ro', '/', '--chdir', container.workingDir ?? image.workingDir, '--clearenv');
    for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
    args.push('--', 'setpriv', `--reuid=${uid}`, `--regid=${gid}`, groups.length ? `--groups=${groups.join(',')}` : '--clear-groups', ...argv);
    return args;
  }

  /** The argv the container runs (its image's entrypoint rules applied). */
  public containerArgv(container: any): string[] {
    return this.sources.image(container.image).argv(container.command, container.args);
  }

  /** Runs a container to completion (an init container, a Job's container); throws when it fails. */
  public runToCompletion(name: string, timeoutSeconds: number): RunResult {
    const c = this.container(name);
    const r = this.host.inNetns(this.sandboxArgv(c, this.containerArgv(c)), { timeout: timeoutSeconds * 1000 });
    if (r.status !== 0) throw new Error(`pod ${this.name}: container ${name} exited ${r.status}:\n${(r.stdout + r.stderr).slice(-6000)}`);
    return r;
  }

  /** Runs the pod's init containers in order, each to completion. */
  public runInitContainers(timeoutSeconds = 180): RunResult[] {
    return (this.spec.initContainers ?? []).map((c: any) => this.runToCompletion(c.name, timeoutSeconds));
  }

  /** Starts a long-running container, with `extraEnv` over its environment (what a test stands in for, e.g. a CA bundle). */
  public start(name: string, extraEnv: Record<string, string> = {}): Process {
    const c = this.container(name);
    const p = this.host.start(`${this.name}/${name}`, this.sandboxArgv(c, this.containerArgv(c), extraEnv));
    this.processes.set(name, p);
    return p;
  }

  /** What every container started in this pod has printed so far. */
  public outputs(): string[] {
    return [...this.processes.values()].map(p => p.output);
  }

  public process(name: string): Process {
    const p = this.processes.get(name);
    if (!p) throw new Error(`container ${name} of pod ${this.name} was not started`);
    return p;
  }

  /** Runs a command in the container's sandbox (a fresh one: same mounts, env, user and host name), as `kubectl exec` would. */
  public exec(name: string, command: string[], timeoutSeconds = 60, extraEnv: Record<string, string> = {}): RunResult {
    return this.host.inNetns(this.sandboxArgv(this.container(name), command, extraEnv), { timeout: timeoutSeconds * 1000 });
  }

  /** Runs one of the container's probes once: true when it passes. */
  public probe(name: string, kind: 'startupProbe' | 'readinessProbe' | 'livenessProbe'): { passed: boolean; detail: string } {
    const c = this.container(name);
    const probe = c[kind];
    if (!probe) throw new Error(`container ${name} of pod ${this.name} has no ${kind}`);
    const timeout = probe.timeoutSeconds ?? 1;
    if (probe.exec) {
      const r = this.exec(name, probe.exec.command, timeout);
      return { passed: r.status === 0, detail: `exec ${probe.exec.command.join(' ')}: exit ${r.status}\n${(r.stdout + r.stderr).slice(-3000)}` };
    }
    if (probe.httpGet) {
      const url = `http://127.0.0.1:${this.port(c, probe.httpGet.port)}${probe.httpGet.path ?? '/'}`;
      try {
        const r = this.host.httpGet(url);
        return { passed: r.status >= 200 && r.status < 400, detail: `GET ${url}: ${r.status} ${r.body.slice(0, 500)}` };
      } catch (e) {
        return { passed: false, detail: e instanceof Error ? e.message : String(e) };
      }
    }
    if (probe.tcpSocket) {
      // the kubelet's TCP check: a connection is opened (here from inside the pods' network namespace)
      const port = this.port(c, probe.tcpSocket.port);
      const r = this.host.inNetns(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeout: timeout * 1000 });
      return { passed: r.status === 0, detail: `TCP 127.0.0.1:${port}: exit ${r.status} ${r.stderr.slice(-500)}` };
    }
    throw new Error(`container ${name}: ${kind} is neither exec, httpGet nor tcpSocket`);
  }

  /** Waits until a probe passes, as the kubelet would (failing when the container exits). */
  public async waitForProbe(name: string, kind: 'startupProbe' | 'readinessProbe' | 'livenessProbe', timeoutSeconds: number): Promise<string> {
    let detail = '';
    return waitFor(`${kind} of ${this.name}/${name}`, timeoutSeconds, () => {
      const p = this.processes.get(name);
      if (p && !p.running) throw new Error(`container exited:\n${p.output.slice(-6000)}`);
      const r = this.probe(name, kind);
      detail = r.detail;
      if (!r.passed) throw new Error(detail);
      return detail;
    }, 2000);
  }

  /** A port of the container, by number or by name. */
  public port(container: any, port: number | string): number {
    if (typeof port === 'number') return port;
    const p = (container.ports ?? []).find((x: any) => x.name === port);
    if (!p) throw new Error(`container ${container.name} has no port named ${port}`);
    return p.containerPort;
  }

  public async stop(): Promise<void> {
    for (const p of this.processes.values()) await p.stop(30);
  }
}

/** `$(VAR)` references in an env value, expanded as the kubelet does. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => m === '$$' ? '$' : (env[name] ?? m));
}

/** bwrap arguments that rebuild the host's tree below `dir` read-only, leaving room for `targets`. */
function layout(dir: string, targets: string[], created: Set<string>): string[] {
  const inside = targets.filter(t => t.startsWith(dir === '/' ? '/' : dir + '/'));
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = posix.join(dir, entry);
    if (dir === '/' && HIDDEN_TOP_LEVEL.has(entry)) continue;
    const st = lstatSync(path);
    if (st.isSymbolicLink()) { out.push('--symlink', readlinkSync(path), path); continue; }
    if (!st.isDirectory()) { if (!inside.includes(path)) out.push('--ro-bind', path, path); continue; }
    if (inside.some(t => t.startsWith(path + '/'))) {
      out.push('--dir', path);
      created.add(path);
      out.push(...layout(path, inside, created));
    } else if (!inside.includes(path)) out.push('--ro-bind', path, path);
  }
  return out;
}

/** --dir for each missing folder of `path` on the sandbox's own root. */
function mkdirs(path: string, created: Set<string>): string[] {
  const out: string[] = [];
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = '/' + parts.slice(0, i).join('/');
    if (!created.has(p)) { out.push('--dir', p); created.add(p); }
  }
  return out;
}
