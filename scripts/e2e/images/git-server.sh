#!/usr/bin/env bash
# The e2e cluster's stand-in for https://github.com (scripts/e2e/git-server.py), run on the node IP:
#
#   scripts/e2e/images/git-server.sh cert     make (once) the e2e CA and github.com's certificate; prints the CA path
#   scripts/e2e/images/git-server.sh start    cert + repository (dag-repository.sh) + the server on
#                                             https://10.244.0.1:443 (needs the cluster's bridge: cluster.sh up)
#   scripts/e2e/images/git-server.sh stop     stops it
#   scripts/e2e/images/git-server.sh status
#
# Everything lives in .cache/e2e/git-server/ (kept by `cluster.sh down`, so the CA that the git-sync image
# trusts stays the same): ca.crt/ca.key (the e2e CA), server.crt/server.key (DNS name github.com,
# signed by the CA), repos/ (the project root), git-server.pid, git-server.log.
# Pods find the server when CoreDNS answers github.com with the node IP: scripts/e2e/images/dns.sh.
# `cluster.sh down` does not know this server: stop it first (npm run e2e does).
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dir="$E2E_CACHE/git-server"
pidfile="$dir/git-server.pid"
port="${E2E_GIT_SERVER_PORT:-443}"

cmd_cert() {
  mkdir -p "$dir"
  if [ -f "$dir/ca.crt" ] && [ -f "$dir/server.crt" ] && [ -f "$dir/server.key" ] \
    && openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 \
    && openssl x509 -in "$dir/server.crt" -noout -checkend 86400 >/dev/null; then
    echo "$dir/ca.crt"; return 0
  fi
  command -v openssl >/dev/null || e2e_die "openssl is missing (apt-get install openssl)"
  if [ ! -f "$dir/ca.crt" ] || [ ! -f "$dir/ca.key" ] || ! openssl x509 -in "$dir/ca.crt" -noout -checkend 86400 >/dev/null; then
    e2e_log "making the e2e CA $dir/ca.crt"
    (umask 077; openssl genrsa -out "$dir/ca.key" 2048 2>/dev/null)
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=e2e git server CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.crt"
  fi
  e2e_log "making the certificate of github.com, signed by the e2e CA"
  (umask 077; openssl genrsa -out "$dir/server.key" 2048 2>/dev/null)
  openssl req -new -key "$dir/server.key" -subj "/CN=github.com" -out "$dir/server.csr"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:github.com" > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -sha256 -days 825 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/server.ext"
  echo "$dir/ca.crt"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
  && tr '\0' ' ' < "/proc/$(cat "$pidfile")/cmdline" | grep -q 'git-server.py'; }

cmd_start() {
  cmd_cert >/dev/null
  "$E2E_REPO/scripts/e2e/images/dag-repository.sh" "$dir/repos" >/dev/null
  if running; then return 0; fi
  # Not `ip ... | grep -q` (with pipefail, ip's SIGPIPE when grep stops early fails the test); the
  # addresses are printed when the node IP is missing.
  local addrs; addrs="$(ip -o addr show)"
  [[ "$addrs" == *" inet $E2E_NODE_IP/"* ]] || e2e_die "$E2E_NODE_IP is not on this machine: scripts/e2e/cluster.sh up (addresses: $addrs)"
  command -v git >/dev/null || e2e_die "git is missing (apt-get install git)"
  local py=/usr/bin/python3   # Debian's (a pyenv shim may shadow python3); standard library only
  [ -x "$py" ] || py="$(command -v python3)"
  setsid "$py" "$E2E_REPO/scripts/e2e/git-server.py" --root "$dir/repos" --cert "$dir/server.crt" --key "$dir/server.key" \
    --bind "$E2E_NODE_IP" --port "$port" >>"$dir/git-server.log" 2>&1 </dev/null &
  echo $! > "$pidfile"

  for _ in $(seq 1 50); do
    if timeout 5 openssl s_client -connect "$E2E_NODE_IP:$port" -servername github.com </dev/null >/dev/null 2>&1; then
      e2e_log "git server on https://$E2E_NODE_IP:$port (pid $(cat "$pidfile"), log $dir/git-server.log)"
      return 0
    fi
    running || break
    sleep 0.2
  done
  tail -5 "$dir/git-server.log" >&2
  e2e_die "the git server did not start"
}

cmd_stop() {
  if running; then
    local pid; pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    e2e_log "git server stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  cert) cmd_cert ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if running; then echo "git server: running (pid $(cat "$pidfile")) on https://$E2E_NODE_IP:$port"; else echo "git server: not running"; fi ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
