// docs/architecture.md is generated from dist/ and current; the diagram shows the relations the objects define.
import { readFileSync } from 'fs';
import { join } from 'path';
import { architectureDoc, diagram } from '../scripts/diagram';
import { synthEnvironment } from './helpers';

test('docs/architecture.md is what scripts/diagram.ts writes for the current dist/ (if not: node -r ./scripts/register.js scripts/diagram.ts > docs/architecture.md)', () => {
  expect(readFileSync(join(__dirname, '..', 'docs', 'architecture.md'), 'utf8')).toBe(architectureDoc());
});

describe('the staging diagram', () => {
  const lines = diagram(synthEnvironment('staging') as any).split('\n').map(l => l.trim());

  test('workloads with their replicas, Services in front of the pods they select', () => {
    expect(lines).toContain('Deployment_airflow_scheduler["Deployment airflow-scheduler ×2"]');
    expect(lines).toContain('Service_airflow_pgbouncer --> Deployment_airflow_pgbouncer');
    expect(lines).toContain('Service_airflow_api_server --> Deployment_airflow_api_server');
    expect(lines.filter(l => l.startsWith('Service_airflow_api_server -->'))).toHaveLength(1);
  });

  test('what each reads: the Secrets by name, the pod template, the shared log volume', () => {
    expect(lines).toContain('Deployment_airflow_scheduler --> ConfigMap_airflow_pod_template');
    expect(lines).toContain('Deployment_airflow_pgbouncer --> Secret_airflow_pgbouncer');
    expect(lines).toContain('task_pods --> PVC_airflow_logs');
  });

  test('the scheduler creates the task pods; the NetworkPolicies allow PgBouncer only from the components', () => {
    expect(lines).toContain('Deployment_airflow_scheduler -. creates .-> task_pods');
    expect(lines).toContain('Deployment_airflow_scheduler == "TCP 6432" ==> Deployment_airflow_pgbouncer');
    // the pools Job (its name ends in a hash of its spec) imports the task pod profiles' pools through PgBouncer
    expect(lines.filter(l => l.endsWith('==> Deployment_airflow_pgbouncer')).map(l => l.split(' ')[0].replace(/_[0-9a-f]{10}$/, '_<hash>')).sort()).toEqual([
      'CronJob_airflow_db_cleanup', 'Deployment_airflow_api_server', 'Deployment_airflow_dag_processor', 'Deployment_airflow_scheduler', 'Deployment_airflow_triggerer',
      'Job_airflow_pools_<hash>',
    ]);
    expect(lines).toContain('Deployment_airflow_api_server == "TCP 8794" ==> Deployment_airflow_triggerer');
  });
});
