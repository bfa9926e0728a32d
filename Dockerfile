# Deckhand's action image: a locked release build on a slim Debian runtime
# with git, CA certificates and the toolchains environment detection most
# often needs (Python 3, Node.js).

FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin deckhand

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates git libssl3 python3 python3-pip python3-venv nodejs npm make \
    && rm -rf /var/lib/apt/lists/* \
    # Repositories' own setup installs Python packages (as the command user).
    && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
    # Agent commands run as `deckhand` in a worktree Deckhand (root) made.
    && git config --system --add safe.directory '*' \
    && useradd --create-home --uid 1001 deckhand
COPY --from=build /src/target/release/deckhand /usr/local/bin/deckhand
ENTRYPOINT ["/usr/local/bin/deckhand"]
CMD ["action"]
