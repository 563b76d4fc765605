// `npm pack` gives a package another TypeScript repository can install and compose its own chart with.
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const ROOT = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

const CONSUMER = `
import { App, Chart } from 'cdk8s';
import {
  AirflowConfig, AirflowScheduler, ApiServer, GitSync, PostgresStatefulSet, SchedulerRbac, TaskPodTemplate,
} from '${pkg.name}';

const app = new App({ outdir: 'out' });
const chart = new Chart(app, 'platform', { namespace: 'data-platform', disableResourceNameHashes: true });
const instanceName = 'platform';
const gitSync = new GitSync(chart, 'dags', { repository: 'https://github.com/example/dags.git', ref: 'main' });
const config = new AirflowConfig(chart, 'config', { instanceName, dagsFolder: gitSync.dagsFolder });
const rbac = new SchedulerRbac(chart, 'rbac', { instanceName });
new PostgresStatefulSet(chart, 'db', { instanceName });
const podTemplate = new TaskPodTemplate(chart, 'tasks', { config, gitSync });
new AirflowScheduler(chart, 'scheduler', { config, podTemplate, serviceAccountName: rbac.schedulerServiceAccountName });
new ApiServer(chart, 'api', { config, replicas: 2 });
app.synth();
`;

test('the packed package installs, type-checks and synthesizes in another project', () => {
  const work = mkdtempSync(join(tmpdir(), 'pack-'));
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  const files: string[] = packed.files.map((f: { path: string }) => f.path);
  expect(files).toEqual(expect.arrayContaining(['build/lib/index.js', 'build/lib/index.d.ts', 'build/lib/airflow-options.json', 'build/imports/k8s.js']));
  expect(files.filter(f => f.startsWith('dist/') || f.startsWith('__tests__/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);

  // A consumer project: the tarball unpacked as node_modules/<name>; the dependencies npm would
  // install are linked from ours (no registry needed).
  const consumer = join(work, 'consumer');
  const modules = join(consumer, 'node_modules');
  mkdirSync(join(modules, pkg.name), { recursive: true });
  execFileSync('tar', ['-xzf', join(work, packed.filename), '-C', join(modules, pkg.name), '--strip-components=1']);
  mkdirSync(join(modules, '@types'));
  for (const dep of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies), '@types/node']) {
    if (!existsSync(join(modules, dep))) symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep));
  }
  writeFileSync(join(consumer, 'main.ts'), CONSUMER);
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--target', 'ES2022',
    '--module', 'commonjs', '--esModuleInterop', '--skipLibCheck', 'false', 'main.ts'], { cwd: consumer, encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  const run = spawnSync(process.execPath, ['main.js'], { cwd: consumer, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  const yaml = readFileSync(join(consumer, 'out', 'platform.k8s.yaml'), 'utf8');
  for (const name of ['platform-scheduler', 'platform-api-server', 'platform-postgresql', 'platform-pod-template']) {
    expect(yaml).toContain(`name: ${name}\n`);
  }
  expect(yaml).toContain('execution_api_server_url = http://platform-api-server.data-platform:8080/execution/');
});
