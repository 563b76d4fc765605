#!/usr/bin/env bash
# Builds Kubernetes binaries of one release from the Go module proxy (no other download is reachable
# here), into a git-ignored cache: .cache/kubernetes-<version>/bin/<name>.
#
#   scripts/integration/build-kubernetes.sh [name ...]     default: kube-apiserver kubectl
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0, so
# a throwaway wrapper module replaces each with v0.<minor>.<patch> of the same release and copies the
# release's godebug lines. Cold: about 10 min per large binary on 2 cores; with Go's build cache
# (~/.cache/go-build, kept by the machine) about a minute. A binary already built is kept.
set -euo pipefail
version="${KUBERNETES_VERSION:-v1.34.4}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${INTEGRATION_CACHE:-$here/.cache}/kubernetes-$version"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(kube-apiserver kubectl)

missing=()
for n in "${names[@]}"; do [ -x "$cache/bin/$n" ] || missing+=("$n"); done
[ ${#missing[@]} -gt 0 ] || exit 0
# Kubernetes 1.34 needs Go 1.24; any Go from 1.21 on fetches that toolchain itself from the module proxy
# (GOTOOLCHAIN=auto). The machine image has Go; Debian bookworm's golang-go (1.19) is too old.
go_minor="$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
[ -n "$go_minor" ] && [ "$go_minor" -ge 21 ] || {
  echo "build-kubernetes: needs Go 1.21 or newer on PATH (found: $(go env GOVERSION 2>/dev/null || echo none)); it fetches the Go that Kubernetes asks for itself" >&2
  exit 1
}

staging_version="v0.${version#v1.}"
src="$cache/src"
mkdir -p "$src" "$cache/bin"
exec 9>"$cache/.build-lock"
flock 9   # one build at a time; a second caller waits and then finds the binaries built
missing=()
for n in "${names[@]}"; do [ -x "$cache/bin/$n" ] || missing+=("$n"); done
[ ${#missing[@]} -gt 0 ] || exit 0
cd "$src"
if [ ! -f go.mod.done ]; then
  rm -f go.mod go.sum
  go mod init local/kubernetes-build >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  [ -f "$gomod" ] || { echo "build-kubernetes: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
  grep -E '^\s*godebug ' "$gomod" >> go.mod || true
  sed -n 's/^\s*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$gomod" | sort -u | while read -r m; do
    go mod edit -replace "$m=$m@$staging_version"
  done
  go mod edit -require "k8s.io/kubernetes@$version"
  touch go.mod.done
fi
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
for n in "${missing[@]}"; do
  echo "build-kubernetes: building $n $version (cold: minutes; cached by Go afterwards)" >&2
  go get "k8s.io/kubernetes/cmd/$n@$version" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/$n@$version"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache/bin/$n.tmp" "k8s.io/kubernetes/cmd/$n"
  mv "$cache/bin/$n.tmp" "$cache/bin/$n"
done
