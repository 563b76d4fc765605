// The schema npm run check validates against ships with the project (scripts/reference/): it must be
// the published Kubernetes 1.28 definitions, byte for byte.
import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { K8S_SCHEMA } from '../scripts/schema';
import { SHARED } from './helpers';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('scripts/reference/k8s-1.28-definitions.json is the v1.28.0 schema its README names', () => {
  expect(sha256(K8S_SCHEMA)).toBe('26005b7e779ea2fcbd87e4f23d76dc565eef8381c2287e149c676c03d48b0df6');
  expect(readFileSync(join(__dirname, '..', 'scripts', 'reference', 'README.md'), 'utf8')).toContain(sha256(K8S_SCHEMA));
});

const shared = join(SHARED, 'k8s-1.28-definitions.json');
(existsSync(shared) ? test : test.skip)('and equals the shared reference copy beside the project (developers and CI only)', () => {
  expect(sha256(K8S_SCHEMA)).toBe(sha256(shared));
});
