#!/usr/bin/env bash
# Stands in for git-sync v4 (registry.k8s.io/git-sync/git-sync) where its image cannot be had: the same
# GITSYNC_* environment contract and the same layout, done with git itself (kubernetes/git-sync v4,
# main.go): GITSYNC_ROOT is a git repository, each synced commit is checked out as the worktree
# <root>/.worktrees/<commit>, and <root>/<GITSYNC_LINK> is a relative symlink to it, swapped atomically.
#   GITSYNC_REPO (required)  GITSYNC_REF (HEAD)  GITSYNC_ROOT (/git)  GITSYNC_LINK (the repo's name)
#   GITSYNC_DEPTH (1; 0 = all history)  GITSYNC_PERIOD (10s; Go duration of s/m/h parts)
#   GITSYNC_ONE_TIME (false)  GITSYNC_MAX_FAILURES (0)  GITSYNC_HTTP_BIND (serve 200 once synced)
# Test-only knobs: GITSYNC_STANDIN_FIRST_SYNC_DELAY seconds before the first sync of a long-running
# git-sync, which models a first clone over the network that takes longer than Airflow's start;
# GITSYNC_STANDIN_COMMITS "<upstream commit>=<stand-in commit> ...": a commit id the manifests name that the
# stand-in repository holds under another id (it cannot have upstream's), fetched by that id all the same.
set -uo pipefail
repo="${GITSYNC_REPO:?GITSYNC_REPO is required}"
ref="${GITSYNC_REF:-HEAD}"
for pair in ${GITSYNC_STANDIN_COMMITS:-}; do
  [ "${pair%%=*}" = "$ref" ] && ref="${pair#*=}"
done
root="${GITSYNC_ROOT:-/git}"
name="${repo##*/}"
link="${GITSYNC_LINK:-${name%.git}}"
depth="${GITSYNC_DEPTH:-1}"
one_time="${GITSYNC_ONE_TIME:-false}"
max_failures="${GITSYNC_MAX_FAILURES:-0}"
log() { echo "git-sync-standin: $*" >&2; }

seconds() {  # a Go duration of h/m/s parts ("60s", "1m30s", "2h") in whole seconds
  local d="$1" total=0 n unit
  while [[ "$d" =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
    n="${BASH_REMATCH[1]}"; unit="${BASH_REMATCH[2]}"; d="${BASH_REMATCH[3]}"
    case "$unit" in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
  done
  [ -z "$d" ] || { log "GITSYNC_PERIOD: cannot read $1"; exit 1; }
  echo "$total"
}
period="$(seconds "${GITSYNC_PERIOD:-10s}")"

# git-sync's own global git settings (SetupDefaultGitConfigs), in $HOME/.gitconfig: HOME must be writable.
for kv in "gc.autoDetach false" "gc.pruneExpire now" "core.askPass true" "safe.directory *"; do
  git config --global ${kv% *} "${kv#* }" || { log "cannot write git's global config in HOME=$HOME"; exit 1; }
done

sync_once() {
  [ -d "$root/.git" ] || git -C "$root" init -q || return 1
  local depth_arg=()
  [ "$depth" = 0 ] || depth_arg=(--depth "$depth")
  git -C "$root" fetch -q "${depth_arg[@]}" "$repo" "$ref" || return 1
  local commit
  commit="$(git -C "$root" rev-parse 'FETCH_HEAD^{commit}')" || return 1
  [ "$(readlink "$root/$link" 2>/dev/null)" = ".worktrees/$commit" ] && return 0
  [ -d "$root/.worktrees/$commit" ] || git -C "$root" worktree add -q --detach ".worktrees/$commit" "$commit" || return 1
  ln -sfn ".worktrees/$commit" "$root/.$link.tmp" && mv -T "$root/.$link.tmp" "$root/$link" || return 1
  log "synced $ref to $commit"
}

if [ "$one_time" = true ]; then
  sync_once
  exit
fi
sleep "${GITSYNC_STANDIN_FIRST_SYNC_DELAY:-0}"
failures=0
served=false
while :; do
  if sync_once; then
    failures=0
    if [ "$served" = false ] && [ -n "${GITSYNC_HTTP_BIND:-}" ]; then
      # Ready once synced, as git-sync's --http-bind answers 200 after the first sync.
      mkdir -p /tmp/git-sync-http
      python3 -m http.server --bind "$(echo "${GITSYNC_HTTP_BIND%:*}" | sed 's/^$/0.0.0.0/')" --directory /tmp/git-sync-http "${GITSYNC_HTTP_BIND##*:}" >/dev/null 2>&1 &
      served=true
    fi
  else
    failures=$((failures + 1))
    [ "$failures" -le "$max_failures" ] || { log "$failures failed syncs in a row"; exit 1; }
  fi
  sleep "$period"
done
