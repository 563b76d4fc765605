// Pod Security Standards "restricted" on dist/, by a maintained policy library (the
// pod-security-standards plugin of @monokle/validation), through `npm run check`, the command a
// GitOps pipeline runs. The library is ESM-only, so it runs in a child process.
import { writeFileSync } from 'fs';
import { join } from 'path';
import { ENVIRONMENTS, TEAMS } from '../lib';
import { loadManifests } from '../scripts/manifests';
import { runCheck, tempDir } from './helpers';

const ROOT = join(__dirname, '..');

const check = runCheck;

test('dist/: every pod of every environment, task pod templates included, meets "restricted"', () => {
  const { status, report } = check('dist');
  const manifests = loadManifests([join(ROOT, 'dist')]);
  const pods = manifests.filter(m => ['Deployment', 'StatefulSet', 'Job', 'CronJob', 'Pod'].includes(m.object.kind!));
  expect(report.policyViolations).toEqual([]);
  expect(report.schemaErrors).toEqual([]);
  expect(report.hygieneProblems).toEqual([]);
  // each environment's pod_template_file and its task pod profiles'
  const charts = [...Object.values(ENVIRONMENTS), ...Object.values(TEAMS).map(t => ENVIRONMENTS[t.tier])];
  const templates = charts.reduce((a, e) => a + 1 + Object.keys(e.airflow.taskPods?.profiles ?? {}).length, 0);
  expect(templates).toBeGreaterThan(3);
  expect(report.podTemplates).toBe(templates);
  expect(manifests.filter(m => m.embeddedIn).length).toBe(templates);
  expect(report.podSpecsChecked).toBe(pods.length);
  expect(pods.length).toBeGreaterThanOrEqual(18);
  expect(status).toBe(0);
});

test('the policy check fails a pod that is not "restricted", and so does the command', () => {
  const dir = tempDir('check-');
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      image: "busybox:1.36"
      resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 8Mi}}
      securityContext: {privileged: true}
`);
  const { status, report } = check(file);
  const rules = report.policyViolations.map(v => v.split(' ')[1]);
  expect(rules).toEqual(expect.arrayContaining(['PSS103', 'PSS202', 'PSS203', 'PSS205', 'PSS206']));
  expect(status).toBe(1);
});

test('custom resources fail the schema check unless --allow-unknown-kinds, which counts them as skipped', () => {
  const dir = tempDir('check-');
  const file = join(dir, 'crd.yaml');
  writeFileSync(file, 'apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata: {name: airflow-secrets}\nspec: {}\n');
  const strict = check(file);
  expect(strict.report.schemaErrors.join()).toMatch(/ExternalSecret is not a Kubernetes 1.28 kind/);
  expect(strict.status).toBe(1);
  const lenient = check('--allow-unknown-kinds', file);
  expect(lenient.report.schemaErrors).toEqual([]);
  expect(lenient.report.unknownKindsSkipped).toBe(1);
  expect(lenient.status).toBe(0);
});
