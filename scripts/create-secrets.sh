#!/usr/bin/env bash
# Creates the Secrets one environment needs, with fresh random values, straight into the cluster.
#
#   scripts/create-secrets.sh dev|staging|prod
#
# Needs bash, coreutils, kubectl and, for prod's JWT key pair, openssl (no Python). Values are generated here from
# /dev/urandom and handed to kubectl through file descriptors, so they never appear in a command line, a file or git.
# A Secret that already exists is left alone: re-running never rotates a key (a new fernet key would
# make every stored connection unreadable).
#
# Creates, in namespace airflow-<env>:
#   airflow-secrets      fernet-key, api-secret-key, sql-alchemy-conn (the components' URL: dev straight to
#                        PostgreSQL, staging and prod to PgBouncer, airflow-pgbouncer:6432); dev and staging also
#                        jwt-secret and simple-auth-manager-passwords (the UI's `admin` password, shared by all
#                        api-server replicas); prod also jwt-signing-key, jwt-key-id, jwt-public-keys (its JWT key pair:
#                        an Ed25519 private key, its id, and the JSON Web Key Set of its public key)
#   airflow-postgresql   password, + connection in staging (dev, staging: the in-cluster PostgreSQL; connection is
#                        the migrations' URL straight to it)
#   airflow-database     connection                    (prod: from $AIRFLOW_DATABASE_URL, your managed PostgreSQL)
#   airflow-oidc         client-secret                 (prod: from $AIRFLOW_OIDC_CLIENT_SECRET, your identity provider's)
#   airflow-pgbouncer    userlist.txt                  (staging, prod: `"<user>" "<password>"`, PgBouncer's auth_file)
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
# dev and staging: a shared JWT secret and SimpleAuthManager's admin password; prod (FAB auth manager, JWT key pair):
# the key pair, made here and kept in shell variables only: an Ed25519 private key (PEM), its id, and the JSON Web
# Key Set with its public key (RFC 8037: the raw 32-byte key, base64url, is the last 32 bytes of its DER form).
create_airflow_secrets() {
  if [ "$env" = prod ]; then
    local jwt_key jwt_kid jwt_x
    jwt_key="$(openssl genpkey -algorithm ed25519)"
    jwt_kid="k$(date -u +%Y%m%d)-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    jwt_x="$(printf '%s\n' "$jwt_key" | openssl pkey -pubout -outform DER | tail -c 32 | base64 | tr '+/' '-_' | tr -d '=\n')"
    jwks() { printf '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "%s", "kid": "%s", "alg": "EdDSA", "use": "sig"}]}' "$jwt_x" "$jwt_kid"; }
    kubectl -n "$ns" create secret generic airflow-secrets \
      --from-file=fernet-key=<(fernet_key) \
      --from-file=api-secret-key=<(hex) \
      --from-file=jwt-signing-key=<(printf '%s\n' "$jwt_key") \
      --from-file=jwt-key-id=<(printf '%s' "$jwt_kid") \
      --from-file=jwt-public-keys=<(jwks) \
      "$@"
  else
    kubectl -n "$ns" create secret generic airflow-secrets \
      --from-file=fernet-key=<(fernet_key) \
      --from-file=jwt-secret=<(hex) \
      --from-file=api-secret-key=<(hex) \
      --from-file=simple-auth-manager-passwords=<(printf '{"admin": "%s"}' "$(hex)") \
      "$@"
    echo "the UI's admin password: kubectl -n $ns get secret airflow-secrets -o jsonpath='{.data.simple-auth-manager-passwords}' | base64 -d"
  fi
}

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"

# staging and prod: the components connect through PgBouncer, the migrations straight to the database.
pooled=""; [ "$env" != dev ] && pooled=1
pgbouncer_url() { # user password database: the components' URL, to PgBouncer's Service
  printf 'postgresql+psycopg2://%s:%s@airflow-pgbouncer.%s:6432/%s' "$1" "$2" "$ns" "$3"
}
pgbouncer_userlist() { printf '"%s" "%s"\n' "$1" "$2"; } # PgBouncer's auth_file: user and plain-text password

db_user="airflow"; db_name="airflow"; db_password=""; url_password="" # url_password: as written in a URL
if [ "$env" = prod ]; then
  # each variable is needed only while a Secret made from it is missing; all are checked before anything is created
  oidc() {
    if exists airflow-oidc; then echo "secret/airflow-oidc exists in $ns: left as it is"
    else kubectl -n "$ns" create secret generic airflow-oidc --from-file=client-secret=<(printf '%s' "$AIRFLOW_OIDC_CLIENT_SECRET"); fi
  }
  exists airflow-secrets || command -v openssl >/dev/null || { echo "prod's JWT key pair (in airflow-secrets) needs openssl on PATH" >&2; exit 1; }
  exists airflow-oidc || : "${AIRFLOW_OIDC_CLIENT_SECRET:?prod logs users in through your identity provider: set AIRFLOW_OIDC_CLIENT_SECRET to the secret of its client for Airflow (README, Deploy an environment)}"
  if exists airflow-database && exists airflow-pgbouncer && exists airflow-secrets; then
    for name in airflow-database airflow-pgbouncer airflow-secrets; do echo "secret/$name exists in $ns: left as it is"; done
    oidc
    exit 0
  fi
  : "${AIRFLOW_DATABASE_URL:?prod uses your managed PostgreSQL: set AIRFLOW_DATABASE_URL=postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB}"
  # prod verifies TLS through libpq's PGSSLMODE=verify-full and PGSSLROOTCERT (lib/environments.ts, externalDatabase.tls):
  # an sslmode (or asyncpg's ssl) in the URL would win over them and could turn the verification off
  if [[ "$AIRFLOW_DATABASE_URL" =~ [?\&](sslmode|ssl|sslrootcert)= ]]; then
    echo "AIRFLOW_DATABASE_URL sets ${BASH_REMATCH[1]}=; leave TLS out of the URL: prod's manifests set PGSSLMODE=verify-full" \
         "and PGSSLROOTCERT to the CA in ConfigMap airflow-database-ca" >&2
    exit 1
  fi
  # user, password (URL-decoded: PgBouncer wants it in plain text) and database, with bash's own matching
  if [[ ! "$AIRFLOW_DATABASE_URL" =~ ^postgresql(\+[a-z0-9]+)?://([^:@/]+):([^@/]+)@[^/]+/([^?]+) ]]; then
    echo "AIRFLOW_DATABASE_URL is not postgresql[+driver]://USER:PASSWORD@HOST[:PORT]/DB[?...]" >&2; exit 1
  fi
  db_user="${BASH_REMATCH[2]}"; url_password="${BASH_REMATCH[3]}"; db_name="${BASH_REMATCH[4]}"
  db_password="$(printf '%b' "${url_password//%/\\x}")"
  # prod's PgBouncer (lib/environments.ts) logs in as user airflow to database airflow: the URL must name those
  if [ "$db_user" != airflow ] || [ "$db_name" != airflow ]; then
    echo "AIRFLOW_DATABASE_URL names user $db_user and database $db_name; the prod preset's PgBouncer expects user airflow" \
         "and database airflow: create those, or set pgbouncer.database.user and .name in lib/environments.ts (and here)" >&2
    exit 1
  fi
  if exists airflow-database; then
    echo "secret/airflow-database exists in $ns: left as it is"
  else
    kubectl -n "$ns" create secret generic airflow-database \
      --from-file=connection=<(printf '%s' "$AIRFLOW_DATABASE_URL")
  fi
  oidc
else
  if exists airflow-postgresql; then
    echo "secret/airflow-postgresql exists in $ns: left as it is"
  else
    db_password="$(hex)"; url_password="$db_password"
    if [ -n "$pooled" ]; then # process substitutions must be expanded on the kubectl call itself
      kubectl -n "$ns" create secret generic airflow-postgresql --from-file=password=<(printf '%s' "$db_password") \
        --from-file=connection=<(printf 'postgresql+psycopg2://airflow:%s@airflow-postgresql.%s:5432/airflow' "$db_password" "$ns")
    else
      kubectl -n "$ns" create secret generic airflow-postgresql --from-file=password=<(printf '%s' "$db_password")
    fi
  fi
fi

if [ -n "$pooled" ]; then
  if exists airflow-pgbouncer; then
    echo "secret/airflow-pgbouncer exists in $ns: left as it is"
  elif [ -z "$db_password" ]; then
    echo "secret/airflow-postgresql exists but airflow-pgbouncer does not: its userlist.txt needs that password;" \
         "create it by hand: \"airflow\" \"<password>\" in key userlist.txt" >&2
    exit 1
  else
    kubectl -n "$ns" create secret generic airflow-pgbouncer --from-file=userlist.txt=<(pgbouncer_userlist "$db_user" "$db_password")
  fi
fi

if exists airflow-secrets; then
  echo "secret/airflow-secrets exists in $ns: left as it is"
elif [ -z "$db_password" ]; then
  echo "secret/airflow-postgresql exists but airflow-secrets does not: its sql-alchemy-conn needs that password;" \
       "delete airflow-postgresql too (only before the database was initialised) or create airflow-secrets by hand" >&2
  exit 1
elif [ -n "$pooled" ]; then
  create_airflow_secrets --from-file=sql-alchemy-conn=<(pgbouncer_url "$db_user" "$url_password" "$db_name")
else
  create_airflow_secrets --from-file=sql-alchemy-conn=<(
    printf 'postgresql+psycopg2://airflow:%s@airflow-postgresql.%s:5432/airflow' "$db_password" "$ns")
fi
