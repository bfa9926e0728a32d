#!/usr/bin/env bash
# Deckhand's own overhead: time from process start to the first model
# request on a large repository, against `git status` on the same tree.
# Goal: under 1 s. Prints absolute times and the ratio.
#
# The large repository is built from the Rust sources of this project's
# dependencies (cargo's registry cache, filled by any build), committed
# into one git repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/deckhand"
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
[ -d "$registry" ] || { echo "no crate sources under $registry; run cargo build first" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
repo="$work/big"
mkdir -p "$repo"
cp -r "$registry"/*/* "$repo"/ 2>/dev/null || true
git -C "$repo" init -q -b main
git -C "$repo" add -A >/dev/null 2>&1
git -C "$repo" -c user.name=b -c user.email=b@e commit -qm big
files=$(git -C "$repo" ls-files | wc -l)
# No checks: measure Deckhand, not the repository's test suite.
printf 'commands:\n  setup: ""\n  test: ""\n  lint: ""\n  typecheck: ""\n' > "$work/deckhand.yml"

# A model endpoint that notes when the first request arrives, then refuses.
cat > "$work/server.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        with open(sys.argv[2], "a") as f:
            f.write(f"{time.time()}\n")
        body = b'{"type":"error","error":{"type":"invalid_request_error","message":"benchmark stop"}}'
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$work/server.py" "$port" "$work/hits" &
server_pid=$!
sleep 0.5

runs=5
deck_total=0
git_total=0
for i in $(seq $runs); do
  : > "$work/hits"
  start=$(python3 -c 'import time; print(time.time())')
  ANTHROPIC_API_KEY=bench ANTHROPIC_BASE_URL="http://127.0.0.1:$port" \
    "$bin" run --repo "$repo" --config "$work/deckhand.yml" --task "benchmark task $i" >/dev/null 2>&1 || true
  first=$(head -n1 "$work/hits")
  deck=$(python3 -c "print($first - $start)")
  start=$(python3 -c 'import time; print(time.time())')
  git -C "$repo" status --porcelain >/dev/null
  end=$(python3 -c 'import time; print(time.time())')
  gs=$(python3 -c "print($end - $start)")
  deck_total=$(python3 -c "print($deck_total + $deck)")
  git_total=$(python3 -c "print($git_total + $gs)")
done
python3 - "$deck_total" "$git_total" "$runs" "$files" <<'PY'
import sys
d, g, n, files = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d, g = d / n, g / n
print(f"repository: {files} files")
print(f"deckhand, start to first model request: {d:.3f} s (goal: under 1 s)")
print(f"git status:                             {g:.3f} s")
print(f"ratio deckhand/git-status: {d / g:.2f}")
PY
