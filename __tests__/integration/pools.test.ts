// AirflowPools against the Airflow that scripts/integration/setup.sh installs: the Job's exact script creates the
// declared pools, runs again without changing anything, sets changed slots, and (with prune) deletes what is not
// declared but default_pool. setup() installs what is missing; when it cannot, these tests fail, never skip.
import { AirflowConfig, AirflowPools, AirflowPoolsProps } from '../../lib';
import { envOf, find, podSpec, synth, testChart } from '../helpers';
import { scriptOf } from '../maintenance-jobs';
import { airflowVenv, run } from './airflow-venv';

jest.setTimeout(600_000);

/** The Job's container: its script and its AIRFLOW_POOLS. */
function job(props: Partial<AirflowPoolsProps>): { script: string; pools: string } {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config');
  const construct = new AirflowPools(chart, 'pools', { config, pools: {}, ...props });
  const container = podSpec(find(synth(chart), 'Job', construct.name)).containers[0];
  return { script: scriptOf(container), pools: envOf(container).AIRFLOW_POOLS.value! };
}

describe('AirflowPools with real Airflow', () => {
  let venv: ReturnType<typeof airflowVenv>;
  beforeAll(() => { venv = airflowVenv('pools-airflow-'); }, 3600_000);
  afterAll(() => venv.cleanup());

  /** Runs the Job's script as its container does (bash -c, the database from the environment); its output. */
  const runJob = async (props: Partial<AirflowPoolsProps>) => {
    const { script, pools } = job(props);
    const r = await run('bash', ['-c', script], { ...venv.envFor('pools.db'), AIRFLOW_POOLS: pools });
    if (r.status !== 0) throw new Error(`the pools Job failed: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const poolsInAirflow = async () => Object.fromEntries(
    JSON.parse((await venv.airflow('pools.db', ['pools', 'list', '--output', 'json'])).stdout)
      .map((p: any) => [p.pool, { slots: Number(p.slots), description: p.description, include_deferred: String(p.include_deferred) }]));

  test('creates the declared pools, is a no-op run again, sets changed slots, and keeps what it does not declare', async () => {
    await venv.airflow('pools.db', ['db', 'migrate']);
    await venv.airflow('pools.db', ['pools', 'set', 'from-the-ui', '3', 'made by hand']);
    const declared: AirflowPoolsProps['pools'] = { etl: { slots: 8, description: 'nightly loads' }, sensors: { slots: -1, includeDeferred: true } };
    expect(await runJob({ pools: declared })).toMatch(/Uploaded 2 pool\(s\)/);
    const first = await poolsInAirflow();
    expect(first).toMatchObject({
      etl: { slots: 8, description: 'nightly loads', include_deferred: 'False' },
      sensors: { slots: -1, include_deferred: 'True' },
      'from-the-ui': { slots: 3 },
      default_pool: { slots: 128 },
    });
    await runJob({ pools: declared });
    expect(await poolsInAirflow()).toEqual(first);
    await runJob({ pools: { ...declared, etl: { slots: 16, description: 'nightly loads' } } });
    expect((await poolsInAirflow()).etl.slots).toBe(16);
  });

  test('with prune, a pool removed from the data is deleted; default_pool stays', async () => {
    const out = await runJob({ pools: { etl: { slots: 16 } }, prune: true });
    expect(out).toMatch(/Pool sensors deleted/);
    expect(out).toMatch(/Pool from-the-ui deleted/);
    expect(Object.keys(await poolsInAirflow()).sort()).toEqual(['default_pool', 'etl']);
  });
});
