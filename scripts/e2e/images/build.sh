#!/usr/bin/env bash
# Builds the images the manifests (dist/*.k8s.yaml) run, without a registry, and imports them into the e2e
# cluster's containerd under the exact names the manifests use (as containerd normalizes them):
#
#   docker.io/apache/airflow:<AIRFLOW_VERSION>      (lib/core/names.ts DEFAULT_AIRFLOW_IMAGE)
#       Debian bookworm's python3 (3.11) with a venv /home/airflow/.venv holding exactly
#       scripts/integration/airflow-<version>.lock.txt (pip --require-hashes, from a host-side wheel cache,
#       bytecode compiled at build time), user airflow 50000:0, /entrypoint = scripts/images/airflow-entrypoint.sh
#       behind dumb-init, as the official image.
#   docker.io/library/postgres:17.9-bookworm       (lib/database/postgres-statefulset.ts DEFAULT_POSTGRES_IMAGE)
#       NOT PostgreSQL 17.9: Debian bookworm's postgresql-15, the only PostgreSQL this machine can install
#       (Debian's archive; no registry, no PGDG). User postgres 999:999, entrypoint
#       scripts/e2e/images/postgres-entrypoint.sh (the official image's documented contract).
#   registry.k8s.io/git-sync/git-sync:v4.7.1       (lib/dags/git-sync.ts DEFAULT_GIT_SYNC_IMAGE)
#       NOT git-sync: scripts/integration/git-sync-standin.sh as /git-sync (same GITSYNC_* contract), with
#       git, python3, user 65533:65533, HOME=/tmp, and the e2e CA (scripts/e2e/images/git-server.sh cert)
#       trusted system-wide, so that git's HTTPS to the stand-in github.com verifies.
#   docker.io/prom/statsd-exporter:<version>       (lib/metrics/statsd-exporter.ts DEFAULT_STATSD_EXPORTER_IMAGE)
#       statsd_exporter of that version, built from the Go module proxy
#       (scripts/integration/build-statsd-exporter.sh, the binary the integration tests run), alone in an empty
#       root at /bin/statsd_exporter, its entrypoint, user 65534 as the real image's Dockerfile has it.
#
#   scripts/e2e/images/build.sh [airflow|postgres|git-sync|statsd-exporter]...    (default: all four)
#       IMPORT=auto (default: import when the e2e containerd runs) | 1 (must import) | 0 (build only)
#
# Cached: each archive (.cache/e2e/images/<name>.tar, made by scripts/e2e/image.sh build) is keyed on a
# hash of its inputs (options, lock, wheels, added files, image.sh itself), the wheels on the lock
# (.cache/e2e/wheels/airflow-<version>/), and an import is skipped when containerd already has the
# image under that name with the same manifest digest. Prints nothing but progress on stderr and, per
# image, "<name> <archive>" on stdout.
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
host_python() { if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi; }  # for timeout
here="$E2E_REPO/scripts/e2e/images"
image_sh="$E2E_REPO/scripts/e2e/image.sh"
[ "$(id -u)" = 0 ] || e2e_die "build.sh needs root (image.sh: debootstrap, chroot, file ownership)"

# ------------------------------------------------------------------------------------ versions, names
ts_const() {  # FILE NAME: the string value of `export const NAME = '...'` (or `...`) in FILE
  sed -n "s/^export const $2 = ['\`]\(.*\)['\`];.*/\1/p" "$E2E_REPO/$1" | head -1
}
# docker.io/library/ and docker.io/ as containerd (and the kubelet) complete a short name.
normalize() {
  local ref="$1" first="${1%%/*}"
  if [ "$ref" = "$first" ]; then echo "docker.io/library/$ref"
  elif [[ "$first" == *.* || "$first" == *:* || "$first" == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}
AIRFLOW_VERSION="$(ts_const lib/core/names.ts AIRFLOW_VERSION)"
airflow_ref="$(ts_const lib/core/names.ts DEFAULT_AIRFLOW_IMAGE)"
airflow_ref="${airflow_ref//\$\{AIRFLOW_VERSION\}/$AIRFLOW_VERSION}"
postgres_ref="$(ts_const lib/database/postgres-statefulset.ts DEFAULT_POSTGRES_IMAGE)"
git_sync_ref="$(ts_const lib/dags/git-sync.ts DEFAULT_GIT_SYNC_IMAGE)"
STATSD_EXPORTER_VERSION="$(ts_const lib/metrics/statsd-exporter.ts STATSD_EXPORTER_VERSION)"
statsd_exporter_ref="$(ts_const lib/metrics/statsd-exporter.ts DEFAULT_STATSD_EXPORTER_IMAGE)"
statsd_exporter_ref="${statsd_exporter_ref//\$\{STATSD_EXPORTER_VERSION\}/$STATSD_EXPORTER_VERSION}"
[ -n "$AIRFLOW_VERSION" ] && [ -n "$airflow_ref" ] && [ -n "$postgres_ref" ] && [ -n "$git_sync_ref" ] \
  && [ -n "$STATSD_EXPORTER_VERSION" ] && [ -n "$statsd_exporter_ref" ] \
  || e2e_die "could not read the image names from lib/core/names.ts, lib/database/postgres-statefulset.ts, lib/dags/git-sync.ts, lib/metrics/statsd-exporter.ts"
AIRFLOW_IMAGE="$(normalize "$airflow_ref")"
POSTGRES_IMAGE="$(normalize "$postgres_ref")"
GIT_SYNC_IMAGE="$(normalize "$git_sync_ref")"
STATSD_EXPORTER_IMAGE="$(normalize "$statsd_exporter_ref")"
lock="$E2E_REPO/scripts/integration/airflow-$AIRFLOW_VERSION.lock.txt"
wheels="$E2E_CACHE/wheels/airflow-$AIRFLOW_VERSION"
PG_MAJOR=15   # bookworm's PostgreSQL

mkdir -p "$E2E_CACHE"
exec 9>"$E2E_CACHE/.images-build.lock"
flock 9   # one build at a time (image.sh's build folders and archives)

# ------------------------------------------------------------------------------------------- pieces
ensure_wheels() {  # every wheel of the lock, checked against its hashes, in $wheels (re-fetched when the lock changes)
  [ -f "$lock" ] || e2e_die "no lock $lock (scripts/integration/lock-airflow.sh)"
  local stamp; stamp="$(sha256sum "$lock" | cut -c1-16)"
  [ "$(cat "$wheels/.lock-sha" 2>/dev/null)" = "$stamp" ] && return 0
  e2e_log "downloading the wheels of $(basename "$lock") into $wheels"
  # pip's own cache (~/.cache/pip) makes a re-download after a lock change quick.
  rm -rf "$wheels.tmp"; mkdir -p "$wheels.tmp"
  timeout 1200 "$(host_python)" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$lock" -d "$wheels.tmp" >&2 || e2e_die "pip download of the lock failed"
  echo "$stamp" > "$wheels.tmp/.lock-sha"
  rm -rf "$wheels"; mv "$wheels.tmp" "$wheels"
}

build_airflow() {
  ensure_wheels
  local venv=/home/airflow/.venv
  "$image_sh" build "$AIRFLOW_IMAGE" \
    --packages "python3 python3-venv ca-certificates dumb-init" \
    --add "$wheels:/tmp/wheels" --add "$lock:/tmp/airflow.lock.txt" \
    --add "$E2E_REPO/scripts/images/airflow-entrypoint.sh:/entrypoint" \
    --run "useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow
           python3 -m venv $venv
           $venv/bin/pip install -q --disable-pip-version-check --root-user-action=ignore --no-cache-dir --no-index --find-links /tmp/wheels \
             --no-deps --require-hashes -r /tmp/airflow.lock.txt
           rm -rf /tmp/wheels /tmp/airflow.lock.txt /root/.cache
           # Bytecode for everything now (pip compiled the wheels): the root file system is read-only at run time.
           python3 -m compileall -q -j 0 $venv/lib >/dev/null
           mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins
           chown -R 50000:0 /opt/airflow /home/airflow
           chmod -R g+rwX /opt/airflow /home/airflow
           chmod 0755 /entrypoint
           test \"\$($venv/bin/python -c 'import importlib.metadata as m; print(m.version(\"apache-airflow\"))')\" = $AIRFLOW_VERSION" \
    --entrypoint '["/usr/bin/dumb-init","--","/entrypoint"]' --cmd '[]' \
    --user 50000:0 --workdir /opt/airflow \
    --env AIRFLOW_HOME=/opt/airflow --env AIRFLOW_USER_HOME_DIR=/home/airflow \
    --env "PATH=$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --env VIRTUAL_ENV=$venv --env LANG=C.UTF-8 --env LC_ALL=C.UTF-8 \
    --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
    --env "AIRFLOW_VERSION=$AIRFLOW_VERSION"
}

build_postgres() {
  # Debian's postgresql-common makes a postgres system user with the next free system uid (not 999) and a
  # cluster 15/main: the user gets 999:999 as in the official image (files re-owned), the cluster goes.
  "$image_sh" build "$POSTGRES_IMAGE" \
    --packages "postgresql-$PG_MAJOR libnss-wrapper" \
    --add "$here/postgres-entrypoint.sh:/usr/local/bin/docker-entrypoint.sh" \
    --run "rm -rf /etc/postgresql/$PG_MAJOR/main /var/lib/postgresql/$PG_MAJOR
           old_uid=\$(id -u postgres); old_gid=\$(id -g postgres)
           if [ \"\$old_gid\" != 999 ]; then groupmod -g 999 postgres; find / -xdev -gid \"\$old_gid\" -exec chgrp -h 999 {} +; fi
           if [ \"\$old_uid\" != 999 ]; then usermod -u 999 -g 999 postgres; find / -xdev -uid \"\$old_uid\" -exec chown -h 999 {} +; fi
           test \"\$(id -u postgres):\$(id -g postgres)\" = 999:999
           # listen_addresses='*' in every new database, as the official image does it.
           sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" /usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample
           grep -F \"listen_addresses = '*'\" /usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample >/dev/null
           mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql /var/lib/postgresql/data
           chown 999:999 /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql
           chmod 3777 /var/run/postgresql; chmod 1777 /var/lib/postgresql/data
           chmod 0755 /usr/local/bin/docker-entrypoint.sh
           ln -sfn usr/local/bin/docker-entrypoint.sh /docker-entrypoint.sh" \
    --entrypoint '["docker-entrypoint.sh"]' --cmd '["postgres"]' \
    --env "PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --env PG_MAJOR=$PG_MAJOR --env PGDATA=/var/lib/postgresql/data --env LANG=C.UTF-8
}

build_git_sync() {
  local ca; ca="$("$here/git-server.sh" cert)"
  "$image_sh" build "$GIT_SYNC_IMAGE" \
    --packages "git ca-certificates python3" \
    --add "$E2E_REPO/scripts/integration/git-sync-standin.sh:/git-sync" \
    --add "$ca:/usr/local/share/ca-certificates/e2e-git-server-ca.crt" \
    --run "groupadd --gid 65533 git-sync
           useradd --uid 65533 --gid 65533 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin git-sync
           chmod 0755 /git-sync
           update-ca-certificates >/dev/null 2>&1   # (its openssl rehash warns about the bundle file)
           grep -q \"\$(sed -n 2p /usr/local/share/ca-certificates/e2e-git-server-ca.crt)\" /etc/ssl/certs/ca-certificates.crt
           mkdir -p /git && chown 65533:65533 /git" \
    --entrypoint '["/git-sync"]' --user 65533:65533 --workdir / --env HOME=/tmp
}

build_statsd_exporter() {
  local bin; bin="$("$E2E_REPO/scripts/integration/build-statsd-exporter.sh")"
  "$image_sh" build "$STATSD_EXPORTER_IMAGE" --scratch --add "$bin:/bin/statsd_exporter" \
    --entrypoint '["/bin/statsd_exporter"]' --user 65534:65534
}

# Import into the running e2e containerd, unless it has the image under that name with the same digest.
import_image() {
  local ref="$1" archive="$2" want have
  want="$(tar -xOf "$archive" index.json | e2e_python -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')"
  have="$(e2e_ctr images ls "name==$ref" 2>/dev/null | awk -v r="$ref" '$1 == r {print $3}')"
  if [ "$have" = "$want" ]; then e2e_log "$ref: already in containerd ($want)"; return 0; fi
  local t=$SECONDS
  "$image_sh" import "$archive"
  e2e_log "$ref: imported in $((SECONDS - t))s ($want)"
}

import="${IMPORT:-auto}"
if [ "$import" = auto ]; then if [ -S "$E2E_CONTAINERD_SOCK" ]; then import=1; else import=0; fi; fi
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(airflow postgres git-sync statsd-exporter)
for target in "${targets[@]}"; do
  case "$target" in
    airflow) ref="$AIRFLOW_IMAGE" ;;
    postgres) ref="$POSTGRES_IMAGE" ;;
    git-sync) ref="$GIT_SYNC_IMAGE" ;;
    statsd-exporter) ref="$STATSD_EXPORTER_IMAGE" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  t0=$SECONDS
  archive="$("build_${target//-/_}" | tail -1)"
  [ -f "$archive" ] || e2e_die "$target: no archive"
  e2e_log "$ref: archive ready in $((SECONDS - t0))s: $archive"
  if [ "$import" = 1 ]; then import_image "$ref" "$archive"; fi
  echo "$ref $archive"
done
