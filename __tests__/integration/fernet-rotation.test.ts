// docs/operations.md, "Rotating the fernet key", on the Airflow that scripts/integration/setup.sh installs: a
// connection and a variable encrypted with the old key stay readable with both keys, `airflow rotate-fernet-key`
// re-encrypts them, and then the new key alone reads them; without the rotation it cannot.
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { airflowVenv } from './airflow-venv';

jest.setTimeout(600_000);

describe('rotating the fernet key as docs/operations.md says, with real Airflow', () => {
  let venv: ReturnType<typeof airflowVenv>;
  beforeAll(() => { venv = airflowVenv('fernet-airflow-'); }, 3600_000);
  afterAll(() => venv.cleanup());

  const newKey = () => execFileSync(join(venv.venv, 'bin', 'python'), ['-c', 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'], { encoding: 'utf8' }).trim();
  const withKey = (key: string) => ({ AIRFLOW__CORE__FERNET_KEY: key });
  const read = async (key: string) => ({
    password: JSON.parse((await venv.airflow('fernet.db', ['connections', 'get', 'warehouse', '--output', 'json'], withKey(key))).stdout)[0].password,
    variable: (await venv.airflow('fernet.db', ['variables', 'get', 'token'], withKey(key))).stdout.trim(),
  });

  test('the documented steps are the ones run here', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    expect(doc).toContain('printf \'{"stringData":{"fernet-key":"%s,%s"}}\' "$NEW" "$OLD"');
    expect(doc).toContain('-- airflow rotate-fernet-key');
  });

  test('old key, then both, rotate, then the new key alone: every value reads back; skipping the rotation loses them', async () => {
    const OLD = newKey();
    const NEW = newKey();
    await venv.airflow('fernet.db', ['db', 'migrate'], withKey(OLD));
    await venv.airflow('fernet.db', ['connections', 'add', 'warehouse', '--conn-uri', 'postgresql://etl:s3cret@warehouse.example:5432/dw'], withKey(OLD));
    await venv.airflow('fernet.db', ['variables', 'set', 'token', 'abc123'], withKey(OLD));
    const plain = { password: 's3cret', variable: 'abc123' };
    expect(await read(OLD)).toEqual(plain);

    // without the old key, before the rotation: unreadable
    // (Airflow reports a value it cannot decrypt as missing)
    await expect(read(NEW)).rejects.toThrow(/Connection not found/);
    // step 1: both keys, new first: still readable
    expect(await read(`${NEW},${OLD}`)).toEqual(plain);
    // step 2
    await venv.airflow('fernet.db', ['rotate-fernet-key'], withKey(`${NEW},${OLD}`));
    // step 3: the new key alone reads everything; the old one alone no longer does
    expect(await read(NEW)).toEqual(plain);
    await expect(read(OLD)).rejects.toThrow(/Connection not found/);
  });
});
