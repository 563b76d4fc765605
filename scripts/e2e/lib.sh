# Shared settings of scripts/e2e/*.sh (sourced, not run). Every path, port and address of the e2e cluster
# is here, so that `cluster.sh down` finds exactly what `cluster.sh up` made and nothing else.
# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this file

E2E_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E_K8S_VERSION="${KUBERNETES_VERSION:-v1.34.4}"
E2E_COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
# NetworkPolicy enforcer: kube-router's network policy controller alone (scripts/e2e/build-kube-router.sh).
E2E_KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
E2E_KUBE_ROUTER_BIN="$E2E_REPO/.cache/kube-router-$E2E_KUBE_ROUTER_VERSION/bin/kube-router"

# Caches that survive `down` (git-ignored .cache/): binaries, the debootstrap base, image archives.
E2E_CACHE="$E2E_REPO/.cache/e2e"
E2E_K8S_BIN="$E2E_REPO/.cache/kubernetes-$E2E_K8S_VERSION/bin"
E2E_IMAGES="$E2E_CACHE/images"
# Per-cluster state, removed by `down`: certificates, kubeconfigs, configs, logs.
E2E_STATE="$E2E_CACHE/cluster"
E2E_KUBECONFIG="$E2E_CACHE/admin.kubeconfig"
# Root-owned runtime state (containerd content and snapshots, kubelet pods, etcd data), removed by `down`.
E2E_VAR=/var/lib/k8s-e2e
E2E_RUN=/run/k8s-e2e
E2E_CONTAINERD_SOCK="$E2E_RUN/containerd/containerd.sock"

# Names and addresses. The node has no interface of its own that pods could reach (eth0 must not be used
# and the kernel has no dummy interfaces), so the pod bridge's gateway address is the node's IP: the
# kubelet registers it, the API server advertises it (the `kubernetes` Service points there) and pods
# reach the host through it. etcd's ports differ from the defaults so that another etcd on this machine
# (the integration tests use 2379) does not collide. The API server listens on kubeadm's 6443, as the
# `kubernetes` Service's endpoint of a real cluster does (kubeadm 6443, EKS/GKE 443): NetworkPolicies see
# that endpoint, after the Service DNAT, and the library's egress allow to the API server names 443 and 6443.
# The integration tests' API server is on 127.0.0.1:6443, another address: no collision.
E2E_NODE=e2e-node
E2E_BRIDGE=k8se2e0
E2E_POD_CIDR=10.244.0.0/24
E2E_NODE_IP=10.244.0.1
E2E_SERVICE_CIDR=10.96.0.0/16
E2E_KUBERNETES_SVC_IP=10.96.0.1
E2E_DNS_IP=10.96.0.10
E2E_APISERVER_PORT=6443
E2E_ETCD_CLIENT_PORT=12379
E2E_ETCD_PEER_PORT=12380

# Images: the pause image is what containerd's sandbox_image names (the kubelet 1.34 default is
# registry.k8s.io/pause:3.10.1; the name must simply match the one imported).
E2E_PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
E2E_COREDNS_IMAGE="registry.k8s.io/coredns/coredns:$E2E_COREDNS_VERSION"

e2e_log() { echo "e2e: $*" >&2; }
e2e_die() { echo "e2e: error: $*" >&2; exit 1; }

# Debian's python3 (a pyenv shim may shadow it; only the standard library is used).
e2e_python() { if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi; }

e2e_ctr() { ctr --address "$E2E_CONTAINERD_SOCK" --namespace k8s.io "$@"; }
