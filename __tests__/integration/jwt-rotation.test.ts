// docs/operations.md, "Rotating the JWT signing key", run as written: its shell steps, with a stand-in kubectl that
// keeps the Secret in a file and records what the scheduler and api-server see at each restart; then Airflow's own
// signing and validation code (airflow/api_fastapi/auth/tokens.py, as the api-server and scheduler call it) on what
// each restart saw. A token of the old key stays valid until the old public key is dropped; a token of the new key
// is valid from step 1 on, and would fail on an api-server that had not restarted with the new key set.
import { execFileSync, spawnSync } from 'child_process';
import { generateKeyPairSync } from 'crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { publicJwk } from '../../scripts/secrets';
import { airflowVenv, run } from './airflow-venv';

jest.setTimeout(600_000);

/** kubectl for the documented commands only: one Secret in a JSON file; each restart saves what the pods then read. */
const FAKE_KUBECTL = `#!/usr/bin/env node
const fs = require('fs');
const dir = process.env.FAKE_KUBECTL_DIR;
const state = () => JSON.parse(fs.readFileSync(dir + '/secret.json', 'utf8'));
const a = process.argv.slice(2).filter((x, i, all) => x !== '-n' && all[i - 1] !== '-n');
const has = (...w) => w.every(x => a.includes(x));
if (has('get', 'secret', 'airflow-secrets')) {
  const key = /{\\.data\\.([^}]+)}/.exec(a.find(x => x.startsWith('jsonpath=')))[1];
  process.stdout.write(Buffer.from(state()[key]).toString('base64'));
} else if (has('patch', 'secret', 'airflow-secrets')) {
  const patch = JSON.parse(fs.readFileSync(0, 'utf8'));
  fs.writeFileSync(dir + '/secret.json', JSON.stringify({ ...state(), ...patch.stringData }));
} else if (has('rollout', 'restart', 'deployment')) {
  const n = fs.readdirSync(dir).filter(f => f.startsWith('restart-')).length + 1;
  fs.writeFileSync(dir + '/restart-' + n + '.json', JSON.stringify(state()));
} else if (has('get', 'deployment', '-o', 'name')) {
  console.log('deployment.apps/airflow-scheduler\\ndeployment.apps/airflow-api-server');
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

  /** What the scheduler and api-server read after restart `n`: the Secret's keys as files and variables, as mounted. */
  const airflowEnv = (secret: Record<string, string>, n: string) => {
    const key = join(venv.home, `private-${n}.pem`);
    const jwks = join(venv.home, `jwks-${n}.json`);
    writeFileSync(key, secret['jwt-signing-key']);
    writeFileSync(jwks, secret['jwt-public-keys']);
    return { AIRFLOW__API_AUTH__JWT_PRIVATE_KEY_PATH: key, AIRFLOW__API_AUTH__JWT_KID: secret['jwt-key-id'], AIRFLOW__API_AUTH__TRUSTED_JWKS_URL: jwks };
  };
  const tokens = async (env: Record<string, string>, ...args: string[]) => {
    const r = await run(join(venv.venv, 'bin', 'python'), ['-c', AIRFLOW_TOKENS, ...args], { ...venv.envFor('jwt.db'), ...env });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim().split('\n').pop()!;
  };

  test('old token valid until the old key is dropped; new token valid from step 1 on, not before', async () => {
    // the Secret as `cdk8s-airflow secrets` makes it (create-secrets.sh makes the same format with openssl)
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const initial = { 'jwt-signing-key': pem, 'jwt-key-id': 'k-old', 'jwt-public-keys': JSON.stringify({ keys: [publicJwk(pem, 'k-old')] }) };
    const fake = join(venv.home, 'bin');
    execFileSync('mkdir', ['-p', fake]);
    writeFileSync(join(fake, 'kubectl'), FAKE_KUBECTL);
    chmodSync(join(fake, 'kubectl'), 0o755);
    writeFileSync(join(venv.home, 'secret.json'), JSON.stringify(initial));
    const shell = spawnSync('bash', ['-euo', 'pipefail', '-c', steps], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: `${fake}:${process.env.PATH}`, FAKE_KUBECTL_DIR: venv.home, HOME: venv.home },
    });
    expect({ status: shell.status, stderr: shell.stderr }).toEqual({ status: 0, stderr: '' });
    const seen = readdirSync(venv.home).filter(f => /^restart-\d+\.json$/.test(f)).sort()
      .map(f => JSON.parse(readFileSync(join(venv.home, f), 'utf8')) as Record<string, string>);
    expect(seen).toHaveLength(3);
    const [before, bothKeys, newSigner, newOnly] = [initial, ...seen].map((s, i) => airflowEnv(s, String(i)));
    expect(JSON.parse(seen[0]['jwt-public-keys']).keys.map((k: any) => k.kid)).toEqual([seen[1]['jwt-key-id'], 'k-old']);
    expect(seen[1]['jwt-key-id']).not.toBe('k-old');

    const oldToken = await tokens(before, 'sign');
    const newToken = await tokens(newSigner, 'sign');
    expect(await tokens(before, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(bothKeys, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(newSigner, 'validate', oldToken)).toBe('valid ti');
    expect(await tokens(newOnly, 'validate', oldToken)).toMatch(/^invalid InvalidTokenError Kid did not match any validation keys/);
    expect(await tokens(bothKeys, 'validate', newToken)).toBe('valid ti');
    expect(await tokens(newOnly, 'validate', newToken)).toBe('valid ti');
    // why step 1 comes first: an api-server still on the old key set refuses the new key's tokens
    expect(await tokens(before, 'validate', newToken)).toMatch(/^invalid InvalidTokenError/);
  });
});
