#!/usr/bin/env bash
# Makes the Docker engine and the base images the Dockerfile names available
# on a machine that cannot reach an image registry: starts dockerd when none
# answers, then builds `debian:bookworm-slim` with debootstrap and a Rust
# builder image from this machine's own toolchain when they cannot be pulled.
# Usage: ci/images.sh            (idempotent; run as root)
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
  printf 'deb %s %s main\ndeb %s %s-updates main\n' \
    "$DEBIAN_MIRROR" "$SUITE" "$DEBIAN_MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
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

engine
if have "$BASE" || pull "$BASE"; then log "$BASE: present"; else make_base; fi
if have "$BUILDER" || pull "$BUILDER"; then log "$BUILDER: present"; else make_builder; fi
log "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | tr '\n' ' ')"
