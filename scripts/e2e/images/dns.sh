#!/usr/bin/env bash
# Makes the e2e cluster's CoreDNS answer github.com with the node IP (10.244.0.1), where
# scripts/e2e/images/git-server.sh serves the stand-in of https://github.com/apache/airflow.git.
#
#   scripts/e2e/images/dns.sh apply     add "10.244.0.1 github.com" (idempotent), restart CoreDNS if that
#                                       changed anything, and wait until it answers
#   scripts/e2e/images/dns.sh check     query CoreDNS (the kube-dns Service) for github.com
#
# How: cluster.sh's Corefile already has `hosts /etc/coredns/NodeHosts { ttl 5; reload 10s; fallthrough }`,
# the file being the ConfigMap's NodeHosts key, "extra names for tests". The entry goes there, not into a
# second `hosts { ... }` block: CoreDNS refuses that ("plugin/hosts: this plugin can only be used once per
# Server Block"). CoreDNS would pick the change up by itself (the Corefile has `reload`, and the hosts plugin
# re-reads its file every 10 s), but only once the kubelet has refreshed the ConfigMap volume, which takes
# up to a minute or more; a rollout restart makes it take seconds. Needs `cluster.sh up`; cluster.sh
# itself is not changed, so a new cluster needs `dns.sh apply` again (npm run e2e does it).
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
export KUBECONFIG="$E2E_KUBECONFIG"
[ -f "$KUBECONFIG" ] || e2e_die "no cluster ($KUBECONFIG missing): scripts/e2e/cluster.sh up"
kc() { timeout 120 "$E2E_K8S_BIN/kubectl" -n kube-system "$@"; }
name=github.com
entry="$E2E_NODE_IP $name"

# Prints the new NodeHosts (with the entry), or nothing when it needs no change.
add_entry() {
  kc get configmap coredns -o json | ENTRY="$entry" NAME="$name" e2e_python -c '
import json, os, sys
data = json.load(sys.stdin)["data"]
if "hosts /etc/coredns/NodeHosts" not in data.get("Corefile", ""):
    sys.exit("dns.sh: the coredns Corefile has no `hosts /etc/coredns/NodeHosts` (not made by scripts/e2e/cluster.sh?)")
lines = data.get("NodeHosts", "").splitlines()
# Every other line that names the host goes: one answer only.
kept = [l for l in lines if os.environ["NAME"] not in l.split()[1:]]
new = kept + [os.environ["ENTRY"]]
if new != lines:
    print(json.dumps({"data": {"NodeHosts": "\n".join(new) + "\n"}}))
'
}

restart_coredns() {
  kc rollout restart deployment/coredns >/dev/null
  kc rollout status deployment/coredns --timeout=120s >/dev/null || e2e_die "CoreDNS did not come back"
}

query() {  # NAME: the A records CoreDNS (the kube-dns Service) gives for NAME, one a line
  e2e_python - "$1" "$E2E_DNS_IP" <<'PY'
import random, socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(q, (server, 53))
r, _ = s.recvfrom(4096)
rid, flags, qd, an = struct.unpack(">HHHH", r[:8])
def skip(i):
    while True:
        n = r[i]
        if n == 0: return i + 1
        if n & 0xC0 == 0xC0: return i + 2
        i += n + 1
i = 12
for _ in range(qd): i = skip(i) + 4
for _ in range(an):
    i = skip(i)
    rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10]); i += 10
    if rtype == 1: print(socket.inet_ntoa(r[i:i + rdlen]))
    i += rdlen
PY
}

wait_answer() {  # EXPECTED
  local got=""
  for _ in $(seq 1 60); do
    got="$(query "$name" 2>/dev/null || true)"
    [ "$got" = "$1" ] && return 0
    sleep 1
  done
  e2e_die "CoreDNS answers $name with '${got}', not '$1'"
}

case "${1:-}" in
  apply)
    patch="$(add_entry)"
    if [ -n "$patch" ]; then
      kc patch configmap coredns --type merge -p "$patch" >/dev/null
      e2e_log "coredns NodeHosts: added '$entry'; restarting CoreDNS"
      restart_coredns
    fi
    wait_answer "$E2E_NODE_IP"
    e2e_log "CoreDNS answers $name with $E2E_NODE_IP" ;;
  check) query "$name" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
