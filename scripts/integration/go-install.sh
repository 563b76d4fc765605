#!/usr/bin/env bash
# Builds one Go program from the Go module proxy (the only source of Go code reachable here) with
# `go install PACKAGE@VERSION` into a folder of the git-ignored cache, unless it is there already.
#
#   scripts/integration/go-install.sh NAME PACKAGE@VERSION BIN_DIR      prints BIN_DIR/NAME
#
# Static (CGO_ENABLED=0): the e2e images hold nothing but the binary. The module must have no replace directives
# in its go.mod (go install refuses those; k8s.io/kubernetes needs the wrapper module of build-kubernetes.sh).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: go-install.sh NAME PACKAGE@VERSION BIN_DIR" >&2; exit 2; }
name="$1" package="$2" bin="$3"
if [ ! -x "$bin/$name" ]; then
  command -v go >/dev/null || { echo "go-install: go is not installed (needed for $name)" >&2; exit 1; }
  mkdir -p "$bin"
  echo "go-install: building $name from $package (cold: minutes)" >&2
  GOBIN="$bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout 3600 \
    go install -trimpath -ldflags "-s -w" "$package" \
    || { echo "go-install: go install $package failed (see above)" >&2; exit 1; }
fi
echo "$bin/$name"
