#!/usr/bin/env bash
# Builds kube-router, whose network policy controller (--run-firewall, alone) enforces the e2e cluster's
# NetworkPolicies beside the bridge CNI, from the Go module proxy into the git-ignored cache:
# .cache/kube-router-<version>/bin/kube-router. A binary already built is kept.
#
#   scripts/e2e/build-kube-router.sh      prints the path of the binary
#
# github.com/cloudnativelabs/kube-router/v2 has no replace directives in its go.mod, so a plain
# `go install module/cmd/kube-router@version` works. The proxy lists v2.1.0 only
# (`go list -m -versions github.com/cloudnativelabs/kube-router/v2`); KUBE_ROUTER_VERSION picks another one.
# Why not sigs.k8s.io/kube-network-policies (what kind ships): it sends packets to nfqueue with nftables'
# `queue` expression, and this kernel has no CONFIG_NFT_QUEUE (`nft add rule ... queue num 100`: "No such
# file or directory"); kube-router needs iptables (xt_set, physdev, addrtype, NFLOG, REJECT) and ipset, all here.
set -euo pipefail
version="${KUBE_ROUTER_VERSION:-v2.1.0}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
# same cache root as build-coredns.sh
exec "$here/scripts/integration/go-install.sh" kube-router "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$version" \
  "${INTEGRATION_CACHE:-$here/.cache}/kube-router-$version/bin"
