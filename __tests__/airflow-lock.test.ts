// The integration tests install the Airflow the default image runs, from a committed lock with hashes
// (scripts/integration/lock-airflow.sh regenerates it): the lock must follow the pinned version.
import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { AIRFLOW_VERSION, DEFAULT_AIRFLOW_IMAGE } from '../lib';

const lockFile = join(__dirname, '..', 'scripts', 'integration', `airflow-${AIRFLOW_VERSION}.lock.txt`);

/** name -> { version, hashes } of a pip requirements file written with --generate-hashes. */
function parseLock(text: string): Map<string, { version: string; hashes: string[] }> {
  const out = new Map<string, { version: string; hashes: string[] }>();
  for (const block of text.replace(/\\\n/g, ' ').split('\n').filter(l => /^[a-z0-9]/i.test(l))) {
    const m = /^([A-Za-z0-9_.-]+)==(\S+)(.*)$/.exec(block.trim());
    if (!m) throw new Error(`not a pinned requirement: ${block}`);
    out.set(m[1].toLowerCase(), { version: m[2], hashes: [...m[3].matchAll(/--hash=sha256:([0-9a-f]{64})/g)].map(h => h[1]) });
  }
  return out;
}

test('the lock pins exactly the Airflow of the default image, with its Kubernetes, PostgreSQL and FAB providers (and Authlib, FAB\'s OAuth)', () => {
  expect(DEFAULT_AIRFLOW_IMAGE).toBe(`apache/airflow:${AIRFLOW_VERSION}`);
  expect(existsSync(lockFile)).toBe(true);
  const lock = parseLock(readFileSync(lockFile, 'utf8'));
  expect(lock.get('apache-airflow')?.version).toBe(AIRFLOW_VERSION);
  expect(lock.get('apache-airflow-core')?.version).toBe(AIRFLOW_VERSION);
  for (const p of ['apache-airflow-providers-cncf-kubernetes', 'apache-airflow-providers-postgres', 'apache-airflow-task-sdk', 'psycopg2-binary', 'asyncpg',
    'apache-airflow-providers-fab', 'flask-appbuilder', 'authlib']) {
    expect(lock.has(p) ? p : `${p} missing`).toBe(p);
  }
});

test('every locked package is pinned to one version and carries sha256 hashes (pip --require-hashes)', () => {
  const lock = parseLock(readFileSync(lockFile, 'utf8'));
  expect(lock.size).toBeGreaterThan(100);
  const unhashed = [...lock].filter(([, v]) => v.hashes.length === 0).map(([k]) => k);
  expect(unhashed).toEqual([]);
});

test('the lock parser refuses an unpinned requirement (the check can fail)', () => {
  expect(() => parseLock('apache-airflow>=3\n')).toThrow(/not a pinned requirement/);
  expect(parseLock('six==1.16.0\n').get('six')?.hashes).toEqual([]);
});
