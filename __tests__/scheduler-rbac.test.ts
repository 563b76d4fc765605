import { AirflowValidationError, SchedulerRbac } from '../lib';
import { find, K8sObject, synth, testChart } from './helpers';

const chart = testChart();
const rbac = new SchedulerRbac(chart, 'rbac');
const objects = synth(chart);

/** A Role's rules as resource -> sorted verbs; fails on rules outside the core API group or with resourceNames. */
function rulesOf(role: K8sObject): Record<string, string[]> {
  const byResource: Record<string, Set<string>> = {};
  for (const rule of role.rules) {
    expect(rule.apiGroups).toEqual(['']);
    expect(rule.resourceNames).toBeUndefined();
    expect(rule.nonResourceURLs).toBeUndefined();
    for (const resource of rule.resources) for (const verb of rule.verbs) (byResource[resource] ??= new Set()).add(verb);
  }
  return Object.fromEntries(Object.entries(byResource).map(([r, v]) => [r, [...v].sort()]));
}

test('the scheduler may manage task pods, read their logs and watch events, and nothing else', () => {
  expect(rulesOf(find(objects, 'Role', 'airflow-scheduler'))).toEqual({
    'pods': ['create', 'delete', 'get', 'list', 'patch', 'watch'],
    'pods/log': ['get'],
    'events': ['list', 'watch'],
  });
});

test('the api-server may only read pods and their logs', () => {
  expect(rulesOf(find(objects, 'Role', 'airflow-api-server'))).toEqual({
    'pods': ['get', 'list'],
    'pods/log': ['get'],
  });
});

test('no wildcard, no secrets, no pods/exec in any Role', () => {
  const roles = objects.filter(o => o.kind === 'Role');
  expect(roles).toHaveLength(2);
  const text = JSON.stringify(roles.map(r => r.rules));
  expect(text).not.toContain('*');
  expect(text).not.toContain('secrets');
  expect(text).not.toContain('pods/exec');
});

test.each(['airflow-scheduler', 'airflow-api-server'])('RoleBinding %s binds the same-named ServiceAccount in the chart namespace', name => {
  const binding = find(objects, 'RoleBinding', name);
  expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: find(objects, 'Role', name).metadata.name });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: find(objects, 'ServiceAccount', name).metadata.name, namespace: 'airflow-test' }]);
  for (const kind of ['Role', 'RoleBinding', 'ServiceAccount']) expect(find(objects, kind, name).metadata.namespace).toBe('airflow-test');
});

test('the exposed ServiceAccount names are the bound ones', () => {
  expect(rbac.schedulerServiceAccountName).toBe('airflow-scheduler');
  expect(rbac.apiServerServiceAccountName).toBe('airflow-api-server');
});

test('no cluster-wide rights', () => {
  expect(objects.filter(o => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
  expect(objects.map(o => o.kind).sort()).toEqual(['Role', 'Role', 'RoleBinding', 'RoleBinding', 'ServiceAccount', 'ServiceAccount']);
});

test('ServiceAccounts do not automount their token (pods opt in)', () => {
  for (const sa of objects.filter(o => o.kind === 'ServiceAccount')) expect(sa.automountServiceAccountToken).toBe(false);
});

test('instance name and namespace props', () => {
  const c = testChart();
  new SchedulerRbac(c, 'rbac', { instanceName: 'etl', namespace: 'airflow-test' });
  const o = synth(c);
  expect(find(o, 'RoleBinding', 'etl-scheduler').subjects).toEqual([{ kind: 'ServiceAccount', name: 'etl-scheduler', namespace: 'airflow-test' }]);
  // a RoleBinding in the Chart's namespace naming a ServiceAccount elsewhere would bind nothing that exists
  expect(() => new SchedulerRbac(testChart(), 'rbac', { namespace: 'other' })).toThrow(/namespace: got "other"; expected the namespace of its Chart \[test\] \(airflow-test\)/);
  expect(() => new SchedulerRbac(testChart(), 'rbac', { instanceName: 'Bad_Name' })).toThrow(AirflowValidationError);
  expect(() => new SchedulerRbac(testChart(), 'rbac', { namespace: 'Bad_NS' })).toThrow(AirflowValidationError);
});
