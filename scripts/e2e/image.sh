#!/usr/bin/env bash
# Builds container images without a registry or a Docker engine, and imports them into the e2e cluster's
# containerd (namespace k8s.io, the one the kubelet's CRI uses) under an exact name, so that pods whose
# image is present locally start without any pull.
#
#   scripts/e2e/image.sh base                       debootstrap --variant=minbase bookworm, cached as a tarball
#   scripts/e2e/image.sh build REF [options]        an OCI archive .cache/e2e/images/<REF>.tar (cached)
#       --packages "a b"   Debian packages installed on top of the base (apt-get, in a chroot)
#       --scratch          start from an empty root instead of the Debian base
#       --add SRC:DEST     copy a file or folder from the host into the root (repeatable)
#       --run CMD          a shell command run in the root (chroot) after the packages (repeatable)
#       --entrypoint JSON  --cmd JSON  --user USER  --workdir DIR  --env K=V (repeatable)
#   scripts/e2e/image.sh import REF|ARCHIVE...      into the running e2e containerd (cluster.sh up does this)
#   scripts/e2e/image.sh archive REF                prints the archive path of REF
#   scripts/e2e/image.sh pause | coredns            builds the images cluster.sh needs
#
# An image is a single layer: the whole root file system. The archive is assembled here (index.json,
# manifest, config, layer blob) by a few lines of Python, which is all `ctr images import` needs; no podman.
set -euo pipefail
# shellcheck source=scripts/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base_tar="$E2E_CACHE/rootfs/bookworm-minbase.tar"
scratch_dirs=()   # build folders, removed however the script ends
trap 'rm -rf "${scratch_dirs[@]+"${scratch_dirs[@]}"}"' EXIT
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need_root() { [ "$(id -u)" = 0 ] || e2e_die "image.sh needs root (debootstrap, chroot, file ownership)"; }
archive_of() { echo "$E2E_IMAGES/$(echo "$1" | tr '/:@' '___').tar"; }

cmd_base() {
  [ -f "$base_tar" ] && return 0
  need_root
  command -v debootstrap >/dev/null || { e2e_log "installing debootstrap"; apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  mkdir -p "$(dirname "$base_tar")"
  local dir; dir="$(mktemp -d "$E2E_CACHE/rootfs/debootstrap.XXXX")"
  scratch_dirs+=("$dir" "$dir.log")
  e2e_log "debootstrap --variant=minbase bookworm (about a minute)"
  timeout 1200 debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; rm -rf "$dir"; e2e_die "debootstrap failed (log above)"; }
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  chmod 755 "$dir"   # mktemp's 0700 would become the mode of "/"
  tar --numeric-owner --xattrs -C "$dir" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"; rm -rf "$dir" "$dir.log"
}

# Runs a shell command chrooted in $1, with /proc and /dev mounted in a private mount namespace (so nothing
# stays mounted on the host, even if the command fails) and the host's DNS for apt.
in_root() {
  local root="$1"; shift
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  unshare --mount --propagation private -- sh -c '
    mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec chroot "$@"' \
    sh "$root" "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 /bin/sh -ec "$*"
  : > "$root/etc/resolv.conf"   # the kubelet mounts the pod's own resolv.conf over it
}

cmd_build() {
  local ref="${1:?usage: image.sh build REF [options]}"; shift
  local packages="" scratch=0 entrypoint="" cmd="" user="" workdir="" adds=() runs=() envs=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --packages) packages="$2"; shift 2 ;;
      --scratch) scratch=1; shift ;;
      --add) adds+=("$2"); shift 2 ;;
      --run) runs+=("$2"); shift 2 ;;
      --entrypoint) entrypoint="$2"; shift 2 ;;
      --cmd) cmd="$2"; shift 2 ;;
      --user) user="$2"; shift 2 ;;
      --workdir) workdir="$2"; shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      *) e2e_die "image.sh build: unknown option $1" ;;
    esac
  done
  local out; out="$(archive_of "$ref")"
  # The archive is rebuilt when the build's inputs change (options and the content of added files).
  local key; key="$( { sha256sum "$0" "$base_tar" 2>/dev/null | cut -c1-64; printf '%s\n' "$ref" "$packages" "$scratch" "$entrypoint" "$cmd" "$user" "$workdir" \
    "${adds[@]+"${adds[@]}"}" "${runs[@]+"${runs[@]}"}" "${envs[@]+"${envs[@]}"}"
    for a in "${adds[@]+"${adds[@]}"}"; do find "${a%%:*}" -type f -print0 | sort -z | xargs -0 sha256sum; done
  } | sha256sum | cut -c1-16)"
  if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then echo "$out"; return 0; fi
  need_root
  mkdir -p "$E2E_IMAGES"
  local root; root="$(mktemp -d "$E2E_IMAGES/build.XXXX")"
  scratch_dirs+=("$root" "$root.layer.tar")
  chmod 755 "$root"   # mktemp makes it 0700: it becomes the image's "/" (and apt's _apt user must enter it)
  if [ "$scratch" = 0 ]; then
    cmd_base
    tar --numeric-owner --xattrs -C "$root" -xf "$base_tar"
    chmod 755 "$root"
    if [ -n "$packages" ]; then
      e2e_log "$ref: apt-get install $packages"
      # policy-rc.d: no daemon starts inside the chroot during installation.
      printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
      # debootstrap only lists bookworm itself; add the updates and security suites.
      printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
        "$mirror" "$mirror" "${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}" > "$root/etc/apt/sources.list"
      in_root "$root" "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null \
        && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d"
    fi
  else
    mkdir -p "$root/etc" "$root/tmp" "$root/proc" "$root/dev" "$root/sys"; chmod 1777 "$root/tmp"
  fi
  for a in "${adds[@]+"${adds[@]}"}"; do
    mkdir -p "$(dirname "$root/${a#*:}")"; cp -a "${a%%:*}" "$root/${a#*:}"
  done
  for r in "${runs[@]+"${runs[@]}"}"; do in_root "$root" "$r"; done
  tar --numeric-owner --xattrs -C "$root" -cf "$root.layer.tar" .
  local env_json; env_json="$(printf '%s\n' "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "${envs[@]+"${envs[@]}"}" \
    | e2e_python -c 'import json,sys; print(json.dumps([l for l in sys.stdin.read().splitlines() if l]))')"
  REF="$ref" LAYER="$root.layer.tar" OUT="$out.tmp" ENTRYPOINT="$entrypoint" CMD="$cmd" IMG_USER="$user" \
    WORKDIR="$workdir" ENV_JSON="$env_json" e2e_python - <<'PY'
# Assembles an OCI image layout archive: one uncompressed layer (containerd accepts it; no gzip time).
import hashlib, io, json, os, tarfile, time
def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''): h.update(chunk)
    return h.hexdigest()
layer = os.environ['LAYER']; ref = os.environ['REF']
layer_sha = sha(layer)
cfg = {'Env': json.loads(os.environ['ENV_JSON'])}
for key, env in (('Entrypoint', 'ENTRYPOINT'), ('Cmd', 'CMD')):
    if os.environ[env]: cfg[key] = json.loads(os.environ[env])
if os.environ['IMG_USER']: cfg['User'] = os.environ['IMG_USER']
if os.environ['WORKDIR']: cfg['WorkingDir'] = os.environ['WORKDIR']
config = json.dumps({'architecture': 'amd64', 'os': 'linux', 'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                     'config': cfg, 'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + layer_sha]},
                     'history': [{'created_by': 'scripts/e2e/image.sh'}]}).encode()
config_sha = hashlib.sha256(config).hexdigest()
manifest = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
    'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': 'sha256:' + config_sha, 'size': len(config)},
    'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar', 'digest': 'sha256:' + layer_sha,
                'size': os.path.getsize(layer)}]}).encode()
manifest_sha = hashlib.sha256(manifest).hexdigest()
index = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
    'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': 'sha256:' + manifest_sha,
                   'size': len(manifest), 'platform': {'architecture': 'amd64', 'os': 'linux'},
                   # containerd names the imported image after io.containerd.image.name.
                   'annotations': {'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref}}]}).encode()
with tarfile.open(os.environ['OUT'], 'w') as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = int(time.time()); t.addfile(info, io.BytesIO(data))
    add('oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    add('index.json', index)
    add('blobs/sha256/' + config_sha, config)
    add('blobs/sha256/' + manifest_sha, manifest)
    t.add(layer, 'blobs/sha256/' + layer_sha)
PY
  mv "$out.tmp" "$out"; echo "$key" > "$out.key"
  rm -rf "$root" "$root.layer.tar"
  e2e_log "$ref: $(du -h "$out" | cut -f1) $out"
  echo "$out"
}

cmd_import() {
  [ -S "$E2E_CONTAINERD_SOCK" ] || e2e_die "the e2e containerd is not running ($E2E_CONTAINERD_SOCK): scripts/e2e/cluster.sh up"
  local a
  for a in "$@"; do
    [ -f "$a" ] || a="$(archive_of "$a")"
    [ -f "$a" ] || e2e_die "no image archive $a: build it first (scripts/e2e/image.sh build ...)"
    timeout 600 ctr --address "$E2E_CONTAINERD_SOCK" --namespace k8s.io images import "$a" >/dev/null \
      || e2e_die "ctr images import $a failed"
  done
}

# The images the cluster itself runs.
cmd_pause() {
  local bin="$E2E_CACHE/pause/pause"
  if [ ! -x "$bin" ] || [ "$E2E_REPO/scripts/e2e/pause/main.go" -nt "$bin" ]; then
    mkdir -p "$(dirname "$bin")"
    (cd "$E2E_REPO/scripts/e2e/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .)
  fi
  cmd_build "$E2E_PAUSE_IMAGE" --scratch --add "$bin:/pause" --entrypoint '["/pause"]' --user 65535:65535
}
cmd_coredns() {
  local bin; bin="$(COREDNS_VERSION="$E2E_COREDNS_VERSION" "$E2E_REPO/scripts/e2e/build-coredns.sh")"
  cmd_build "$E2E_COREDNS_IMAGE" --scratch --add "$bin:/coredns" --entrypoint '["/coredns"]'
}

case "${1:-}" in
  base) cmd_base; echo "$base_tar" ;;
  build) shift; cmd_build "$@" ;;
  import) shift; cmd_import "$@" ;;
  archive) archive_of "${2:?usage: image.sh archive REF}" ;;
  pause|coredns) "cmd_$1" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
