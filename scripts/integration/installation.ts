// One environment of dist/ brought up on a TestHost the way a cluster would run it: its Secrets made by
// scripts/create-secrets.sh against the real kube-apiserver, its objects applied there, its database
// started from what the manifests say, and each workload's pod run by SandboxPod from the manifest as it
// is in dist/.
import { execFileSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'fs';
import { dirname, join } from 'path';
import { PROD_DATABASE_HOST } from '../../lib/environments';
import { STATSD_EXPORTER_VERSION } from '../../lib/metrics/statsd-exporter';
import { parseManifests } from '../manifests';
import { Process, REPO, RunResult, TestHost } from './host';
import { airflowImage, gitSyncImage, pgbouncerImage, postgresImage, statsdExporterImage } from './images';
import { ImageRuntime, PodSources, SandboxPod } from './sandbox';

/** The host of prod's external database: the preset's, which PgBouncer connects to (the Secret's URL points there too). */
export const EXTERNAL_DATABASE_HOST = PROD_DATABASE_HOST;

export class Installation implements PodSources {
  public readonly objects: any[];
  public readonly namespace: string;
  public readonly pods: SandboxPod[] = [];
  private readonly secrets = new Map<string, Record<string, string>>();
  private database?: Process;
  private readonly airflow: ImageRuntime;
  private readonly gitSync: ImageRuntime;

  /**
   * @param dagRepository a local Git repository standing in for every DAG repository the manifests name
   * @param firstSyncDelaySeconds how long a git-sync sidecar's first sync takes here (see gitSyncImage)
   */
  constructor(private readonly host: TestHost, public readonly tier: string, private readonly venv: string, dagRepository: string, firstSyncDelaySeconds = 0) {
    const file = join(REPO, 'dist', `${tier}.k8s.yaml`);
    this.objects = parseManifests(file, readFileSync(file, 'utf8')).map(m => m.object);
    this.namespace = this.objects.find(o => o.kind === 'Namespace').metadata.name;
    this.airflow = airflowImage(venv);
    const urls = new Set<string>(JSON.stringify(this.objects).match(/"name":"GITSYNC_REPO","value":"[^"]+"/g)?.map(m => JSON.parse(`{${m}}`).value) ?? []);
    // a commit id the manifests pin (prod) stands for the stand-in repository's HEAD, fetched by its own id
    const pinned = new Set<string>(JSON.stringify(this.objects).match(/"name":"GITSYNC_REF","value":"[0-9a-f]{40}"/g)?.map(m => JSON.parse(`{${m}}`).value) ?? []);
    const head = execFileSync('git', ['-C', dagRepository, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    this.gitSync = gitSyncImage(Object.fromEntries([...urls].map(u => [u, dagRepository])), firstSyncDelaySeconds,
      Object.fromEntries([...pinned].map(c => [c, head])));
    const services = this.objects.filter(o => o.kind === 'Service').map(o => o.metadata.name);
    // a Service by its bare name too: a pod's resolv.conf searches its own namespace first
    host.addHostNames(...services.flatMap(s => [s, `${s}.${this.namespace}`, `${s}.${this.namespace}.svc`, `${s}.${this.namespace}.svc.cluster.local`]), EXTERNAL_DATABASE_HOST);
  }

  public find(kind: string, name: string): any {
    const o = this.objects.find(x => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`${this.tier}: no ${kind} ${name} in dist/`);
    return o;
  }

  /** The Deployment, StatefulSet, Job or CronJob of a component (a Job's name has a hash after it). */
  public workload(component: string): any {
    const o = this.objects.find(x => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(x.kind) && x.metadata.labels?.['app.kubernetes.io/component'] === component);
    if (!o) throw new Error(`${this.tier}: no workload of component ${component} in dist/`);
    return o;
  }

  /** Whether dist/ has a workload of the component. */
  public has(component: string): boolean {
    return this.objects.some(x => ['Deployment', 'StatefulSet', 'Job', 'CronJob'].includes(x.kind) && x.metadata.labels?.['app.kubernetes.io/component'] === component);
  }

  /**
   * Runs scripts/create-secrets.sh for this environment against the test API server, with kubectl on PATH;
   * `env` adds to its environment (prod's AIRFLOW_DATABASE_URL).
   */
  public createSecrets(env: Record<string, string> = {}): RunResult {
    const r = this.host.inNetns(['bash', join(REPO, 'scripts', 'create-secrets.sh'), this.tier], {
      env: { ...process.env, KUBECONFIG: this.host.kubeconfig, PATH: `${dirname(this.host.kubectlBinary())}:${process.env.PATH}`, ...env },
    });
    this.secrets.clear();
    return r;
  }

  // PodSources: Secrets from the API server (what create-secrets.sh made), ConfigMaps from dist/ or, for those the
  // operator creates (prod's database CA), from the API server.
  public secret(name: string): Record<string, string> | undefined {
    if (!this.secrets.has(name)) {
      const r = this.host.kubectl(['-n', this.namespace, 'get', 'secret', name, '-o', 'json']);
      if (r.status !== 0) return undefined;
      const data: Record<string, string> = JSON.parse(r.stdout).data ?? {};
      this.secrets.set(name, Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])));
    }
    return this.secrets.get(name);
  }

  /** A claim of this environment's dist/, as a folder of the host that every pod mounting it shares. */
  public persistentVolume(claimName: string): string {
    this.find('PersistentVolumeClaim', claimName);
    const dir = join(this.host.dir, 'volumes', this.namespace, claimName);
    if (!existsSync(dir)) { mkdirSync(dir, { recursive: true }); chmodSync(dir, 0o755); }
    return dir;
  }

  public configMap(name: string): Record<string, string> | undefined {
    const own = this.objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === name);
    if (own) return own.data;
    const r = this.host.kubectl(['-n', this.namespace, 'get', 'configmap', name, '-o', 'json']);
    return r.status === 0 ? JSON.parse(r.stdout).data ?? {} : undefined;
  }

  public serviceAccountToken(serviceAccount: string): { token: string; ca: string } {
    const token = this.host.kubectlOk(['-n', this.namespace, 'create', 'token', serviceAccount, '--duration=2h']).trim();
    return { token, ca: readFileSync(this.host.caFile, 'utf8') };
  }

  public image(image: string): ImageRuntime {
    if (/^(docker\.io\/)?apache\/airflow:airflow-pgbouncer-/.test(image)) return pgbouncerImage(dirname(this.venv));
    if (/^(docker\.io\/)?apache\/airflow:/.test(image)) return this.airflow;
    if (/^(docker\.io\/)?(library\/)?postgres:/.test(image)) return postgresImage();
    if (/^registry\.k8s\.io\/git-sync\/git-sync:v4\./.test(image)) return this.gitSync;
    if (image === `prom/statsd-exporter:${STATSD_EXPORTER_VERSION}`) return statsdExporterImage(dirname(this.venv), STATSD_EXPORTER_VERSION);
    throw new Error(`no stand-in for image ${image} in the integration tests`);
  }

  /**
   * The metadata database, as the manifests describe it: the in-cluster PostgreSQL's user, password and
   * database from its StatefulSet's env; or, without one (prod), the external database of `url`.
   */
  public async startDatabase(externalUrl?: string): Promise<void> {
    const statefulSet = this.objects.find(o => o.kind === 'StatefulSet' && o.metadata.labels?.['app.kubernetes.io/component'] === 'postgresql');
    if (statefulSet) {
      const pod = new SandboxPod(this.host, `${statefulSet.metadata.name}-0`, this.namespace, statefulSet.spec.template.spec, this);
      const env = pod.env(statefulSet.spec.template.spec.containers[0]);
      const port = statefulSet.spec.template.spec.containers[0].ports[0].containerPort;
      this.database = await this.host.startPostgres(env.POSTGRES_USER, env.POSTGRES_PASSWORD, env.POSTGRES_DB, port);
    } else {
      const u = new URL(externalUrl!.replace(/^postgresql\+\w+:/, 'postgresql:'));
      this.database = await this.host.startPostgres(decodeURIComponent(u.username), decodeURIComponent(u.password), u.pathname.slice(1), Number(u.port || 5432), [u.hostname]);
    }
  }

  /** A pod of the workload of `component`, named as a ReplicaSet would name it. */
  public pod(component: string): SandboxPod {
    const w = this.workload(component);
    const suffix = w.kind === 'StatefulSet' ? '-0' : '-test';
    const template = w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template : w.spec.template;
    const pod = new SandboxPod(this.host, `${w.metadata.name}${suffix}`, this.namespace, template.spec, this);
    this.pods.push(pod);
    return pod;
  }

  public async stop(): Promise<void> {
    for (const p of this.pods) await p.stop();
    await this.database?.stop();
  }
}

/**
 * What `airflow config lint` reports, one finding a line. It lists changed defaults too: `[core] executor`
 * is one (SequentialExecutor became LocalExecutor in 3.0), and setting it is what this project exists for.
 */
export function lintFindings(output: string): string[] {
  const start = output.indexOf('Found issues in your airflow.cfg:');
  if (start < 0) {
    if (!/No issues found in your airflow\.cfg/.test(output)) throw new Error(`airflow config lint said neither "Found issues" nor "No issues found":\n${output.slice(-3000)}`);
    return [];
  }
  return output.slice(start).split('\n').filter(l => /^\s+- /.test(l)).map(l => l.trim().slice(2).trim());
}
