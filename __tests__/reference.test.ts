// The reference data ships with the project (scripts/reference/): each file must be the published data
// its README names, byte for byte, and equal the developers' shared copy when that is beside the project.
import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { basename, join } from 'path';
import { GATEWAY_API_VERSION } from '../lib';
import { CRD_SCHEMAS, K8S_SCHEMAS, PROMETHEUS_OPERATOR_VERSION } from '../scripts/schema';
import { REFERENCE, SHARED } from './helpers';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const README = readFileSync(join(REFERENCE, 'README.md'), 'utf8');

describe.each([
  ['k8s-1.28-definitions.json', 'the Kubernetes v1.28.0 schema', '26005b7e779ea2fcbd87e4f23d76dc565eef8381c2287e149c676c03d48b0df6', true],
  ['k8s-1.36-definitions.json', 'the Kubernetes v1.36.0 schema', 'a9e98cdc6ab09980f23b5e987a5f11d0ec1fc838187efb92f347ccf38ed8fd65', true],
  // not in the developers' shared reference: its hash and README entry are the check
  ['gateway-api-v1.7.0-httproutes.yaml', 'the Gateway API v1.7.0 HTTPRoute CRD', 'ac4c1e0ad475793728a3c599cdac602cc658a633787a2fa568339e98aae93674', false],
  ['prometheus-operator-v0.85.0-servicemonitors.yaml', 'the Prometheus Operator v0.85.0 ServiceMonitor CRD', '1dae27b7189b5ce7b9ab764656c18b4c75a45cde1e6f3af6a5e84c4317628919', false],
  ['prometheus-operator-v0.85.0-prometheusrules.yaml', 'the Prometheus Operator v0.85.0 PrometheusRule CRD', '98fd16c9ab79fba8dcd6ef62c957c98cd6546ab74ce0a4ecf09ddf2fda03020e', false],
])('scripts/reference/%s', (name, what, hash, inShared) => {
  const file = join(REFERENCE, name);

  test(`is ${what} its README names, byte for byte`, () => {
    expect(sha256(file)).toBe(hash);
    expect(README).toContain(hash);
  });

  const shared = join(SHARED, name);
  if (inShared) (existsSync(shared) ? test : test.skip)('and equals the shared reference copy beside the project (developers and CI only)', () => {
    expect(sha256(file)).toBe(sha256(shared));
  });
});

test('npm run check validates against the two Kubernetes schemas shipped there, and the CRDs beside them', () => {
  expect(K8S_SCHEMAS.map(f => basename(f))).toEqual(['k8s-1.28-definitions.json', 'k8s-1.36-definitions.json']);
  expect([...K8S_SCHEMAS, ...CRD_SCHEMAS].every(f => f.startsWith(REFERENCE))).toBe(true);
  expect(CRD_SCHEMAS.map(f => basename(f))).toEqual([`gateway-api-${GATEWAY_API_VERSION}-httproutes.yaml`,
    `prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}-servicemonitors.yaml`, `prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}-prometheusrules.yaml`]);
});
