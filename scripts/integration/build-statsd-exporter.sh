#!/usr/bin/env bash
# Builds Prometheus's statsd_exporter from the Go module proxy into the git-ignored cache:
# .cache/statsd-exporter-<version>/bin/statsd_exporter. A binary already built is kept.
#
#   scripts/integration/build-statsd-exporter.sh      prints the path of the binary
#
# The version is the default image's (STATSD_EXPORTER_VERSION in lib/metrics/statsd-exporter.ts, prom/statsd-exporter:<version>),
# so the integration tests run the exporter dist/ deploys, and the e2e image (scripts/e2e/images/build.sh) is the same
# binary. github.com/prometheus/statsd_exporter has no replace directives: a plain `go install module@version` works.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
version="$(sed -n "s/^export const STATSD_EXPORTER_VERSION = '\(.*\)';/\1/p" "$here/lib/metrics/statsd-exporter.ts")"
[ -n "$version" ] || { echo "build-statsd-exporter: no STATSD_EXPORTER_VERSION in lib/metrics/statsd-exporter.ts" >&2; exit 1; }
exec "$here/scripts/integration/go-install.sh" statsd_exporter "github.com/prometheus/statsd_exporter@$version" \
  "${INTEGRATION_CACHE:-$here/.cache}/statsd-exporter-$version/bin"
