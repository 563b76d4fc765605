// `npm pack` gives a package another TypeScript repository can install and compose its own chart with.
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// The README's composition example, in full.
const CONSUMER = readFileSync(join(ROOT, 'README.md'), 'utf8')
  .split('```ts\n')[1].split('```')[0]
  .replace("'cdk8s-airflow'", `'${pkg.name}'`);

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
  expect(CONSUMER).toContain('app.synth()');
  writeFileSync(join(consumer, 'main.ts'), CONSUMER);
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--target', 'ES2022',
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
});
