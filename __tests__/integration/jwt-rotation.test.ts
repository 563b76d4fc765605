// docs/operations.md, "Rotating the JWT signing key", run as written: its shell steps (step 3 in a shell of its own),
// with a stand-in kubectl that keeps the Secret in a file and records which components each restart restarts and what
// they then read; then Airflow's own signing and validation code (airflow/api_fastapi/auth/tokens.py, as the
// api-server and scheduler call it) on what each restart saw. A token of the old key stays valid until the old public
// key is dropped; a token of the new key is valid from step 1 on, and would fail on an api-server that had not
// restarted with the new key set; a key file updated in place under a fixed key id would sign tokens no one accepts.
import { execFileSync, spawnSync } from 'child_process';
import { generateKeyPairSync } from 'crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { publicJwk } from '../../scripts/secrets';
import { airflowVenv, run } from './airflow-venv';

jest.setTimeout(600_000);

/**
 * kubectl for the documented commands only: one Secret in a JSON file; each patch saves the Secret as it then is,
 * each restart which components (from the `-l` selector) restarted and the Secret they then read.
 */
const FAKE_KUBECTL = `#!/usr/bin/env node
const fs = require('fs');
const dir = process.env.FAKE_KUBECTL_DIR;
const state = () => JSON.parse(fs.readFileSync(dir + '/secret.json', 'utf8'));
const a = process.argv.slice(2).filter((x, i, all) => x !== '-n' && all[i - 1] !== '-n');
const has = (...w) => w.every(x => a.includes(x));
const count = prefix => fs.readdirSync(dir).filter(f => f.startsWith(prefix)).length + 1;
const selected = () => {
  const m = /^app\\.kubernetes\\.io\\/instance=airflow,app\\.kubernetes\\.io\\/component in \\(([a-z,-]+)\\)$/.exec(a[a.indexOf('-l') + 1] ?? '');
  if (!m) { console.error('fake kubectl: not the documented selector: ' + a.join(' ')); process.exit(2); }
  return m[1].split(',');
};
if (has('get', 'secret', 'airflow-secrets')) {
  if (process.env.FAKE_KUBECTL_GET_FAILS) { console.error('error: You must be logged in to the server (Unauthorized)'); process.exit(1); }
  const key = /{\\.data\\.([^}]+)}/.exec(a.find(x => x.startsWith('jsonpath=')))[1];
  process.stdout.write(Buffer.from(state()[key]).toString('base64'));
} else if (has('patch', 'secret', 'airflow-secrets')) {
  const patch = JSON.parse(fs.readFileSync(0, 'utf8'));
  fs.writeFileSync(dir + '/secret.json', JSON.stringify({ ...state(), ...patch.stringData }));
  fs.writeFileSync(dir + '/patch-' + count('patch-') + '.json', JSON.stringify(state()));
} else if (has('rollout', 'restart', 'deployment')) {
  fs.writeFileSync(dir + '/restart-' + count('restart-') + '.json', JSON.stringify({ components: selected(), secret: state() }));
} else if (has('get', 'deployment', '-o', 'name')) {
  console.log(selected().map(c => 'deployment.apps/airflow-' + c).join('\\n'));
} else if (has('rollout', 'status')) {
  console.log(a[a.indexOf('status') + 1] + ' successfully rolled out');
} else { console.error('fake kubectl: not a documented command: ' + a.join(' ')); process.exit(2); }
`;

/** Signs a token with the key a restart saw, or validates one against its key set, with Airflow's own code. */
const AIRFLOW_TOKENS = `
import sys
from airflow.api_fastapi.auth.tokens import JWTGenerator, JWTValidator, get_sig_validation_args, get_signing_args
if sys.argv[1] == 'sign':
    print(JWTGenerator(**get_signing_args(make_secret_key_if_needed=False), valid_for=600, audience='test').generate({'sub': 'ti'}))
else:
    try:
        claims = JWTValidator(**get_sig_validation_args(make_secret_key_if_needed=False), audience='test').validated_claims(sys.argv[2])
        print('valid', claims['sub'])
    except Exception as e:
        print('invalid', type(e).__name__, e)
`;

describe('rotating the JWT signing key as docs/operations.md says, with real Airflow', () => {
  let venv: ReturnType<typeof airflowVenv>;
  beforeAll(() => { venv = airflowVenv('jwt-airflow-'); }, 3600_000);
  afterAll(() => venv.cleanup());

  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
  const steps = /## Rotating the JWT signing key[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)![1];

  /** What a scheduler or api-server reads at start: its key file and key id from `keys`, its key set from `set`. */
  const airflowEnv = (keys: Record<string, string>, set: Record<string, string>, n: string) => {
    const key = join(venv.home, `private-${n}.pem`);
    const jwks = join(venv.home, `jwks-${n}.json`);
    writeFileSync(key, keys['jwt-signing-key']);
    writeFileSync(jwks, set['jwt-public-keys']);
    return { AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH: key, AIRFLOW__API_AUTH__JWT_KID: keys['jwt-key-id'], AIRFLOW__API_AUTH__TRUSTED_JWKS_URL: jwks };
  };
  const tokens = async (env: Record<string, string>, ...args: string[]) => {
    const r = await run(join(venv.venv, 'bin', 'python'), ['-c', AIRFLOW_TOKENS, ...args], { ...venv.envFor('jwt.db'), ...env });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim().split('\n').pop()!;
  };
  const saved = (prefix: string) => readdirSync(venv.home).filter(f => new RegExp(`^${prefix}-\\d+\\.json$`).test(f)).sort()
    .map(f => JSON.parse(readFileSync(join(venv.home, f), 'utf8')));

  test('old token valid until the old key is dropped; new token valid from step 1 on, not before; no token under a wrong id', async () => {
    // the Secret as `cdk8s-airflow secrets` makes it (create-secrets.sh makes the same format with openssl)
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const initial = { 'jwt-signing-key': pem, 'jwt-key-id': 'k-old', 'jwt-public-keys': JSON.stringify({ keys: [publicJwk(pem, 'k-old')] }) };
    const fake = join(venv.home, 'bin');
    execFileSync('mkdir', ['-p', fake]);
    writeFileSync(join(fake, 'kubectl'), FAKE_KUBECTL);
    chmodSync(join(fake, 'kubectl'), 0o755);
    writeFileSync(join(venv.home, 'secret.json'), JSON.stringify(initial));
    // step 3 runs in a shell of its own, hours later: it must need nothing the first one kept
    const [upTo3, step3] = steps.split(/^(?=# 3\. )/m);
    const helpers = upTo3.slice(0, upTo3.indexOf('# a new Ed25519 key'));
    const bash = (script: string, env: Record<string, string> = {}) => spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: `${fake}:${process.env.PATH}`, FAKE_KUBECTL_DIR: venv.home, HOME: venv.home, ...env },
    });
    for (const script of [upTo3, helpers + step3]) {
      const shell = bash(script);
      expect({ status: shell.status, stderr: shell.stderr }).toEqual({ status: 0, stderr: '' });
    }
    const restarts = saved('restart') as Array<{ components: string[]; secret: Record<string, string> }>;
    // only what reads the changed keys restarts: the key set is the api-server's, the signing key both components'
    expect(restarts.map(r => r.components)).toEqual([['api-server'], ['scheduler', 'api-server'], ['api-server']]);
    const [bothKeys, newSigner, newOnly] = restarts.map(r => r.secret);
    expect(JSON.parse(bothKeys['jwt-public-keys']).keys.map((k: any) => k.kid)).toEqual([newSigner['jwt-key-id'], 'k-old']);
    expect(JSON.parse(newOnly['jwt-public-keys']).keys.map((k: any) => k.kid)).toEqual([newSigner['jwt-key-id']]);
    expect(newSigner['jwt-key-id']).not.toBe('k-old');

    const before = airflowEnv(initial, initial, 'before');
    const afterStep1 = airflowEnv(bothKeys, bothKeys, 'step1');
    const afterStep2 = airflowEnv(newSigner, newSigner, 'step2');
    const afterStep3 = airflowEnv(newOnly, newOnly, 'step3');
    const oldToken = await tokens(before, 'sign');
    const newToken = await tokens(afterStep2, 'sign');
    expect(await tokens(before, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(afterStep1, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(afterStep2, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(afterStep3, 'validate', oldToken)).toMatch(/^invalid InvalidTokenError Kid did not match any validation keys/);
    expect(await tokens(afterStep1, 'validate', newToken)).toBe('valid ti');
    expect(await tokens(afterStep3, 'validate', newToken)).toBe('valid ti');
    // why step 1 comes first: an api-server still on the old key set refuses the new key's tokens
    expect(await tokens(before, 'validate', newToken)).toMatch(/^invalid InvalidTokenError/);

    // why the signing key is mounted by subPath (lib/config/airflow-config.ts, secretFiles; its unit test checks the mount):
    // between step 2's patch and the restarts, a key file the kubelet had updated in place would sign the new key under
    // the old id the api-server read at start, and its tokens would be refused
    const patched = saved('patch')[1] as Record<string, string>;
    expect(patched['jwt-signing-key']).toBe(newSigner['jwt-signing-key']);
    const live = airflowEnv({ ...patched, 'jwt-key-id': bothKeys['jwt-key-id'] }, bothKeys, 'live');
    expect(await tokens(afterStep1, 'validate', await tokens(live, 'sign'))).toMatch(/^invalid InvalidSignatureError/);

    // step 3 changes nothing when the Secret cannot be read, or when no public key has the signing key's id
    const before3 = { patches: saved('patch').length, restarts: saved('restart').length };
    const unreadable = bash(helpers + step3, { FAKE_KUBECTL_GET_FAILS: '1' });
    expect(unreadable.status).not.toBe(0);
    writeFileSync(join(venv.home, 'secret.json'), JSON.stringify({ ...newOnly, 'jwt-key-id': 'k-unknown' }));
    const noSuchKid = bash(helpers + step3);
    expect(noSuchKid.status).not.toBe(0);
    expect(noSuchKid.stderr).toContain('no public key has the kid of jwt-key-id: nothing changed');
    expect({ patches: saved('patch').length, restarts: saved('restart').length }).toEqual(before3);
  });
});
