#!/usr/bin/env bash
# Prints the folder that caches the integration tests' builds: $INTEGRATION_CACHE if set, else the
# git-ignored .cache/ of this clone. The Airflow venv there runs as uid 50000 (the official image's user),
# so every folder above it must be traversable by others; when the clone's are not (a clone under /root),
# /var/cache/cdk8s-airflow is used instead; likewise for a clone under a folder the sandboxes hide
# (/tmp, /home, /opt, /srv, /mnt, /media, /root, /run, /boot: see scripts/integration/sandbox.ts).
set -euo pipefail
if [ -n "${INTEGRATION_CACHE:-}" ]; then echo "$INTEGRATION_CACHE"; exit 0; fi
here="$(cd "$(dirname "$0")/../.." && pwd)"
case "/${here#/}" in /tmp/*|/home/*|/opt/*|/srv/*|/mnt/*|/media/*|/root/*|/run/*|/boot/*) echo /var/cache/cdk8s-airflow; exit 0 ;; esac
d="$here"
while [ "$d" != / ]; do
  if [ $(( $(stat -c %a "$d" | rev | cut -c1) & 1 )) -eq 0 ]; then echo /var/cache/cdk8s-airflow; exit 0; fi
  d="$(dirname "$d")"
done
echo "$here/.cache"
