#!/usr/bin/env bash
# docker-entrypoint.sh of the e2e cluster's PostgreSQL image (scripts/e2e/images/build.sh), written after the
# documented contract of the official postgres image's entrypoint (https://hub.docker.com/_/postgres,
# "Environment Variables" and "Initialization scripts"). The image carries Debian bookworm's
# PostgreSQL 15, not 17.9: no other PostgreSQL can be installed on the e2e machine (Debian's archive,
# no registry); the manifests only need a PostgreSQL server that this contract starts.
#   - `docker-entrypoint.sh -c x=y` means `postgres -c x=y`; other commands than postgres run as they are;
#   - POSTGRES_PASSWORD is required unless POSTGRES_HOST_AUTH_METHOD=trust; POSTGRES_USER (default
#     postgres), POSTGRES_DB (default POSTGRES_USER), PGDATA (default /var/lib/postgresql/data),
#     POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
#     each of POSTGRES_PASSWORD/USER/DB/INITDB_ARGS may be given as a file by <NAME>_FILE;
#   - when PGDATA holds no database (no PG_VERSION): initdb as POSTGRES_USER with POSTGRES_PASSWORD,
#     `host all all all <method>` appended to pg_hba.conf, listen_addresses='*' (the image's
#     postgresql.conf.sample, as in the official image), a server on the Unix socket only while
#     POSTGRES_DB is created and /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz are run, then stopped;
#   - then `exec postgres`, in the foreground, as PID 1 of the container;
#   - started as root: prepares the folders and runs itself again as postgres (uid 999) with setpriv;
#     started as any other uid (the manifests use 999): runs as it is, which works with a read-only root
#     file system when PGDATA, /var/run/postgresql (the socket) and /tmp are writable.
set -Eeuo pipefail

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by VAR_FILE.
file_env() {
  local var="$1" file_var="${1}_FILE" def="${2:-}"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2; exit 1
  fi
  local val="$def"
  if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!file_var:-}" ]; then val="$(< "${!file_var}")"; fi
  export "$var"="$val"
  unset "$file_var"
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
  DATABASE_ALREADY_EXISTS=
  if [ -s "$PGDATA/PG_VERSION" ]; then DATABASE_ALREADY_EXISTS=true; fi
}

create_db_directories() {
  local user; user="$(id -u)"
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :   # PostgreSQL refuses a data folder that others may read
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql 2>/dev/null || :
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    [ "$user" = 0 ] && find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
    chmod 700 "$POSTGRES_INITDB_WALDIR"
  fi
  if [ "$user" = 0 ]; then
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
  fi
}

verify_minimum_env() {
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'EOF'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
EOF
    exit 1
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    echo "WARNING: POSTGRES_HOST_AUTH_METHOD has been set to \"trust\". This will allow anyone with access to the" \
      "Postgres port to access your database without a password, even if POSTGRES_PASSWORD is set." >&2
  fi
}

init_database_dir() {
  # initdb needs a passwd entry for the current uid; an arbitrary uid gets one through nss_wrapper.
  local wrapper=
  if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
    for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do [ -s "$wrapper" ] && break; done
    if [ -s "$wrapper" ]; then
      NSS_WRAPPER_PASSWD="$(mktemp /tmp/passwd.XXXXXX)"; NSS_WRAPPER_GROUP="$(mktemp /tmp/group.XXXXXX)"
      export LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
      printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" > "$NSS_WRAPPER_PASSWD"
      printf 'postgres:x:%s:\n' "$(id -g)" > "$NSS_WRAPPER_GROUP"
    fi
  fi
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
  fi
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of arguments, split as the official image does
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS "$@"
  if [ -n "${LD_PRELOAD:-}" ]; then
    rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"; unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}

setup_hba_conf() {
  local method="${POSTGRES_HOST_AUTH_METHOD:-}"
  if [ "${1:-}" = postgres ]; then shift; fi
  if [ -z "$method" ]; then method="$(postgres -C password_encryption "$@")"; fi   # scram-sha-256
  { echo; echo "host all all all $method"; } >> "$PGDATA/pg_hba.conf"
}

psql_run() { psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"; }

temp_server_start() {
  # Only the Unix socket (listen_addresses=''): nothing can connect over TCP before the set-up is done.
  if [ "${1:-}" = postgres ]; then shift; fi
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() { PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop; }

setup_db() {
  local exists
  exists="$(psql_run --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<'EOSQL'
SELECT 1 FROM pg_database WHERE datname = :'db' ;
EOSQL
)"
  if [ -z "$exists" ]; then
    psql_run --dbname postgres --set db="$POSTGRES_DB" <<'EOSQL'
CREATE DATABASE :"db" ;
EOSQL
    echo
  fi
}

process_init_files() {
  local f
  for f in "$@"; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then echo "$0: running $f"; "$f"; else echo "$0: sourcing $f"; # shellcheck disable=SC1090
          . "$f"; fi ;;
      *.sql) echo "$0: running $f"; psql_run --dbname "$POSTGRES_DB" -f "$f"; echo ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql_run --dbname "$POSTGRES_DB"; echo ;;
      *) echo "$0: ignoring $f" ;;
    esac
    echo
  done
}

want_help() {
  local arg
  for arg; do case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac; done
  return 1
}

main() {
  if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
  if [ "$1" = postgres ] && ! want_help "$@"; then
    setup_env
    create_db_directories
    if [ "$(id -u)" = 0 ]; then
      exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
      verify_minimum_env
      ls /docker-entrypoint-initdb.d/ >/dev/null   # fails early when it is unreadable
      init_database_dir
      setup_hba_conf "$@"
      export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
      temp_server_start "$@"
      setup_db
      shopt -s nullglob
      process_init_files /docker-entrypoint-initdb.d/*
      shopt -u nullglob
      temp_server_stop
      unset PGPASSWORD
      echo
      echo 'PostgreSQL init process complete; ready for start up.'
      echo
    else
      echo
      echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
      echo
    fi
  fi
  exec "$@"
}

main "$@"
