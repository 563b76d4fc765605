// TaskPodAdmissionPolicy: what the policy allows is derived from the task pod template. What a real API server does
// with it (admits the executor's pods, refuses each forbidden variant) is __tests__/integration/kube-apiserver.test.ts.
import { Chart, Testing } from 'cdk8s';
import { Airflow, AirflowConfig, AirflowValidationError, ENVIRONMENTS, SecretKeyRef, TaskPodAdmissionPolicy, TaskPodTemplate } from '../lib';
import { K8sObject, runCheck, synth, synthEnvironment, testChart, writeYaml } from './helpers';

const policyOf = (objects: K8sObject[]) => objects.find(o => o.kind === 'ValidatingAdmissionPolicy')!;
const expressions = (objects: K8sObject[]) => policyOf(objects).spec.validations.map((v: any) => v.expression).join('\n');

describe('TaskPodAdmissionPolicy', () => {
  test('prod has it, cluster-scoped (no namespace), bound to prod\'s namespace, judging the scheduler\'s ServiceAccount only', () => {
    const prod = synthEnvironment('prod');
    const policy = policyOf(prod);
    const binding = prod.find(o => o.kind === 'ValidatingAdmissionPolicyBinding')!;
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.metadata.name).toBe('airflow-prod-airflow-task-pods');
    expect(policy.metadata.namespace).toBeUndefined();
    expect(binding.metadata.namespace).toBeUndefined();
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'airflow-prod' } } } });
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConditions).toEqual([{ name: 'scheduler', expression: "request.userInfo.username == 'system:serviceaccount:airflow-prod:airflow-scheduler'" }]);
    expect(policy.spec.matchConstraints.resourceRules[0]).toMatchObject({ operations: ['CREATE', 'UPDATE'], resources: ['pods'] });
    for (const tier of ['dev', 'staging'] as const) expect(synthEnvironment(tier).some(o => o.kind === 'ValidatingAdmissionPolicy')).toBe(false);
  });

  test('the allowed images, Secrets, ConfigMaps and claims are exactly the task pod template\'s', () => {
    const chart = testChart();
    const airflow = new Airflow(chart, 'airflow', {
      ...ENVIRONMENTS.staging.airflow, taskPodAdmissionPolicy: { allowedImages: ['registry.example.com/spark:3.5.1'] },
      taskPods: { includeFernetKey: true, env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'task-token', key: 't' } } }] },
    });
    const policy = airflow.taskPodAdmissionPolicy!;
    expect(policy.allowedImages).toEqual(['apache/airflow:3.3.2', 'registry.example.com/spark:3.5.1', 'registry.k8s.io/git-sync/git-sync:v4.7.1']);
    expect(policy.allowedSecrets).toEqual(['airflow-secrets', 'task-token']);
    const text = expressions(synth(chart));
    expect(text).toContain("c.image in ['apache/airflow:3.3.2', 'registry.example.com/spark:3.5.1', 'registry.k8s.io/git-sync/git-sync:v4.7.1']");
    expect(text).toContain("v.configMap.name in ['airflow-config']");
    expect(text).toContain("v.persistentVolumeClaim.claimName in ['airflow-logs']");
    // single keys by name and key: a pod may not read another key of the Secret, nor the whole Secret
    expect(text).toContain("(e.valueFrom.secretKeyRef.name + '/' + e.valueFrom.secretKeyRef.key) in ['airflow-secrets/fernet-key', 'task-token/t']");
    expect(text).toContain("f.secretRef.name in []");
    expect(text).toContain("v.secret.secretName in []");
    expect(text).toContain("object.spec.serviceAccountName == 'default' && has(object.spec.automountServiceAccountToken) && object.spec.automountServiceAccountToken == false");
    expect(text).toContain("request.operation != 'UPDATE' || object.spec == oldObject.spec");
  });

  test('a template ServiceAccount is the one allowed, with its token and the token\'s projected volume (workload identity for remote logs)', () => {
    const chart = testChart();
    const config = new AirflowConfig(chart, 'config');
    const podTemplate = new TaskPodTemplate(chart, 'tasks', { config, serviceAccountName: 'airflow-tasks' });
    new TaskPodAdmissionPolicy(chart, 'policy', { config, podTemplate, schedulerServiceAccountName: 'airflow-scheduler' });
    const text = expressions(synth(chart));
    expect(text).toContain("(object.spec.serviceAccountName == 'airflow-tasks')");
    expect(text).not.toContain('automountServiceAccountToken == false');
    expect(text).toContain("(has(v.projected) && v.name.startsWith('kube-api-access-'))");
    // without a ServiceAccount of its own, no token and no projected volume
    const prod = expressions(synthEnvironment('prod'));
    expect(prod).toContain('automountServiceAccountToken == false');
    expect(prod).not.toContain('kube-api-access-');
  });

  test('Secrets the template uses whole (envFrom, a secret volume) are allowed whole, and only those', () => {
    const chart = testChart();
    new Airflow(chart, 'airflow', { taskPodAdmissionPolicy: true, taskPods: { pod: {
      envFrom: [{ secretRef: { name: 'airflow-connections' } }],
      volumes: [{ name: 'certs', secret: { secretName: 'corporate-ca' } }], volumeMounts: [{ name: 'certs', mountPath: '/etc/certs' }],
    } } });
    const text = expressions(synth(chart));
    expect(text).toContain("f.secretRef.name in ['airflow-connections']");
    expect(text).toContain("v.secret.secretName in ['corporate-ca']");
  });

  test('npm run check validates it against the 1.36 schema and says 1.28 lacks the kind (admissionregistration.k8s.io/v1 is GA in 1.30)', () => {
    const { status, report } = runCheck(writeYaml(synthEnvironment('prod')));
    expect(report.schemaErrors).toEqual([]);
    expect(report.newerKinds).toEqual([expect.stringMatching(/ValidatingAdmissionPolicy airflow-prod-airflow-task-pods\): not a Kubernetes 1\.28 kind; checked against Kubernetes 1\.36$/),
      expect.stringMatching(/ValidatingAdmissionPolicyBinding airflow-prod-airflow-task-pods\): not a Kubernetes 1\.28 kind; checked against Kubernetes 1\.36$/)]);
    expect(status).toBe(0);
    // and an unknown field in it is still an error
    const broken = synthEnvironment('prod').map(o => o.kind === 'ValidatingAdmissionPolicy' ? { ...o, spec: { ...o.spec, failurPolicy: 'Fail' } } : o);
    expect(runCheck(writeYaml(broken)).report.schemaErrors).toEqual([expect.stringMatching(/Kubernetes 1\.36\): \/spec must NOT have additional properties 'failurPolicy'/)]);
  });

  test.each<[string, () => unknown, RegExp]>([
    ['an unpinned allowed image', () => new Airflow(testChart(), 'airflow', { taskPodAdmissionPolicy: { allowedImages: ['busybox'] } }), /allowedImages\[0\]: got "busybox"; expected an image reference pinned/],
    ['a misspelt option', () => new Airflow(testChart(), 'airflow', { taskPodAdmissionPolicy: { allowImages: [] } as any }), /taskPodAdmissionPolicy\.allowImages: .*did you mean "allowedImages"/],
    ['a config of another namespace', () => {
      const chart = testChart();
      const other = new Chart(Testing.app(), 'other', { namespace: 'elsewhere' });
      const config = new AirflowConfig(other, 'config');
      return new TaskPodAdmissionPolicy(chart, 'policy', { config, podTemplate: new TaskPodTemplate(other, 't', { config }), schedulerServiceAccountName: 's' });
    }, /config: got "the AirflowConfig of namespace elsewhere"/],
  ])('refuses %s', (_what, build, expected) => {
    let error: unknown;
    try { build(); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(AirflowValidationError);
    expect((error as Error).message).toMatch(expected);
  });
});

test('SecretKeyRef options reach task pods only where the template has them, so the policy allows them', () => {
  const chart = testChart();
  new Airflow(chart, 'airflow', { taskPodAdmissionPolicy: true, options: { secrets: { backend: 'airflow.providers.hashicorp.secrets.vault.VaultBackend', backend_kwargs: SecretKeyRef.of('vault', 'kwargs') } },
    networkPolicies: { egress: { services: [{ to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ port: 8200 }] }] } } });
  const policy = policyOf(synth(chart));
  const text = policy.spec.validations.map((v: any) => v.expression).join('\n');
  expect(text).toContain("secretKeyRef.key) in ['vault/kwargs']");
});
