#!/usr/bin/env bash
# Smoke check of the e2e cluster (after scripts/e2e/cluster.sh up). In a namespace that enforces the
# "restricted" Pod Security Standard, with a locally built image (scripts/e2e/image.sh smoke):
#   - a StatefulSet whose volumeClaimTemplate (1Gi, RWO, default StorageClass) binds and is writable by uid 1000;
#   - a web server pod behind a Service;
#   - a probe pod (uid 1000, read-only root) that resolves kubernetes.default.svc.cluster.local through
#     CoreDNS, gets an HTTP answer from https://kubernetes.default.svc:443/readyz (kube-proxy to the API
#     server), fetches the web page through the Service, and prints all this; `kubectl logs` must show it.
# Removes its namespace afterwards (KEEP=1 keeps it) and makes the PV it used available again.
#
#   scripts/e2e/smoke.sh
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export KUBECONFIG="$E2E_KUBECONFIG"
[ -f "$KUBECONFIG" ] || e2e_die "no cluster ($KUBECONFIG missing): scripts/e2e/cluster.sh up"
kc() { timeout 120 "$E2E_K8S_BIN/kubectl" "$@"; }
ns=e2e-smoke
t0=$SECONDS

fail() {
  echo "smoke: FAILED: $*" >&2
  kc -n "$ns" get pods,pvc,svc,endpointslices -o wide >&2 || true
  kc -n "$ns" get events --sort-by=.lastTimestamp >&2 | tail -20 || true
  exit 1
}

cleanup() {
  [ "${KEEP:-0}" = 1 ] && return 0
  kc delete namespace "$ns" --ignore-not-found --wait=true --timeout=90s >/dev/null || true
  # The PV is Retain (no provisioner could delete it): empty it and clear its claim so the next run can
  # use it again.
  local pv
  for pv in $(kc get pv -l e2e.local/volume=true -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
    find "$(kc get pv "$pv" -o jsonpath='{.spec.local.path}')" -mindepth 1 -delete 2>/dev/null || true
    kc patch pv "$pv" --type json -p '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null || true
  done
}
trap cleanup EXIT

"$E2E_REPO/scripts/e2e/image.sh" smoke >/dev/null
"$E2E_REPO/scripts/e2e/image.sh" import "$E2E_TEST_IMAGE"

kc delete namespace "$ns" --ignore-not-found --wait=true --timeout=90s >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $ns}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: $ns, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1   # httpd as PID 1 ignores SIGTERM
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: web
    image: $E2E_TEST_IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo "hello from web" > /srv/index.html && exec busybox httpd -f -v -p 8080 -h /srv']
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts: [{name: srv, mountPath: /srv}]
  volumes: [{name: srv, emptyDir: {}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: data, namespace: $ns}
spec:
  serviceName: data
  replicas: 1
  selector: {matchLabels: {app: data}}
  template:
    metadata: {labels: {app: data}}
    spec:
      terminationGracePeriodSeconds: 1   # sleep as PID 1 ignores SIGTERM
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        fsGroup: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: data
        image: $E2E_TEST_IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /data/sub && echo written-by-\$(id -u) > /data/sub/hello && cat /data/sub/hello && exec sleep 3600']
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
EOF

# The namespace really enforces "restricted": a pod running as root is refused.
if denied="$(kc -n "$ns" run root-pod --image="$E2E_TEST_IMAGE" --restart=Never --dry-run=server -o name 2>&1)"; then
  fail "a root pod was admitted in the restricted namespace"
fi
grep -q 'violates PodSecurity "restricted' <<<"$denied" || fail "unexpected answer to a root pod: $denied"
echo "smoke: root pod refused: ${denied%%:*}"

kc -n "$ns" wait --for=condition=Ready pod/web --timeout=90s >/dev/null || fail "web pod not ready"
kc -n "$ns" wait --for=condition=Ready pod/data-0 --timeout=90s >/dev/null || fail "StatefulSet pod data-0 not ready"
phase="$(kc -n "$ns" get pvc data-data-0 -o jsonpath='{.status.phase} {.spec.volumeName} {.spec.storageClassName}')"
echo "smoke: pvc data-data-0: $phase"
[[ "$phase" == Bound* ]] || fail "PVC data-data-0 is not Bound"
kc -n "$ns" logs data-0 | grep -qx written-by-1000 || fail "data-0 could not write its volume"

# The probe: everything it checks, it prints; the script below then reads it back with kubectl logs.
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: $ns}
spec:
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: probe
    image: $E2E_TEST_IMAGE
    imagePullPolicy: IfNotPresent
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    command:
    - sh
    - -c
    - |
      set -e
      echo "uid: \$(id -u)"
      echo "dns: \$(getent hosts kubernetes.default.svc.cluster.local)"
      code=\$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
        --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt https://kubernetes.default.svc:443/readyz)
      echo "apiserver /readyz: HTTP \$code"
      echo "service web: \$(curl -sS --max-time 10 http://web.$ns.svc.cluster.local/)"
      if touch /probe-write 2>/dev/null; then echo "root filesystem: writable"; else echo "root filesystem: read-only"; fi
      echo "smoke probe done"
EOF
kc -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/probe --timeout=90s >/dev/null \
  || { kc -n "$ns" logs probe >&2 || true; fail "probe pod did not succeed"; }
out="$(kc -n "$ns" logs probe)" || fail "kubectl logs probe failed"
echo "$out" | sed 's/^/smoke: probe: /'
grep -q "^dns: $E2E_KUBERNETES_SVC_IP " <<<"$out" || fail "kubernetes.default.svc.cluster.local did not resolve to $E2E_KUBERNETES_SVC_IP"
grep -qE '^apiserver /readyz: HTTP [1-5][0-9][0-9]$' <<<"$out" || fail "no HTTP answer from the API server through its Service"
grep -qx 'service web: hello from web' <<<"$out" || fail "the web Service did not answer"
grep -qx 'root filesystem: read-only' <<<"$out" || fail "the root filesystem is writable"
grep -qx 'uid: 1000' <<<"$out" || fail "the probe did not run as uid 1000"
echo "smoke: OK in $((SECONDS - t0))s"
