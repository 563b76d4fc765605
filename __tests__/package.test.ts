// `npm pack` gives a package another TypeScript or JavaScript repository can install and compose its own
// chart with (CommonJS and ESM), with the project's gate as a command: `npx cdk8s-airflow check`.
import { execFileSync, spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { parseAllDocuments } from 'yaml';
import { tempDir } from './helpers';

const ROOT = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// The README's TypeScript examples, in full: the composition example and "Fit it to your platform".
const README_TS = readFileSync(join(ROOT, 'README.md'), 'utf8').split('```ts\n').slice(1)
  .map(block => block.split('```')[0].replace("'cdk8s-airflow'", `'${pkg.name}'`));
const CONSUMER = README_TS[0];

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The packed tarball unpacked as node_modules/<name> of a new project, its bin linked as npm links it; the dependencies npm would install linked from ours (no registry needed). */
function consumerProject(work: string, tarball: string, name: string): string {
  const consumer = join(work, name);
  const modules = join(consumer, 'node_modules');
  mkdirSync(join(modules, pkg.name), { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', join(modules, pkg.name), '--strip-components=1']);
  for (const dep of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies), '@types/node']) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    if (!existsSync(join(modules, dep))) symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep));
  }
  mkdirSync(join(modules, '.bin'));
  for (const [bin, file] of Object.entries<string>(pkg.bin)) {
    symlinkSync(join('..', pkg.name, file), join(modules, '.bin', bin));
    chmodSync(join(modules, pkg.name, file), 0o755); // as npm's bin-links does on install
  }
  return consumer;
}

let work: string;
let tarball: string;
let files: string[];

beforeAll(() => {
  work = tempDir('pack-');
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  files = packed.files.map((f: { path: string }) => f.path);
  tarball = join(work, packed.filename);
});

test('the package holds the build of the library and of its command, with the schemas the command needs', () => {
  expect(files).toEqual(expect.arrayContaining(['build/lib/index.js', 'build/lib/index.d.ts', 'build/lib/config/airflow-options.json', 'build/lib/core/props-shapes.json',
    'build/imports/k8s.js', 'build/scripts/cli.js', 'build/scripts/check.js', 'build/scripts/secrets.js', 'build/scripts/reference/k8s-1.28-definitions.json',
    'build/scripts/reference/k8s-1.36-definitions.json', 'LICENSE', 'CHANGELOG.md', 'README.md']));
  expect(files.filter(f => f.startsWith('dist/') || f.startsWith('__tests__/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  expect(pkg.bin).toEqual({ 'cdk8s-airflow': 'build/scripts/cli.js' });
  expect(readFileSync(join(ROOT, 'scripts', 'cli.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
});

test('the packed package installs, type-checks and synthesizes in another project (CommonJS)', () => {
  const consumer = consumerProject(work, tarball, 'consumer');
  expect(CONSUMER).toContain('app.synth()');
  writeFileSync(join(consumer, 'main.ts'), CONSUMER);
  const tsc = spawnSync(process.execPath, [TSC, '--strict', '--target', 'ES2022',
    '--module', 'commonjs', '--esModuleInterop', '--skipLibCheck', 'false', 'main.ts'], { cwd: consumer, encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  const run = spawnSync(process.execPath, ['main.js'], { cwd: consumer, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  const objects = parseAllDocuments(readFileSync(join(consumer, 'dist', 'data.k8s.yaml'), 'utf8')).map(d => d.toJS());
  const names = objects.map(o => `${o.kind}/${o.metadata.name}`);
  expect(names).toEqual(expect.arrayContaining(['Deployment/airflow-scheduler', 'Deployment/airflow-api-server', 'Deployment/airflow-dag-processor',
    'Deployment/airflow-triggerer', 'StatefulSet/airflow-postgresql', 'ConfigMap/airflow-pod-template', 'ServiceAccount/airflow-scheduler']));
  expect(names.some(n => /^Job\/airflow-db-migrate-[0-9a-f]{10}$/.test(n))).toBe(true);
  const cfg = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-config').data['airflow.cfg'];
  expect(cfg).toContain('execution_api_server_url = http://airflow-api-server.data-platform:8080/execution/');

  // the gate, as a library user runs it on their own output
  const check = spawnSync('npx', ['--no-install', 'cdk8s-airflow', 'check', 'dist'], { cwd: consumer, encoding: 'utf8' });
  expect({ status: check.status, stderr: check.stderr.replace(/npm warn.*\n/g, '') }).toEqual({ status: 0, stderr: '' });
  expect(check.stdout).toMatch(/^check: \d+ objects in 1 files, plus 1 pod templates; schema \(Kubernetes 1\.28, Kubernetes 1\.36; strict\): 0 errors; .* 0 violations; hygiene: 0 problems\n$/);
  writeFileSync(join(consumer, 'dist', 'broken.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}], typo: 1}\n');
  const broken = spawnSync('npx', ['--no-install', 'cdk8s-airflow', 'check', 'dist'], { cwd: consumer, encoding: 'utf8' });
  expect(broken.status).toBe(1);
  expect(broken.stderr).toContain("dist/broken.yaml:1 (Service s, Kubernetes 1.28): /spec must NOT have additional properties 'typo'");
  const secrets = spawnSync('npx', ['--no-install', 'cdk8s-airflow', 'secrets', '--dry-run', 'dist/data.k8s.yaml'], { cwd: consumer, encoding: 'utf8' });
  expect(secrets.status).toBe(0);
  expect(secrets.stdout).toContain('data-platform/airflow-secrets: fernet-key — a Fernet key');
});

test("the README's examples compile and run in a new project set up as the README says (tsc --init, ESM)", () => {
  const consumer = consumerProject(work, tarball, 'esm');
  execFileSync(process.execPath, [TSC, '--init'], { cwd: consumer, stdio: 'pipe' });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'platform', private: true, type: 'module' }));
  writeFileSync(join(consumer, 'main.ts'), CONSUMER);
  expect(README_TS).toHaveLength(2);
  writeFileSync(join(consumer, 'platform.ts'), README_TS[1]);
  const tsc = spawnSync(process.execPath, [TSC], { cwd: consumer, encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  const run = spawnSync(process.execPath, ['main.js'], { cwd: consumer, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(readFileSync(join(consumer, 'dist', 'data.k8s.yaml'), 'utf8')).toContain('name: airflow-scheduler');
  const platform = spawnSync(process.execPath, ['platform.js'], { cwd: consumer, encoding: 'utf8' });
  expect(platform.stderr).toBe('');
  expect(readFileSync(join(consumer, 'dist', 'platform.k8s.yaml'), 'utf8')).toContain('secretRef:\n                name: airflow-connections');
});

test('plain JavaScript ESM gets named exports and the same errors', () => {
  const consumer = consumerProject(work, tarball, 'js');
  writeFileSync(join(consumer, 'main.mjs'), `import { AirflowApp, AirflowChart, ENVIRONMENTS } from '${pkg.name}';
const app = new AirflowApp({ outdir: 'out' });
new AirflowChart(app, 'dev', ENVIRONMENTS.dev);
app.synth();
try { new AirflowChart(app, 'typo', { ...ENVIRONMENTS.dev, namespace: 'other', airflow: { scheduler: { replica: 3 } } }); }
catch (e) { console.log(e.name + ': ' + e.message); }
`);
  const run = spawnSync(process.execPath, ['main.mjs'], { cwd: consumer, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.stdout).toContain('AirflowValidationError: AirflowChart [typo] airflow.scheduler.replica: got 3; expected a property of airflow.scheduler that exists: did you mean "replicas"?');
  expect(readFileSync(join(consumer, 'out', 'dev.k8s.yaml'), 'utf8')).toContain('namespace: airflow-dev');
});
