// The docs are current: the operator guide names real objects (each `kind/name`, PVC, label and container it
// points at exists in dist/), and the API reference is what typedoc generates from the docstrings now.
import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { loadManifests } from '../scripts/manifests';
import { tempDir } from './helpers';

const ROOT = join(__dirname, '..');
const GUIDE = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
const objects = loadManifests([join(ROOT, 'dist', 'dev.k8s.yaml')]).filter(m => !m.embeddedIn).map(m => m.object as any);
const everywhere = loadManifests([join(ROOT, 'dist')]).filter(m => !m.embeddedIn).map(m => m.object as any);
const named = (kind: string, name: string, among = objects) => among.some(o => o.kind.toLowerCase() === kind && o.metadata.name === name);

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
