// npm run bench: how long synth and the checks take, in figures (never asserted in tests).
//   in-process synth of all environments (what main.ts does), the full `cdk8s synth` command
//   (CLI start, ts-node transpile-only, synth, write), and `npm run check` on dist/.
import { spawnSync } from 'child_process';
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { buildApp } from '../lib/app';

const ROOT = join(__dirname, '..');

function measure(label: string, runs: number, fn: () => void): void {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`${label.padEnd(44)} runs ${String(runs).padStart(2)}  min ${times[0].toFixed(0).padStart(6)} ms  median ${median.toFixed(0).padStart(6)} ms`);
}

function run(cmd: string, args: string[]): () => void {
  return () => {
    const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  };
}

buildApp(mkdtempSync(join(tmpdir(), 'bench-'))).synth(); // warm-up: module loading
measure('synth in process (3 environments)', 20, () => buildApp(mkdtempSync(join(tmpdir(), 'bench-'))).synth());
measure('cdk8s synth (CLI, ts-node transpile-only)', 5, run(join(ROOT, 'node_modules', '.bin', 'cdk8s'),
  ['synth', '--no-check-upgrade', '--output', mkdtempSync(join(tmpdir(), 'bench-'))]));
measure('npm run check (schema + policy + hygiene)', 3, run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'scripts/check.ts', 'dist']));
