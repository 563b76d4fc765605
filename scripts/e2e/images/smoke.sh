#!/usr/bin/env bash
# Smoke check of the images scripts/e2e/images/build.sh makes, in the running e2e cluster
# (scripts/e2e/cluster.sh up), under the names dist/dev.k8s.yaml uses, in a namespace that enforces the
# "restricted" Pod Security Standard, with the manifests' security settings (non-root, read-only root file
# system, all capabilities dropped, seccomp RuntimeDefault):
#   (a) git-sync: GITSYNC_ONE_TIME init container cloning https://github.com/apache/airflow.git at 3.1.7
#       from the stand-in server (scripts/e2e/images/git-server.sh, CoreDNS entry by dns.sh), over HTTPS
#       verified against the e2e CA; a main container lists /git/repo/airflow-core/src/airflow/example_dags;
#   (b) Airflow: `airflow version` through /entrypoint (CONNECTION_CHECK_MAX_COUNT=0) as 50000:0 with only
#       /tmp and /opt/airflow/logs writable, which must print the version;
#   (c) PostgreSQL: a StatefulSet as 999:999 on a PVC (default StorageClass) that becomes Ready with the
#       manifests' pg_isready probe; then a password login over TCP to the pod IP (scram-sha-256) and a
#       refused one with a wrong password.
# Removes what it made afterwards (KEEP=1 keeps it): the namespace, the PV's claim and data (as
# scripts/e2e/smoke.sh does), the git server and the CoreDNS entry if it added them.
#
#   scripts/e2e/images/smoke.sh
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
export KUBECONFIG="$E2E_KUBECONFIG"
[ -f "$KUBECONFIG" ] || e2e_die "no cluster ($KUBECONFIG missing): scripts/e2e/cluster.sh up"
kc() { timeout 120 "$E2E_K8S_BIN/kubectl" "$@"; }
here="$E2E_REPO/scripts/e2e/images"
ns=e2e-images
t0=$SECONDS
AIRFLOW_VERSION="$(sed -n "s/^export const AIRFLOW_VERSION = '\(.*\)';/\1/p" "$E2E_REPO/lib/names.ts")"
# The image names exactly as the manifests write them (containerd completes them to the imported names).
images="$(sed -n 's/^ *image: *//p' "$E2E_REPO/dist/dev.k8s.yaml" | sort -u)"
airflow_image="$(grep -m1 '/airflow:' <<<"$images")"
postgres_image="$(grep -m1 '^postgres:' <<<"$images")"
git_sync_image="$(grep -m1 '/git-sync:' <<<"$images")"
[ -n "$airflow_image" ] && [ -n "$postgres_image" ] && [ -n "$git_sync_image" ] \
  || e2e_die "could not find the three images in dist/dev.k8s.yaml"
password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"

started_server=0; added_dns=0
fail() {
  echo "images smoke: FAILED: $*" >&2
  kc -n "$ns" get pods,pvc -o wide >&2 || true
  kc -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -20 >&2 || true
  exit 1
}
cleanup() {
  [ "${KEEP:-0}" = 1 ] && return 0
  kc delete namespace "$ns" --ignore-not-found --wait=true --timeout=90s >/dev/null || true
  local pv
  for pv in $(kc get pv -l e2e.local/volume=true -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
    find "$(kc get pv "$pv" -o jsonpath='{.spec.local.path}')" -mindepth 1 -delete 2>/dev/null || true
    kc patch pv "$pv" --type json -p '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null || true
  done
  if [ "$added_dns" = 1 ]; then "$here/dns.sh" remove || true; fi
  if [ "$started_server" = 1 ]; then "$here/git-server.sh" stop || true; fi
}
trap cleanup EXIT

IMPORT=1 "$here/build.sh" airflow postgres git-sync >/dev/null
"$here/git-server.sh" status | grep -q ": running" || started_server=1
"$here/git-server.sh" start
[ "$("$here/dns.sh" check 2>/dev/null)" = "$E2E_NODE_IP" ] || added_dns=1
"$here/dns.sh" apply

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
kind: Pod
metadata: {name: git-sync, namespace: $ns}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65533
    runAsGroup: 65533
    fsGroup: 65533
    seccompProfile: {type: RuntimeDefault}
  initContainers:
  - name: git-sync
    image: $git_sync_image
    imagePullPolicy: IfNotPresent
    env:
    - {name: GITSYNC_REPO, value: "https://github.com/apache/airflow.git"}
    - {name: GITSYNC_REF, value: "$AIRFLOW_VERSION"}
    - {name: GITSYNC_ONE_TIME, value: "true"}
    - {name: GITSYNC_ROOT, value: /git}
    - {name: GITSYNC_LINK, value: repo}
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: git, mountPath: /git}, {name: tmp, mountPath: /tmp}]
  containers:
  - name: list
    image: $git_sync_image
    imagePullPolicy: IfNotPresent
    command:
    - bash
    - -c
    - |
      set -e
      echo "uid: \$(id -u):\$(id -g)"
      echo "link: /git/repo -> \$(readlink /git/repo)"
      echo "commit: \$(git -C /git/repo rev-parse HEAD)"
      echo "example_dags: \$(ls /git/repo/airflow-core/src/airflow/example_dags | wc -l) entries"
      ls /git/repo/airflow-core/src/airflow/example_dags
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: git, mountPath: /git}, {name: tmp, mountPath: /tmp}]
  volumes: [{name: git, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: airflow-version, namespace: $ns}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 50000
    runAsGroup: 0
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: airflow
    image: $airflow_image
    imagePullPolicy: IfNotPresent
    args: [airflow, version]
    env: [{name: CONNECTION_CHECK_MAX_COUNT, value: "0"}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: logs, mountPath: /opt/airflow/logs}, {name: tmp, mountPath: /tmp}]
  volumes: [{name: logs, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: airflow-env, namespace: $ns}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 50000
    runAsGroup: 0
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: airflow
    image: $airflow_image
    imagePullPolicy: IfNotPresent
    args:
    - bash
    - -c
    - |
      echo "id: \$(id)"
      echo "pid 1: \$(tr '\\0' ' ' < /proc/1/cmdline | head -1 | cut -d' ' -f1-4)"
      echo "HOME=\$HOME PWD=\$PWD AIRFLOW_HOME=\$AIRFLOW_HOME"
      echo "python: \$(command -v python) \$(python -c 'import sys; print(sys.prefix, sys.version.split()[0])')"
      if touch /opt/airflow/x 2>/dev/null; then echo "root filesystem: writable"; else echo "root filesystem: read-only"; fi
    env: [{name: CONNECTION_CHECK_MAX_COUNT, value: "0"}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: logs, mountPath: /opt/airflow/logs}, {name: tmp, mountPath: /tmp}]
  volumes: [{name: logs, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Secret
metadata: {name: postgresql, namespace: $ns}
stringData: {password: "$password"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgresql, namespace: $ns}
spec:
  serviceName: postgresql
  replicas: 1
  selector: {matchLabels: {app: postgresql}}
  template:
    metadata: {labels: {app: postgresql}}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        fsGroupChangePolicy: OnRootMismatch
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: postgresql
        image: $postgres_image
        imagePullPolicy: IfNotPresent
        env:
        - {name: POSTGRES_USER, value: airflow}
        - {name: POSTGRES_DB, value: airflow}
        - {name: POSTGRES_PASSWORD, valueFrom: {secretKeyRef: {name: postgresql, key: password}}}
        - {name: PGDATA, value: /var/lib/postgresql/data/pgdata}
        ports: [{name: postgresql, containerPort: 5432}]
        startupProbe:
          exec: {command: [pg_isready, --host=127.0.0.1, --port=5432, --username=airflow, --dbname=airflow]}
          periodSeconds: 2
          failureThreshold: 60
          timeoutSeconds: 5
        readinessProbe:
          exec: {command: [pg_isready, --host=127.0.0.1, --port=5432, --username=airflow, --dbname=airflow]}
          periodSeconds: 10
          timeoutSeconds: 5
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts:
        - {name: data, mountPath: /var/lib/postgresql/data}
        - {name: run, mountPath: /var/run/postgresql}
        - {name: tmp, mountPath: /tmp}
      volumes: [{name: run, emptyDir: {}}, {name: tmp, emptyDir: {}}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
EOF

# (a) git-sync
kc -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/git-sync --timeout=120s >/dev/null \
  || { kc -n "$ns" logs git-sync -c git-sync >&2 || true; kc -n "$ns" logs git-sync -c list >&2 || true; fail "git-sync pod did not succeed"; }
kc -n "$ns" logs git-sync -c git-sync | sed 's/^/images smoke: git-sync: /'
out="$(kc -n "$ns" logs git-sync -c list)"
echo "$out" | sed 's/^/images smoke: git-sync list: /'
grep -qx 'uid: 65533:65533' <<<"$out" || fail "git-sync did not run as 65533:65533"
grep -q '^example_dags: [1-9][0-9]* entries$' <<<"$out" || fail "no example_dags in the checkout"
grep -qx 'tutorial.py' <<<"$out" || fail "example_dags/tutorial.py is missing from the checkout"

# (b) Airflow
kc -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/airflow-version --timeout=180s >/dev/null \
  || { kc -n "$ns" logs airflow-version >&2 || true; fail "airflow-version pod did not succeed"; }
version="$(kc -n "$ns" logs airflow-version | tail -1)"
echo "images smoke: airflow version: $version"
[ "$version" = "$AIRFLOW_VERSION" ] || fail "airflow version printed '$version', not $AIRFLOW_VERSION"
kc -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/airflow-env --timeout=120s >/dev/null \
  || { kc -n "$ns" logs airflow-env >&2 || true; fail "airflow-env pod did not succeed"; }
out="$(kc -n "$ns" logs airflow-env)"
echo "$out" | sed 's/^/images smoke: airflow env: /'
grep -q '^id: uid=50000(airflow) gid=0(root)' <<<"$out" || fail "airflow did not run as 50000:0"
grep -q '^pid 1: /usr/bin/dumb-init -- /entrypoint bash' <<<"$out" || fail "PID 1 is not dumb-init -- /entrypoint"
grep -qx 'HOME=/home/airflow PWD=/opt/airflow AIRFLOW_HOME=/opt/airflow' <<<"$out" || fail "unexpected HOME/PWD/AIRFLOW_HOME"
grep -q '^python: /home/airflow/.venv/bin/python /home/airflow/.venv ' <<<"$out" || fail "the venv's python is not first on PATH"
grep -qx 'root filesystem: read-only' <<<"$out" || fail "the root file system is writable"

# (c) PostgreSQL
kc -n "$ns" wait --for=condition=Ready pod/postgresql-0 --timeout=180s >/dev/null \
  || { kc -n "$ns" logs postgresql-0 >&2 || true; fail "postgresql-0 did not become Ready"; }
echo "images smoke: pvc: $(kc -n "$ns" get pvc data-postgresql-0 -o jsonpath='{.status.phase} {.spec.volumeName} {.spec.storageClassName}')"
kc -n "$ns" logs postgresql-0 | grep -E 'init process complete|ready to accept connections' | sed 's/^/images smoke: postgresql: /'
pg() { kc -n "$ns" exec postgresql-0 -- "$@"; }
echo "images smoke: postgresql: uid $(pg id -u):$(pg id -g), socket $(pg ls -A /var/run/postgresql | tr '\n' ' ')"
# Over the pod's own IP: pg_hba.conf's "host all all all scram-sha-256" applies (as in the official image,
# initdb's defaults trust connections from 127.0.0.1 and the socket, inside the container).
ip="$(kc -n "$ns" get pod postgresql-0 -o jsonpath='{.status.podIP}')"
sql="$(pg env PGPASSWORD="$password" psql -h "$ip" -U airflow -d airflow -tAc \
  "select current_user || ' ' || current_database() || ' ' || (select setting from pg_settings where name = 'password_encryption') || ' | ' || version()")" \
  || fail "password login over TCP failed"
echo "images smoke: postgresql: $sql"
[[ "$sql" == "airflow airflow scram-sha-256 | PostgreSQL "* ]] || fail "unexpected answer from PostgreSQL: $sql"
if pg env PGPASSWORD=wrong psql -h "$ip" -U airflow -d airflow -tAc 'select 1' >/dev/null 2>&1; then
  fail "a wrong password was accepted over TCP ($ip)"
fi
echo "images smoke: postgresql: a wrong password is refused over TCP ($ip)"
# A restart keeps the database: the entrypoint must not initialize it again.
kc -n "$ns" delete pod postgresql-0 --wait=true >/dev/null
kc -n "$ns" wait --for=condition=Ready pod/postgresql-0 --timeout=180s >/dev/null 2>&1 \
  || { sleep 2; kc -n "$ns" wait --for=condition=Ready pod/postgresql-0 --timeout=180s >/dev/null; } \
  || { kc -n "$ns" logs postgresql-0 >&2 || true; fail "postgresql-0 did not become Ready again"; }
kc -n "$ns" logs postgresql-0 | grep -q 'appears to contain a database; Skipping initialization' \
  || fail "postgresql-0 initialized its database again after a restart"
[ "$(pg env PGPASSWORD="$password" psql -h "$(kc -n "$ns" get pod postgresql-0 -o jsonpath='{.status.podIP}')" -U airflow -d airflow -tAc 'select 1')" = 1 ] \
  || fail "no login after the restart"
echo "images smoke: postgresql: restarted on the same volume, database kept, login works"
echo "images smoke: OK in $((SECONDS - t0))s"
