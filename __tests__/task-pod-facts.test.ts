// taskPodLeaks judges the task pods the executor creates in the integration and e2e runs: it must pass
// our templates and catch each way a pod could carry a database URL, a secret or a token.
import { taskPodLeaks } from '../scripts/task-pod-facts';
import { synthEnvironment, taskPod, TIERS } from './helpers';

const clean = () => JSON.parse(JSON.stringify(taskPod(synthEnvironment('dev')).spec));

test.each(TIERS)('the %s task pod template leaks nothing', tier => {
  expect(taskPodLeaks(taskPod(synthEnvironment(tier)).spec)).toEqual([]);
});

test.each([
  ['a database URL in env', (s: any) => s.containers[0].env.push({ name: 'X', value: 'postgresql+psycopg2://a:b@db/airflow' }), /holds a database URL/],
  ['the connection option', (s: any) => s.containers[0].env.push({ name: 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }), /env AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/],
  ['any Secret in env', (s: any) => s.containers[0].env.push({ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'airflow-secrets', key: 'jwt-secret' } } }), /from Secret airflow-secrets/],
  ['envFrom a Secret', (s: any) => { s.containers[0].envFrom = [{ secretRef: { name: 'airflow-secrets' } }]; }, /envFrom Secret airflow-secrets/],
  ['a Secret volume the task mounts', (s: any) => { s.volumes.push({ name: 'x', secret: { secretName: 'airflow-secrets' } }); s.containers[0].volumeMounts.push({ name: 'x', mountPath: '/x' }); }, /Secret airflow-secrets mounted by base/],
  ['a token', (s: any) => { s.automountServiceAccountToken = true; }, /automountServiceAccountToken/],
  ['a projected volume', (s: any) => s.volumes.push({ name: 'kube-api-access', projected: { sources: [] } }), /projected/],
])('catches %s', (_what, change, expected) => {
  const spec = clean();
  change(spec);
  expect(taskPodLeaks(spec).join('\n')).toMatch(expected);
});

test('git-sync\'s own credentials, mounted only by git-sync, are no leak', () => {
  const spec = clean();
  spec.volumes.push({ name: 'git-secret', secret: { secretName: 'git-creds' } });
  spec.initContainers[0].volumeMounts.push({ name: 'git-secret', mountPath: '/etc/git-secret' });
  expect(taskPodLeaks(spec)).toEqual([]);
});
