// cdk8s-airflow secrets [--dry-run] [--context NAME] [files or folders...]   (default: dist)
//
// Creates exactly the Secrets and keys that synthesized YAML references (env secretKeyRef, envFrom, secret
// volumes, pod templates in ConfigMaps included), for any chart, namespace and instance name. Each value is
// fresh and in the format its consumer needs, told by how the objects consume it:
//   AIRFLOW__CORE__FERNET_KEY                  a Fernet key (32 random bytes, URL-safe base64)
//   AIRFLOW__API_AUTH__JWT_SECRET, AIRFLOW__API__SECRET_KEY, POSTGRES_PASSWORD, PGPASSWORD
//                                              32 random bytes as hex (nothing a URL must escape)
//   ..._SQL_ALCHEMY_CONN                       postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB, to PgBouncer's
//                                              Service when the namespace has one (Jobs, i.e. migrations: to
//                                              the database itself), with the database's user, name and password
//   a file simple_auth_manager_passwords.json.generated
//                                              {"<user>": "<password>"} for [core] simple_auth_manager_users
//   a file userlist.txt (PgBouncer's auth_file) "<user>" "<the database password>"
//   a file private.pem, AIRFLOW__API_AUTH__JWT_KID, a file jwks.json
//                                              a JWT key pair (jwtSigning: 'keyPair'): an Ed25519 private key, its
//                                              id, and the JSON Web Key Set of its public key under that id (a new
//                                              key only while no key set exists: one that does names the key in use)
// With a database outside the cluster, the URL the migrations use must exist first; the PgBouncer URL and
// userlist are built from it. Whatever cannot be generated (that URL, Git credentials, cloud connections) is
// listed, and nothing is written until it exists.
//
// Never overwrites: keys that exist are left as they are (a new fernet key would make every stored connection
// unreadable); a Secret that exists gets only its missing keys. Values reach kubectl on its standard input,
// never in a command line. Created Secrets carry app.kubernetes.io/managed-by=cdk8s-airflow-secrets. It says
// which cluster context it writes to; --dry-run lists names, keys and formats without contacting the cluster.
import { spawnSync } from 'child_process';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'crypto';
import { parseArgs } from 'util';
import { loadManifests, Manifest, namespaceOf, podReferences, podTemplateOf } from './manifests';

type Obj = Manifest['object'] & { metadata: { name: string; namespace?: string }; spec?: any; data?: Record<string, string> };

/** One key a Secret must have. */
export interface KeyNeed {
  readonly namespace: string;
  readonly secret: string;
  readonly key: string;
  /** Who reads it: `Deployment/airflow-scheduler env AIRFLOW__CORE__FERNET_KEY`. */
  readonly consumers: string[];
  /** What the value is, for listings and the README. */
  format: string;
  /** Every reference to it is optional: made when it can be, never blocking. */
  optional: boolean;
  /** Builds the value from the database facts and existing values; undefined: the user must provide it. */
  build?: (ctx: Context) => string | undefined;
}

interface Database {
  readonly user: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Where the password lives for an in-cluster database. */
  readonly password?: { readonly secret: string; readonly key: string };
}

interface PgBouncer { readonly host: string; readonly port: number; readonly alias: string; readonly user: string }

interface Context {
  /** Values of keys, existing (from the cluster) or chosen in this run: `namespace/secret/key`. */
  readonly values: Map<string, string>;
  /** The keys that existed before this run (`namespace/secret/key`). */
  readonly existing: ReadonlyMap<string, string>;
}

/** The keys of one JWT key pair, as the pod that signs and verifies (the api-server) reads them together. */
interface JwtKeys { signingKey?: KeyNeed; keyId?: KeyNeed; publicKeys?: KeyNeed }

/** The file names the JWT key pair's Secret keys are mounted as (lib/config/airflow-config.ts, JWT_SIGNING_KEY_FILE and JWT_PUBLIC_KEYS_FILE). */
const JWT_FILES = { signingKey: 'private.pem', publicKeys: 'jwks.json' };

/** The public JWK of a PEM private key (Ed25519 or RSA), with its id and algorithm as Airflow's JWTValidator reads them. */
export function publicJwk(pem: string, kid: string): Record<string, string> {
  const jwk = createPublicKey(pem).export({ format: 'jwk' }) as Record<string, string>;
  return { ...jwk, kid, alg: jwk.kty === 'OKP' ? 'EdDSA' : 'RS256', use: 'sig' };
}

const hex = () => randomBytes(32).toString('hex');
const fernet = () => randomBytes(32).toString('base64url') + '=';
const ref = (namespace: string, secret: string, key: string) => `${namespace}/${secret}/${key}`;

const envValue = (env: any[] | undefined, name: string) => (env ?? []).find(e => e.name === name)?.value as string | undefined;

/** The `[section] option` of an airflow.cfg text, or undefined. */
function cfgOption(cfg: string, section: string, option: string): string | undefined {
  let current = '';
  for (const line of cfg.split('\n')) {
    const s = /^\[(.+)\]\s*$/.exec(line);
    if (s) current = s[1];
    const o = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (o && current === section && o[1] === option) return o[2];
  }
  return undefined;
}

/** The Secrets and keys the manifests reference, with how to build each value. */
export function planSecrets(manifests: Manifest[]): KeyNeed[] {
  const needs = new Map<string, KeyNeed>();
  const pods = manifests.flatMap(m => {
    const pod = podTemplateOf(m.object);
    return pod ? [{ ...pod, object: m.object as Obj, namespace: namespaceOf(m) }] : [];
  });
  const find = (kind: string, namespace: string, test: (o: Obj) => boolean) =>
    manifests.find(m => m.object.kind === kind && namespaceOf(m) === namespace && test(m.object as Obj))?.object as Obj | undefined;
  const serviceFor = (namespace: string, labels: Record<string, string>) => find('Service', namespace, svc =>
    svc.spec?.selector && Object.entries<string>(svc.spec.selector).every(([k, v]) => labels[k] === v));
  const configMap = (namespace: string, name: string) => find('ConfigMap', namespace, c => c.metadata.name === name);

  const need = (namespace: string, secret: string, key: string, consumer: string, optional = false) => {
    const id = ref(namespace, secret, key);
    const n = needs.get(id) ?? { namespace, secret, key, consumers: [], optional, format: 'provided by you (its consumer takes a value this command cannot make)' };
    n.optional &&= optional;
    if (!n.consumers.includes(consumer)) n.consumers.push(consumer);
    needs.set(id, n);
    return n;
  };

  // the JWT key pairs, one per pod that reads a signing key and a public key set (the api-server of an installation)
  const jwtPairs: JwtKeys[] = [];

  // the databases and PgBouncers per namespace
  const databases = new Map<string, Database>();
  const pgbouncers = new Map<string, PgBouncer>();
  for (const { spec, labels, namespace } of pods) {
    const service = serviceFor(namespace, labels);
    if (!service) continue;
    const host = `${service.metadata.name}.${namespace}`;
    const port = service.spec.ports[0].port;
    for (const c of spec.containers ?? []) {
      const password = (c.env ?? []).find((e: any) => e.name === 'POSTGRES_PASSWORD')?.valueFrom?.secretKeyRef;
      if (password) {
        databases.set(namespace, {
          user: envValue(c.env, 'POSTGRES_USER') ?? 'postgres', name: envValue(c.env, 'POSTGRES_DB') ?? envValue(c.env, 'POSTGRES_USER') ?? 'postgres',
          host, port, password: { secret: password.name, key: password.key },
        });
      }
    }
    const refs = podReferences(spec);
    const ini = refs.filter(r => r.kind === 'ConfigMap').map(r => configMap(namespace, r.name)?.data?.['pgbouncer.ini']).find(Boolean);
    if (ini && refs.some(r => r.kind === 'Secret' && r.path === 'userlist.txt')) {
      const db = /^(\S+)\s*=\s*(.*)$/m.exec(ini.split('[databases]')[1] ?? '');
      const params = Object.fromEntries((db?.[2] ?? '').split(/\s+/).filter(Boolean).map(p => p.split('=') as [string, string]));
      pgbouncers.set(namespace, { host, port, alias: db?.[1] ?? 'airflow', user: params.user ?? 'airflow' });
      if (!databases.has(namespace) && params.host) {
        databases.set(namespace, { user: params.user ?? 'airflow', name: params.dbname ?? db?.[1] ?? 'airflow', host: params.host, port: Number(params.port ?? 5432) });
      }
    }
  }

  for (const { spec, object: o, namespace } of pods) {
    const owner = `${o.kind}/${o.metadata.name}`;
    const refs = podReferences(spec);
    const jwt: JwtKeys = {};
    for (const r of refs.filter(x => x.kind === 'Secret')) {
      const n = need(namespace, r.name, r.key ?? '*', `${owner} ${r.via}`, r.optional);
      if (r.env === 'AIRFLOW__CORE__FERNET_KEY') {
        n.format = 'a Fernet key: 32 random bytes, URL-safe base64';
        n.build = () => fernet();
      } else if (r.env !== undefined && ['AIRFLOW__API_AUTH__JWT_SECRET', 'AIRFLOW__API__SECRET_KEY', 'POSTGRES_PASSWORD', 'PGPASSWORD'].includes(r.env)) {
        n.format = '32 random bytes as hex';
        n.build = () => hex();
      } else if (r.env !== undefined && /SQL_ALCHEMY_CONN$/.test(r.env)) {
        const viaPgBouncer = o.kind !== 'Job' && pgbouncers.has(namespace);
        n.format = viaPgBouncer ? "a SQLAlchemy URL to PgBouncer's Service, with the database's user, alias and password"
          : "a SQLAlchemy URL to the database (your own database's: provide it when it is outside the cluster)";
        n.build = ctx => connectionUrl(ctx, namespace, viaPgBouncer);
      } else if (r.path === 'simple_auth_manager_passwords.json.generated') {
        const cfg = refs.filter(x => x.kind === 'ConfigMap').map(x => configMap(namespace, x.name)?.data?.['airflow.cfg']).find(Boolean);
        const users = (cfgOption(cfg ?? '', 'core', 'simple_auth_manager_users') ?? 'admin:admin').split(',').map(u => u.split(':')[0].trim()).filter(Boolean);
        n.format = `JSON {"<user>": "<password>"} for each of [core] simple_auth_manager_users (${users.join(', ')}); passwords 32 random bytes as hex`;
        n.build = () => JSON.stringify(Object.fromEntries(users.map(u => [u, hex()])));
      } else if (r.path === JWT_FILES.signingKey) {
        n.format = 'a JWT signing key: Ed25519, PEM (PKCS #8); beside an existing public key set, the private key of a key in it';
        jwt.signingKey = n;
      } else if (r.env === 'AIRFLOW__API_AUTH__JWT_KID') {
        n.format = "the signing key's id (kid) in the JSON Web Key Set";
        jwt.keyId = n;
      } else if (r.path === JWT_FILES.publicKeys) {
        n.format = 'a JSON Web Key Set {"keys": [...]} with the public key of the signing key, under its id';
        jwt.publicKeys = n;
      } else if (r.path === 'userlist.txt' && pgbouncers.has(namespace)) {
        n.format = `PgBouncer's auth_file: "<user>" "<the database password>"`;
        n.build = ctx => {
          const password = databasePassword(ctx, namespace);
          return password === undefined ? undefined : `"${pgbouncers.get(namespace)!.user}" "${password}"\n`;
        };
      }
    }
    if (jwt.signingKey && jwt.publicKeys) jwtPairs.push(jwt);
  }
  for (const pair of jwtPairs) buildJwtKeys(pair);
  return [...needs.values()].sort((a, b) => ref(a.namespace, a.secret, a.key).localeCompare(ref(b.namespace, b.secret, b.key)));

  function databasePassword(ctx: Context, namespace: string): string | undefined {
    const db = databases.get(namespace);
    if (db?.password) return ctx.values.get(ref(namespace, db.password.secret, db.password.key));
    // outside the cluster: the password in the URL the migrations use, once it exists
    const direct = [...needs.values()].find(n => n.namespace === namespace && n.consumers.some(c => c.startsWith('Job/')) && /SQL_ALCHEMY_CONN/.test(n.consumers.join()));
    const url = direct && ctx.values.get(ref(namespace, direct.secret, direct.key));
    return url ? decodeURIComponent(new URL(url).password) : undefined;
  }

  function connectionUrl(ctx: Context, namespace: string, viaPgBouncer: boolean): string | undefined {
    const db = databases.get(namespace);
    if (!db || (!db.password && !viaPgBouncer)) return undefined; // your own database: you provide the direct URL
    const password = databasePassword(ctx, namespace);
    if (password === undefined) return undefined;
    const target = viaPgBouncer ? pgbouncers.get(namespace)! : undefined;
    const host = target ? `${target.host}:${target.port}` : `${db.host}:${db.port}`;
    return `postgresql+psycopg2://${encodeURIComponent(target?.user ?? db.user)}:${encodeURIComponent(password)}@${host}/${target?.alias ?? db.name}`;
  }
}

/**
 * Makes one JWT key pair's missing keys agree: a new signing key and id only while no public key set exists (an
 * existing set names the key in use: a new key beside it would sign tokens the api-server refuses, so its key and
 * id are yours to provide), and the set from the signing key and its id, existing or new.
 */
function buildJwtKeys({ signingKey, keyId, publicKeys }: JwtKeys): void {
  const id = (n: KeyNeed) => ref(n.namespace, n.secret, n.key);
  const setExists = (ctx: Context) => ctx.existing.has(id(publicKeys!));
  signingKey!.build = ctx => setExists(ctx) ? undefined : generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (keyId) keyId.build = ctx => setExists(ctx) ? undefined : `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
  publicKeys!.build = ctx => {
    const pem = ctx.values.get(id(signingKey!));
    const kid = keyId && ctx.values.get(id(keyId));
    return pem && kid ? JSON.stringify({ keys: [publicJwk(pem, kid)] }) : undefined;
  };
}

/** Chooses values for the missing keys: the database password first, so that every key built from it agrees. */
export function fillValues(needs: KeyNeed[], existing: Map<string, string>): { values: Map<string, string>; missing: KeyNeed[] } {
  const ctx: Context = { values: new Map(existing), existing };
  const open = needs.filter(n => n.key !== '*' && !existing.has(ref(n.namespace, n.secret, n.key)));
  // passwords and random keys have no inputs; URLs and userlists read them, so fill in rounds until nothing changes
  let progress = true;
  while (progress) {
    progress = false;
    for (const n of open) {
      const id = ref(n.namespace, n.secret, n.key);
      if (ctx.values.has(id) || !n.build) continue;
      const value = n.build(ctx);
      if (value !== undefined) {
        ctx.values.set(id, value);
        progress = true;
      }
    }
  }
  const values = new Map([...ctx.values].filter(([id]) => !existing.has(id)));
  const missing = needs.filter(n => !n.optional &&
    (n.key === '*' ? !existing.has(ref(n.namespace, n.secret, '*')) : !ctx.values.has(ref(n.namespace, n.secret, n.key))));
  return { values, missing };
}

function kubectl(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('kubectl', args, { input, encoding: 'utf8' });
  if (r.error) throw new Error(`kubectl: ${r.error.message} (is kubectl installed and on PATH?)`);
  return r;
}

export async function main(args = process.argv.slice(2)): Promise<number> {
  const { values: opts, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { 'dry-run': { type: 'boolean', default: false }, 'context': { type: 'string' } },
  });
  const needs = planSecrets(loadManifests(positionals.length ? positionals : ['dist']));
  const namespaces = [...new Set(needs.map(n => n.namespace))];
  if (opts['dry-run']) {
    for (const n of needs) console.log(`${n.namespace}/${n.secret}: ${n.key === '*' ? '(every key, read whole)' : n.key} — ${n.format}${n.optional ? ' (optional)' : ''}`);
    console.log(`secrets: ${needs.length} keys in ${new Set(needs.map(n => `${n.namespace}/${n.secret}`)).size} Secrets; dry run, nothing written`);
    return 0;
  }
  const ctxArgs = opts.context ? ['--context', opts.context] : [];
  const current = kubectl([...ctxArgs, 'config', 'current-context']);
  if (current.status !== 0) throw new Error(`no cluster context: ${current.stderr.trim()}`);
  console.log(`secrets: writing to cluster context "${opts.context ?? current.stdout.trim()}"`);

  const existing = new Map<string, string>();
  const present = new Map<string, any>();
  for (const namespace of namespaces) {
    const r = kubectl([...ctxArgs, '-n', namespace, 'get', 'secrets', '-o', 'json']);
    if (r.status !== 0) continue; // no such namespace yet: nothing exists in it
    for (const s of JSON.parse(r.stdout).items ?? []) {
      present.set(`${namespace}/${s.metadata.name}`, s);
      existing.set(ref(namespace, s.metadata.name, '*'), '');
      for (const [k, v] of Object.entries<string>(s.data ?? {})) existing.set(ref(namespace, s.metadata.name, k), Buffer.from(v, 'base64').toString('utf8'));
    }
  }
  const { values, missing } = fillValues(needs, existing);
  if (missing.length) {
    for (const n of missing) console.error(`${n.namespace}/${n.secret}: ${n.key === '*' ? '(the whole Secret)' : n.key} is yours to provide: ${n.format}; read by ${n.consumers.join(', ')}`);
    console.error(`secrets: ${missing.length} keys must exist before the others can be made; nothing written`);
    return 1;
  }
  let written = 0;
  for (const namespace of namespaces) {
    if (kubectl([...ctxArgs, 'get', 'namespace', namespace]).status !== 0) {
      const r = kubectl([...ctxArgs, 'create', 'namespace', namespace]);
      if (r.status !== 0) throw new Error(`cannot create namespace ${namespace}: ${r.stderr.trim()}`);
    }
    const bySecret = new Map<string, Record<string, string>>();
    for (const [id, value] of values) {
      const [ns, secret, key] = id.split('/');
      if (ns === namespace) (bySecret.get(secret) ?? bySecret.set(secret, {}).get(secret)!)[key] = value;
    }
    for (const [secret, stringData] of bySecret) {
      const keys = Object.keys(stringData).sort().join(', ');
      const current = present.get(`${namespace}/${secret}`);
      // an existing Secret: replaced as it was read (its resourceVersion makes a concurrent change fail, not vanish)
      // with only the missing keys added; kubectl reads either object from stdin (`-f -`)
      const r = current
        ? kubectl([...ctxArgs, '-n', namespace, 'replace', '-f', '-'], JSON.stringify({
          ...current, data: { ...current.data, ...Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
        }))
        : kubectl([...ctxArgs, '-n', namespace, 'create', '-f', '-'], JSON.stringify({
          apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
          metadata: { name: secret, namespace, labels: { 'app.kubernetes.io/managed-by': 'cdk8s-airflow-secrets' } }, stringData,
        }));
      if (r.status !== 0) throw new Error(`cannot write secret ${namespace}/${secret}: ${r.stderr.trim()}`);
      console.log(`${namespace}/${secret}: ${current ? 'added' : 'created with'} ${keys}`);
      written++;
    }
  }
  const kept = needs.filter(n => existing.has(ref(n.namespace, n.secret, n.key))).length;
  console.log(`secrets: ${values.size} keys written to ${written} Secrets; ${kept} existed and were left as they are`);
  return 0;
}

if (require.main === module) {
  main().then(code => process.exit(code), err => {
    console.error(`secrets: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  });
}
