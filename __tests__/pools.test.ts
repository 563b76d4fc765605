// AirflowPools: pools as data, applied by a re-runnable Job. What `airflow pools import` does with the file is an
// integration test (__tests__/integration/pools.test.ts, real Airflow); here, the Job's shape and the rules.
import { Chart, Testing } from 'cdk8s';
import { Airflow, AirflowChart, AirflowConfig, AirflowPools, AirflowProps, AirflowPoolsProps, AirflowValidationError, ENVIRONMENTS } from '../lib';
import { envOf, find, K8sObject, podSpec, runCheck, synth, testChart, writeYaml } from './helpers';
import { scriptOf } from './maintenance-jobs';

function render(props: Partial<AirflowPoolsProps> = {}) {
  const chart = testChart();
  const config = new AirflowConfig(chart, 'config');
  const pools = new AirflowPools(chart, 'pools', { config, pools: { etl: { slots: 8, description: 'nightly loads' } }, ...props });
  const objects = synth(chart);
  const job = find(objects, 'Job', pools.name);
  return { pools, objects, job, spec: podSpec(job), container: podSpec(job).containers[0] };
}

describe('AirflowPools', () => {
  test('is the Job airflow-pools-<revision>: it waits for the migrations, then imports the declared pools through the image entrypoint', () => {
    const { pools, job, spec, container } = render();
    expect(pools.name).toMatch(/^airflow-pools-[0-9a-f]{10}$/);
    expect(job.metadata.labels!['app.kubernetes.io/component']).toBe('pools');
    expect(spec.restartPolicy).toBe('OnFailure');
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['wait-for-migrations']);
    expect(scriptOf(container).split('\n')).toEqual(['set -euo pipefail', 'printf \'%s\' "$AIRFLOW_POOLS" > /tmp/pools.json', 'airflow pools import /tmp/pools.json']);
    expect(JSON.parse(envOf(container).AIRFLOW_POOLS.value!)).toEqual({ etl: { slots: 8, description: 'nightly loads', include_deferred: false } });
    expect(envOf(container).AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toEqual({ secret: 'airflow-secrets', key: 'sql-alchemy-conn' });
  });

  test('the same pools give the same Job name; a changed slot count gives a new Job', () => {
    expect(render().pools.name).toBe(render().pools.name);
    expect(render({ pools: { etl: { slots: 9, description: 'nightly loads' } } }).pools.name).not.toBe(render().pools.name);
  });

  test('prune deletes the undeclared pools but default_pool; -1 is unlimited', () => {
    const { container } = render({ prune: true, pools: { etl: { slots: -1 } } });
    const script = scriptOf(container);
    expect(script).toContain('airflow pools list --output json > /tmp/existing.json');
    expect(script).toContain('p["pool"] != "default_pool"');
    expect(script).toContain('airflow pools delete "$pool"');
    expect(JSON.parse(envOf(container).AIRFLOW_POOLS.value!).etl.slots).toBe(-1);
  });

  test.each<[Partial<AirflowPoolsProps>, string, RegExp]>([
    [{ pools: {} }, 'pools', /at least one pool/],
    [{ pools: { '  ': { slots: 1 } } }, 'pools', /a pool name of 1 to 256 characters/],
    [{ pools: { ['p'.repeat(257)]: { slots: 1 } } }, 'pools', /a pool name of 1 to 256 characters/],
    [{ pools: { etl: { slots: -2 } } }, 'pools.etl.slots', /whole number >= 0/],
    [{ pools: { etl: { slots: 1.5 } } }, 'pools.etl.slots', /whole number >= 0/],
    [{ pools: { etl: { slots: '8' as any } } }, 'pools.etl.slots', /expected a number/],
    [{ pools: { etl: { slot: 8 } as any } }, 'pools.etl.slot', /did you mean "slots"/],
    [{ pools: { etl: { slots: 1, includeDeferred: 'yes' as any } } }, 'pools.etl.includeDeferred', /expected a boolean/],
  ])('rejects %j', (props, property, expected) => {
    let error: unknown;
    try { render(props); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(new RegExp(`^AirflowPools \\[test/pools\\] ${property.replace(/\./g, '\\.')}: got `));
    expect((error as Error).message).toMatch(expected);
  });
});

describe('in an Airflow', () => {
  const inStaging = (): K8sObject[] => {
    const chart = new Chart(Testing.app(), 'staging', { namespace: 'airflow-staging', disableResourceNameHashes: true });
    new Airflow(chart, 'airflow', { ...ENVIRONMENTS.staging.airflow, pools: { pools: { etl: { slots: 8 } } } });
    return synth(chart);
  };

  test('behind PgBouncer, the pools Job may reach it (PgBouncer\'s NetworkPolicy) and passes npm run check', () => {
    const objects = inStaging();
    const policy = find(objects, 'NetworkPolicy', 'airflow-pgbouncer');
    expect(JSON.stringify(policy.spec.ingress)).toContain('"pools"');
    expect(objects.filter(o => o.kind === 'Job').map(o => o.metadata.name)).toEqual([expect.stringMatching(/^airflow-db-migrate-/), expect.stringMatching(/^airflow-pools-/)]);
    const { status, report } = runCheck(writeYaml(objects));
    expect([...report.schemaErrors, ...report.policyViolations, ...report.hygieneProblems]).toEqual([]);
    expect(status).toBe(0);
  });

  test('without PgBouncer, PostgreSQL\'s NetworkPolicy admits the pools Job, and only when there is one', () => {
    const policyOf = (pools?: AirflowProps['pools']) => {
      const chart = new Chart(Testing.app(), 'dev', { namespace: 'airflow-dev', disableResourceNameHashes: true });
      new Airflow(chart, 'airflow', { ...ENVIRONMENTS.dev.airflow, pools });
      return find(synth(chart), 'NetworkPolicy', 'airflow-postgresql').spec.ingress[0].from[0].podSelector.matchExpressions[0].values;
    };
    expect(policyOf({ pools: { etl: { slots: 8 } } })).toContain('pools');
    expect(policyOf()).not.toContain('pools');
  });

  test('without pools there is no pools Job', () => {
    const chart = new Chart(Testing.app(), 'dev', { namespace: 'airflow-dev', disableResourceNameHashes: true });
    expect(ENVIRONMENTS.dev.airflow.pools).toBeUndefined();
    expect(ENVIRONMENTS.dev.airflow.taskPods?.profiles).toBeUndefined();
    new Airflow(chart, 'airflow', ENVIRONMENTS.dev.airflow);
    expect(synth(chart).filter(o => o.kind === 'Job').map(o => o.metadata.name)).toEqual([expect.stringMatching(/^airflow-db-migrate-/)]);
  });
});

describe('the pools of task pod profiles', () => {
  test('a profile with slots is a pool of its name and slots, beside the declared ones; prod\'s preset has them', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', {
      pools: { pools: { etl: { slots: 8 } } },
      taskPods: { profiles: { large: { resources: { requests: { cpu: '4' } }, slots: 3 }, small: {} } },
    });
    const job = synth(chart).find(o => o.kind === 'Job' && o.metadata.labels?.['app.kubernetes.io/component'] === 'pools')!;
    const pools = JSON.parse(envOf(podSpec(job).containers[0]).AIRFLOW_POOLS.value!);
    expect(Object.keys(pools).sort()).toEqual(['etl', 'large']);
    expect(pools.large.slots).toBe(3);

    const prod = synth(new AirflowChart(Testing.app(), 'prod', ENVIRONMENTS.prod));
    const prodPools = JSON.parse(envOf(podSpec(prod.find(o => o.kind === 'Job' && o.metadata.labels?.['app.kubernetes.io/component'] === 'pools')!).containers[0]).AIRFLOW_POOLS.value!);
    const profiles = ENVIRONMENTS.prod.airflow.taskPods!.profiles!;
    expect(Object.fromEntries(Object.entries(prodPools).map(([n, p]: [string, any]) => [n, p.slots])))
      .toEqual(Object.fromEntries(Object.entries(profiles).filter(([, p]) => p.slots !== undefined).map(([n, p]) => [n, p.slots])));
  });
});
