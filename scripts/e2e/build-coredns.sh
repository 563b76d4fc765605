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
bin="${INTEGRATION_CACHE:-$here/.cache}/coredns-$version/bin"   # same cache root as build-kubernetes.sh
if [ ! -x "$bin/coredns" ]; then
  command -v go >/dev/null || { echo "build-coredns: go is not installed" >&2; exit 1; }
  mkdir -p "$bin"
  echo "build-coredns: building coredns $version (cold: a few minutes)" >&2
  # Static binary (CGO_ENABLED=0): it runs in an image that has nothing but this file.
  GOBIN="$bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout 3600 \
    go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$version" \
    || { echo "build-coredns: go install github.com/coredns/coredns@$version failed (see above)" >&2; exit 1; }
fi
echo "$bin/coredns"
