// A property no props interface declares fails synth with the closest known name, at any depth and in
// every construct, also for JavaScript or JSON input that no type-checker saw.
import { readFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { Construct } from 'constructs';
import {
  Airflow, AirflowPools, AirflowApp, AirflowChart, AirflowTeamChart, AirflowConfig, AirflowNetworkPolicies, AirflowScheduler, AirflowValidationError, ApiServer, ApiServerHttpRoute, ApiServerIngress, NamespaceQuota,
  DagProcessor, DatabaseCleanup, ENVIRONMENTS, GitSync, MigrateDatabaseJob, PgBouncer, PostgresBackup, PostgresStatefulSet,
  SchedulerRbac, TaskLogVolume, TaskPodAdmissionPolicy, TaskPodCleanup, TaskPodTemplate, Triggerer,
  AirflowGrafanaDashboard, AirflowPrometheusRule, AirflowServiceMonitor, StatsdExporter,
} from '../lib';
import { derivePropsShapes } from '../scripts/derive-props-shapes';
import { testChart } from './helpers';

const SHIPPED = readFileSync(join(__dirname, '..', 'lib', 'core', 'props-shapes.json'), 'utf8');

test('lib/core/props-shapes.json is what scripts/derive-props-shapes.ts derives from the props interfaces now (if not: npm run derive)', () => {
  expect(SHIPPED).toBe(derivePropsShapes());
});

function errorOf(build: () => unknown): AirflowValidationError {
  try {
    build();
  } catch (e) {
    if (e instanceof AirflowValidationError) return e;
    throw e;
  }
  throw new Error('no error');
}

/** The dev preset with a change made by `patch` to a deep copy, as a JSON file would give it. */
function dev(patch: (env: any) => void): () => AirflowChart {
  const env = JSON.parse(JSON.stringify(ENVIRONMENTS.dev, (_k, v) => v));
  // SecretKeyRef instances do not survive JSON: put the preset's own objects back where they were
  env.airflow = { ...ENVIRONMENTS.dev.airflow, ...env.airflow, options: ENVIRONMENTS.dev.airflow.options };
  patch(env);
  return () => new AirflowChart(Testing.app(), 'dev', env);
}

describe('typos in an environment, at every depth, name the path and the closest property', () => {
  test.each<[string, (env: any) => void, string, string]>([
    ['top level', env => { env.namespac = 'x'; }, 'namespac', 'namespace'],
    ['a component', env => { env.airflow.scheduler = { replica: 3 }; }, 'airflow.scheduler.replica', 'replicas'],
    ['the DAG repository', env => { env.airflow.dags = { ...env.airflow.dags, repo: 'https://example.com/x.git' }; }, 'airflow.dags.repo', 'repository'],
    ['a misspelling', env => { env.airflow.dags = { ...env.airflow.dags, subpth: 'dags' }; }, 'airflow.dags.subpth', 'subPath'],
    ['resources', env => { env.airflow.apiServer = { resources: { request: { cpu: '1' } } }; }, 'airflow.apiServer.resources.request', 'requests'],
    ['an env list item', env => { env.airflow.triggerer = { env: [{ name: 'A', valu: 'b' }] }; }, 'airflow.triggerer.env[0].valu', 'value'],
    ['nested twice', env => { env.airflow.postgres = { backup: { schedul: '0 3 * * *' } }; }, 'airflow.postgres.backup.schedul', 'schedule'],
  ])('%s', (_what, patch, property, suggestion) => {
    const e = errorOf(dev(patch));
    expect(e.constructPath).toBe('dev');
    expect(e.property).toBe(property);
    expect(e.message).toContain(`expected a property `);
    expect(e.message).toContain(`did you mean "${suggestion}"?`);
  });

  test('the message lists what is known where the typo is', () => {
    const e = errorOf(dev(env => { env.airflow.scheduler = { replica: 3 }; }));
    expect(e.message).toBe('AirflowChart [dev] airflow.scheduler.replica: got 3; expected a property of airflow.scheduler that exists: ' +
      'did you mean "replicas"? (known: disruptionBudget, env, image, migrationWaitResources, pod, replicas, resources, spreadAcrossNodes).');
  });

  test('maps (options) and class instances (SecretKeyRef) are not looked into, and the presets pass', () => {
    for (const [tier, env] of Object.entries(ENVIRONMENTS)) expect(() => new AirflowChart(Testing.app(), tier, env)).not.toThrow();
  });
});

describe('every construct rejects an unknown property of its own props', () => {
  const typo = { unknownProp: 1 } as any;
  const config = (c: Chart) => new AirflowConfig(c, 'config');
  const gitSync = (c: Chart) => new GitSync(c, 'dags', { repository: 'https://github.com/example/dags.git' });
  const exporter = (c: Chart) => new StatsdExporter(c, 'statsd', { config: new AirflowConfig(c, 'config', { metrics: { statsd: {} } }) });
  const BUILDERS: Record<string, (c: Chart) => Construct> = {
    Airflow: c => new Airflow(c, 'x', typo),
    AirflowChart: c => new AirflowChart(c, 'x', { ...ENVIRONMENTS.dev, ...typo }),
    AirflowTeamChart: c => new AirflowTeamChart(c, 'x', { tier: 'dev', dags: { repository: 'https://github.com/example/dags.git' }, ...typo }),
    AirflowConfig: c => new AirflowConfig(c, 'x', typo),
    AirflowNetworkPolicies: c => new AirflowNetworkPolicies(c, 'x', typo),
    AirflowPools: c => new AirflowPools(c, 'x', { config: config(c), pools: { etl: { slots: 1 } }, ...typo }),
    AirflowScheduler: c => { const cfg = config(c); return new AirflowScheduler(c, 'x', { config: cfg, podTemplate: new TaskPodTemplate(c, 't', { config: cfg }), ...typo }); },
    ApiServer: c => new ApiServer(c, 'x', { config: config(c), ...typo }),
    ApiServerHttpRoute: c => new ApiServerHttpRoute(c, 'x', { apiServer: new ApiServer(c, 'api-server', { config: config(c) }), gateway: { name: 'shared' }, ...typo }),
    ApiServerIngress: c => new ApiServerIngress(c, 'x', { apiServer: new ApiServer(c, 'api-server', { config: config(c) }), hosts: ['airflow.example.com'], ...typo }),
    DagProcessor: c => { const g = gitSync(c); return new DagProcessor(c, 'x', { config: new AirflowConfig(c, 'config', { dagsFolder: g.dagsFolder }), gitSync: g, ...typo }); },
    DatabaseCleanup: c => new DatabaseCleanup(c, 'x', { config: config(c), ...typo }),
    GitSync: c => new GitSync(c, 'x', { repository: 'https://github.com/example/dags.git', ...typo }),
    MigrateDatabaseJob: c => new MigrateDatabaseJob(c, 'x', { config: config(c), ...typo }),
    NamespaceQuota: c => new NamespaceQuota(c, 'x', { airflow: new Airflow(c, 'airflow', {}), requests: { cpu: '64', memory: '256Gi' }, limits: { memory: '512Gi' }, pods: 500, ...typo }),
    PgBouncer: c => new PgBouncer(c, 'x', { database: { host: 'db.example.internal' }, ...typo }),
    PostgresBackup: c => new PostgresBackup(c, 'x', typo),
    PostgresStatefulSet: c => new PostgresStatefulSet(c, 'x', typo),
    SchedulerRbac: c => new SchedulerRbac(c, 'x', typo),
    TaskLogVolume: c => new TaskLogVolume(c, 'x', typo),
    TaskPodAdmissionPolicy: c => { const cfg = config(c); return new TaskPodAdmissionPolicy(c, 'x', { config: cfg, podTemplate: new TaskPodTemplate(c, 't', { config: cfg }), schedulerServiceAccountName: 's', ...typo }); },
    TaskPodCleanup: c => new TaskPodCleanup(c, 'x', { config: config(c), ...typo }),
    TaskPodTemplate: c => new TaskPodTemplate(c, 'x', { config: config(c), ...typo }),
    Triggerer: c => new Triggerer(c, 'x', { config: config(c), ...typo }),
    StatsdExporter: c => new StatsdExporter(c, 'x', { config: new AirflowConfig(c, 'config', { metrics: { statsd: {} } }), ...typo }),
    AirflowServiceMonitor: c => new AirflowServiceMonitor(c, 'x', { exporter: exporter(c), ...typo }),
    AirflowPrometheusRule: c => new AirflowPrometheusRule(c, 'x', { exporter: exporter(c), ...typo }),
    AirflowGrafanaDashboard: c => new AirflowGrafanaDashboard(c, 'x', { exporter: exporter(c), ...typo }),
  };

  test('a case for each construct the shapes describe (AirflowDeployment through its four subclasses)', () => {
    const described = Object.keys(JSON.parse(SHIPPED).shapes).filter(n => !['AirflowApp', 'AirflowDeployment', 'AirflowSecrets'].includes(n));
    expect(Object.keys(BUILDERS).sort()).toEqual(described.sort());
  });

  test.each(Object.keys(BUILDERS))('%s', name => {
    const e = errorOf(() => BUILDERS[name](['AirflowChart', 'AirflowTeamChart'].includes(name) ? Testing.app() as any : testChart()));
    expect(e.message).toMatch(new RegExp(`^${name} \\[[^\\]]*x\\] unknownProp: got 1; expected a property that exists: did you mean`));
  });

  test('AirflowApp, and AirflowSecrets through AirflowConfig', () => {
    expect(errorOf(() => new AirflowApp({ outDir: 'dist' } as any)).message).toMatch(/^AirflowApp \[<root>\] outDir: got "dist"; .*did you mean "outdir"\?/);
    expect(errorOf(() => new AirflowConfig(testChart(), 'config', { secrets: { fernetkey: 'x' } } as any)).message)
      .toMatch(/secrets\.fernetkey: got "x"; expected a property of secrets that exists: did you mean "fernetKey"\?/);
  });
});
