// scripts/e2e/cluster.sh, the parts that can run without a cluster: `down` runs first in every e2e run, before `up`
// has installed anything, so it must work on a fresh machine.
import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { tempDir } from './helpers';

const CLUSTER = readFileSync(join(__dirname, '..', 'scripts', 'e2e', 'cluster.sh'), 'utf8');

/** One shell function of cluster.sh, as written there. */
function shellFunction(name: string): string {
  const m = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}\\n`, 'm').exec(CLUSTER);
  if (!m) throw new Error(`no function ${name} in scripts/e2e/cluster.sh`);
  return m[0];
}

test('down\'s firewall cleanup succeeds on a machine with neither iptables, nftables nor ipset (before up installs them)', () => {
  const empty = tempDir('no-tools-'); // PATH holds no iptables, ip6tables, nft or ipset
  const r = spawnSync('/bin/bash', ['-euo', 'pipefail', '-c', `${shellFunction('clean_iptables')}\n${shellFunction('clean_ipsets')}\nclean_iptables\nclean_ipsets`], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: empty, E2E_K8S_BIN: join(empty, 'bin'), BEFORE: join(empty, 'before') },
  });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
});
