#!/usr/bin/env bash
# Makes the Docker engine and the base images the Dockerfile names available
# on a machine that cannot reach an image registry: starts dockerd when none
# answers, then builds `debian:bookworm-slim` with debootstrap and a Rust
# builder image from this machine's own toolchain when they cannot be pulled.
# Usage:
#   ci/images.sh                          engine and base images (idempotent; as root)
#   ci/images.sh build TAG [BINARY]       Deckhand's image from the Dockerfile; with
#                                         BINARY, its runtime stage around that binary
#   ci/images.sh check TAG                nothing of this machine's CA bundle is in TAG,
#                                         and the image's size, uncompressed and gzipped
set -euo pipefail

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE=debian:bookworm-slim
BUILDER=rust:1-slim-bookworm

log() { printf '%s\n' "images: $*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  log "starting dockerd"
  (dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "dockerd did not start; its log:"
  tail -n 40 /var/log/dockerd.log >&2
  return 1
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

pull() { timeout 60 docker pull -q "$1" >/dev/null 2>&1; }

make_base() {
  apt_install debootstrap
  local root
  root=$(mktemp -d)
  log "debootstrap --variant=minbase $SUITE (no registry reachable for $BASE)"
  # Slim like Debian's own slim images: no documentation, man pages or locales.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  debootstrap --variant=minbase "$SUITE" "$root" "$DEBIAN_MIRROR" >/dev/null
  # Like the official image: apt keeps no package files or caches behind.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf 'deb %s %s main\ndeb %s %s-updates main\n' \
    "$DEBIAN_MIRROR" "$SUITE" "$DEBIAN_MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$root"
}

make_builder() {
  local sysroot ctx
  sysroot=$(rustc --print sysroot)
  ctx=$(mktemp -d)
  log "builder image $BUILDER from this machine's toolchain ($(rustc --version))"
  mkdir -p "$ctx/rust"
  # The toolchain without its documentation.
  tar -C "$sysroot" --exclude=./share/doc -c . | tar -C "$ctx/rust" -x
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
RUN apt-get update \\
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \\
    && rm -rf /var/lib/apt/lists/*
COPY rust /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version
DOCKERFILE
  docker build -q -t "$BUILDER" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# A docker CLI that drives BuildKit (secrets, skipped stages): the engine's
# own client where the newer one has no buildx plugin.
build_cli() {
  if docker buildx version >/dev/null 2>&1; then
    echo docker
  elif [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  else
    echo docker
  fi
}

build() {
  local tag=$1 binary=${2:-} cli context
  cli=$(build_cli)
  local args=(build -q -t "$tag" -f "$PWD/Dockerfile")
  # A TLS-intercepting proxy's CA reaches cargo and npm as a build secret only.
  if [ -n "${SSL_CERT_FILE:-}" ] && [ -s "$SSL_CERT_FILE" ]; then
    args+=(--secret "id=ca_bundle,src=$SSL_CERT_FILE")
  fi
  if [ -n "$binary" ]; then
    context=$(mktemp -d)
    cp "$binary" "$context/deckhand"
    args+=(--build-arg DECKHAND_BINARY=prebuilt "$context")
  else
    context=
    args+=(.)
  fi
  log "building $tag${binary:+ around $binary}"
  DOCKER_BUILDKIT=1 "$cli" "${args[@]}" >/dev/null
  [ -z "$context" ] || rm -rf "$context"
}

check() {
  local tag=$1 bundle
  bundle=$(mktemp)
  docker run --rm --entrypoint cat "$tag" /etc/ssl/certs/ca-certificates.crt >"$bundle"
  docker save "$tag" | python3 "$(dirname "$0")/image_leaks.py" "${SSL_CERT_FILE:-}" "$bundle"
  rm -f "$bundle"
  local raw gz
  raw=$(docker image inspect --format '{{.Size}}' "$tag")
  gz=$(docker save "$tag" | gzip -c | wc -c)
  log "$tag: $((raw / 1000000)) MB uncompressed, $((gz / 1000000)) MB compressed (docker save | gzip)"
}

case "${1:-}" in
  build) engine; build "${2:?tag}" "${3:-}"; exit ;;
  check) check "${2:?tag}"; exit ;;
  "") ;;
  *) echo "usage: ci/images.sh [build TAG [BINARY] | check TAG]" >&2; exit 2 ;;
esac

engine
if have "$BASE" || pull "$BASE"; then log "$BASE: present"; else make_base; fi
if have "$BUILDER" || pull "$BUILDER"; then log "$BUILDER: present"; else make_builder; fi
log "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | tr '\n' ' ')"
