// Shared test helpers: synthesize charts, find objects, read the reference data (scripts/reference/, copies of
// the developers' ../shared/reference/, which tests cross-check when it is there).
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { AIRFLOW_VERSION, AirflowChart, ENVIRONMENTS, Tier } from '../lib';

/** The developers' shared reference folder beside the project: absent in users' clones, so only cross-checks read it. */
export const SHARED = join(__dirname, '..', '..', 'shared', 'reference');
/** The reference data the project ships (scripts/reference/README.md names each file's source). */
export const REFERENCE = join(__dirname, '..', 'scripts', 'reference');
export const TIERS = Object.keys(ENVIRONMENTS) as Tier[];

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: any };

const TEMP_DIRS: string[] = [];
/** A fresh folder under the system's temp folder, removed after the test file's tests. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  TEMP_DIRS.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of TEMP_DIRS.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A chart in namespace `airflow-test` for constructs used on their own. */
export function testChart(): Chart {
  return new Chart(Testing.app(), 'test', { namespace: 'airflow-test', disableResourceNameHashes: true });
}

/** The objects a chart synthesizes. */
export function synth(chart: Chart): K8sObject[] {
  return Testing.synth(chart) as K8sObject[];
}

/** The objects of one environment preset. */
export function synthEnvironment(tier: Tier): K8sObject[] {
  return synth(new AirflowChart(Testing.app(), tier, ENVIRONMENTS[tier]));
}

/** The one object of that kind and name; fails the test when there is not exactly one. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.filter(o => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}: ${objects.map(o => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0];
}

/**
 * The fewest pods a Deployment or StatefulSet runs: the `minReplicas` of the HorizontalPodAutoscaler that scales it,
 * or else its `replicas` (Kubernetes' default 1 when unset).
 */
export function fewestReplicas(objects: K8sObject[], workload: K8sObject): number {
  const hpa = objects.filter(o => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.kind === workload.kind
    && o.spec.scaleTargetRef.name === workload.metadata.name);
  if (hpa.length > 1) throw new Error(`${hpa.length} HorizontalPodAutoscalers scale ${workload.kind}/${workload.metadata.name}`);
  return hpa.length === 1 ? hpa[0].spec.minReplicas ?? 1 : workload.spec.replicas ?? 1;
}

/** The pod spec of a workload (Deployment, StatefulSet, Job, CronJob) or Pod. */
export function podSpec(o: K8sObject): any {
  if (o.kind === 'Pod') return o.spec;
  return o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec;
}

/** Every container of a pod spec, init containers first. */
export function allContainers(spec: any): any[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

/** The task pod template parsed from its ConfigMap. */
export function taskPod(objects: K8sObject[], instance = 'airflow'): K8sObject {
  return parse(find(objects, 'ConfigMap', `${instance}-pod-template`).data['pod_template_file.yaml']);
}

/** airflow.cfg parsed into { section: { option: value } } the way configparser reads it (`%%` is `%`). */
export function airflowCfg(objects: K8sObject[], instance = 'airflow'): Record<string, Record<string, string>> {
  const text: string = find(objects, 'ConfigMap', `${instance}-config`).data['airflow.cfg'];
  const cfg: Record<string, Record<string, string>> = {};
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) cfg[(section = header[1])] = {};
    else if (line.trim()) {
      const [option, ...rest] = line.split(' = ');
      cfg[section][option] = rest.join(' = ').replace(/%%/g, '%');
    }
  }
  return cfg;
}

/** Env vars of a container as name -> { value } | { secret, key }. */
export function envOf(container: any): Record<string, { value?: string; secret?: string; key?: string }> {
  return Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.valueFrom?.secretKeyRef
    ? { secret: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key }
    : { value: e.value }]));
}

/** Airflow's configuration reference of a release (default: the one the library pins), derived from its wheels (scripts/reference/airflow-<version>-config.json). */
export function airflowReference(version = AIRFLOW_VERSION): {
  airflowVersion: string; providers: Record<string, string>;
  sections: Record<string, Record<string, { sensitive?: boolean; type: string; from: string; default?: string; readAs?: string[] }>>;
  deprecatedOptions: Record<string, { replacedBy: string; since: string }>;
} {
  return JSON.parse(readFileSync(join(REFERENCE, `airflow-${version}-config.json`), 'utf8'));
}

/** The volume mount that covers `path` in a container (the deepest one), if any. */
export function mountAt(container: any, path: string): any {
  return (container.volumeMounts ?? [])
    .filter((m: any) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0];
}

/**
 * The container's startup and liveness probes are `airflow jobs check` for `jobType`, run through the image's
 * entrypoint without its database wait. Startup allows the entrypoint's own wait for the database (the official
 * image's CONNECTION_CHECK_MAX_COUNT 20 × CONNECTION_CHECK_SLEEP_TIME 3 s) and a minute more, and gates liveness,
 * which has no fixed delay of its own (a delay shorter than a slow start failed "No alive jobs found" in CI).
 */
export function expectJobsCheckProbes(container: any, jobType: string): void {
  const { startupProbe, livenessProbe } = container;
  for (const probe of [startupProbe, livenessProbe]) {
    expect(probe.exec.command.slice(0, 2)).toEqual(['sh', '-c']);
    const words = probe.exec.command[2].split(/\s+/);
    expect(words.slice(0, 4)).toEqual(['CONNECTION_CHECK_MAX_COUNT=0', 'AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR', 'exec', '/entrypoint']);
    expect(words.slice(4)).toEqual(['airflow', 'jobs', 'check', '--job-type', jobType, '--local']);
    expect(probe.httpGet).toBeUndefined();
    expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(20);
  }
  expect(startupProbe.periodSeconds * startupProbe.failureThreshold).toBeGreaterThanOrEqual(20 * 3 + 60);
  expect(livenessProbe.initialDelaySeconds).toBeUndefined();
  expect(livenessProbe.periodSeconds).toBeGreaterThanOrEqual(30);
  expect(livenessProbe.failureThreshold).toBeGreaterThanOrEqual(3);
}

/**
 * The pod syncs DAGs once before any container starts (init containers finish first): an init container
 * with GITSYNC_ONE_TIME=true, the sidecar's repository, ref, root and link, writing to the volume the
 * sidecar keeps current. Without it, Airflow starts on an empty DAG folder (found by the integration run).
 */
export function expectSyncBeforeStart(spec: any): void {
  const sidecar = spec.containers.find((c: any) => c.name === 'git-sync');
  const init = (spec.initContainers ?? []).find((c: any) => envOf(c).GITSYNC_ONE_TIME?.value === 'true');
  expect(init).toBeDefined();
  const same = (c: any) => Object.fromEntries(['GITSYNC_REPO', 'GITSYNC_REF', 'GITSYNC_ROOT', 'GITSYNC_LINK', 'GITSYNC_DEPTH'].map(n => [n, envOf(c)[n]]));
  expect(same(init)).toEqual(same(sidecar));
  const root = envOf(init).GITSYNC_ROOT.value;
  expect(init.volumeMounts.find((m: any) => m.mountPath === root).name).toBe(sidecar.volumeMounts.find((m: any) => m.mountPath === root).name);
}

/**
 * `npm run check --json ARGS` in a child process (its Pod Security library is ESM-only): the exit status and the
 * report. With objects instead of paths, writes them to a temp file first.
 */
export function runCheck(...args: string[]): { status: number | null; report: import('../scripts/check').CheckReport; stdout: string } {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'scripts/check.ts', '--json', ...args],
    { cwd: join(__dirname, '..'), encoding: 'utf8' });
  return { status: r.status, report: JSON.parse(r.stdout), stdout: r.stdout };
}

/** Objects as one multi-document YAML file in a temp folder; returns its path. */
export function writeYaml(objects: object[], name = 'objects.yaml'): string {
  const file = join(tempDir('check-'), name);
  writeFileSync(file, objects.map(o => stringify(o)).join('---\n'));
  return file;
}
