#!/usr/bin/env bash
# /entrypoint of the Airflow image this project's tests run (the integration sandboxes and the e2e
# cluster), written after the documented contract of the official apache/airflow image's entrypoint
# (https://airflow.apache.org/docs/docker-stack/entrypoint.html), so that the manifests meet the same
# behaviour they meet in production:
#   - the group must be 0 (uid 50000 with another group only warns), and the umask is 0002;
#   - unless CONNECTION_CHECK_MAX_COUNT is 0, `airflow db check` must succeed first, tried
#     CONNECTION_CHECK_MAX_COUNT times (default 20), CONNECTION_CHECK_SLEEP_TIME seconds apart (default 3):
#     a container without a reachable database (a task pod) fails here unless it sets it to 0;
#   - _AIRFLOW_DB_MIGRATE set: `airflow db migrate` first;
#   - then `bash ARGS` and `python ARGS` run as they are, `airflow X ARGS` and a bare `X ARGS` as `airflow X ARGS`.
# The official entrypoint's other options (_AIRFLOW_WWW_USER_CREATE, _PIP_ADDITIONAL_REQUIREMENTS, the
# Celery broker wait) are not used by this project's manifests and not reproduced.
set -euo pipefail
command="${1:-}"

if [ "$(id -g)" != 0 ]; then
  if [ "$(id -u)" = 50000 ]; then
    echo "WARNING! You should run the image with GID (Group ID) set to 0 (started with UID=$(id -u) GID=$(id -g))" >&2
  else
    echo "ERROR! You should run the image with GID=0 (started with UID=$(id -u) GID=$(id -g))" >&2
    exit 1
  fi
fi
umask 0002

max="${CONNECTION_CHECK_MAX_COUNT:-20}"
pause="${CONNECTION_CHECK_SLEEP_TIME:-3}"
if [ "$max" -gt 0 ]; then
  tries=0
  until last="$(airflow db check 2>&1)"; do
    tries=$((tries + 1))
    if [ "$tries" -ge "$max" ]; then
      printf 'ERROR! Maximum number of retries (%s) reached.\n\nLast check result:\n$ airflow db check\n%s\n' "$max" "$last" >&2
      exit 1
    fi
    sleep "$pause"
  done
fi

if [ -n "${_AIRFLOW_DB_MIGRATE:-}" ]; then airflow db migrate || true; fi

case "$command" in
  bash) shift; exec /bin/bash "$@" ;;
  python) shift; exec python "$@" ;;
  airflow) shift ;;
esac
exec airflow "$@"
