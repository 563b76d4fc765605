// The docs are current: the operator guide names real objects (each `kind/name`, PVC, label and container it
// points at exists in dist/), and the API reference is what typedoc generates from the docstrings now.
import { spawnSync } from 'child_process';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import * as cdk8s from 'cdk8s';
import { load as loadYaml } from 'js-yaml';
import { ModuleKind, ScriptTarget, transpileModule } from 'typescript';
import * as lib from '../lib';
import { AIRFLOW_VERSION, DEFAULT_AIRFLOW_IMAGE, SUPPORTED_AIRFLOW_SERIES } from '../lib/core/names';
import { K8S_SCHEMAS } from '../scripts/schema';
import { loadManifests, Manifest, podReferences, podTemplateOf } from '../scripts/manifests';
import { fewestReplicas, runCheck, tempDir } from './helpers';

const ROOT = join(__dirname, '..');
const GUIDE = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
const objects = loadManifests([join(ROOT, 'dist', 'dev.k8s.yaml')]).filter(m => !m.embeddedIn).map(m => m.object as any);
const everywhere = loadManifests([join(ROOT, 'dist')]).filter(m => !m.embeddedIn).map(m => m.object as any);
const named = (kind: string, name: string, among = objects) => among.some(o => o.kind.toLowerCase() === kind && o.metadata.name === name);

/** Runs a TypeScript example of the docs against lib/ (as `cdk8s-airflow`), its App writing to a new folder; that folder. */
function runSnippet(snippet: string): string {
  const outdir = tempDir('docs-example-');
  class TestApp extends cdk8s.App { constructor(props: cdk8s.AppProps = {}) { super({ ...props, outdir }); } }
  const modules: Record<string, unknown> = { 'cdk8s': { ...cdk8s, App: TestApp }, 'cdk8s-airflow': lib };
  const js = transpileModule(snippet, { compilerOptions: { module: ModuleKind.CommonJS, target: ScriptTarget.ES2022 } }).outputText;
  new Function('require', 'exports', js)((name: string) => {
    if (!(name in modules)) throw new Error(`the example imports ${name}`);
    return modules[name];
  }, {});
  return outdir;
}

test('every kind/name the guide uses in a command is an object of dist/ (dev, or staging and prod where it says so)', () => {
  const refs = [...GUIDE.matchAll(/\b(deployment|statefulset|job|cronjob)\/(airflow-[a-z0-9-]+)/g)].map(m => [m[1], m[2]]);
  expect(refs.length).toBeGreaterThanOrEqual(6);
  expect(refs.filter(([kind, name]) => !named(kind, name, everywhere) && !name.endsWith('-'))).toEqual([]);
});

test('the NetworkPolicy, PVCs, Secret and containers it names exist', () => {
  expect(named('networkpolicy', 'airflow-api-server')).toBe(true);
  expect(named('persistentvolumeclaim', 'airflow-logs')).toBe(true);
  const statefulSet = objects.find(o => o.kind === 'StatefulSet');
  expect(GUIDE).toContain(`${statefulSet.spec.volumeClaimTemplates[0].metadata.name}-${statefulSet.metadata.name}-0`);
  const containers = (name: string) => objects.find(o => o.kind === 'Deployment' && o.metadata.name === name).spec.template.spec.containers.map((c: any) => c.name);
  expect(containers('airflow-dag-processor')).toEqual(expect.arrayContaining(['git-sync', 'dag-processor']));
  expect(objects.some(o => o.kind === 'Job' && /^airflow-db-migrate-[0-9a-f]{10}$/.test(o.metadata.name) && o.spec.ttlSecondsAfterFinished === undefined)).toBe(true);
  expect(JSON.stringify(objects)).toContain('"secretKeyRef":{"key":"sql-alchemy-conn","name":"airflow-secrets"}');
});

test('the PostgreSQL major-upgrade steps hold: PGDATA is set on the claim\'s volume, and the backups have their own claim', () => {
  const statefulSet = objects.find(o => o.kind === 'StatefulSet');
  const container = statefulSet.spec.template.spec.containers[0];
  const pgdata = container.env.find((e: any) => e.name === 'PGDATA').value;
  const claimMount = container.volumeMounts.find((m: any) => m.name === statefulSet.spec.volumeClaimTemplates[0].metadata.name).mountPath;
  expect(pgdata.startsWith(`${claimMount}/`)).toBe(true);
  expect(GUIDE).toContain('The StatefulSet sets `PGDATA` itself');
  expect(named('persistentvolumeclaim', 'airflow-postgresql-backup')).toBe(true);
  expect(GUIDE).toContain(`kubectl -n airflow-dev delete pvc ${statefulSet.spec.volumeClaimTemplates[0].metadata.name}-${statefulSet.metadata.name}-0`);
});

test('every object but the Namespace carries the labels the guide selects on', () => {
  expect(objects.filter(o => o.kind !== 'Namespace' && o.metadata.labels?.['app.kubernetes.io/instance'] !== 'airflow').map(o => o.metadata.name)).toEqual([]);
  expect(objects.filter(o => o.metadata.labels?.['app.kubernetes.io/part-of'] !== 'airflow').map(o => o.metadata.name)).toEqual([]);
});

test('docs/api/README.md is the API reference typedoc generates from the docstrings now (if not: npm run docs)', () => {
  const out = tempDir('api-');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status).toBe(0);
  const fresh = readFileSync(join(out, 'README.md'), 'utf8');
  expect(fresh).toContain('### AirflowApp');
  expect(readFileSync(join(ROOT, 'docs', 'api', 'README.md'), 'utf8')).toBe(fresh);
});

// --- docs/getting-started.md: every name, command, prop, file and number it gives is what dist/, package.json,
// lib/ and the e2e run have now. A change there that the guide does not follow fails here, naming what drifted.
describe('docs/getting-started.md', () => {
  const START = readFileSync(join(ROOT, 'docs', 'getting-started.md'), 'utf8');
  const FLAT = START.replace(/\s+/g, ' '); // prose as one line, however it is wrapped
  const KIND_CONFIG = loadYaml(readFileSync(join(ROOT, 'docs', 'kind-cluster.yaml'), 'utf8')) as any;
  const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const E2E = readFileSync(join(ROOT, 'scripts', 'e2e', 'run.ts'), 'utf8');
  const DAG_ID = /const DAG_ID = '([^']+)'/.exec(E2E)![1];
  const SHAPES = JSON.parse(readFileSync(join(ROOT, 'lib', 'core', 'props-shapes.json'), 'utf8')).shapes;
  const tier = (t: string) => loadManifests([join(ROOT, 'dist', `${t}.k8s.yaml`)]);
  const TIER_MANIFESTS: Record<string, Manifest[]> = { dev: tier('dev'), staging: tier('staging'), prod: tier('prod') };
  const TIER_OBJECTS = Object.fromEntries(Object.entries(TIER_MANIFESTS).map(([t, ms]) => [t, ms.filter(m => !m.embeddedIn).map(m => m.object as any)]));
  const DEV_TASK_POD = TIER_MANIFESTS.dev.find(m => m.embeddedIn)!.object as any;
  const NAMESPACES = everywhere.filter(o => o.kind === 'Namespace').map(o => o.metadata.name);
  const DEV_NAMESPACE = objects.find(o => o.kind === 'Namespace').metadata.name;

  /** The fenced blocks of one language (`''`: no language), list indentation removed. */
  const fenced = (lang: string) => [...START.matchAll(/^( *)```([a-z]*)\n([\s\S]*?)^\1```$/gm)]
    .filter(m => m[2] === lang).map(m => m[3].split('\n').map(l => l.slice(m[1].length)).join('\n'));
  /** Shell commands: the sh blocks, continuation lines joined, and inline code spans that run kubectl or kind. */
  const SH = fenced('sh').join('\n').replace(/\\\n\s*/g, ' ').split('\n');
  const INLINE = [...START.matchAll(/`([^`\n]+)`/g)].map(m => m[1]);
  const COMMANDS = [...SH, ...INLINE.filter(s => /^(kubectl|kind|npm|npx|docker|scripts\/)/.test(s))];
  const KUBECTL = COMMANDS.filter(c => /\bkubectl\b/.test(c));
  /** The rows of the Markdown table whose header row starts with `first`. */
  const table = (first: string) => {
    const lines = START.split('\n');
    const start = lines.findIndex(l => l.startsWith(`| ${first} |`));
    expect(start).toBeGreaterThanOrEqual(0);
    const rows: string[][] = [];
    for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i].split('|').slice(1, -1).map(c => c.trim()));
    return rows;
  };
  const codes = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map(m => m[1]);
  const podSpec = (o: any) => podTemplateOf(o)!.spec;
  const names = (cs: any[] | undefined) => (cs ?? []).map(c => c.name);
  const imagesOf = (ms: Manifest[]) => ms.flatMap(m => { const s = podTemplateOf(m.object)?.spec; return s ? [...(s.initContainers ?? []), ...s.containers].map((c: any) => c.image as string) : []; });

  test('every kind/name in a kubectl command is an object of dist/ (a Secret: one dist/ references), in the namespace given', () => {
    const KINDS: Record<string, string> = {
      deployment: 'Deployment', statefulset: 'StatefulSet', job: 'Job', cronjob: 'CronJob', service: 'Service', configmap: 'ConfigMap',
      pvc: 'PersistentVolumeClaim', persistentvolumeclaim: 'PersistentVolumeClaim', networkpolicy: 'NetworkPolicy', serviceaccount: 'ServiceAccount', secret: 'Secret',
    };
    const created = new Set(KUBECTL.flatMap(c => [...c.matchAll(/create secret \S+ ([a-z0-9-]+)/g)].map(m => m[1])));
    const referencedSecrets = new Set(TIER_MANIFESTS.dev.flatMap(m => { const s = podTemplateOf(m.object)?.spec; return s ? podReferences(s) : []; })
      .filter(r => r.kind === 'Secret').map(r => r.name));
    const refs = KUBECTL.flatMap(c => [
      ...[...c.matchAll(/\b([a-z]+)\/([a-z0-9-]+)\b/g)].filter(m => KINDS[m[1]]),
      ...[...c.matchAll(/\b(?:get|patch|describe|logs) ([a-z]+) ([a-z0-9-]+)\b/g)].filter(m => KINDS[m[1]]),
    ].map(m => ({ command: c, kind: KINDS[m[1]], name: m[2], namespace: /(?:\s-n|--namespace[= ])\s*(\S+)/.exec(c)?.[1] ?? DEV_NAMESPACE })));
    expect(refs.length).toBeGreaterThanOrEqual(9);
    const missing = refs.filter(r => {
      if (r.kind === 'Secret') return !created.has(r.name) && !referencedSecrets.has(r.name);
      if (r.kind === 'ServiceAccount' && r.name === 'default') return false; // every namespace has one
      return !everywhere.some(o => o.kind === r.kind && o.metadata.name === r.name && o.metadata.namespace === r.namespace);
    });
    expect(missing).toEqual([]);
  });

  test('every namespace a command names is one of dist/ (the quick start: dev\'s), but the one the NetworkPolicy check runs in', () => {
    const given = KUBECTL.flatMap(c => [...c.matchAll(/(?:\s-n|--namespace[= ])\s*(\S+)/g)].map(m => ({ c, ns: m[1] })));
    expect(given.length).toBeGreaterThanOrEqual(15);
    expect(given.filter(g => g.ns !== DEV_NAMESPACE && !(g.ns === 'default' && /pg_isready/.test(g.c)))).toEqual([]);
    expect(NAMESPACES).toContain(DEV_NAMESPACE);
    // <service>.<namespace> host names
    const hosts = [...START.matchAll(/\b(airflow-[a-z0-9-]+)\.(airflow-[a-z]+)\b/g)].map(m => ({ service: m[1], ns: m[2] }));
    expect(hosts.length).toBeGreaterThanOrEqual(1);
    expect(hosts.filter(h => !everywhere.some(o => o.kind === 'Service' && o.metadata.name === h.service && o.metadata.namespace === h.ns))).toEqual([]);
  });

  test('every label selector selects something dist/dev.k8s.yaml makes (the executor\'s task pod labels: the e2e DAG\'s)', () => {
    const selectors = KUBECTL.flatMap(c => [...c.matchAll(/\s-l\s+'?([^\s']+)'?/g)].map(m => m[1]));
    expect(selectors.length).toBeGreaterThanOrEqual(3);
    const labelSets = objects.flatMap(o => [o.metadata.labels ?? {}, podTemplateOf(o)?.labels ?? {}]);
    const unmatched = selectors.flatMap(s => s.split(',')).filter(kv => {
      const [k, v] = kv.split('=');
      if (k === 'dag_id') return v !== DAG_ID;
      return !labelSets.some(l => l[k] === v);
    });
    expect(unmatched).toEqual([]);
  });

  test('logs -c names a container of the workload, port-forward the api-server Service\'s port, on the port the API calls use', () => {
    const logs = KUBECTL.flatMap(c => [...c.matchAll(/logs (deployment|statefulset)\/([a-z0-9-]+) -c ([a-z0-9-]+)/g)]);
    expect(logs.length).toBeGreaterThanOrEqual(1);
    for (const [, kind, name, container] of logs) {
      const spec = podSpec(objects.find(o => o.kind.toLowerCase() === kind && o.metadata.name === name));
      expect([...names(spec.initContainers), ...names(spec.containers)]).toContain(container);
    }
    const [, service, local, remote] = /port-forward service\/([a-z0-9-]+) (\d+):(\d+)/.exec(SH.join('\n'))!;
    const ports = objects.find(o => o.kind === 'Service' && o.metadata.name === service).spec.ports;
    expect(ports.map((p: any) => p.port)).toContain(Number(remote));
    expect(START).toContain(`http://localhost:${local}`);
    // the other address is the NodePort, which kind maps to the same port on the machine's loopback
    const nodePort = String(ports[0].nodePort);
    expect(KIND_CONFIG.nodes[0].extraPortMappings).toEqual([{ containerPort: ports[0].nodePort, hostPort: ports[0].nodePort, listenAddress: '127.0.0.1', protocol: 'TCP' }]);
    expect(START).toContain(`http://localhost:${nodePort}/auth/token`);
    expect([...START.matchAll(/http:\/\/localhost:(\d+)/g)].map(m => m[1]).filter(p => p !== local && p !== nodePort)).toEqual([]);
    expect(E2E).toContain('the login page at the api-server\\\'s NodePort');
  });

  test('every npm script, file and link (with its anchor) it names exists', () => {
    const scripts = [...START.matchAll(/\bnpm run ([\w:-]+)/g)].map(m => m[1]);
    expect(scripts).toEqual(expect.arrayContaining(['synth', 'check', 'e2e']));
    expect(scripts.filter(s => !(s in PKG.scripts))).toEqual([]);
    const files = [...START.matchAll(/(?<![\w/.-])((?:scripts|docs|lib|dist|__tests__)\/[\w./-]*\w)/g)].map(m => m[1]);
    expect(files).toEqual(expect.arrayContaining(['scripts/create-secrets.sh', 'dist/dev.k8s.yaml', 'docs/kind-cluster.yaml', 'lib/environments.ts']));
    expect(files.filter(f => !existsSync(join(ROOT, f)))).toEqual([]);
    const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
    const anchors = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map(m => slug(m[1]));
    const links = [...START.matchAll(/\]\(([^)\s]+)\)/g)].map(m => m[1]).filter(l => !/^https?:/.test(l));
    expect(links.length).toBeGreaterThanOrEqual(4);
    const broken = links.filter(l => {
      const [path, anchor] = l.split('#');
      const file = path ? join(ROOT, 'docs', path) : join(ROOT, 'docs', 'getting-started.md');
      return !existsSync(file) || (anchor !== undefined && !anchors(file).includes(anchor));
    });
    expect(broken).toEqual([]);
  });

  test('the README points to it from "Deploy an environment"', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Deploy an environment'), readme.indexOf('```sh', readme.indexOf('## Deploy an environment')));
    expect(section).toContain('](docs/getting-started.md)');
  });

  test('docs/kind-cluster.yaml is a kind v1alpha4 Cluster of one node (dev\'s task log volume is ReadWriteOnce), named as the commands name it', () => {
    expect(KIND_CONFIG).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    expect(KIND_CONFIG.nodes.map((n: any) => n.role)).toEqual(['control-plane']);
    expect(objects.find(o => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'airflow-logs').spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(SH).toContain('kind create cluster --config docs/kind-cluster.yaml');
    const kindNames = COMMANDS.flatMap(c => [...c.matchAll(/\bkind (?:delete cluster|load docker-image \S+) --name (\S+)/g)].map(m => m[1]));
    expect(kindNames.length).toBeGreaterThanOrEqual(2);
    expect(new Set([...kindNames, KIND_CONFIG.name])).toEqual(new Set(['airflow']));
    expect(START).toContain(`\`kind-${KIND_CONFIG.name}\``);
    // the kind version that enforces NetworkPolicy, said alike in both
    const kindVersion = /kind v(\d+\.\d+\.\d+) or newer/.exec(START)![1];
    expect(readFileSync(join(ROOT, 'docs', 'kind-cluster.yaml'), 'utf8')).toContain(`kind v${kindVersion} or newer`);
  });

  test('the Dockerfile extends the image dist/ runs, as root only for apt and with Airflow\'s constraints of that version', () => {
    const [dockerfile] = fenced('dockerfile');
    expect(fenced('dockerfile')).toHaveLength(1);
    expect(/^FROM (\S+)$/m.exec(dockerfile)![1]).toBe(DEFAULT_AIRFLOW_IMAGE);
    expect(DEFAULT_AIRFLOW_IMAGE).toBe(`apache/airflow:${AIRFLOW_VERSION}`);
    expect(podSpec(objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-scheduler')).containers[0].image).toBe(DEFAULT_AIRFLOW_IMAGE);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map(m => m[1]);
    expect(users).toEqual(['root', 'airflow']);
    expect(dockerfile.indexOf('apt-get install')).toBeGreaterThan(dockerfile.indexOf('USER root'));
    expect(dockerfile.indexOf('apt-get install')).toBeLessThan(dockerfile.indexOf('USER airflow'));
    expect(dockerfile.indexOf('pip install')).toBeGreaterThan(dockerfile.indexOf('USER airflow'));
    expect(dockerfile).toContain('"apache-airflow==${AIRFLOW_VERSION}"');
    expect(dockerfile).toContain('--constraint "${HOME}/constraints.txt"');
    expect([...START.matchAll(/apache\/airflow\/constraints-([\w.]+)\//g)].map(m => m[1])).toEqual([AIRFLOW_VERSION]);
  });

  test('the images it lists are all the images dist/ runs, in every environment (task pods included)', () => {
    const IMAGE = /^[a-z][a-z0-9.-]*(?:\/[a-z0-9._-]+)*:(?=[^:]*\d)\w[\w.-]*$/; // a tag with a digit: not `admin:admin`
    const listed = new Set(INLINE.filter(s => IMAGE.test(s) && !s.startsWith('registry.example.com/')));
    const used = new Set(Object.values(TIER_MANIFESTS).flatMap(imagesOf));
    expect([...listed].filter(i => !used.has(i))).toEqual([]);
    expect([...used].filter(i => !listed.has(i))).toEqual([]);
  });

  test('its chart example runs against lib/: every Airflow container and task pod gets the image, every ServiceAccount the pull Secret', () => {
    const [snippet] = fenced('ts');
    expect(fenced('ts')).toHaveLength(1);
    const image = /image: '([^']+)'/.exec(snippet)![1];
    // the same image in the build, push, kind load and lib/environments.ts instructions
    expect(COMMANDS.filter(c => /docker (build|push)|kind load/.test(c)).map(c => /(registry\.example\.com\/\S+)/.exec(c)![1])).toEqual([image, image, image]);
    expect(START).toContain(`add \`image: '${image}'\``);
    // a custom image declares the version it is built FROM, in the example and in the lib/environments.ts instructions
    const version = /airflowVersion: '([^']+)'/.exec(snippet)![1];
    expect(`apache/airflow:${version}`).toBe(/^FROM (\S+)$/m.exec(fenced('dockerfile')[0])![1]);
    expect(FLAT).toContain(`and \`airflowVersion: '${version}'\` to the preset's \`airflow\` props`);
    const outdir = runSnippet(snippet);
    const out = loadManifests([join(outdir, 'dev.k8s.yaml')]);
    const images = imagesOf(out);
    expect(images).not.toContain(DEFAULT_AIRFLOW_IMAGE);
    expect(images.filter(i => i === image).length).toBe(imagesOf(TIER_MANIFESTS.dev).filter(i => i === DEFAULT_AIRFLOW_IMAGE).length);
    const accounts = out.map(m => m.object as any).filter(o => o.kind === 'ServiceAccount');
    expect(accounts.map(a => a.metadata.name)).toContain('default');
    expect(accounts.filter(a => JSON.stringify(a.imagePullSecrets) !== '[{"name":"airflow-registry"}]').map(a => a.metadata.name)).toEqual([]);
    const runAs = out.flatMap(m => { const s = podTemplateOf(m.object)?.spec; return s ? [s.serviceAccountName ?? 'default'] : []; });
    expect(runAs.filter(sa => !accounts.some(a => a.metadata.name === sa))).toEqual([]);
  });

  test('the ServiceAccounts it gives the pull Secret are exactly those dist/ pods run as, in every environment', () => {
    const shText = SH.join('\n');
    const loop = /for sa in ([a-z0-9 -]+); do\n\s*kubectl .*patch serviceaccount "\$sa"/.exec(shText)!;
    const patched = [...loop[1].trim().split(/\s+/), ...[...shText.matchAll(/patch serviceaccount ([a-z0-9-]+) /g)].map(m => m[1])];
    const runAs = new Set(Object.values(TIER_MANIFESTS).flat().flatMap(m => { const s = podTemplateOf(m.object)?.spec; return s ? [s.serviceAccountName ?? 'default'] : []; }));
    expect(patched.sort()).toEqual([...runAs].sort());
    const prose = START.slice(START.indexOf('**A private registry.**'));
    for (const sa of runAs) expect(prose.slice(0, prose.indexOf('```sh'))).toContain(`\`${sa}\``);
    // rolled: the Deployments whose pods (created by the apply) run as a ServiceAccount patched after it
    const rolled = [...SH.join('\n').matchAll(/rollout restart ((?:deployment\/\S+ ?)+)/g)].flatMap(m => m[1].trim().split(' ').map(d => d.replace('deployment/', '')));
    const afterApply = objects.filter(o => o.kind === 'Deployment' && podSpec(o).serviceAccountName).map(o => o.metadata.name);
    expect(rolled.sort()).toEqual(afterApply.sort());
  });

  test('every `airflow.<prop>` it names is a prop of an environment (lib/core/props-shapes.json)', () => {
    const paths = INLINE.filter(s => /^airflow(\.[a-z][A-Za-z]*)+$/.test(s) && s !== 'airflow.cfg');
    expect(paths).toEqual(expect.arrayContaining(['airflow.image', 'airflow.dags.image', 'airflow.postgres.image', 'airflow.pgbouncer.image']));
    const exists = (path: string) => path.split('.').reduce((node: any, key) => node?.[key], SHAPES.AirflowChart) !== undefined;
    expect(paths.filter(p => !exists(p))).toEqual([]);
  });

  test('the DAGs, the login and the task pod are as dist/dev.k8s.yaml and the e2e run have them', () => {
    const dagProcessor = podSpec(objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-dag-processor'));
    const env = Object.fromEntries(dagProcessor.containers.find((c: any) => c.name === 'git-sync').env.map((e: any) => [e.name, e.value]));
    const cfg: string = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-config').data['airflow.cfg'];
    const subPath = /^dags_folder = \/opt\/airflow\/dags\/repo\/(.+)$/m.exec(cfg)![1];
    expect(FLAT).toContain(`clones \`${env.GITSYNC_REPO}\` at the tag \`${env.GITSYNC_REF}\`, folder \`${subPath}\`, and pulls again every ${env.GITSYNC_PERIOD.replace('s', ' s')}`);
    expect(START).toContain(`\`${DAG_ID}\``);
    expect([...START.matchAll(/`(example_[a-z_]+)`/g)].map(m => m[1]).filter(d => d !== DAG_ID)).toEqual([]);
    expect(START).toContain(`\`${DAG_ID.replace(/_/g, '-')}-my-task-<random>\``);
    expect(cfg).toMatch(/^delete_worker_pods = True$/m);
    expect(START).toContain('`delete_worker_pods = True`');
    expect(names(DEV_TASK_POD.spec.initContainers)).toEqual(['git-sync-init']);
    // SimpleAuthManager: only the passwords file is set, so the users are Airflow's default
    expect(cfg).toMatch(/^simple_auth_manager_passwords_file = /m);
    expect(cfg).not.toMatch(/^simple_auth_manager_users/m);
    const reference = JSON.parse(readFileSync(join(ROOT, 'scripts', 'reference', `airflow-${AIRFLOW_VERSION}-config.json`), 'utf8'));
    const users = reference.sections.core.simple_auth_manager_users.default;
    expect(FLAT).toContain(`default \`${users}\`, user \`${users.split(':')[0]}\` with role \`${users.split(':')[1]}\``);
    expect(SH.join('\n')).toContain(`jsonpath='{.data.simple-auth-manager-passwords}'`);
    expect(JSON.stringify(objects)).toContain('"key":"simple-auth-manager-passwords"');
  });

  test('its REST calls are the e2e run\'s: same methods, paths and body keys', () => {
    const e2eCalls = new Set([...E2E.matchAll(/api\('(\w+)', [`']([^`'?]+)/g)].map(m => `${m[1]} ${m[2].replace('${dagId}', '${DAG_ID}')}`));
    const curls = SH.filter(l => /\bcurl\b/.test(l));
    expect(curls.length).toBeGreaterThanOrEqual(5);
    const calls = curls.map(c => `${/-X (\w+)/.exec(c)?.[1] ?? 'GET'} ${/http:\/\/localhost:\d+(\S+)/.exec(c)![1].replace(DAG_ID, '${DAG_ID}')}`);
    expect(calls.filter(c => !e2eCalls.has(c))).toEqual([]);
    const keys = [...SH.join('\n').matchAll(/\{"(\w+)": /g)].map(m => m[1]).filter(k => k !== 'auths' && k !== 'imagePullSecrets' && k !== 'name' && k !== 'auth');
    expect(keys).toEqual(expect.arrayContaining(['username', 'is_paused', 'logical_date']));
    expect(keys.filter(k => !new RegExp(`\\b${k}: `).test(E2E))).toEqual([]);
    expect(E2E).toContain('r.json.access_token');
    expect(SH.join('\n')).toContain('"access_token"');
  });

  test('the first start: each pod\'s init containers and containers, in order, are dist/dev.k8s.yaml\'s', () => {
    const workload = (pod: string) => {
      const name = pod.replace(/-<hash>-<random>$/, '').replace(/-0$/, '');
      return objects.find(o => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name === name)
        ?? (/^airflow-db-migrate-<hash>/.test(pod) ? objects.find(o => o.kind === 'Job') : undefined);
    };
    const rows = table('pod');
    const seen = rows.map(([pod, init, containers]) => {
      const o = workload(codes(pod)[0]);
      expect(o).toBeDefined();
      expect(codes(init)).toEqual(names(podSpec(o).initContainers));
      expect(codes(containers)).toEqual(names(podSpec(o).containers));
      return o.metadata.name;
    });
    expect(seen.sort()).toEqual(objects.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map(o => o.metadata.name).sort());
  });

  test('the kubectl get pods pictures match dist/dev.k8s.yaml: names, container counts, init counts', () => {
    const outputs = fenced('').filter(b => b.startsWith('NAME '));
    expect(outputs).toHaveLength(2);
    for (const output of outputs) {
      const rows = output.trim().split('\n').slice(1).map(l => l.split(/\s+/));
      const seen = rows.map(([pod, ready, status]) => {
        const o = objects.find(x => (['Deployment'].includes(x.kind) && new RegExp(`^${x.metadata.name}-[a-z0-9]{8,10}-[a-z0-9]{5}$`).test(pod))
          || (x.kind === 'StatefulSet' && pod === `${x.metadata.name}-0`)
          || (x.kind === 'Job' && /^airflow-db-migrate-[0-9a-f]{10}-[a-z0-9]{5}$/.test(pod) && /^airflow-db-migrate-[0-9a-f]{10}$/.test(x.metadata.name)));
        expect([pod, o?.metadata.name]).toEqual([pod, expect.any(String)]);
        const spec = podSpec(o);
        expect([pod, Number(ready.split('/')[1])]).toEqual([pod, spec.containers.length]);
        const init = /^Init:\d+\/(\d+)$/.exec(status);
        if (init) expect([pod, Number(init[1])]).toEqual([pod, names(spec.initContainers).length]);
        if (status === 'Completed') expect(o.kind).toBe('Job');
        return o.metadata.name;
      });
      expect(seen.sort()).toEqual(objects.filter(o => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map(o => o.metadata.name).sort());
    }
    // the Init:x/N states the table of states names are those of dev's pods
    const stateCounts = new Set([...START.matchAll(/`Init:\d+\/(\d+)`/g)].map(m => Number(m[1])));
    // a pod without init containers (the metrics exporter) shows no Init: state
    const initCounts = new Set(objects.filter(o => o.kind === 'Deployment').map(o => names(podSpec(o).initContainers).length).filter(n => n > 0));
    expect(stateCounts).toEqual(initCounts);
  });

  test('the waits and retries it describes are dist/\'s: migration wait, Job backoff, entrypoint tries, startup probe, backup schedule', () => {
    const yamlText = readFileSync(join(ROOT, 'dist', 'dev.k8s.yaml'), 'utf8');
    const wait = /`airflow db check-migrations (--migration-wait-timeout=(\d+))`/.exec(START)!;
    expect(yamlText).toContain(`- ${wait[1]}`);
    expect(FLAT).toContain(`after ${wait[2]} s without a complete schema`);
    const job = objects.find(o => o.kind === 'Job');
    expect(START).toContain(`\`backoffLimit: ${job.spec.backoffLimit}\``);
    const entrypoint = readFileSync(join(ROOT, 'scripts', 'images', 'airflow-entrypoint.sh'), 'utf8');
    const tries = /CONNECTION_CHECK_MAX_COUNT:-(\d+)/.exec(entrypoint)![1];
    const pause = /CONNECTION_CHECK_SLEEP_TIME:-(\d+)/.exec(entrypoint)![1];
    expect(FLAT).toContain(`up to ${tries} tries ${pause} s apart`);
    expect(podSpec(job).containers[0].env?.some((e: any) => e.name === 'CONNECTION_CHECK_MAX_COUNT')).toBeFalsy();
    const probe = podSpec(objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-api-server')).containers[0].startupProbe;
    expect(FLAT).toContain(`until its startup probe passes: up to ${probe.failureThreshold * probe.periodSeconds} s`);
    expect(objects.find(o => o.kind === 'CronJob' && o.metadata.name === 'airflow-postgresql-backup').spec.schedule).toBe('0 2 * * *');
    expect(FLAT).toContain('daily at 02:00 UTC');
  });

  test('the PersistentVolumeClaims table is every claim of every environment, with its access mode, size and class', () => {
    const claims = (t: string) => TIER_OBJECTS[t].flatMap(o => o.kind === 'PersistentVolumeClaim' ? [{ name: o.metadata.name, spec: o.spec }]
      : o.kind === 'StatefulSet' ? o.spec.volumeClaimTemplates.map((v: any) => ({ name: `${v.metadata.name}-${o.metadata.name}-0`, spec: v.spec })) : []);
    const expected = Object.keys(TIER_OBJECTS).flatMap(t => claims(t).map(c =>
      [t, c.name, c.spec.accessModes.join(), c.spec.resources.requests.storage, c.spec.storageClassName ?? 'default'].join(' ')));
    const rows = table('environment').map(([env, pvc, mode, size, cls]) => [env, codes(pvc)[0], mode, size, codes(cls)[0] ?? cls].join(' '));
    expect(rows.sort()).toEqual(expected.sort());
  });

  test('dev\'s total requests and prod\'s minimum node count are what dist/ asks', () => {
    const cpu = (q?: string) => q === undefined ? 0 : q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
    const mib = (q?: string) => q === undefined ? 0 : q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : q.endsWith('Mi') ? Number(q.slice(0, -2)) : NaN;
    // what a pod requests: its containers together, or its largest init container if that is more
    const pod = (s: any, f: (q?: string) => number, r: string) => Math.max(
      s.containers.reduce((a: number, c: any) => a + f(c.resources?.requests?.[r]), 0),
      ...(s.initContainers ?? []).map((c: any) => f(c.resources?.requests?.[r])));
    const running = [...objects.filter(o => ['Deployment', 'StatefulSet'].includes(o.kind)).flatMap(o => Array(o.spec.replicas).fill(podSpec(o))), DEV_TASK_POD.spec];
    const totalCpu = running.reduce((a, s) => a + pod(s, cpu, 'cpu'), 0);
    const totalGiB = Math.round(running.reduce((a, s) => a + pod(s, mib, 'memory'), 0) / 1024 * 10) / 10;
    expect(FLAT).toContain(`dev's pods request ${+totalCpu.toFixed(2)} CPU and ${totalGiB} GiB of memory together, one task pod running`);

    const prod = TIER_OBJECTS.prod;
    const spread = prod.filter(o => o.kind === 'Deployment' && podSpec(o).topologySpreadConstraints?.some((c: any) => c.whenUnsatisfiable === 'DoNotSchedule'));
    for (const o of spread) {
      expect(podSpec(o).topologySpreadConstraints).toEqual([expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' })]);
      expect(podSpec(o).topologySpreadConstraints[0]).toEqual(expect.objectContaining({ nodeTaintsPolicy: 'Honor', matchLabelKeys: ['pod-template-hash'] }));
      expect(prod.find(p => p.kind === 'PodDisruptionBudget' && p.metadata.name === o.metadata.name)?.spec.maxUnavailable).toBe(1);
    }
    // the api-server's rolling update: Kubernetes' default strategy, whose maxSurge of 25 % rounds up to one pod
    const apiServer = prod.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-api-server');
    expect(apiServer.spec.strategy).toBeUndefined();
    expect(FLAT).toContain(`the default \`maxSurge\` of 25 % rounds up to ${Math.ceil(fewestReplicas(prod, apiServer) * 0.25)} at the fewest replicas`);
    const stated = Object.fromEntries([...START.matchAll(/\b(scheduler|api-server|triggerer|PgBouncer) \((\d+)( to (\d+), autoscaled)?/g)]
      .map(m => [`airflow-${m[1].toLowerCase()}`, m[3] ? [Number(m[2]), Number(m[4])] : Number(m[2])]));
    const range = (o: any) => prod.find(h => h.kind === 'HorizontalPodAutoscaler' && h.spec.scaleTargetRef.name === o.metadata.name)?.spec;
    expect(stated).toEqual(Object.fromEntries(spread.map(o => [o.metadata.name, range(o) ? [range(o).minReplicas, range(o).maxReplicas] : o.spec.replicas])));
    const most = Math.max(...spread.map(o => fewestReplicas(prod, o)));
    expect(FLAT).toContain(`**prod wants at least ${most} schedulable nodes.**`);
    expect(FLAT).toContain('`nodeTaintsPolicy: Honor` and `matchLabelKeys: [pod-template-hash]`');
    expect(TIER_OBJECTS.staging.some(o => o.kind === 'Deployment' && podSpec(o).topologySpreadConstraints?.some((c: any) => c.whenUnsatisfiable === 'DoNotSchedule'))).toBe(false);
  });

  test('the quotas it states are dist/\'s, with the peaks the library computes; the LimitRange defaults too', () => {
    const one = (v: number) => String(Math.round(v * 10) / 10);
    const rows = table('quota of').map(([env, cpu, memory, limits, pods, peak]) =>
      [env, cpu, memory, limits, pods, peak.split(' (')[0]]);
    const expected = (['dev', 'staging', 'prod'] as const).map(t => {
      const hard = TIER_OBJECTS[t].find(o => o.kind === 'ResourceQuota').spec.hard;
      const p = new lib.AirflowChart(cdk8s.Testing.app(), t, lib.ENVIRONMENTS[t]).quota!.peak;
      const sum = (k: keyof lib.PodUsage) => p.reduce((a, x) => a + x[k], 0);
      return [t, hard['requests.cpu'], hard['requests.memory'], hard['limits.memory'], hard.pods,
        `${one(sum('cpu'))}, ${one(sum('memory') / 2 ** 30)} GiB, ${one(sum('memoryLimits') / 2 ** 30)} GiB, ${sum('pods')}`];
    });
    expect(rows).toEqual(expected);
    for (const t of Object.keys(TIER_OBJECTS)) {
      const [range] = TIER_OBJECTS[t].find(o => o.kind === 'LimitRange').spec.limits;
      expect(FLAT).toContain(`gives a container that states no request ${range.defaultRequest.cpu} CPU and ${range.defaultRequest.memory}, and no memory limit ${range.default.memory}`);
    }
    expect(FLAT).toContain('`[kubernetes_executor] task_publish_max_retries` 0');
  });

  test('the api-server autoscaler it states is prod\'s: its targets, its minimum, and the upgrade step named', () => {
    const hpa = TIER_OBJECTS.prod.find(o => o.kind === 'HorizontalPodAutoscaler');
    const target = (name: string) => hpa.spec.metrics.find((m: any) => m.resource.name === name).resource.target.averageUtilization;
    expect(FLAT).toContain(`a HorizontalPodAutoscaler at ${target('cpu')} % of the CPU and ${target('memory')} % of the memory the pods request`);
    expect(FLAT).toContain(`Without it the api-server stays at ${hpa.spec.minReplicas} pods`);
    expect(GUIDE.replace(/\s+/g, ' ')).toContain(`prod's api-server is scaled by a HorizontalPodAutoscaler (${hpa.spec.minReplicas} to ${hpa.spec.maxReplicas} pods;`);
    expect(GUIDE).toContain('### Handing the replicas to an autoscaler');
    for (const t of ['dev', 'staging']) expect(TIER_OBJECTS[t].filter(o => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
  });

  test('the cluster autoscaler annotation it states is on every long-running component and every task pod', () => {
    const SAFE = 'cluster-autoscaler.kubernetes.io/safe-to-evict';
    expect(FLAT).toContain(`Pods carry \`${SAFE}\`: \`"true"\` on the long-running components`);
    for (const t of Object.keys(TIER_OBJECTS)) {
      for (const o of TIER_OBJECTS[t].filter(x => x.kind === 'Deployment')) expect([t, o.metadata.name, o.spec.template.metadata.annotations[SAFE]]).toEqual([t, o.metadata.name, 'true']);
      expect((TIER_MANIFESTS[t].find(m => m.embeddedIn)!.object as any).metadata.annotations[SAFE]).toBe('false');
    }
  });

  test('the Pod Security labels it states are the Namespaces\'', () => {
    for (const ns of everywhere.filter(o => o.kind === 'Namespace')) {
      const labels = ns.metadata.labels;
      expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
      expect(START).toContain(`\`pod-security.kubernetes.io/enforce: ${labels['pod-security.kubernetes.io/enforce']}\``);
      expect([...START.matchAll(/enforce-version: (v[\d.]+)/g)].map(m => m[1])).toEqual([
        labels['pod-security.kubernetes.io/enforce-version'], labels['pod-security.kubernetes.io/enforce-version']]);
      expect([labels['pod-security.kubernetes.io/audit'], labels['pod-security.kubernetes.io/warn']]).toEqual(['restricted', 'restricted']);
    }
  });

  test('the Kubernetes versions it gives are the schemas npm run check validates against and the e2e cluster\'s', () => {
    const schemas = readdirSync(join(ROOT, 'scripts', 'reference')).map(f => /^k8s-(\d+\.\d+)-definitions\.json$/.exec(f)?.[1])
      .filter((v): v is string => v !== undefined).sort((x, y) => Number(x.split('.')[1]) - Number(y.split('.')[1]));
    expect(schemas.length).toBeGreaterThanOrEqual(2);
    const [first, last] = [schemas[0], schemas[schemas.length - 1]];
    expect(FLAT).toContain(`**Kubernetes ${first} to ${last}.** \`npm run check\` validates every object against the Kubernetes ${first} and ${last} API schemas`);
    const e2e = /E2E_K8S_VERSION="\$\{KUBERNETES_VERSION:-v(\d+\.\d+)\.\d+\}"/.exec(readFileSync(join(ROOT, 'scripts', 'e2e', 'lib.sh'), 'utf8'))![1];
    expect(FLAT).toContain(`\`npm run e2e\` runs \`dev\` on a real v${e2e} cluster`);
    expect(FLAT).toContain(`a single-node Kubernetes v${e2e} built from source`);
  });
});

test('the README\'s "What gets deployed" names every object of every dist/ file (a Job by its name before the revision)', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## What gets deployed'), readme.indexOf('How the parts agree'));
  const unnamed = ['dev', 'staging', 'prod'].flatMap(t => loadManifests([join(ROOT, 'dist', `${t}.k8s.yaml`)]).filter(m => !m.embeddedIn)
    .map(m => m.object as any).filter(o => o.kind !== 'Namespace')
    .map(o => `${o.kind} ${o.metadata.name.replace(/-[0-9a-f]{10}$/, '-<revision>')}`)
    .filter(what => !section.includes(`\`${what.split(' ')[1]}\``)));
  expect(unnamed).toEqual([]);
});

test('the README\'s PgBouncer client connections in prod are the preset\'s', () => {
  const flat = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const prod = lib.ENVIRONMENTS.prod.airflow;
  expect(flat).toContain(`prod's PgBouncer takes \`maxClientConn\` ${prod.pgbouncer!.maxClientConn} per pod`);
  expect(flat).toContain(`prod's 2 to ${prod.apiServer!.autoscaling!.maxReplicas} api-servers`);
  expect(prod.options?.api?.workers).toBeUndefined(); // Airflow's default, which the README states
});

test('the README\'s DAG of task pod profiles is docs/examples/task_pod_profiles.py, and uses the presets\' profile files and pools', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const dag = readFileSync(join(ROOT, 'docs', 'examples', 'task_pod_profiles.py'), 'utf8');
  expect(readme).toContain('```python\n' + dag + '```');
  const profiles = lib.ENVIRONMENTS.prod.airflow.taskPods!.profiles!;
  const used = [...dag.matchAll(/executor_config=\{"pod_template_file": f"\{PROFILES\}\/([a-z0-9-]+)\.yaml"\}\)/g)].map(m => m[1]);
  expect(used).toEqual(['small', 'large']);
  for (const profile of used) expect(profiles[profile]).toBeDefined();
  expect(/^PROFILES = "([^"]+)"$/m.exec(dag)![1]).toBe(lib.POD_TEMPLATE_DIR);
  // no pool in the DAG: the cluster policy in dist/ puts the slotted profile's task in its pool
  expect(dag).not.toMatch(/pool=/);
  const policy = loadManifests([join(ROOT, 'dist', 'prod.k8s.yaml')]).map(m => m.object as any)
    .find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-pod-template').data['airflow_local_settings.py'];
  expect(policy).toContain(`"${lib.POD_TEMPLATE_DIR}/large.yaml": "large",`);
  expect(policy).not.toContain('small.yaml');
});

test('the README\'s environments table gives each preset\'s schedulers, api-servers, task pods at once and quota', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const row = (first: string) => readme.split('\n').find(l => l.startsWith(`| ${first} |`))!.split('|').slice(2, -1).map(c => c.trim());
  const tiers = ['dev', 'staging', 'prod'] as const;
  const charts = tiers.map(t => new lib.AirflowChart(cdk8s.Testing.app(), t, lib.ENVIRONMENTS[t]));
  expect(row('scheduler / api-server').map(c => /^\d+ \/ \d+( to \d+)?/.exec(c)![0])).toEqual(charts.map(c => {
    const hpa = c.airflow.apiServer.autoscaler;
    return `${c.airflow.scheduler.replicas} / ${hpa ? `${hpa.toJson().spec.minReplicas} to ${hpa.toJson().spec.maxReplicas}` : c.airflow.apiServer.replicas}`;
  }));
  expect(row('task pods at once (`[core] parallelism` × schedulers)')).toEqual(charts.map(c => {
    const parallelism = c.airflow.config.cfgOptions.core?.parallelism ?? String(lib.AIRFLOW_DEFAULT_PARALLELISM);
    return c.airflow.scheduler.replicas === 1 ? parallelism : `${c.airflow.scheduler.replicas} × ${parallelism}`;
  }));
  expect(row('ResourceQuota (`requests.cpu`, `requests.memory`, `limits.memory`, `pods`)')).toEqual(charts.map(c => {
    const hard = c.quota!.resourceQuota.toJson().spec.hard;
    return [hard['requests.cpu'], hard['requests.memory'], hard['limits.memory'], hard.pods].join(', ');
  }));
});

test('the README lists the supported Airflow series and the default version the library pins', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const row = readme.split('\n').find(l => l.startsWith('| Airflow |'));
  expect(row).toBeDefined();
  expect(row).toContain(`| Airflow | ${SUPPORTED_AIRFLOW_SERIES.map(s => `${s}.x`).join(', ')} (`);
  expect(row).toContain(`| ${AIRFLOW_VERSION}, run by`);
  const rowOf = (name: string) => readme.split('\n').find(l => l.startsWith(`| ${name} |`));
  expect(rowOf('PostgreSQL (in-cluster, dev and staging)')).toMatch(new RegExp(`\\| \`${lib.DEFAULT_POSTGRES_IMAGE}\` \\|$`));
  expect(rowOf('git-sync')).toMatch(new RegExp(`\\| \`${lib.DEFAULT_GIT_SYNC_IMAGE}\` \\|$`));
  const versions = K8S_SCHEMAS.map(p => /k8s-(\d+\.\d+)-definitions/.exec(p)![1]);
  expect(readme).toContain(`| Kubernetes | ${versions[0]} to ${versions[versions.length - 1]}: every object validates strictly against both API schemas`);
});

test('the README\'s "Fit it to your platform" example runs against lib/ and does what the text says', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippet = readme.split('### Fit it to your platform')[1].split('```ts\n')[1].split('```')[0];
  const outdir = runSnippet(snippet);
  const file = join(outdir, 'platform.k8s.yaml');
  const out = loadManifests([file]);
  const pods = out.flatMap(m => { const t = podTemplateOf(m.object); return t ? [{ name: `${(m.object as any).kind}/${(m.object as any).metadata.name}`, spec: t.spec }] : []; });
  const airflowPods = pods.filter(p => p.spec.containers[0].image.startsWith('apache/airflow:') && !p.name.includes('pgbouncer'));
  expect(airflowPods.length).toBeGreaterThanOrEqual(9); // 4 components, 2 Jobs, 2 CronJobs, the task pod
  // the connections Secret reaches every Airflow pod, the task pod included, by reference
  for (const p of airflowPods) expect([p.name, p.spec.containers[0].envFrom]).toEqual([p.name, [{ secretRef: { name: 'airflow-connections' } }]]);
  const task = pods.find(p => p.name.includes('placeholder-name'))!;
  expect(task.spec.nodeSelector).toEqual({ 'node.kubernetes.io/pool': 'tasks' });
  expect(pods.find(p => p.name === 'Deployment/airflow-scheduler')!.spec.nodeSelector).toEqual({ 'node.kubernetes.io/pool': 'airflow' });
  const objects = out.filter(m => !m.embeddedIn).map(m => m.object as any);
  const poolsJob = objects.find(o => o.kind === 'Job' && o.metadata.name.startsWith('airflow-pools-'));
  expect(JSON.parse(poolsJob.spec.template.spec.containers[0].env.find((e: any) => e.name === 'AIRFLOW_POOLS').value).etl.slots).toBe(8);
  expect(objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'airflow-api-server').spec.minReadySeconds).toBe(10);
  expect(readFileSync(file, 'utf8')).not.toMatch(/AIRFLOW_CONN_/); // only the Secret's name is in the output
  const { status, report } = runCheck(file);
  expect([...report.schemaErrors, ...report.policyViolations, ...report.hygieneProblems]).toEqual([]);
  expect(status).toBe(0);
});

describe('SECURITY.md', () => {
  const security = readFileSync(join(__dirname, '..', 'SECURITY.md'), 'utf8');
  const dev = loadManifests([join(__dirname, '..', 'dist', 'dev.k8s.yaml')]).map(m => m.object as any);

  test('what it says of the api-server\'s reachability is what dist/ does: task pods, then only apiServerFrom', () => {
    expect(security).toContain('admits the installation\'s task pods and only the clients named in\n  `networkPolicies.apiServerFrom`');
    const from = (tier: string) => loadManifests([join(__dirname, '..', 'dist', `${tier}.k8s.yaml`)]).map(m => m.object as any)
      .find(o => o.kind === 'NetworkPolicy' && o.metadata.name === 'airflow-api-server').spec.ingress[0].from;
    const taskPods = { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'airflow', 'app.kubernetes.io/instance': 'airflow', 'app.kubernetes.io/component': 'worker' } } };
    expect(from('staging')).toEqual([taskPods]);
    expect(from('dev')).toEqual([taskPods, { ipBlock: { cidr: '0.0.0.0/0' } }]);
    expect(security.replace(/\s+/g, ' ')).toContain('The dev preset names every source (`0.0.0.0/0`), so that its NodePort answers');
    const ingressController = from('prod')[1].namespaceSelector.matchLabels['kubernetes.io/metadata.name'];
    expect(from('prod')).toEqual([taskPods, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ingressController } } }]);
    expect(security.replace(/\s+/g, ' ')).toContain('prod names its Ingress controller\'s namespace, whose Ingress routes the UI and REST API but closes the Task Execution API');
  });

  test('the secrets it says DAG-running components hold are the ones their containers read, and no JWT key', () => {
    const prod = loadManifests([join(__dirname, '..', 'dist', 'prod.k8s.yaml')]).map(m => m.object as any);
    for (const objects of [dev, prod]) {
      for (const name of ['airflow-dag-processor', 'airflow-triggerer']) {
        const spec = objects.find(o => o.kind === 'Deployment' && o.metadata.name === name).spec.template.spec;
        const env = [...spec.initContainers ?? [], ...spec.containers].flatMap((c: any) => (c.env ?? []).map((e: any) => e.name));
        expect(env).toEqual(expect.arrayContaining(['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'AIRFLOW__CORE__FERNET_KEY']));
        expect(env.filter((n: string) => n.startsWith('AIRFLOW__API_AUTH__'))).toEqual([]);
        expect(JSON.stringify(spec)).not.toMatch(/jwt/i);
      }
    }
    expect(security).toContain('hold the database\n  URL and the fernet key');
    expect(security).toContain('They hold no JWT signing\n  key');
  });

  test('what it says the scheduler may create is what prod\'s admission policy says', () => {
    const prod = loadManifests([join(__dirname, '..', 'dist', 'prod.k8s.yaml')]).map(m => m.object as any);
    const policy = prod.find(o => o.kind === 'ValidatingAdmissionPolicy');
    expect(policy.spec.matchConditions[0].expression).toContain('system:serviceaccount:airflow-prod:airflow-scheduler');
    expect(policy.spec.validations.map((v: any) => v.message)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^task pods run only the allowed images/), expect.stringMatching(/without a token/),
      expect.stringMatching(/^task pods reference only the Secret keys/), 'the scheduler changes only the labels and annotations of pods']));
    expect(security).toContain('**The scheduler creates only task pods** (prod;');
  });

  test('the files and sections it points to exist', () => {
    expect(readFileSync(join(__dirname, '..', 'docs', 'operations.md'), 'utf8')).toContain('## Private DAG repositories');
    expect(readFileSync(join(__dirname, '..', 'docs', 'getting-started.md'), 'utf8')).toContain('## Prerequisites');
    expect(readFileSync(join(__dirname, '..', 'README.md'), 'utf8')).toContain('## Security by default');
  });
});
