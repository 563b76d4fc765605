// npm run bench: how long synth takes, in figures (never asserted in tests).
//
//   floor                    `node -e "require('cdk8s')"`: Node's start plus loading cdk8s, which any cdk8s app pays
//   npm run synth            all environments as users run it (npm, main.ts, write dist/), and its ratio to the floor
//   cdk8s synth              the same through the cdk8s CLI named in cdk8s.yaml
//   N installations          N production-like Airflows, each in its own namespace, built and synthesized in one
//                            fresh process by an AirflowApp: wall time and peak resident memory, and the ratio
//                            of 1,000 to 100; beside it, 100 in a plain cdk8s App (quadratic: see lib/airflow-app.ts)
//   npm run check            schema, policy and hygiene checks of dist/
//
// Every figure is the median of several runs, each in its own process, printed beside the minimum.
// Usage: npm run bench [-- --runs <n>]        (internal: --installations <n> [--plain-app] runs one measurement)
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { parseArgs } from 'util';
import { App } from 'cdk8s';
import { AirflowApp } from '../lib/airflow-app';
import { AirflowTeamChart } from '../lib/airflow-team-chart';
import { ENVIRONMENTS } from '../lib/environments';

const ROOT = join(__dirname, '..');
const { values } = parseArgs({
  options: { 'runs': { type: 'string', default: '5' }, 'installations': { type: 'string' }, 'plain-app': { type: 'boolean', default: false } },
});

/** One measurement, in this process: prints `{ ms, maxRssMiB }` as JSON. */
function measureInstallations(n: number, plainApp: boolean): void {
  const outdir = mkdtempSync(join(tmpdir(), 'bench-'));
  const start = performance.now();
  const app = plainApp ? new App({ outdir }) : new AirflowApp({ outdir });
  const prod = ENVIRONMENTS.prod.airflow;
  for (let i = 0; i < n; i++) {
    // each team on the prod preset with a database and a host of its own (one of each per cluster)
    new AirflowTeamChart(app, `team-${i}`, { tier: 'prod', dags: prod.dags!, airflow: {
      pgbouncer: { ...prod.pgbouncer, database: { host: `team-${i}.db.example.internal` } }, ingress: { ...prod.ingress!, hosts: [`team-${i}.airflow.example.com`] },
    } });
  }
  app.synth();
  const ms = performance.now() - start;
  rmSync(outdir, { recursive: true, force: true });
  console.log(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;

/** Runs a command `runs` times; returns the wall times in milliseconds. */
function time(runs: number, cmd: string, args: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, encoding: 'utf8' });
    times.push(performance.now() - start);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  return times;
}

function line(label: string, times: number[], extra = ''): number {
  console.log(`${label.padEnd(40)} runs ${String(times.length).padStart(2)}  min ${ms(Math.min(...times))}  median ${ms(median(times))}${extra}`);
  return median(times);
}

function installations(runs: number, n: number, plainApp = false): { ms: number; maxRssMiB: number } {
  const results = [];
  for (let i = 0; i < runs; i++) {
    const args = ['-r', './scripts/register.js', __filename, '--installations', String(n), ...(plainApp ? ['--plain-app'] : [])];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${n} installations failed:\n${r.stderr}`);
    results.push(JSON.parse(r.stdout) as { ms: number; maxRssMiB: number });
  }
  const t = line(`${n} installations in one ${plainApp ? 'cdk8s App' : 'AirflowApp'}`, results.map(r => r.ms), `  peak RSS ${Math.max(...results.map(r => r.maxRssMiB)).toFixed(0)} MiB`);
  return { ms: t, maxRssMiB: Math.max(...results.map(r => r.maxRssMiB)) };
}

function bench(runs: number): void {
  const out = () => mkdtempSync(join(tmpdir(), 'bench-'));
  console.log(`node ${process.version}, ${runs} runs each\n`);
  const floor = line('floor: node -e "require(\'cdk8s\')"', time(runs, process.execPath, ['-e', 'require("cdk8s")']));
  const npm = line('npm run synth (3 environments)', time(runs, 'npm', ['run', '--silent', 'synth', '--', '--output', out()]));
  console.log(`  npm run synth / floor: ${(npm / floor).toFixed(2)}  (target <= 3)`);
  line('cdk8s synth (CLI)', time(Math.min(runs, 3), join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['synth', '--no-check-upgrade', '--output', out()]));
  installations(Math.min(runs, 3), 100, true);
  const hundred = installations(runs, 100);
  const thousand = installations(Math.min(runs, 3), 1000);
  console.log(`  1000 / 100 installations: ${(thousand.ms / hundred.ms).toFixed(2)}  (target <= 11); 1000 in ${(thousand.ms / 1000).toFixed(1)} s ` +
    `(target < 10 s), peak ${thousand.maxRssMiB.toFixed(0)} MiB (target < 1024 MiB)`);
  line('npm run check (dist/)', time(Math.min(runs, 3), 'npm', ['run', '--silent', 'check']));
}

if (values.installations !== undefined) measureInstallations(Number(values.installations), values['plain-app']);
else bench(Number(values.runs));
