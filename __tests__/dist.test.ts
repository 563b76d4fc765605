// dist/ is what GitOps pipelines apply: it must be what synth writes now, byte for byte, and clean.
import { execFileSync, execSync, spawnSync } from 'child_process';
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { parse } from 'yaml';
import { TEAMS } from '../lib';
import { buildApp } from '../lib/app';
import { hygieneProblems } from '../scripts/hygiene';
import { loadManifests, parseManifests } from '../scripts/manifests';
import { tempDir, TIERS } from './helpers';

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');

function synthTo(): string {
  const dir = tempDir('airflow-synth-');
  buildApp(dir).synth();
  return dir;
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map(f => [f, readFileSync(join(dir, f), 'utf8')]));
}

const fresh = files(synthTo());

test('dist/ holds one YAML file per environment and per team', () => {
  expect(Object.keys(files(DIST))).toEqual([...TIERS, ...Object.keys(TEAMS)].map(t => `${t}.k8s.yaml`).sort());
});

test('dist/ is what `npm run synth` writes now (run it and commit dist/ if this fails)', () => {
  // the app command and output folder of cdk8s.yaml, as `cdk8s synth` runs them (CDK8S_OUTDIR is how
  // the CLI hands the output folder to the app)
  const { app, output } = parse(readFileSync(join(ROOT, 'cdk8s.yaml'), 'utf8'));
  expect(output).toBe('dist');
  const outdir = tempDir('airflow-app-');
  execSync(app, { cwd: ROOT, env: { ...process.env, CDK8S_OUTDIR: outdir }, stdio: 'pipe' });
  const written = files(outdir);
  const committed = files(DIST);
  for (const [name, text] of Object.entries(written)) expect({ name, text }).toEqual({ name, text: committed[name] });
  expect(Object.keys(committed)).toEqual(Object.keys(written));
  expect(written).toEqual(fresh);
});

test('`npm run synth` and `cdk8s synth` write those same bytes', () => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  expect(scripts.synth).toBe('node scripts/synth.js');
  const env = { ...process.env, CDK8S_CHECK_UPGRADE: 'false', CDK8S_OUTDIR: '' };
  const viaNpm = tempDir('airflow-npm-');
  execFileSync('npm', ['run', '--silent', 'synth', '--', '--output', viaNpm], { cwd: ROOT, env, stdio: 'pipe' });
  expect(files(viaNpm)).toEqual(fresh);
  const viaCli = tempDir('airflow-cli-');
  execFileSync(join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['synth', '--no-check-upgrade', '--output', viaCli], { cwd: ROOT, env, stdio: 'pipe' });
  expect(files(viaCli)).toEqual(fresh);
});

test('synth refuses an output folder that holds the project, and removes nothing', () => {
  const r = spawnSync(process.execPath, ['scripts/synth.js', '--output', '..'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--output \.\. would remove the project itself/);
  expect(readdirSync(ROOT)).toEqual(expect.arrayContaining(['lib', 'main.ts', 'package.json']));
});

test('synth twice gives identical bytes', () => {
  expect(files(synthTo())).toEqual(fresh);
});

describe('output hygiene', () => {
  const manifests = loadManifests([DIST]);

  test('no Secret with data, no null, no credential in env values or URLs, pinned images, requests and limits', () => {
    expect(manifests.length).toBeGreaterThan(40);
    expect(manifests.flatMap(hygieneProblems)).toEqual([]);
  });

  test('no Secret objects at all: every secret is referenced by name', () => {
    expect(manifests.filter(m => m.object.kind === 'Secret')).toEqual([]);
  });

  test('no cdk8s hash suffixes in names', () => {
    for (const m of manifests) {
      const name = m.object.metadata!.name!;
      // cdk8s appends "-c8" plus six hex digits of the construct path's hash; our names are chosen
      // the Jobs whose names end in a hash of their spec (revisionedJob): the migrations and the pools
      if (m.object.kind === 'Job') expect(name).toMatch(/^airflow-(db-migrate|pools)-[0-9a-f]{10}$/);
      else expect(name).not.toMatch(/-[0-9a-f]{8}$/);
    }
  });

  test('the hygiene check itself finds each kind of problem', () => {
    const bad = parseManifests('bad.yaml', [
      'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: aHVudGVyMg==}',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: null}\nspec:\n  containers:\n  - name: c\n    image: apache/airflow:latest\n' +
      '    env: [{name: DB_PASSWORD, value: hunter2}, {name: URL, value: "postgresql://u:hunter2@db/x"}, {name: SIGNING_PRIVATE_KEY, value: "-----BEGIN"},\n' +
      '      {name: JWT_PRIVATE_KEY_PATH, value: /etc/key/private.pem}, {name: GIT_PASSWORD_FILE, value: /etc/git/password},\n' +
      '      {name: API_TOKEN_FILE, value: hunter2}]',
    ].join('\n---\n'));
    const problems = bad.flatMap(hygieneProblems).join('\n');
    // a path to a credential file is not a credential; a credential in a variable named like one is
    expect(problems).not.toMatch(/JWT_PRIVATE_KEY_PATH|GIT_PASSWORD_FILE/);
    expect(problems).toContain('env API_TOKEN_FILE has a literal value');
    expect(problems).toContain('env SIGNING_PRIVATE_KEY has a literal value');
    for (const fragment of ['Secret with data', 'metadata.labels is null', 'URL with credentials', 'env DB_PASSWORD has a literal value',
      'not pinned', 'needs CPU and memory requests']) expect(problems).toContain(fragment);
  });
});
