#!/usr/bin/env bash
# Builds Prometheus's promtool from the Go module proxy into the git-ignored cache:
# .cache/promtool-<version>/bin/promtool. A binary already built is kept.
#
#   scripts/integration/build-promtool.sh      prints the path of the binary
#
# Prometheus 3.x is published as the Go module github.com/prometheus/prometheus v0.3XX.Y (v0.316.0 is Prometheus
# 3.16.0; `go list -m -versions github.com/prometheus/prometheus`); PROMTOOL_VERSION picks another. Its go.mod has no
# replace directives, so `go install .../cmd/promtool@version` works. Cold, it compiles Prometheus's dependencies
# (cloud service discovery included): several minutes on two cores.
set -euo pipefail
version="${PROMTOOL_VERSION:-v0.316.0}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
exec "$here/scripts/integration/go-install.sh" promtool "github.com/prometheus/prometheus/cmd/promtool@$version" \
  "${INTEGRATION_CACHE:-$here/.cache}/promtool-$version/bin"
