import { App, Testing } from 'cdk8s';
import { AirflowChart, AirflowTeamChart, AirflowValidationError, ENVIRONMENTS, TEAMS } from '../lib';
import { buildApp } from '../lib/app';
import { find, K8sObject, synth } from './helpers';

const REPO = { repository: 'https://github.com/example/dags.git', ref: 'main' };

/** Every object of the project's App, by chart id. */
function appObjects(): Record<string, K8sObject[]> {
  const app = buildApp('/nonexistent');
  return Object.fromEntries(app.charts.map(c => [c.node.id, synth(c)]));
}

/** The synth error of an App, as the message of the validation cdk8s runs over every chart. */
function synthError(app: App): string {
  try { app.synthYaml(); } catch (e) { return (e as Error).message; }
  return 'no error';
}

describe('the teams of the app (TEAMS)', () => {
  const charts = appObjects();
  const teams = Object.keys(TEAMS);

  test('each team is a chart of its own, in namespace airflow-<team>, with every namespaced object in it', () => {
    expect(teams).toEqual(['team-a', 'team-b']);
    for (const team of teams) {
      const objects = charts[team];
      expect(objects.filter(o => o.kind === 'Namespace').map(o => o.metadata.name)).toEqual([`airflow-${team}`]);
      const elsewhere = objects.filter(o => !['Namespace', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o.kind) && o.metadata.namespace !== `airflow-${team}`);
      expect(elsewhere.map(o => `${o.kind}/${o.metadata.name}`)).toEqual([]);
      expect(find(objects, 'Namespace', `airflow-${team}`).metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
    }
  });

  test('each team has its own quota, sized as its tier\'s', () => {
    for (const team of teams) {
      const quota = find(charts[team], 'ResourceQuota', 'airflow-quota');
      expect(quota.metadata.namespace).toBe(`airflow-${team}`);
      expect(quota.spec.hard['requests.cpu']).toBe(ENVIRONMENTS[TEAMS[team].tier].quota!.requests.cpu);
    }
  });

  test('each team\'s ServiceAccounts are its own: its RoleBindings grant only accounts of its namespace, its Roles only there', () => {
    for (const team of teams) {
      const ns = `airflow-${team}`;
      const accounts = charts[team].filter(o => o.kind === 'ServiceAccount');
      expect(accounts.length).toBeGreaterThanOrEqual(3);
      for (const binding of charts[team].filter(o => o.kind === 'RoleBinding')) {
        expect(binding.metadata.namespace).toBe(ns);
        for (const s of binding.subjects) expect({ binding: binding.metadata.name, subject: `${s.kind}/${s.namespace}/${s.name}` }).toEqual({ binding: binding.metadata.name, subject: `ServiceAccount/${ns}/${s.name}` });
      }
    }
  });

  test('each team has its own metadata database: PgBouncer points at a host no other chart points at', () => {
    const hosts = Object.entries(charts).flatMap(([chart, objects]) => objects.filter(o => o.kind === 'ConfigMap' && o.data?.['pgbouncer.ini'])
      .map(o => ({ chart, database: /host=(\S+) port=(\d+) dbname=(\S+)/.exec(o.data['pgbouncer.ini'])!.slice(1).join(' ') })));
    expect(hosts.map(h => h.chart).sort()).toEqual(['prod', 'staging', 'team-a', 'team-b']);
    expect(new Set(hosts.map(h => h.database)).size).toBe(hosts.length);
    // team-b (the staging tier) runs PostgreSQL in its own namespace
    expect(hosts.find(h => h.chart === 'team-b')!.database).toBe('airflow-postgresql.airflow-team-b 5432 airflow');
    expect(find(charts['team-b'], 'StatefulSet', 'airflow-postgresql').metadata.namespace).toBe('airflow-team-b');
  });

  test('team-a logs in through its own OIDC client, whose groups are its own, not prod\'s', () => {
    const oidc = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'airflow-config').data['webserver_config.py'];
    const prod = oidc(appObjects().prod);
    const teamA = oidc(charts['team-a']);
    expect(teamA).toContain('"client_id": "airflow-team-a"');
    expect(teamA).toContain('"team-a-admins": ["Admin"]');
    expect(teamA).not.toContain('airflow-admins');
    expect(prod).toContain('"client_id": "airflow"');
  });

  test('a team\'s DAGs are given once: airflow.dags beside dags is refused', () => {
    expect(() => new AirflowTeamChart(Testing.app(), 'team-x', { tier: 'dev', dags: REPO, airflow: { dags: REPO } }))
      .toThrow(/AirflowTeamChart \[team-x\] airflow\.dags: got .*; expected unset: the team's DAGs are its `dags`/);
  });

  test('each team syncs its own DAG repository and answers at its own host', () => {
    const repo = (objects: K8sObject[]) => find(objects, 'Deployment', 'airflow-dag-processor').spec.template.spec.containers
      .flatMap((c: any) => c.env ?? []).find((e: any) => e.name === 'GITSYNC_REPO').value;
    for (const team of teams) expect(repo(charts[team])).toBe(TEAMS[team].dags.repository);
    expect(find(charts['team-a'], 'Ingress', 'airflow-api-server').spec.rules.map((r: any) => r.host)).toEqual(['team-a.airflow.example.com']);
  });
});

describe('what a cluster has once is claimed once per App', () => {
  const expectClaim = (build: (app: App) => void, pattern: RegExp) => {
    const app = Testing.app();
    build(app);
    expect(synthError(app)).toMatch(pattern);
  };

  test('two teams on the dev tier claim NodePort 30007 twice; another nodePort resolves it', () => {
    expectClaim(app => {
      new AirflowTeamChart(app, 'team-x', { tier: 'dev', dags: REPO });
      new AirflowTeamChart(app, 'team-y', { tier: 'dev', dags: REPO });
    }, /ApiServer \[team-y\/airflow\/api-server\] nodePort: got "30007"; expected a NodePort that no other installation of the App has: ApiServer \[team-x\/airflow\/api-server\] nodePort has 30007 \(every node opens a NodePort for one Service/);
    const app = Testing.app();
    new AirflowTeamChart(app, 'team-x', { tier: 'dev', dags: REPO });
    new AirflowTeamChart(app, 'team-y', { tier: 'dev', dags: REPO, airflow: { apiServer: { ...ENVIRONMENTS.dev.airflow.apiServer, nodePort: 30008 } } });
    expect(synthError(app)).toBe('no error');
  });

  test('a team on the prod tier with prod\'s database is refused: one metadata database for two Airflows', () => {
    expectClaim(app => {
      new AirflowChart(app, 'prod', ENVIRONMENTS.prod);
      new AirflowTeamChart(app, 'team-x', { tier: 'prod', dags: { ...REPO, ref: 'a'.repeat(40) }, airflow: { ingress: { ...ENVIRONMENTS.prod.airflow.ingress!, hosts: ['x.example.com'] } } });
    }, /PgBouncer \[team-x\/airflow\/pgbouncer\] database: got "airflow-database.example.internal:5432\/airflow"; expected a metadata database that no other installation of the App has: PgBouncer \[prod\/airflow\/pgbouncer\] database has/);
  });

  test('one Ingress host and path of one class, or one Gateway host and path, for two installations is refused', () => {
    const team = (host: string) => ({ tier: 'prod' as const, dags: { ...REPO, ref: 'a'.repeat(40) }, airflow: {
      pgbouncer: { ...ENVIRONMENTS.prod.airflow.pgbouncer, database: { host: `${host}.db.internal` } }, ingress: { ...ENVIRONMENTS.prod.airflow.ingress!, hosts: ['airflow.example.com'] },
    } });
    expectClaim(app => {
      new AirflowTeamChart(app, 'team-x', team('x'));
      new AirflowTeamChart(app, 'team-y', team('y'));
    }, /ApiServerIngress \[team-y\/airflow\/ingress\] hosts\[0\]: got "nginx: airflow.example.com\/"; expected a host and path of an Ingress class that no other/);
    const route = { gateway: { name: 'shared', namespace: 'gateways' }, hosts: ['airflow.example.com'] };
    expectClaim(app => {
      new AirflowTeamChart(app, 'team-x', { tier: 'staging', dags: REPO, airflow: { httpRoute: route, networkPolicies: { apiServerFrom: [{ namespaceSelector: {} }] } } });
      new AirflowTeamChart(app, 'team-y', { tier: 'staging', dags: REPO, airflow: { httpRoute: route, networkPolicies: { apiServerFrom: [{ namespaceSelector: {} }] } } });
    }, /ApiServerHttpRoute \[team-y\/airflow\/http-route\] hosts\[0\]: got "gateways\/shared: airflow.example.com\/"; expected a host and path of a Gateway that no other/);
  });

  test('two teams in one namespace are refused at construction', () => {
    const app = Testing.app();
    new AirflowTeamChart(app, 'team-x', { tier: 'staging', dags: REPO, namespace: 'airflow-shared' });
    expect(() => new AirflowTeamChart(app, 'team-y', { tier: 'staging', dags: REPO, namespace: 'airflow-shared' }))
      .toThrow(/AirflowConfig \[team-y\/airflow\/config\] instanceName: got "airflow"; expected a name no other installation in namespace airflow-shared uses/);
  });

  test('a team name that makes no namespace is refused with the property', () => {
    expect(() => new AirflowTeamChart(Testing.app(), 'Team_X', { tier: 'dev', dags: REPO })).toThrow(AirflowValidationError);
    expect(() => new AirflowTeamChart(Testing.app(), 'Team_X', { tier: 'dev', dags: REPO })).toThrow(/namespace: got "airflow-Team_X"; expected a DNS-1123 label/);
  });
});
