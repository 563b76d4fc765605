// imports/k8s.ts re-exports the bindings cdk8s-plus-28 ships; they must be the ones
// `cdk8s import k8s@1.28.0` generates from ../shared/reference/k8s-1.28-definitions.json.
import { readFileSync } from 'fs';
import { join } from 'path';
import * as k8s from '../imports/k8s';
import { SHARED } from './helpers';

test('every Kube* class is a kind of the Kubernetes 1.28 schema, and every top-level 1.28 kind has a class', () => {
  const { definitions } = JSON.parse(readFileSync(join(SHARED, 'k8s-1.28-definitions.json'), 'utf8'));
  // the importer makes one class per definition with a single group-version-kind, except List kinds
  const key = ({ group, version, kind }: any) => `${group ? `${group}/` : ''}${version}/${kind}`;
  const anyKinds = new Set<string>();
  const schemaKinds = new Set<string>();
  for (const def of Object.values<any>(definitions)) {
    const gvks = def['x-kubernetes-group-version-kind'] ?? [];
    gvks.forEach((g: any) => anyKinds.add(key(g)));
    if (gvks.length === 1 && !gvks[0].kind.endsWith('List')) schemaKinds.add(key(gvks[0]));
  }
  const classes = Object.entries(k8s).filter(([name]) => name.startsWith('Kube'))
    .map(([, cls]) => (cls as any).GVK).filter((g: any) => g && !g.kind.endsWith('List')).map((g: any) => `${g.apiVersion}/${g.kind}`);
  expect(classes.length).toBeGreaterThan(50);
  expect(classes.filter(c => !anyKinds.has(c))).toEqual([]);
  expect([...schemaKinds].filter(c => !classes.includes(c))).toEqual([]);
});
