# Deckhand's action image: a locked release build on a slim Debian runtime
# with git, CA certificates and the toolchains environment detection most
# often needs (Python 3, Node.js with npm, and pnpm/yarn through corepack,
# both prepared at build time so they run with no network).
#
# Build:   docker build -t deckhand .
# Behind a TLS-intercepting proxy, hand the build its CA bundle as a secret
# (used by cargo and npm only, never stored in a layer):
#          DOCKER_BUILDKIT=1 docker build --secret id=ca_bundle,src=$SSL_CERT_FILE -t deckhand .
# With a binary built already (CI), skip the compile stage:
#          DOCKER_BUILDKIT=1 docker build --build-arg DECKHAND_BINARY=prebuilt \
#            -f Dockerfile DIR_HOLDING_deckhand
ARG DECKHAND_BINARY=build

FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export CARGO_HTTP_CAINFO=/run/secrets/ca_bundle; fi \
    && cargo build --release --locked --bin deckhand \
    && cp target/release/deckhand /deckhand

FROM scratch AS prebuilt
COPY deckhand /deckhand

FROM ${DECKHAND_BINARY} AS binary

FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's own `npm` package drags in some 250 node-* packages (webpack,
# babel …); npm's release tarball is self-contained, and corepack gives
# repositories the pnpm or yarn their package.json names.
ARG NPM_VERSION=10.9.9
ARG NPM_INTEGRITY=sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
ARG COREPACK_VERSION=0.33.0
# The pnpm and yarn `pnpm`/`yarn` run when a repository names no version of
# its own (`packageManager`): fetched by corepack at build time and checked
# against these sha512 digests (npm's `dist.integrity`, as hex), kept in a
# corepack home every user reads. A command never downloads them: the
# sandbox's network may be closed, or open only to an egress proxy.
ARG PNPM_SPEC=pnpm@9.15.9+sha512.68046141893c66fad01c079231128e9afb89ef87e2691d69e4d40eee228988295fd4682181bae55b58418c3a253bde65a505ec7c5f9403ece5cc3cd37dcf2531
ARG YARN_SPEC=yarn@1.22.22+sha512.a6b2f7906b721bba3d67d4aff083df04dad64c399707841b7acf00f6b133b7ac24255f2652fa22ae3534329dc6180534e98d17432037ff6fd140556e2bb3137e
# Deckhand passes these on to the commands it runs (`sandbox::env`); never
# pin a repository's package.json for it (auto-pin), never ask.
ENV COREPACK_HOME=/usr/local/share/corepack \
    COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    COREPACK_ENABLE_AUTO_PIN=0 \
    COREPACK_DEFAULT_TO_LATEST=0
# Only the `docker` client of Debian's docker.io (no engine): dev containers
# are started through the runner's Docker socket.
# hadolint ignore=DL3003
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates git libssl3 python3 python3-pip python3-venv nodejs make \
    && (cd /tmp && apt-get download docker.io \
        && dpkg-deb --fsys-tarfile docker.io_*.deb | tar -x -C / ./usr/bin/docker \
        && rm -f docker.io_*.deb) \
    && docker --version \
    && rm -rf /var/lib/apt/lists/* \
    # Repositories' own setup installs Python packages (as the command user).
    && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
    # Agent commands run as `deckhand` in a worktree Deckhand (root) made.
    && git config --system --add safe.directory '*' \
    && useradd --create-home --uid 1001 deckhand
# The script below is JavaScript: its `${…}` are template literals, not shell.
# hadolint ignore=SC2016
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_bundle; fi \
    && node -e 'const [url, want] = process.argv.slice(1); \
         require("https").get(url, (res) => { \
           if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`); \
           const parts = []; res.on("data", (d) => parts.push(d)); \
           res.on("end", () => { const body = Buffer.concat(parts); \
             const got = "sha512-" + require("crypto").createHash("sha512").update(body).digest("base64"); \
             if (got !== want) throw new Error(`${url}: integrity ${got}, wanted ${want}`); \
             require("fs").writeFileSync("/tmp/npm.tgz", body); }); })' \
         "https://registry.npmjs.org/npm/-/npm-${NPM_VERSION}.tgz" "${NPM_INTEGRITY}" \
    && mkdir -p /usr/local/lib/node_modules/npm \
    && tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && npm install --global --prefix /usr/local --no-audit --no-fund "corepack@${COREPACK_VERSION}" \
    && corepack enable --install-directory /usr/local/bin \
    && corepack install --global "${PNPM_SPEC}" "${YARN_SPEC}" \
    && chmod -R a+rX "${COREPACK_HOME}" \
    && rm -rf /tmp/npm.tgz /root/.npm /root/.cache \
    && npm --version && corepack --version \
    && pnpm --version && yarn --version
COPY --from=binary /deckhand /usr/local/bin/deckhand
ENTRYPOINT ["/usr/local/bin/deckhand"]
CMD ["action"]
