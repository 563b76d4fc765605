#!/usr/bin/env bash
# Builds the PgBouncer the integration tests run in place of the PgBouncer image: Debian bookworm packages
# only 1.18, which lacks max_prepared_statements (1.21+) that our pgbouncer.ini sets. The source is Debian's
# own copy of the release tarball (trixie's pgbouncer_1.24.1.orig.tar.gz, checked by its sha256 from Debian's
# Sources index); the build needs libevent-dev, libssl-dev, pkg-config, gcc and make (setup.sh installs them).
#   INTEGRATION_CACHE=<dir> scripts/integration/build-pgbouncer.sh     prints the binary's path
set -euo pipefail
version=1.24.1
sha256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
url="http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_${version}.orig.tar.gz"
cache="${INTEGRATION_CACHE:?set INTEGRATION_CACHE to the cache folder}"
out="$cache/pgbouncer-$version"
if [ ! -x "$out/bin/pgbouncer" ]; then
  echo "build-pgbouncer: building PgBouncer $version from Debian's source (about 20 s)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  curl -fsSL --retry 3 -o "$work/src.tar.gz" "$url"
  echo "$sha256  $work/src.tar.gz" | sha256sum -c --quiet
  tar -xzf "$work/src.tar.gz" -C "$work"
  (cd "$work/pgbouncer-$version" && ./configure --prefix="$out" --without-cares --with-systemd=no >/dev/null && make -j"$(nproc)" >/dev/null && make install >/dev/null)
fi
echo "$out/bin/pgbouncer"
