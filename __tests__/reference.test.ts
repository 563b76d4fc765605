// The schemas npm run check validates against ship with the project (scripts/reference/): each must be
// the published Kubernetes definitions its README names, byte for byte.
import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { basename, join } from 'path';
import { K8S_SCHEMAS } from '../scripts/schema';
import { SHARED } from './helpers';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const README = readFileSync(join(__dirname, '..', 'scripts', 'reference', 'README.md'), 'utf8');

describe.each([
  ['1.28', '26005b7e779ea2fcbd87e4f23d76dc565eef8381c2287e149c676c03d48b0df6'],
  ['1.36', 'a9e98cdc6ab09980f23b5e987a5f11d0ec1fc838187efb92f347ccf38ed8fd65'],
])('Kubernetes %s', (version, hash) => {
  const file = K8S_SCHEMAS.find(f => basename(f) === `k8s-${version}-definitions.json`)!;

  test(`scripts/reference/k8s-${version}-definitions.json is the v${version}.0 schema its README names`, () => {
    expect(sha256(file)).toBe(hash);
    expect(README).toContain(hash);
  });

  const shared = join(SHARED, `k8s-${version}-definitions.json`);
  (existsSync(shared) ? test : test.skip)('and equals the shared reference copy beside the project (developers and CI only)', () => {
    expect(sha256(file)).toBe(sha256(shared));
  });
});
