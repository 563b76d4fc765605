// scripts/create-secrets.sh, run against a stand-in kubectl that records what would be created.
import { spawnSync } from 'child_process';
import { createPrivateKey } from 'crypto';
import { chmodSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { loadManifests } from '../scripts/manifests';
import { publicJwk } from '../scripts/secrets';
import { tempDir, TIERS } from './helpers';

const SCRIPT = join(__dirname, '..', 'scripts', 'create-secrets.sh');

// Answers `get` with "not found" unless FAKE_EXISTING names the Secret; records argv and the
// contents of every --from-file source (base64, so that a value may span lines).
const FAKE_KUBECTL = `#!/usr/bin/env bash
echo "ARGV $*" >> "$FAKE_LOG"
if [ "$1" = get ] || [ "$3" = get ]; then
  for a in "$@"; do [ -n "$FAKE_EXISTING" ] && [ "$a" = "$FAKE_EXISTING" ] && exit 0; done
  exit 1
fi
name=""; skip=""
for a in "$@"; do
  if [ -n "$skip" ]; then skip=""; continue; fi
  case "$a" in
    -n) skip=1 ;;
    --from-file=*) kv="\${a#--from-file=}"; printf 'SECRET %s %s %s\\n' "$name" "\${kv%%=*}" "$(base64 -w0 < "\${kv#*=}")" >> "$FAKE_LOG" ;;
    create|secret|generic|namespace) ;;
    *) if [ -z "$name" ]; then name="$a"; fi ;;
  esac
done
exit 0
`;

interface Run { status: number | null; stderr: string; argv: string[]; secrets: Record<string, Record<string, string>> }

function run(env: string, extra: Record<string, string> = {}): Run {
  const dir = tempDir('fake-kubectl-');
  writeFileSync(join(dir, 'kubectl'), FAKE_KUBECTL);
  chmodSync(join(dir, 'kubectl'), 0o755);
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const r = spawnSync('bash', [SCRIPT, env], {
    env: { PATH: `${dir}:${extra.EXTRA_PATH ? `${extra.EXTRA_PATH}:` : ''}${process.env.PATH}`, FAKE_LOG: log, FAKE_EXISTING: '', ...extra },
    encoding: 'utf8',
  });
  const lines = readFileSync(log, 'utf8').split('\n');
  const secrets: Run['secrets'] = {};
  for (const l of lines.filter(x => x.startsWith('SECRET '))) {
    const [, name, key, value] = l.split(' ');
    (secrets[name] ??= {})[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return { status: r.status, stderr: r.stderr, argv: lines.filter(l => l.startsWith('ARGV ')), secrets };
}

/** Secret name -> keys that an environment's synthesized objects (pod templates included) reference. */
function referenced(tier: string): Record<string, string[]> {
  const refs: Record<string, Set<string>> = {};
  const visit = (v: any): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      if (v.secretKeyRef) (refs[v.secretKeyRef.name] ??= new Set()).add(v.secretKeyRef.key);
      if (v.secret?.secretName) for (const item of v.secret.items ?? []) (refs[v.secret.secretName] ??= new Set()).add(item.key);
      Object.values(v).forEach(visit);
    }
  };
  loadManifests([join(__dirname, '..', 'dist', `${tier}.k8s.yaml`)]).forEach(m => visit(m.object));
  return Object.fromEntries(Object.entries(refs).map(([k, v]) => [k, [...v].sort()]));
}

const DB_URL = { AIRFLOW_DATABASE_URL: 'postgresql+psycopg2://airflow:p@db.example.com:5432/airflow', AIRFLOW_OIDC_CLIENT_SECRET: 'from-the-idp' };

describe.each(TIERS)('create-secrets.sh %s', tier => {
  const extra = tier === 'prod' ? DB_URL : {};
  const first = run(tier, extra);

  test('creates exactly the Secrets and keys the environment references', () => {
    expect(first.status).toBe(0);
    const created = Object.fromEntries(Object.entries(first.secrets).map(([k, v]) => [k, Object.keys(v).sort()]));
    expect(created).toEqual(referenced(tier));
  });

  test('generates a valid Fernet key and fresh random values on every run', () => {
    const fernet = first.secrets['airflow-secrets']['fernet-key'];
    expect(fernet).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(fernet, 'base64url')).toHaveLength(32);
    const s = first.secrets['airflow-secrets'];
    expect(s['api-secret-key']).toMatch(/^[0-9a-f]{64}$/);
    const fresh = ['fernet-key', 'api-secret-key'];
    if (tier === 'prod') {
      // the JWT key pair: an Ed25519 key, and the key set holds its public key under its id
      const key = createPrivateKey(s['jwt-signing-key']);
      expect(key.asymmetricKeyType).toBe('ed25519');
      expect(s['jwt-key-id']).toMatch(/^k\d{8}-[0-9a-f]{8}$/);
      expect(JSON.parse(s['jwt-public-keys'])).toEqual({ keys: [publicJwk(s['jwt-signing-key'], s['jwt-key-id'])] });
      fresh.push('jwt-signing-key', 'jwt-key-id');
    } else {
      expect(s['jwt-secret']).toMatch(/^[0-9a-f]{64}$/);
      // SimpleAuthManager's password file: JSON {user: password}
      expect(JSON.parse(s['simple-auth-manager-passwords']).admin).toMatch(/^[0-9a-f]{64}$/);
      fresh.push('jwt-secret', 'simple-auth-manager-passwords');
    }
    const second = run(tier, extra);
    for (const key of fresh) expect(second.secrets['airflow-secrets'][key]).not.toEqual(s[key]);
  });

  test('no secret value appears on a kubectl command line', () => {
    const values = Object.values(first.secrets).flatMap(Object.values);
    expect(values.length).toBeGreaterThan(0);
    for (const value of values) for (const argv of first.argv) expect(argv).not.toContain(value);
  });

  test('leaves an existing Secret alone', () => {
    const again = run(tier, { ...extra, FAKE_EXISTING: 'airflow-secrets' });
    expect(again.status).toBe(0);
    expect(again.secrets['airflow-secrets']).toBeUndefined();
  });
});

test('dev: the connection URL reaches the in-cluster PostgreSQL with its password', () => {
  const { secrets } = run('dev');
  const password = secrets['airflow-postgresql'].password;
  expect(password).toMatch(/^[0-9a-f]{64}$/);
  expect(secrets['airflow-secrets']['sql-alchemy-conn'])
    .toBe(`postgresql+psycopg2://airflow:${password}@airflow-postgresql.airflow-dev:5432/airflow`);
});

test('prod needs the managed database URL and the identity provider\'s client secret, and says so before creating anything', () => {
  const noUrl = run('prod', { AIRFLOW_OIDC_CLIENT_SECRET: DB_URL.AIRFLOW_OIDC_CLIENT_SECRET });
  expect(noUrl.status).not.toBe(0);
  expect(noUrl.stderr).toMatch(/AIRFLOW_DATABASE_URL/);
  expect(noUrl.secrets).toEqual({});
  const noIdp = run('prod', { AIRFLOW_DATABASE_URL: DB_URL.AIRFLOW_DATABASE_URL });
  expect(noIdp.status).not.toBe(0);
  expect(noIdp.stderr).toMatch(/AIRFLOW_OIDC_CLIENT_SECRET/);
  expect(noIdp.secrets).toEqual({});
  const ok = run('prod', DB_URL);
  expect(ok.secrets['airflow-database'].connection).toBe(DB_URL.AIRFLOW_DATABASE_URL);
  expect(ok.secrets['airflow-oidc']['client-secret']).toBe(DB_URL.AIRFLOW_OIDC_CLIENT_SECRET);
  // with Secret airflow-oidc there already, its client secret is not asked for
  const idpThere = run('prod', { AIRFLOW_DATABASE_URL: DB_URL.AIRFLOW_DATABASE_URL, FAKE_EXISTING: 'airflow-oidc' });
  expect({ status: idpThere.status, stderr: idpThere.stderr }).toEqual({ status: 0, stderr: '' });
  expect(Object.keys(idpThere.secrets).sort()).toEqual(['airflow-database', 'airflow-pgbouncer', 'airflow-secrets']);
});

test('dev and staging make no JWT key pair: they run without openssl, which prod needs for it', () => {
  const dir = tempDir('no-openssl-');
  writeFileSync(join(dir, 'openssl'), '#!/bin/sh\necho "openssl: not here" >&2; exit 127\n');
  chmodSync(join(dir, 'openssl'), 0o755);
  // the fake kubectl's folder comes first on PATH, then this one
  const withoutOpenssl = (tier: string, extra: Record<string, string> = {}) => run(tier, { ...extra, EXTRA_PATH: dir });
  for (const tier of ['dev', 'staging']) expect({ tier, status: withoutOpenssl(tier).status }).toEqual({ tier, status: 0 });
  const prod = withoutOpenssl('prod', DB_URL);
  expect(prod.status).not.toBe(0);
  expect(prod.stderr).toContain('openssl: not here');
});

test('staging: the components reach PgBouncer, the migrations PostgreSQL, PgBouncer logs in with the same password', () => {
  const { secrets } = run('staging');
  const password = secrets['airflow-postgresql'].password;
  expect(password).toMatch(/^[0-9a-f]{64}$/);
  expect(secrets['airflow-secrets']['sql-alchemy-conn']).toBe(`postgresql+psycopg2://airflow:${password}@airflow-pgbouncer.airflow-staging:6432/airflow`);
  expect(secrets['airflow-postgresql'].connection).toBe(`postgresql+psycopg2://airflow:${password}@airflow-postgresql.airflow-staging:5432/airflow`);
  expect(secrets['airflow-pgbouncer']['userlist.txt']).toBe(`"airflow" "${password}"\n`);
});

test('prod: PgBouncer gets the managed database\'s user and decoded password; the components\' URL keeps it encoded', () => {
  const url = 'postgresql+psycopg2://airflow:p%40ss%2Fw0rd@db.example.com:5432/airflow?application_name=airflow';
  const { secrets, status } = run('prod', { ...DB_URL, AIRFLOW_DATABASE_URL: url });
  expect(status).toBe(0);
  expect(secrets['airflow-database'].connection).toBe(url);
  expect(secrets['airflow-pgbouncer']['userlist.txt']).toBe('"airflow" "p@ss/w0rd"\n');
  expect(secrets['airflow-secrets']['sql-alchemy-conn']).toBe('postgresql+psycopg2://airflow:p%40ss%2Fw0rd@airflow-pgbouncer.airflow-prod:6432/airflow');
  // the user and database PgBouncer's ini in dist/prod names
  const ini = loadManifests([join(__dirname, '..', 'dist', 'prod.k8s.yaml')]).map(m => m.object as any)
    .find(o => o.kind === 'ConfigMap' && o.metadata.name === 'airflow-pgbouncer').data['pgbouncer.ini'];
  expect(ini).toMatch(/^airflow = host=\S+ port=5432 dbname=airflow user=airflow /m);
  const other = run('prod', { ...DB_URL, AIRFLOW_DATABASE_URL: 'postgresql+psycopg2://app_user:pw@db.example.com:5432/metadata' });
  expect(other.status).not.toBe(0);
  expect(other.stderr).toMatch(/names user app_user and database metadata; the prod preset's PgBouncer expects user airflow and database airflow/);
  expect(other.secrets).toEqual({});
  // TLS in the URL would win over the manifests' PGSSLMODE=verify-full
  for (const query of ['?sslmode=require', '?application_name=a&sslmode=disable', '?ssl=false', '?sslrootcert=system']) {
    const tls = run('prod', { ...DB_URL, AIRFLOW_DATABASE_URL: `postgresql+psycopg2://airflow:pw@db.example.com:5432/airflow${query}` });
    expect({ query, status: tls.status }).toEqual({ query, status: 1 });
    expect(tls.stderr).toMatch(/leave TLS out of the URL: prod's manifests set PGSSLMODE=verify-full/);
    expect(tls.secrets).toEqual({});
  }
  const bad = run('prod', { ...DB_URL, AIRFLOW_DATABASE_URL: 'mysql://u:p@db/airflow' });
  expect(bad.status).not.toBe(0);
  expect(bad.stderr).toMatch(/AIRFLOW_DATABASE_URL is not postgresql/);
});

test('an unknown environment is a usage error', () => {
  expect(run('qa').status).toBe(2);
});
