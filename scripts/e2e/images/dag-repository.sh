#!/usr/bin/env bash
# Makes the Git repository that stands in for https://github.com/apache/airflow.git in the e2e cluster:
# the bare repository ROOT/apache/airflow.git (served by scripts/e2e/git-server.py), whose one commit holds
# airflow-core/src/airflow/example_dags/ as apache-airflow-core AIRFLOW_VERSION ships it (taken from the
# locked wheel, without __pycache__), tagged AIRFLOW_VERSION (annotated, as upstream's release tags are).
# The commit's author, committer and dates are fixed, so the same wheel always gives the same commit id.
# Idempotent: nothing is done when the repository was made from the same wheel by this same script.
#
#   scripts/e2e/images/dag-repository.sh ROOT      (default ROOT: .cache/e2e/git-server/repos)
#
# The wheel comes from the wheel cache scripts/e2e/images/build.sh fills; when it is missing, only that
# wheel is downloaded (pip, checked against the hash in the lock).
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
host_python() { if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi; }  # for timeout
version="$(sed -n "s/^export const AIRFLOW_VERSION = '\(.*\)';/\1/p" "$E2E_REPO/lib/core/names.ts")"
[ -n "$version" ] || e2e_die "no AIRFLOW_VERSION in lib/core/names.ts"
root="${1:-$E2E_CACHE/git-server/repos}"
lock="$E2E_REPO/scripts/integration/airflow-$version.lock.txt"
wheels="$E2E_CACHE/wheels/airflow-$version"
repo="$root/apache/airflow.git"

wheel="$(ls "$wheels"/apache_airflow_core-"$version"-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ]; then
  [ -f "$lock" ] || e2e_die "no lock $lock"
  mkdir -p "$wheels"
  req="$(mktemp)"; trap 'rm -f "$req"' EXIT
  # The lock's entry for apache-airflow-core (its line and the --hash lines after it).
  awk '/^[a-z]/ {on = ($1 == "apache-airflow-core=='"$version"'")} on' "$lock" > "$req"
  [ -s "$req" ] || e2e_die "apache-airflow-core==$version is not in $lock"
  e2e_log "downloading the apache-airflow-core $version wheel"
  timeout 600 "$(host_python)" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$req" -d "$wheels" >&2 || e2e_die "pip download apache-airflow-core failed"
  wheel="$(ls "$wheels"/apache_airflow_core-"$version"-*.whl | head -1)"
fi

stamp="$( { sha256sum "$wheel" "${BASH_SOURCE[0]}" | cut -c1-64; echo "$version"; } | sha256sum | cut -c1-16)"
if [ "$(cat "$repo/e2e-stamp" 2>/dev/null)" = "$stamp" ]; then echo "$repo"; exit 0; fi

command -v git >/dev/null || e2e_die "git is missing (apt-get install git)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
WHEEL="$wheel" DEST="$work/tree/airflow-core/src/airflow/example_dags" e2e_python - <<'PY'
import os, zipfile
prefix = "airflow/example_dags/"
n = 0
with zipfile.ZipFile(os.environ["WHEEL"]) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or name.endswith("/") or "/__pycache__/" in name or name.endswith(".pyc"):
            continue
        target = os.path.join(os.environ["DEST"], name[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            dst.write(src.read())
        n += 1
if n == 0:
    raise SystemExit("no airflow/example_dags/ in " + os.environ["WHEEL"])
PY
export GIT_AUTHOR_NAME="e2e" GIT_AUTHOR_EMAIL="e2e@e2e.local" GIT_COMMITTER_NAME="e2e" GIT_COMMITTER_EMAIL="e2e@e2e.local"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git() { command git -c init.defaultBranch=main -c core.autocrlf=false -c user.useConfigOnly=false -c tag.gpgSign=false -c commit.gpgSign=false "$@"; }
git -C "$work/tree" init -q
git -C "$work/tree" add -A
git -C "$work/tree" commit -q -m "Apache Airflow $version example DAGs (e2e stand-in for apache/airflow)"
git -C "$work/tree" tag -a "$version" -m "Apache Airflow $version"
mkdir -p "$root/apache"
rm -rf "$repo.tmp"
git clone -q --bare "$work/tree" "$repo.tmp"
git -C "$repo.tmp" remote remove origin
echo "$stamp" > "$repo.tmp/e2e-stamp"
rm -rf "$repo"; mv "$repo.tmp" "$repo"
e2e_log "repository $repo: $version = $(git -C "$repo" rev-parse "$version^{commit}"), $(git -C "$repo" ls-tree -r --name-only "$version" | wc -l) files"
echo "$repo"
