// imports/k8s.ts re-exports the bindings cdk8s-plus-28 ships; they must be the ones
// `cdk8s import k8s@1.28.0` generates from the Kubernetes 1.28 definitions (scripts/reference/; the shared
// reference README counts 139 Kube* classes).
import { readFileSync } from 'fs';
import { join } from 'path';
import * as k8s from '../imports/k8s';
import { REFERENCE } from './helpers';

const { definitions } = JSON.parse(readFileSync(join(REFERENCE, 'k8s-1.28-definitions.json'), 'utf8'));
const key = ({ group, version, kind }: any) => `${group ? `${group}/` : ''}${version}/${kind}`;
const schemaKinds = new Set<string>(Object.values<any>(definitions).flatMap(d => (d['x-kubernetes-group-version-kind'] ?? []).map(key)));
const classes = Object.entries(k8s).filter(([name]) => name.startsWith('Kube')) as Array<[string, any]>;

test('the 139 Kube* classes of the 1.28 import, each a kind of the 1.28 schema', () => {
  expect(classes).toHaveLength(139);
  expect(classes.filter(([, cls]) => !schemaKinds.has(`${cls.GVK.apiVersion}/${cls.GVK.kind}`)).map(([name]) => name)).toEqual([]);
});

test.each([
  ['KubeNamespace', 'v1'], ['KubeConfigMap', 'v1'], ['KubeServiceAccount', 'v1'], ['KubeService', 'v1'],
  ['KubeRole', 'rbac.authorization.k8s.io/v1'], ['KubeRoleBinding', 'rbac.authorization.k8s.io/v1'],
  ['KubeDeployment', 'apps/v1'], ['KubeStatefulSet', 'apps/v1'], ['KubeJob', 'batch/v1'],
  ['KubePodDisruptionBudget', 'policy/v1'], ['KubeNetworkPolicy', 'networking.k8s.io/v1'],
])('%s, which the constructs emit, is %s', (name, apiVersion) => {
  expect((k8s as any)[name].GVK.apiVersion).toBe(apiVersion);
});
