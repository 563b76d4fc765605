// The database maintenance CronJobs (DatabaseCleanup, PostgresBackup) as their unit tests and their
// integration tests (__tests__/integration/) both synthesize and read them.
import { execFileSync } from 'child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { join } from 'path';
import { AirflowConfig, AirflowConfigProps, DatabaseCleanup, DatabaseCleanupProps, PostgresBackup, PostgresBackupProps } from '../lib';
import { find, podSpec, synth, tempDir, testChart } from './helpers';

export const DAY_MS = 86_400_000;

/** A DatabaseCleanup (with its AirflowConfig) synthesized alone: its CronJob, pod spec and container. */
export function renderCleanup(props: Partial<DatabaseCleanupProps> = {}, configProps: AirflowConfigProps = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config', configProps);
  const cleanup = new DatabaseCleanup(chart, 'db-cleanup', { config, ...props });
  const objects = synth(chart);
  const cronJob = find(objects, 'CronJob', cleanup.name);
  const spec = podSpec(cronJob);
  return { cleanup, objects, cronJob, spec, container: spec.containers[0] };
}

/** The cleanup container's script (`bash -c <script>`, which the image entrypoint execs as it is). */
export function scriptOf(container: any): string {
  expect(container.command).toBeUndefined(); // the image entrypoint runs, with its database check
  expect(container.args.slice(0, 2)).toEqual(['bash', '-c']);
  expect(container.args).toHaveLength(3);
  return container.args[2];
}

/**
 * Runs the script with bash and GNU date as the pod does, with an `airflow` on PATH that only records its
 * arguments: the argv bash hands to `airflow`, after quoting and expansion, and the time it ran.
 */
export function argvOf(script: string): { argv: string[]; ranAt: number; stdout: string } {
  const dir = tempDir('db-cleanup-argv-');
  writeFileSync(join(dir, 'airflow'), '#!/bin/bash\nprintf \'%s\\0\' "$@" > "$ARGV_FILE"\n');
  chmodSync(join(dir, 'airflow'), 0o755);
  try {
    const ranAt = Date.now();
    const stdout = execFileSync('bash', ['-c', script], {
      env: { PATH: `${dir}:/usr/bin:/bin`, ARGV_FILE: join(dir, 'argv') }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { argv: readFileSync(join(dir, 'argv'), 'utf8').split('\0').slice(0, -1), ranAt, stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PostgresBackup synthesized alone: its CronJob, pod spec and claim. */
export function makeBackup(props: PostgresBackupProps = {}) {
  const chart = testChart();
  const backup = new PostgresBackup(chart, 'backup', props);
  const objects = synth(chart);
  const cronJob = find(objects, 'CronJob', backup.name);
  const spec = podSpec(cronJob);
  return { backup, objects, cronJob, spec, claim: find(objects, 'PersistentVolumeClaim', backup.claimName) };
}
