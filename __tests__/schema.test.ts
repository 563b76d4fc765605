// Every synthesized object, and the task pod template, against the Kubernetes 1.28 schema (the API the
// constructs are typed against) and the 1.36 schema (the newest published), unknown fields rejected.
import { writeFileSync } from 'fs';
import { join } from 'path';
import { loadManifests, parseManifests } from '../scripts/manifests';
import { K8S_SCHEMAS, SchemaValidator } from '../scripts/schema';
import { synthEnvironment, taskPod, tempDir, TIERS } from './helpers';

const [validator, validator136] = K8S_SCHEMAS.map(p => new SchemaValidator(p));
const asManifest = (o: object, source: string) => ({ source, text: '', object: o as any });

test('the schemas are Kubernetes 1.28 and 1.36', () => {
  expect([validator.label, validator136.label]).toEqual(['Kubernetes 1.28', 'Kubernetes 1.36']);
});

describe.each(TIERS)('%s', tier => {
  const objects = synthEnvironment(tier);

  test.each([0, 1])('every object is valid under schema %i (1.28, 1.36), no unknown field; only prod\'s admission policy is of a kind 1.28 lacks', i => {
    const v = [validator, validator136][i];
    expect(objects.length).toBeGreaterThan(10);
    const known = objects.filter((o, n) => v.knows(asManifest(o, `${tier}#${n}`)));
    expect(objects.filter(o => !known.includes(o)).map(o => o.kind)).toEqual(i === 0 && tier === 'prod' ? ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'] : []);
    expect(known.flatMap((o, n) => v.validate(asManifest(o, `${tier}#${n}`)))).toEqual([]);
  });

  test('the task pod template is a valid Pod in 1.28 and 1.36', () => {
    const pod = taskPod(objects);
    expect(pod.kind).toBe('Pod');
    expect([validator, validator136].flatMap(v => v.validate(asManifest(pod, `${tier} pod template`)))).toEqual([]);
  });
});

describe('each finding names the Kubernetes version the object fails', () => {
  const policy = (apiVersion: string) => parseManifests('vap.yaml', `apiVersion: ${apiVersion}
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]}
  validations: [{expression: "true"}]`)[0];

  test('a ValidatingAdmissionPolicy in v1 (GA in 1.30) fails 1.28 only', () => {
    expect(validator136.validate(policy('admissionregistration.k8s.io/v1'))).toEqual([]);
    expect(validator.validate(policy('admissionregistration.k8s.io/v1'))).toEqual([
      'vap.yaml:1: admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy is not a Kubernetes 1.28 kind (removed, not yet added, or a custom resource? see --allow-unknown-kinds)',
    ]);
  });

  test('the same in v1beta1 (removed after 1.28) fails 1.36 only', () => {
    expect(validator.validate(policy('admissionregistration.k8s.io/v1beta1'))).toEqual([]);
    expect(validator136.validate(policy('admissionregistration.k8s.io/v1beta1')).join()).toMatch(/is not a Kubernetes 1\.36 kind/);
  });

  test('a field 1.28 lacks (pod-level resources, 1.32+) fails 1.28 only, named', () => {
    const pod = parseManifests('pod.yaml', `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  resources: {limits: {memory: 1Gi}}
  containers: [{name: c, image: "x:1"}]`)[0];
    expect(validator136.validate(pod)).toEqual([]);
    expect(validator.validate(pod)).toEqual(["pod.yaml:1 (Pod p, Kubernetes 1.28): /spec must NOT have additional properties 'resources'"]);
  });
});

describe('the validator rejects what the API server would', () => {
  const deployment = () => parseManifests('t', `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: "x:1"}]`)[0];

  test('a valid object passes', () => {
    expect(validator.validate(deployment())).toEqual([]);
  });
  test('an unknown field', () => {
    const m = deployment();
    (m.object as any).spec.template.spec.containers[0].imagePullPolice = 'Always';
    expect(validator.validate(m).join()).toMatch(/additional properties 'imagePullPolice'/);
  });
  test('a wrong type', () => {
    const m = deployment();
    (m.object as any).spec.replicas = 'two';
    expect(validator.validate(m).join()).toMatch(/replicas must be integer/);
  });
  test('a missing required field', () => {
    const m = deployment();
    delete (m.object as any).spec.selector;
    expect(validator.validate(m).join()).toMatch(/required property 'selector'/);
  });
  test('a kind that 1.28 does not have', () => {
    const m = deployment();
    (m.object as any).apiVersion = 'apps/v1beta1';
    expect(validator.validate(m).join()).toMatch(/not a Kubernetes 1.28 kind/);
    expect(validator136.validate(m).join()).toMatch(/not a Kubernetes 1.36 kind/);
  });
});

test('findings point at the file and the line the object starts on, pod templates in ConfigMaps too', () => {
  const text = `# two objects
apiVersion: v1
kind: ConfigMap
metadata: {name: ok}
data:
  pod_template_file.yaml: |
    apiVersion: v1
    kind: Pod
    metadata: {name: t}
    spec: {containers: [{name: c, image: "x:1", imagePullPolice: Always}]}
---

apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}], typo: 1}
`;
  const dir = tempDir('schema-');
  writeFileSync(join(dir, 'x.yaml'), text);
  const manifests = loadManifests([dir]);
  expect(manifests.map(m => m.source)).toEqual([`${dir}/x.yaml:2`, `${dir}/x.yaml:13`, `${dir}/x.yaml:2 pod_template_file.yaml:1`]);
  expect(text.split('\n')[13 - 1]).toBe('apiVersion: v1');
  expect(manifests.flatMap(m => validator.validate(m))).toEqual([
    `${dir}/x.yaml:13 (Service s, Kubernetes 1.28): /spec must NOT have additional properties 'typo'`,
    `${dir}/x.yaml:2 pod_template_file.yaml:1 (Pod t, Kubernetes 1.28): /spec/containers/0 must NOT have additional properties 'imagePullPolice'`,
  ]);
});
