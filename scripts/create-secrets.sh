#!/usr/bin/env bash
# Creates the Secrets one environment needs, with fresh random values, straight into the cluster.
#
#   scripts/create-secrets.sh dev|staging|prod
#
# Needs bash, coreutils and kubectl (no Python). Values are generated here from /dev/urandom and
# handed to kubectl through file descriptors, so they never appear in a command line, a file or git.
# A Secret that already exists is left alone: re-running never rotates a key (a new fernet key would
# make every stored connection unreadable).
#
# Creates, in namespace airflow-<env>:
#   airflow-secrets      fernet-key, jwt-secret, api-secret-key, simple-auth-manager-passwords (the UI's
#                        `admin` password, shared by all api-server replicas), + sql-alchemy-conn for dev and staging
#   airflow-postgresql   password                      (dev, staging: the in-cluster PostgreSQL)
#   airflow-database     connection                    (prod: from $AIRFLOW_DATABASE_URL, your managed PostgreSQL)
set -euo pipefail

env="${1:-}"
case "$env" in
  dev|staging|prod) ;;
  *) echo "usage: $0 dev|staging|prod" >&2; exit 2 ;;
esac
ns="airflow-$env"

# 32 random bytes: as URL-safe base64 (a Fernet key), or as hex (no characters a URL must escape).
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }
hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

exists() { kubectl -n "$ns" get secret "$1" >/dev/null 2>&1; }

# Extra --from-file arguments are passed on; process substitutions must be expanded on this call.
create_airflow_secrets() {
  kubectl -n "$ns" create secret generic airflow-secrets \
    --from-file=fernet-key=<(fernet_key) \
    --from-file=jwt-secret=<(hex) \
    --from-file=api-secret-key=<(hex) \
    --from-file=simple-auth-manager-passwords=<(printf '{"admin": "%s"}' "$(hex)") \
    "$@"
  echo "the UI's admin password: kubectl -n $ns get secret airflow-secrets -o jsonpath='{.data.simple-auth-manager-passwords}' | base64 -d"
}

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"

if [ "$env" = prod ]; then
  if exists airflow-database; then
    echo "secret/airflow-database exists in $ns: left as it is"
  else
    : "${AIRFLOW_DATABASE_URL:?prod uses your managed PostgreSQL: set AIRFLOW_DATABASE_URL=postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB?sslmode=require}"
    kubectl -n "$ns" create secret generic airflow-database \
      --from-file=connection=<(printf '%s' "$AIRFLOW_DATABASE_URL")
  fi
fi

db_password=""
if [ "$env" != prod ]; then
  if exists airflow-postgresql; then
    echo "secret/airflow-postgresql exists in $ns: left as it is"
  else
    db_password="$(hex)"
    kubectl -n "$ns" create secret generic airflow-postgresql --from-file=password=<(printf '%s' "$db_password")
  fi
fi

if exists airflow-secrets; then
  echo "secret/airflow-secrets exists in $ns: left as it is"
elif [ "$env" != prod ] && [ -z "$db_password" ]; then
  echo "secret/airflow-postgresql exists but airflow-secrets does not: its sql-alchemy-conn needs that password;" \
       "delete airflow-postgresql too (only before the database was initialised) or create airflow-secrets by hand" >&2
  exit 1
elif [ "$env" = prod ]; then
  create_airflow_secrets
else
  create_airflow_secrets --from-file=sql-alchemy-conn=<(
    printf 'postgresql+psycopg2://airflow:%s@airflow-postgresql.%s:5432/airflow' "$db_password" "$ns")
fi
