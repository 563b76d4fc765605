#!/usr/bin/env bash
# Installs what the integration tests need, on a fresh Debian machine, and does nothing when it is there:
#   - Debian packages: PostgreSQL (the metadata database), etcd (for kube-apiserver), iptables (refuses
#     connections as a NetworkPolicy enforcer would), bubblewrap (runs
#     each container's process with the mounts, user and read-only root its manifest gives), iproute2
#     (a private network namespace per test run), git, curl, Python's venv;
#   - Airflow, exactly as locked in scripts/integration/airflow-<version>.lock.txt (pip --require-hashes),
#     in a venv made with Debian's python3 so that uid 50000 can run it;
#   - kube-apiserver, kube-scheduler, kube-controller-manager and kubectl, built from the Go module proxy
#     (scripts/integration/build-kubernetes.sh);
#   - PgBouncer 1.24.1, built from Debian's copy of its source (scripts/integration/build-pgbouncer.sh);
#   - statsd_exporter (the default exporter image's version) and promtool, built from the Go module proxy
#     (scripts/integration/build-statsd-exporter.sh, build-promtool.sh).
# Builds and venvs are cached in the git-ignored .cache/ (see scripts/integration/cache-dir.sh); Go's and
# pip's own caches make a fresh clone on a used machine quick.
#   scripts/integration/setup.sh          prints the cache folder it filled
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$("$here/scripts/integration/cache-dir.sh")"
version="$(sed -n "s/^export const AIRFLOW_VERSION = '\(.*\)';/\1/p" "$here/lib/core/names.ts")"
lock="$here/scripts/integration/airflow-$version.lock.txt"
log() { echo "integration setup: $*" >&2; }
exec 8>/tmp/cdk8s-airflow-setup.lock
flock 8   # test files that start at once install one after the other

# Debian packages, by the command each provides.
declare -A packages=(
  [pg_ctlcluster]=postgresql [etcd]=etcd-server [bwrap]=bubblewrap [ip]=iproute2 [git]=git [curl]=curl
  [setpriv]=util-linux [openssl]=openssl [gcc]=gcc [make]=make [pkg-config]=pkg-config [iptables]=iptables
)
missing=()
for cmd in "${!packages[@]}"; do command -v "$cmd" >/dev/null || missing+=("${packages[$cmd]}"); done
# The venv is made with Debian's python3 (not whatever python3 is first on PATH): uid 50000 must run it.
[ -x /usr/bin/python3 ] || missing+=(python3)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
# PgBouncer's build (build-pgbouncer.sh) needs libevent's and OpenSSL's headers
[ -f /usr/include/event2/event.h ] || missing+=(libevent-dev)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ -x /usr/lib/postgresql/15/bin/postgres ] || [ -n "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing Debian packages ${missing[*]}; run this script as root once"; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Airflow: a venv per lock; rebuilt when the lock changes.
venv="$cache/airflow-$version"
stamp="$(sha256sum "$lock" | cut -c1-16)"
if [ "$(cat "$venv/.lock-sha" 2>/dev/null)" != "$stamp" ]; then
  [ -f "$lock" ] || { log "no lock $lock: run scripts/integration/lock-airflow.sh"; exit 1; }
  log "installing Airflow $version into $venv (cold: about a minute)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$lock"
  echo "$stamp" > "$venv/.lock-sha"
fi

INTEGRATION_CACHE="$cache" "$here/scripts/integration/build-kubernetes.sh" kube-apiserver kube-scheduler kube-controller-manager kubectl
INTEGRATION_CACHE="$cache" "$here/scripts/integration/build-pgbouncer.sh" >/dev/null
INTEGRATION_CACHE="$cache" "$here/scripts/integration/build-statsd-exporter.sh" >/dev/null
INTEGRATION_CACHE="$cache" "$here/scripts/integration/build-promtool.sh" >/dev/null
echo "$cache"
