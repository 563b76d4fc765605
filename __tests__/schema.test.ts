// Every synthesized object, and the task pod template, against the Kubernetes 1.28 schema
// (../shared/reference/k8s-1.28-definitions.json) with unknown fields rejected.
import { parseManifests } from '../scripts/manifests';
import { SchemaValidator } from '../scripts/schema';
import { synthEnvironment, taskPod, TIERS } from './helpers';

const validator = new SchemaValidator();
const asManifest = (o: object, source: string) => ({ source, text: '', object: o as any });

describe.each(TIERS)('%s', tier => {
  const objects = synthEnvironment(tier);

  test('every object is valid Kubernetes 1.28, no unknown field', () => {
    expect(objects.length).toBeGreaterThan(10);
    expect(objects.flatMap((o, i) => validator.validate(asManifest(o, `${tier}#${i}`)))).toEqual([]);
  });

  test('the task pod template is a valid Pod', () => {
    const pod = taskPod(objects);
    expect(pod.kind).toBe('Pod');
    expect(validator.validate(asManifest(pod, `${tier} pod template`))).toEqual([]);
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
  });
});
