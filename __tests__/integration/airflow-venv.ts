// The Airflow that scripts/integration/setup.sh installs (the locked release the default image pins), run on the host
// against a SQLite database of a test's own: for what a one-off command does (db clean, pools import), without pods.
import { spawn } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { setup } from '../../scripts/integration/host';
import { AIRFLOW_VERSION } from '../../lib';

/**
 * Runs a program without stdin: bash started with a socket as stdin (Node's pipes are socketpairs) believes sshd
 * started it and sources ~/.bashrc (Debian's SSH_SOURCE_BASHRC); a pod's bash has no such stdin.
 */
export function run(file: string, args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => { stdout += d; });
    child.stderr.on('data', d => { stderr += d; });
    child.on('error', reject);
    child.on('close', status => resolve({ status, stdout, stderr }));
  });
}

/** The venv, a home of its own and the environment of a process that uses the SQLite database `db` in it. Call in beforeAll. */
export function airflowVenv(prefix: string) {
  const home = mkdtempSync(join(tmpdir(), prefix));
  const venv = join(setup(), `airflow-${AIRFLOW_VERSION}`);
  const envFor = (db: string): Record<string, string> => ({
    PATH: `${venv}/bin:/usr/bin:/bin`, HOME: home, AIRFLOW_HOME: home,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${join(home, db)}`, AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
  });
  /** Runs `airflow ARGS` against the SQLite database `db`; fails the test unless it exits 0. */
  const airflow = async (db: string, args: string[], extraEnv: Record<string, string> = {}) => {
    const r = await run(join(venv, 'bin', 'airflow'), args, { ...envFor(db), ...extraEnv });
    if (r.status !== 0) throw new Error(`airflow ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  return { home, venv, envFor, airflow, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}
