// cdk8s-airflow secrets, against a stand-in kubectl that keeps Secrets in a JSON file and records every
// command line: what it creates for each environment and for a chart of one's own, in which formats, that
// it never overwrites, never puts a value in a command line, and writes nothing while an input is missing.
import { spawnSync } from 'child_process';
import { createPrivateKey } from 'crypto';
import { chmodSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { Airflow, SecretKeyRef } from '../lib';
import { publicJwk } from '../scripts/secrets';
import { tempDir, TIERS } from './helpers';

const ROOT = join(__dirname, '..');

const FAKE_KUBECTL = `#!/usr/bin/env node
const fs = require('fs');
const args = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(process.env.FAKE_STATE, 'utf8'));
fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify(args) + '\\n');
const save = () => fs.writeFileSync(process.env.FAKE_STATE, JSON.stringify(state));
const at = (flag) => args[args.indexOf(flag) + 1];
const ns = args.includes('-n') ? at('-n') : undefined;
const cmd = args.filter((a, i) => !a.startsWith('-') && !['-n', '--context', '-f'].includes(args[i - 1]));
const stdin = () => fs.readFileSync(0, 'utf8');
const b64 = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
if (cmd[0] === 'config') { console.log('fake-context'); process.exit(0); }
if (cmd[0] === 'get' && cmd[1] === 'namespace') process.exit(state.namespaces.includes(cmd[2]) ? 0 : 1);
if (cmd[0] === 'create' && cmd[1] === 'namespace') { state.namespaces.push(cmd[2]); save(); process.exit(0); }
if (cmd[0] === 'get' && cmd[1] === 'secrets') {
  if (!state.namespaces.includes(ns)) { console.error('namespace not found'); process.exit(1); }
  console.log(JSON.stringify({ items: state.secrets.filter(s => s.metadata.namespace === ns) })); process.exit(0);
}
if (cmd[0] === 'create' && at('-f') === '-') {
  const s = JSON.parse(stdin());
  if (state.secrets.some(x => x.metadata.namespace === ns && x.metadata.name === s.metadata.name)) { console.error('AlreadyExists'); process.exit(1); }
  state.secrets.push({ metadata: s.metadata, data: b64(s.stringData) }); save(); process.exit(0);
}
if (cmd[0] === 'replace' && at('-f') === '-') {
  const s = JSON.parse(stdin());
  const i = state.secrets.findIndex(x => x.metadata.namespace === ns && x.metadata.name === s.metadata.name);
  state.secrets[i] = { metadata: s.metadata, data: s.data }; save(); process.exit(0);
}
console.error('fake kubectl: unexpected ' + args.join(' ')); process.exit(3);
`;

interface Run { status: number | null; stdout: string; stderr: string; argv: string[][]; secrets: Record<string, Record<string, string>>; labels: Record<string, any> }

function run(args: string[], existing: { namespaces?: string[]; secrets?: Record<string, Record<string, string>> } = {}): Run {
  const dir = tempDir('fake-kubectl-');
  writeFileSync(join(dir, 'kubectl'), FAKE_KUBECTL);
  chmodSync(join(dir, 'kubectl'), 0o755);
  const secrets = Object.entries(existing.secrets ?? {}).map(([id, data]) => ({
    metadata: { namespace: id.split('/')[0], name: id.split('/')[1] },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  }));
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ namespaces: existing.namespaces ?? [], secrets }));
  writeFileSync(join(dir, 'log'), '');
  const r = spawnSync(process.execPath, ['-r', './scripts/register.js', 'scripts/secrets.ts', ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_STATE: join(dir, 'state.json'), FAKE_LOG: join(dir, 'log') },
  });
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  return {
    status: r.status, stdout: r.stdout, stderr: r.stderr,
    argv: readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l)),
    secrets: Object.fromEntries(state.secrets.map((s: any) => [`${s.metadata.namespace}/${s.metadata.name}`,
      Object.fromEntries(Object.entries<string>(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))])),
    labels: Object.fromEntries(state.secrets.map((s: any) => [`${s.metadata.namespace}/${s.metadata.name}`, s.metadata.labels])),
  };
}

const dist = (tier: string) => join(ROOT, 'dist', `${tier}.k8s.yaml`);
const HEX = /^[0-9a-f]{64}$/;

test('dev: every key the YAML references, each in its consumer\'s format, the URL built from the database password', () => {
  const r = run([dist('dev')]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('secrets: writing to cluster context "fake-context"');
  const s = r.secrets['airflow-dev/airflow-secrets'];
  const password = r.secrets['airflow-dev/airflow-postgresql'].password;
  expect(Object.keys(s).sort()).toEqual(['api-secret-key', 'fernet-key', 'jwt-secret', 'simple-auth-manager-passwords', 'sql-alchemy-conn']);
  expect(Buffer.from(s['fernet-key'], 'base64url')).toHaveLength(32);
  expect(s['fernet-key']).toMatch(/^[A-Za-z0-9_-]{43}=$/);
  expect([s['jwt-secret'], s['api-secret-key'], password]).toEqual([expect.stringMatching(HEX), expect.stringMatching(HEX), expect.stringMatching(HEX)]);
  expect(new Set([s['jwt-secret'], s['api-secret-key'], password]).size).toBe(3);
  expect(JSON.parse(s['simple-auth-manager-passwords'])).toEqual({ admin: expect.stringMatching(HEX) });
  expect(s['sql-alchemy-conn']).toBe(`postgresql+psycopg2://airflow:${password}@airflow-postgresql.airflow-dev:5432/airflow`);
  expect(r.labels['airflow-dev/airflow-secrets']).toEqual({ 'app.kubernetes.io/managed-by': 'cdk8s-airflow-secrets' });
  const values = [...Object.values(s), password];
  expect(r.argv.flat().filter(a => values.some(v => a.includes(v)))).toEqual([]);
  expect(r.stdout + r.stderr).not.toContain(password);
});

test('staging: components through PgBouncer, migrations straight to PostgreSQL, PgBouncer\'s userlist with the same password', () => {
  const r = run([dist('staging')]);
  expect(r.status).toBe(0);
  const password = r.secrets['airflow-staging/airflow-postgresql'].password;
  expect(r.secrets['airflow-staging/airflow-secrets']['sql-alchemy-conn']).toBe(`postgresql+psycopg2://airflow:${password}@airflow-pgbouncer.airflow-staging:6432/airflow`);
  expect(r.secrets['airflow-staging/airflow-postgresql'].connection).toBe(`postgresql+psycopg2://airflow:${password}@airflow-postgresql.airflow-staging:5432/airflow`);
  expect(r.secrets['airflow-staging/airflow-pgbouncer']['userlist.txt']).toBe(`"airflow" "${password}"\n`);
});

test('a second run changes nothing; a Secret that exists gets only its missing keys', () => {
  const first = run([dist('dev')]);
  const again = run([dist('dev')], { namespaces: ['airflow-dev'], secrets: first.secrets });
  expect(again.status).toBe(0);
  expect(again.secrets).toEqual(first.secrets);
  expect(again.stdout).toContain('secrets: 0 keys written to 0 Secrets; 6 existed and were left as they are');
  expect(again.argv.filter(a => a.includes('create') || a.includes('replace'))).toEqual([]);

  const partial = run([dist('dev')], { namespaces: ['airflow-dev'], secrets: { 'airflow-dev/airflow-secrets': { 'fernet-key': 'kept' } } });
  expect(partial.status).toBe(0);
  expect(partial.secrets['airflow-dev/airflow-secrets']['fernet-key']).toBe('kept');
  expect(Object.keys(partial.secrets['airflow-dev/airflow-secrets']).sort()).toEqual(['api-secret-key', 'fernet-key', 'jwt-secret', 'simple-auth-manager-passwords', 'sql-alchemy-conn']);
  expect(partial.argv.filter(a => a.includes('replace'))).toEqual([['-n', 'airflow-dev', 'replace', '-f', '-']]);
});

test('prod: nothing is written until the URL of your own database exists; then the PgBouncer URL and userlist come from it', () => {
  const blocked = run([dist('prod')]);
  expect(blocked.status).toBe(1);
  expect(blocked.stderr).toContain('airflow-prod/airflow-database: connection is yours to provide');
  expect(blocked.secrets).toEqual({});
  expect(blocked.argv.filter(a => a.includes('create') || a.includes('replace'))).toEqual([]);

  const url = 'postgresql+psycopg2://airflow:p%40ss%2Fword@db.example.internal:5432/airflow?sslmode=require';
  const r = run([dist('prod')], { namespaces: ['airflow-prod'], secrets: { 'airflow-prod/airflow-database': { connection: url }, 'airflow-prod/airflow-oidc': { 'client-secret': 'from-the-idp' } } });
  expect(r.stderr).toBe('');
  expect(r.secrets['airflow-prod/airflow-database'].connection).toBe(url);
  expect(r.secrets['airflow-prod/airflow-pgbouncer']['userlist.txt']).toBe('"airflow" "p@ss/word"\n');
  expect(r.secrets['airflow-prod/airflow-secrets']['sql-alchemy-conn']).toBe('postgresql+psycopg2://airflow:p%40ss%2Fword@airflow-pgbouncer.airflow-prod:6432/airflow');
  // prod's JWT key pair: a private key, its id, and the key set with its public key under that id
  const jwt = r.secrets['airflow-prod/airflow-secrets'];
  expect(createPrivateKey(jwt['jwt-signing-key']).asymmetricKeyType).toBe('ed25519');
  expect(JSON.parse(jwt['jwt-public-keys'])).toEqual({ keys: [publicJwk(jwt['jwt-signing-key'], jwt['jwt-key-id'])] });
  expect(jwt['jwt-secret']).toBeUndefined();
  // a key set missing beside an existing key is made from that key and id, not from a new one
  const existing = { 'jwt-signing-key': jwt['jwt-signing-key'], 'jwt-key-id': 'k-existing' };
  const partial = run([dist('prod')], { namespaces: ['airflow-prod'], secrets: { 'airflow-prod/airflow-database': { connection: url },
    'airflow-prod/airflow-oidc': { 'client-secret': 'x' }, 'airflow-prod/airflow-secrets': existing } });
  expect(partial.stderr).toBe('');
  expect(JSON.parse(partial.secrets['airflow-prod/airflow-secrets']['jwt-public-keys'])).toEqual({ keys: [publicJwk(existing['jwt-signing-key'], 'k-existing')] });
  // an existing key set names the key in use: a new key or id beside it would sign tokens it refuses, so they are yours
  const setOnly = run([dist('prod')], { namespaces: ['airflow-prod'], secrets: { 'airflow-prod/airflow-database': { connection: url },
    'airflow-prod/airflow-oidc': { 'client-secret': 'x' }, 'airflow-prod/airflow-secrets': { 'jwt-public-keys': jwt['jwt-public-keys'] } } });
  expect(setOnly.status).toBe(1);
  expect(setOnly.stderr).toContain('airflow-prod/airflow-secrets: jwt-signing-key is yours to provide: a JWT signing key: Ed25519, PEM (PKCS #8); beside an existing public key set, the private key of a key in it');
  expect(setOnly.stderr).toContain('airflow-prod/airflow-secrets: jwt-key-id is yours to provide');
  expect(setOnly.secrets['airflow-prod/airflow-secrets']).toEqual({ 'jwt-public-keys': jwt['jwt-public-keys'] });
});

test('two installations in one namespace get a key pair each, each key set holding its own signing key', () => {
  const chart = new Chart(Testing.app(), 'two', { namespace: 'data-platform', disableResourceNameHashes: true });
  for (const instanceName of ['team-a', 'team-b']) new Airflow(chart, instanceName, { instanceName, jwtSigning: 'keyPair' });
  const file = join(tempDir('two-'), 'two.yaml');
  writeFileSync(file, Testing.synth(chart).map(o => JSON.stringify(o)).join('\n---\n'));
  const r = run([file]);
  expect(r.stderr).toBe('');
  const pairs = ['team-a', 'team-b'].map(i => r.secrets[`data-platform/${i}-secrets`]);
  for (const p of pairs) expect(JSON.parse(p['jwt-public-keys'])).toEqual({ keys: [publicJwk(p['jwt-signing-key'], p['jwt-key-id'])] });
  expect(pairs[0]['jwt-signing-key']).not.toBe(pairs[1]['jwt-signing-key']);
});

test('a chart of one\'s own: other instance name and namespace, the Secrets its YAML names', () => {
  const chart = new Chart(Testing.app(), 'data', { namespace: 'data-platform', disableResourceNameHashes: true });
  new Airflow(chart, 'airflow', { instanceName: 'team-a' });
  const file = join(tempDir('own-'), 'data.yaml');
  writeFileSync(file, Testing.synth(chart).map(o => JSON.stringify(o)).join('\n---\n'));
  const r = run([file]);
  expect(r.status).toBe(0);
  expect(Object.keys(r.secrets).sort()).toEqual(['data-platform/team-a-postgresql', 'data-platform/team-a-secrets']);
  const password = r.secrets['data-platform/team-a-postgresql'].password;
  expect(r.secrets['data-platform/team-a-secrets']['sql-alchemy-conn']).toBe(`postgresql+psycopg2://airflow:${password}@team-a-postgresql.data-platform:5432/airflow`);
  expect(r.argv[0]).toEqual(['config', 'current-context']);
});

test('a Secret only the task pod template reads is planned in the template\'s namespace, as yours to provide', () => {
  const chart = new Chart(Testing.app(), 'data', { namespace: 'data-platform', disableResourceNameHashes: true });
  new Airflow(chart, 'airflow', { remoteLogging: { s3: { bucket: 'acme-logs' }, connection: SecretKeyRef.of('airflow-logs-s3', 'connection') } });
  const file = join(tempDir('own-'), 'data.yaml');
  writeFileSync(file, Testing.synth(chart).map(o => JSON.stringify(o)).join('\n---\n'));
  const r = run(['--dry-run', file]);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('data-platform/airflow-logs-s3: connection — provided by you');
  expect(r.stdout).not.toContain('default/');
  const blocked = run([file]);
  expect(blocked.status).toBe(1);
  expect(blocked.stderr).toContain('data-platform/airflow-logs-s3: connection is yours to provide');
});

test('--dry-run lists names, keys and formats, never a value, and calls no kubectl', () => {
  const r = run(['--dry-run', ...TIERS.map(dist)]);
  expect(r.status).toBe(0);
  expect(r.argv).toEqual([]);
  expect(r.stdout).toContain('airflow-staging/airflow-pgbouncer: userlist.txt — PgBouncer\'s auth_file: "<user>" "<the database password>"');
  expect(r.stdout).toContain('airflow-dev/airflow-secrets: fernet-key — a Fernet key: 32 random bytes, URL-safe base64');
  expect(r.stdout).toContain('airflow-prod/airflow-secrets: jwt-public-keys — a JSON Web Key Set');
  expect(r.stdout).toMatch(/secrets: 23 keys in 9 Secrets; dry run, nothing written\n$/);
});
