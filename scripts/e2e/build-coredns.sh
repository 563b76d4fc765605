#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy (the only source of Go code reachable here) into the git-ignored
# cache: .cache/coredns-<version>/bin/coredns. A binary already built is kept.
#
#   scripts/e2e/build-coredns.sh            prints the path of the binary
#
# github.com/coredns/coredns has no replace directives in its go.mod, so a plain `go install module@version`
# works (no wrapper module needed, unlike k8s.io/kubernetes). The proxy lists v1.14.3 .. v1.15.0 (checked
# with `go list -m -versions github.com/coredns/coredns`); COREDNS_VERSION picks another one.
set -euo pipefail
version="${COREDNS_VERSION:-v1.14.7}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
# same cache root as build-kubernetes.sh
exec "$here/scripts/integration/go-install.sh" coredns "github.com/coredns/coredns@$version" \
  "${INTEGRATION_CACHE:-$here/.cache}/coredns-$version/bin"
