#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, for end-to-end tests, without a container registry:
#
#   scripts/e2e/cluster.sh up       build what is missing, start everything, wait until the node and DNS are ready
#   scripts/e2e/cluster.sh down     stop everything and remove every process, mount, interface, netns,
#                                   iptables rule, cgroup, sysctl change and file that `up` made
#   scripts/e2e/cluster.sh status   what is running
#   export KUBECONFIG=.cache/e2e/admin.kubeconfig
#
# Both are idempotent: `up` starts only what is not running, `down` tolerates half-made clusters.
# What runs (all as root host processes, logs in .cache/e2e/cluster/logs/):
#   etcd (Debian etcd-server 3.4), kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#   kube-proxy (iptables mode): Kubernetes $E2E_K8S_VERSION built from the Go module proxy by
#   scripts/integration/build-kubernetes.sh;
#   containerd (Debian 1.6) with runc and its own root, state and socket (never the system's);
#   pod network: one Linux bridge with the CNI bridge + host-local plugins (Debian containernetworking-plugins);
#   NetworkPolicy enforcement: kube-router's network policy controller alone (iptables + ipset; built by
#   scripts/e2e/build-kube-router.sh), see start_network_policies;
#   in the cluster: CoreDNS (built by scripts/e2e/build-coredns.sh, image made by scripts/e2e/image.sh),
#   a default StorageClass with pre-made local PersistentVolumes.
# Addresses and ports: scripts/e2e/lib.sh.
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKI="$E2E_STATE/pki"
LOGS="$E2E_STATE/logs"
PIDS="$E2E_RUN/pids"
BEFORE="$E2E_VAR/before"          # what the machine looked like before `up` (restored by `down`)
CNI_CONF_DIR="$E2E_VAR/cni/net.d"
SERVER="https://$E2E_NODE_IP:$E2E_APISERVER_PORT"
PV_COUNT="${E2E_PV_COUNT:-10}"
KUBECTL="$E2E_K8S_BIN/kubectl"
# Sysctls that `up` (or the kubelet and kube-proxy) may change; `down` writes the old values back.
# ip_forward first: writing it also sets conf.*.forwarding and conf.all.accept_redirects, restored after it.
SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.accept_redirects net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  net.ipv4.conf.all.route_localnet net.ipv6.conf.all.forwarding net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)
# Paths outside $E2E_VAR/$E2E_RUN that a component creates by a fixed name; removed by `down` only if
# they did not exist before `up`. /var/lib/cni: libcni's result cache (containerd sets no other dir);
# /run/containerd: containerd 1.6 shims put their sockets in /run/containerd/s whatever the state dir;
# /var/log/containers: the kubelet's fixed folder of log symlinks; /var/lib/kubelet: the kubelet's
# device-plugin socket folder is a constant, whatever --root-dir says.
FIXED_PATHS=(/var/lib/cni /run/containerd /var/log/containers /var/lib/kubelet)

kc() { "$KUBECTL" --kubeconfig "$E2E_KUBECONFIG" "$@"; }

# ---------------------------------------------------------------------------------------------- helpers
pid_alive() {  # NAME: is the process recorded for NAME still running (and still that binary)?
  local f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -d "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cat "$f.match")"
}

start() {  # NAME BINARY ARGS...: start a daemon in its own session, detached, unless it runs already.
  local name="$1"; shift
  if pid_alive "$name"; then return 0; fi
  mkdir -p "$PIDS" "$LOGS"
  e2e_log "starting $name"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! > "$PIDS/$name.pid"
  echo "$1" > "$PIDS/$name.pid.match"
  sleep 0.5
  pid_alive "$name" || { tail -20 "$LOGS/$name.log" >&2; e2e_die "$name exited at once (log: $LOGS/$name.log)"; }
}

stop() {  # NAME: SIGTERM, then SIGKILL after 15 s.
  local name="$1" pid i
  pid_alive "$name" || { rm -f "$PIDS/$name.pid" "$PIDS/$name.pid.match"; return 0; }
  pid="$(cat "$PIDS/$name.pid")"
  e2e_log "stopping $name ($pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 30); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.pid.match"
}

write_file() {  # PATH < content: replace PATH only when the content differs (kube-proxy exits when its
  # config file changes, even to the same content; a second `up` must leave a running cluster alone).
  local tmp; tmp="$(mktemp "$1.XXXX")"
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

wait_for() {  # SECONDS WHAT COMMAND...: retry COMMAND until it succeeds.
  local secs="$1" what="$2" i; shift 2
  for i in $(seq 1 "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  e2e_die "timed out after ${secs}s waiting for $what"
}

# -------------------------------------------------------------------------------------------- up: pieces
install_packages() {
  # command → Debian package. nft: `down` deletes the (empty) nf_tables tables iptables-nft created.
  # ipset: kube-router's network policy controller. socat is not needed: `kubectl port-forward` goes
  # through containerd's own Go implementation.
  declare -A pkgs=([containerd]=containerd [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
    [iptables]=iptables [conntrack]=conntrack [etcd]=etcd-server [openssl]=openssl [debootstrap]=debootstrap
    [ip]=iproute2 [unshare]=util-linux [nft]=nftables [ipset]=ipset)
  local missing=() c
  for c in "${!pkgs[@]}"; do
    if [[ "$c" = /* ]]; then [ -e "$c" ] || missing+=("${pkgs[$c]}"); else command -v "$c" >/dev/null || missing+=("${pkgs[$c]}"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  e2e_log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq || e2e_die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || e2e_die "apt-get install ${missing[*]} failed"
}

build_binaries() {
  KUBERNETES_VERSION="$E2E_K8S_VERSION" "$E2E_REPO/scripts/integration/build-kubernetes.sh" \
    kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl \
    || e2e_die "scripts/integration/build-kubernetes.sh failed"
  "$E2E_REPO/scripts/e2e/image.sh" pause >/dev/null
  "$E2E_REPO/scripts/e2e/image.sh" coredns >/dev/null
  KUBE_ROUTER_VERSION="$E2E_KUBE_ROUTER_VERSION" "$E2E_REPO/scripts/e2e/build-kube-router.sh" >/dev/null \
    || e2e_die "scripts/e2e/build-kube-router.sh failed"
}

record_before() {  # once per cluster: what `down` must restore
  [ -f "$BEFORE/done" ] && return 0
  mkdir -p "$BEFORE"
  local s p
  for s in "${SYSCTLS[@]}"; do
    [ -e "/proc/sys/${s//.//}" ] && echo "$s=$(sysctl -n "$s")" >> "$BEFORE/sysctl"
  done
  for p in "${FIXED_PATHS[@]}"; do [ -e "$p" ] && echo "$p" >> "$BEFORE/existing-paths"; done
  for p in /sys/fs/cgroup/*/kubepods; do [ -e "$p" ] && echo "$p" >> "$BEFORE/existing-paths"; done
  nft list tables > "$BEFORE/nft-tables" 2>/dev/null || true
  ipset list -n > "$BEFORE/ipsets" 2>/dev/null || true
  touch "$BEFORE/existing-paths" "$BEFORE/done"
}

setup_network() {
  # The pod bridge exists before the kubelet and the API server start: its address is the node IP they
  # bind to. The CNI bridge plugin finds it and only attaches the pods' veths.
  if ! ip link show "$E2E_BRIDGE" >/dev/null 2>&1; then
    ip link add "$E2E_BRIDGE" type bridge
  fi
  ip addr replace "$E2E_NODE_IP/${E2E_POD_CIDR#*/}" dev "$E2E_BRIDGE"
  ip link set "$E2E_BRIDGE" up
  # Routing between the bridge and Service IPs (DNAT to a pod on the same bridge is routed back into it).
  sysctl -qw net.ipv4.ip_forward=1
  # kube-proxy needs bridged pod-to-pod packets to pass iptables (Service DNAT, hairpin). br_netfilter
  # is built into this kernel (modules cannot be loaded), so the sysctl exists; it is usually 1 already.
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  # Pods must never reach beyond this machine: drop anything forwarded from the bridge to another
  # interface (no ipMasq in the CNI config either). Traffic from pods to the node IP is local (INPUT).
  # In the mangle table, which runs before filter: kube-proxy prepends its own ACCEPTing chains to
  # filter/FORWARD and would otherwise come first.
  iptables -t mangle -N E2E-FORWARD 2>/dev/null || true
  iptables -t mangle -C E2E-FORWARD -i "$E2E_BRIDGE" ! -o "$E2E_BRIDGE" -j DROP 2>/dev/null \
    || iptables -t mangle -A E2E-FORWARD -i "$E2E_BRIDGE" ! -o "$E2E_BRIDGE" -j DROP
  iptables -t mangle -C FORWARD -j E2E-FORWARD 2>/dev/null || iptables -t mangle -I FORWARD 1 -j E2E-FORWARD
}

make_cert() {  # NAME SUBJECT [SANS]: a key and a certificate signed by the cluster CA
  local name="$1" subj="$2" sans="${3:-}"
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_kubeconfig() {  # FILE USER CERTNAME
  [ -f "$1" ] && return 0
  "$KUBECTL" config set-cluster e2e --server="$SERVER" --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$1" >/dev/null
  "$KUBECTL" config set-credentials "$2" --client-certificate="$PKI/$3.crt" --client-key="$PKI/$3.key" --embed-certs --kubeconfig="$1" >/dev/null
  "$KUBECTL" config set-context e2e --cluster=e2e --user="$2" --kubeconfig="$1" >/dev/null
  "$KUBECTL" config use-context e2e --kubeconfig="$1" >/dev/null
}

make_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 30 \
      -subj "/CN=e2e-kubernetes-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  make_cert apiserver "/CN=kube-apiserver" \
    "IP:$E2E_KUBERNETES_SVC_IP,IP:$E2E_NODE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # The API server's client certificate for kubelets (logs, exec, port-forward); bound to
  # system:kubelet-api-admin once the API server runs.
  make_cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
  make_cert admin "/O=system:masters/CN=e2e-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  make_cert kube-proxy "/CN=system:kube-proxy"
  # Kubelet: a client certificate in the form the Node authorizer and NodeRestriction expect, and a
  # serving certificate (made here, so no TLS bootstrap or CSR approval is needed).
  make_cert kubelet-client "/O=system:nodes/CN=system:node:$E2E_NODE"
  make_cert kubelet-server "/CN=$E2E_NODE" "IP:$E2E_NODE_IP,DNS:$E2E_NODE"
  make_kubeconfig "$E2E_KUBECONFIG" e2e-admin admin
  make_kubeconfig "$E2E_STATE/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  make_kubeconfig "$E2E_STATE/scheduler.kubeconfig" system:kube-scheduler scheduler
  make_kubeconfig "$E2E_STATE/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
  make_kubeconfig "$E2E_STATE/kubelet.kubeconfig" "system:node:$E2E_NODE" kubelet-client
  chmod 600 "$E2E_KUBECONFIG" "$E2E_STATE"/*.kubeconfig
}

start_control_plane() {
  mkdir -p "$E2E_VAR/etcd"; chmod 700 "$E2E_VAR/etcd"
  # Plain HTTP on loopback only: etcd is reached by this one API server.
  start etcd /usr/bin/etcd --name e2e --data-dir "$E2E_VAR/etcd" \
    --listen-client-urls "http://127.0.0.1:$E2E_ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$E2E_ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$E2E_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$E2E_ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$E2E_ETCD_PEER_PORT" --log-level warn
  wait_for 60 etcd curl -sf "http://127.0.0.1:$E2E_ETCD_CLIENT_PORT/health"

  # Default admission plugins (NamespaceLifecycle, ServiceAccount, PodSecurity, DefaultStorageClass,
  # ResourceQuota, ...) plus NodeRestriction. Bound to the node IP only, a port apart from the default.
  start kube-apiserver "$E2E_K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$E2E_ETCD_CLIENT_PORT" \
    --bind-address="$E2E_NODE_IP" --advertise-address="$E2E_NODE_IP" --secure-port="$E2E_APISERVER_PORT" \
    --cert-dir="$E2E_STATE/apiserver" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$E2E_SERVICE_CIDR" --allow-privileged=true --profiling=false --v=1
  wait_for 120 "kube-apiserver /readyz" kc get --raw /readyz

  # --use-service-account-credentials: each controller has its own RBAC identity, as in real clusters.
  # No --allocate-node-cidrs: the pod CIDR is in the CNI config (one node).
  start kube-controller-manager "$E2E_K8S_BIN/kube-controller-manager" \
    --kubeconfig="$E2E_STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$E2E_STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$E2E_STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$E2E_SERVICE_CIDR" --profiling=false --v=1
  start kube-scheduler "$E2E_K8S_BIN/kube-scheduler" \
    --kubeconfig="$E2E_STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$E2E_STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$E2E_STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
}

start_containerd() {
  mkdir -p "$E2E_VAR/containerd" "$E2E_RUN/containerd" "$CNI_CONF_DIR" "$E2E_VAR/cni/ipam"
  write_file "$E2E_STATE/containerd.toml" <<EOF
# containerd for the e2e cluster only: its own root, state, socket and runc root, so that it never touches
# a system containerd (or leaves files in /var/lib/containerd, /run/containerd/runc, /opt/containerd).
version = 2
root = "$E2E_VAR/containerd"
state = "$E2E_RUN/containerd"
# Snapshotters this kernel or machine does not have; they would only log errors.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$E2E_CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$E2E_VAR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # The locally built pause image (scripts/e2e/image.sh pause); nothing can be pulled here.
  sandbox_image = "$E2E_PAUSE_IMAGE"
  # The VM lacks CAP_SYS_RESOURCE: the kubelet's negative oom_score_adj for pods (e.g. -998 for the
  # sandbox) cannot be written, and runc fails with "can't get final child's PID from pipe". This
  # clamps the values to containerd's own score instead.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, not in the shared /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroupfs: PID 1 is not systemd (and the kubelet uses cgroupDriver cgroupfs). crun fails on
        # this machine's cgroup v1 layout; runc works.
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
        Root = "$E2E_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
EOF
  # Bridge + host-local IPAM. No ipMasq (pods have nowhere to go outside this machine), hairpin so a pod
  # can reach itself through its own Service.
  write_file "$CNI_CONF_DIR/10-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "k8s-e2e",
  "plugins": [
    {
      "type": "bridge", "bridge": "$E2E_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$E2E_VAR/cni/ipam",
        "ranges": [[{"subnet": "$E2E_POD_CIDR", "gateway": "$E2E_NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  start containerd "$(command -v containerd)" --config "$E2E_STATE/containerd.toml"
  wait_for 60 containerd e2e_ctr version
  # Images are in containerd's content store, which `down` removes: import them each time (seconds).
  "$E2E_REPO/scripts/e2e/image.sh" import "$E2E_PAUSE_IMAGE" "$E2E_COREDNS_IMAGE"
}

start_kubelet() {
  mkdir -p "$E2E_VAR/kubelet" "$E2E_VAR/pod-logs"
  # The kubelet hands this to pods with dnsPolicy Default (CoreDNS among them): no upstream nameserver, so
  # that no DNS query leaves the machine.
  echo "# e2e cluster: no upstream DNS" | write_file "$E2E_STATE/resolv.conf"
  write_file "$E2E_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $E2E_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-server.crt"
tlsPrivateKeyFile: "$PKI/kubelet-server.key"
containerRuntimeEndpoint: "unix://$E2E_CONTAINERD_SOCK"
# PID 1 is not systemd.
cgroupDriver: cgroupfs
# This VM has cgroup v1 (hybrid); kubelet 1.34 still runs on it when told so (1.35 refuses by default).
failCgroupV1: false
# No swap here; and should the VM get some, the kubelet must still start.
failSwapOn: false
# The kubelet would set its own oom_score_adj to -999, which needs CAP_SYS_RESOURCE (missing here).
oomScoreAdj: 0
clusterDomain: cluster.local
clusterDNS: ["$E2E_DNS_IP"]
resolvConf: "$E2E_STATE/resolv.conf"
podLogsDir: "$E2E_VAR/pod-logs"
# Disk-based eviction is kept, with low thresholds: a shared test machine may have a fairly full disk.
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
# Locally imported images only; pulls would fail anyway.
serializeImagePulls: false
EOF
  # --pod-infra-container-image only keeps the pause image from image GC (containerd 1.6 does not
  # report pinned images); it must match sandbox_image.
  start kubelet "$E2E_K8S_BIN/kubelet" --config="$E2E_STATE/kubelet.yaml" \
    --kubeconfig="$E2E_STATE/kubelet.kubeconfig" --root-dir="$E2E_VAR/kubelet" \
    --hostname-override="$E2E_NODE" --node-ip="$E2E_NODE_IP" \
    --pod-infra-container-image="$E2E_PAUSE_IMAGE" --v=1
}

start_kube_proxy() {
  write_file "$E2E_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$E2E_STATE/kube-proxy.kubeconfig"}
hostnameOverride: $E2E_NODE
# iptables mode: IPVS is not in this kernel; nftables mode would work too, iptables is the proven default.
mode: iptables
clusterCIDR: $E2E_POD_CIDR
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# NodePorts only on the node IP: no route_localnet sysctl, no NodePorts on eth0.
nodePortAddresses: ["$E2E_NODE_IP/32"]
iptables: {localhostNodePorts: false}
# 0 = leave the host's conntrack sysctls alone (kube-proxy would raise nf_conntrack_max and timeouts).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy "$E2E_K8S_BIN/kube-proxy" --config="$E2E_STATE/kube-proxy.yaml" --v=1
}

start_network_policies() {
  # kube-router's network policy controller alone (--run-firewall; no routing, no service proxy: the bridge
  # CNI and kube-proxy stay), as its kube-router-firewall-daemonset.yaml runs it, here as a host process. It
  # keeps ipsets of the pods each policy selects and, per local pod a policy selects, a chain KUBE-POD-FW-*
  # reached from filter INPUT, FORWARD (bridged traffic too: br_netfilter, physdev) and OUTPUT: a new
  # connection no policy allows is REJECTed (ICMP port unreachable), from a pod to another pod and from a
  # pod to this node alike. Traffic from the node itself to a pod is always let through (kubelet probes).
  # Its identity: a client certificate bound to the ClusterRole of its kubeadm manifest.
  make_cert kube-router "/CN=e2e:kube-router"
  make_kubeconfig "$E2E_STATE/kube-router.kubeconfig" e2e:kube-router kube-router
  chmod 600 "$E2E_STATE/kube-router.kubeconfig"
  kc apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e:kube-router}
rules:
- {apiGroups: [""], resources: [namespaces, pods, services, nodes, endpoints], verbs: [list, get, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [list, get, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, get, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e:kube-router}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e:kube-router}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: e2e:kube-router}]
EOF
  # --health-port=0, no --metrics-port: it listens nowhere. --iptables-sync-period: a full resync every 60 s
  # besides the one each pod, namespace or policy change triggers.
  start kube-router "$E2E_KUBE_ROUTER_BIN" --kubeconfig="$E2E_STATE/kube-router.kubeconfig" \
    --run-firewall=true --run-router=false --run-service-proxy=false \
    --hostname-override="$E2E_NODE" --service-cluster-ip-range="$E2E_SERVICE_CIDR" \
    --enable-ipv4=true --enable-ipv6=false --health-port=0 --iptables-sync-period=60s --v=1
  wait_for 60 "kube-router's chain KUBE-ROUTER-FORWARD" iptables -t filter -S KUBE-ROUTER-FORWARD
}

apply_addons() {
  local pvs="" i
  for i in $(seq -w 1 "$PV_COUNT"); do
    # World-writable like a fresh disk would be to its first user; the kubelet also applies fsGroup
    # ownership to local volumes (it does not for hostPath ones, hence local PVs).
    mkdir -p "$E2E_VAR/volumes/pv-$i"; chmod 1777 "$E2E_VAR/volumes/pv-$i"
    pvs+="---
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-pv-$i, labels: {e2e.local/volume: \"true\"}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  local: {path: $E2E_VAR/volumes/pv-$i}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$E2E_NODE]}]}]
"
  done
  kc apply -f - >/dev/null <<EOF
# The API server's kubelet client (kubectl logs/exec/port-forward).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e:kube-apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}]
---
# Default StorageClass without a provisioner: claims bind to the pre-made local PVs below, when their
# first pod is scheduled (WaitForFirstConsumer, as local volumes require).
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
$pvs
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:coredns}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
# No forward plugin: names outside the cluster domain get no answer, and no query leaves the machine.
# No cache plugin and a 5 s TTL: tests delete and re-create namespaces and Services under the same
# names; a cached answer would send clients to the old, gone ClusterIP (seen: connections time out).
# NodeHosts: extra names for tests (edit the ConfigMap; CoreDNS reloads it).
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        hosts /etc/coredns/NodeHosts {
            ttl 5
            reload 10s
            fallthrough
        }
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 5
        }
        loop
        reload
        loadbalance
    }
  NodeHosts: |
    $E2E_NODE_IP $E2E_NODE
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: $E2E_COREDNS_IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        resources: {requests: {cpu: 50m, memory: 70Mi}, limits: {memory: 170Mi}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
        livenessProbe: {httpGet: {path: /health, port: 8080}, initialDelaySeconds: 10, periodSeconds: 10}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes:
      - name: config
        configMap: {name: coredns}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $E2E_DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

cmd_up() {
  [ "$(id -u)" = 0 ] || e2e_die "cluster.sh up needs root"
  local t0=$SECONDS
  install_packages
  build_binaries
  mkdir -p "$E2E_STATE" "$LOGS" "$E2E_VAR" "$E2E_RUN"
  record_before
  setup_network
  make_pki
  start_control_plane
  start_containerd
  start_kubelet
  start_kube_proxy
  wait_for 120 "node $E2E_NODE to be Ready" kc wait --for=condition=Ready "node/$E2E_NODE" --timeout=1s
  wait_for 60 "the default service account" kc -n default get serviceaccount default
  apply_addons
  start_network_policies
  wait_for 180 "CoreDNS to be ready" kc -n kube-system wait --for=condition=Available deployment/coredns --timeout=1s
  e2e_log "cluster is up in $((SECONDS - t0))s: export KUBECONFIG=$E2E_KUBECONFIG"
}

# ------------------------------------------------------------------------------------------------- down
kill_cgroup_tree() {  # every process in the kubelet's pod cgroups (in case shims are already gone)
  local d
  for d in /sys/fs/cgroup/*/kubepods; do
    [ -d "$d" ] || continue
    grep -qx "$d" "$BEFORE/existing-paths" 2>/dev/null && continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | xargs -r kill -KILL 2>/dev/null || true
  done
}

remove_cgroups() {
  local d i
  for i in 1 2 3 4 5; do
    for d in /sys/fs/cgroup/*/kubepods; do
      [ -d "$d" ] || continue
      grep -qx "$d" "$BEFORE/existing-paths" 2>/dev/null && continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 || return 0
    kill_cgroup_tree; sleep 1
  done
  e2e_log "warning: could not remove $(ls -d /sys/fs/cgroup/*/kubepods | tr '\n' ' ')"
}

unmount_under() {  # unmount everything below the given folders, deepest first
  local m
  for _ in 1 2 3; do
    local mounts=()
    while read -r m; do mounts+=("$m"); done < <(
      awk '{print $5}' /proc/self/mountinfo | while read -r p; do
        p="$(printf '%b' "$p")"
        for root in "$@"; do case "$p" in "$root"|"$root"/*) echo "$p";; esac; done
      done | sort -r -u)
    [ ${#mounts[@]} -eq 0 ] && return 0
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

clean_iptables() {
  # kube-proxy removes its own rules (all modes); then every chain named KUBE-* (kubelet, kube-proxy) or
  # E2E-* (ours), with the rules that jump to them, in IPv4 and IPv6.
  if [ -x "$E2E_K8S_BIN/kube-proxy" ]; then
    timeout 60 "$E2E_K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$ipt-save" -t "$table" >/dev/null 2>&1 || continue
      { "$ipt-save" -t "$table" | grep -E '^-A [A-Z]+ .*-j (KUBE-|E2E-)' || true; } | while read -r rule; do
        # shellcheck disable=SC2086  # a rule from iptables-save is its own argument list
        eval "$ipt -t $table ${rule/-A/-D}" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" | sed -n 's/^:\(\(KUBE\|E2E\)-[^ ]*\) .*/\1/p'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" | sed -n 's/^:\(\(KUBE\|E2E\)-[^ ]*\) .*/\1/p'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  # iptables-nft leaves the tables it created (empty); remove those that did not exist before `up`.
  # (none on a machine that never ran `up`, which installs nftables: nothing to remove)
  command -v nft >/dev/null || return 0
  local t
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qx "table $fam $name" "$BEFORE/nft-tables" 2>/dev/null && continue
    # only if no rule is left in it
    nft list table "$fam" "$name" 2>/dev/null | grep -qE '^\s+(ip|ip6|meta|counter|jump|iifname|oifname|ct|tcp|udp|mark|fib)' \
      || nft delete table "$fam" "$name" 2>/dev/null || true
  done
}

clean_ipsets() {
  # kube-router leaves its ipsets (KUBE-SRC-*, KUBE-DST-*, ...) when it stops, like its chains (gone with
  # clean_iptables' KUBE-* chains, which referenced the sets): destroy those that did not exist before `up`.
  command -v ipset >/dev/null || return 0
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?KUBE-' || true); do
    grep -qxF "$set" "$BEFORE/ipsets" 2>/dev/null && continue
    ipset destroy "$set" 2>/dev/null || e2e_log "warning: could not destroy ipset $set"
  done
}

cmd_down() {
  [ "$(id -u)" = 0 ] || e2e_die "cluster.sh down needs root"
  # Nodes stop first so nothing restarts containers; the control plane last.
  stop kubelet
  if pid_alive containerd; then
    local t
    for t in $(e2e_ctr tasks ls -q 2>/dev/null); do e2e_ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  # containerd's shims outlive it; they are ours when they talk to our socket.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $E2E_CONTAINERD_SOCK" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  kill_cgroup_tree
  stop kube-router
  stop kube-proxy
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  # Pod network namespaces, overlay rootfs mounts, kubelet volume mounts (tmpfs for secrets, binds).
  unmount_under "$E2E_RUN" "$E2E_VAR"
  remove_cgroups
  # Pod veths die with their network namespaces; the bridge is ours.
  if ip link show "$E2E_BRIDGE" >/dev/null 2>&1; then
    ip -o link show master "$E2E_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | while read -r l; do ip link del "$l" 2>/dev/null || true; done
    ip link del "$E2E_BRIDGE"
  fi
  clean_iptables
  clean_ipsets
  if [ -f "$BEFORE/sysctl" ]; then
    local kv
    while read -r kv; do sysctl -qw "$kv" 2>/dev/null || e2e_log "warning: could not restore $kv"; done < "$BEFORE/sysctl"
  fi
  local p
  # The kubelet's links to our pod logs, should /var/log/containers have existed before.
  find /var/log/containers -maxdepth 1 -type l -lname "$E2E_VAR/*" -delete 2>/dev/null || true
  for p in "${FIXED_PATHS[@]}"; do
    [ -e "$p" ] || continue
    grep -qx "$p" "$BEFORE/existing-paths" 2>/dev/null && continue
    if [ -f "$BEFORE/done" ]; then rm -rf "$p"; fi
  done
  # Should a mount remain (busy), rm -rf must not descend into it.
  if grep -qE " ($E2E_VAR|$E2E_RUN)[/ ]" /proc/self/mountinfo; then
    e2e_die "mounts remain under $E2E_VAR or $E2E_RUN; not deleting them (see /proc/self/mountinfo)"
  fi
  rm -rf "$E2E_VAR" "$E2E_RUN" "$E2E_STATE" "$E2E_KUBECONFIG"
  e2e_log "cluster is down"
}

cmd_status() {
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kube-router; do
    if pid_alive "$n"; then echo "$n: running (pid $(cat "$PIDS/$n.pid"))"; else echo "$n: not running"; fi
  done
  if [ -f "$E2E_KUBECONFIG" ]; then kc get nodes -o wide 2>/dev/null || true; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
