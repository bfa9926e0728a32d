#!/usr/bin/env bash
# `deckhand verify` against running the same commands by hand: wall time
# of each, several runs in turn (A B A B …), medians and their ratio.
# Goal: verify ≤ 1.1× the commands alone (detection, the tree comparison
# around each command and finding parsing are the difference).
#
# The fixture is a dependency-free Node library whose CI runs
# `npm run test:ci` (40 test files with `node --test`) and
# `npm run check:lint`; the commands timed by hand are the ones
# `deckhand verify --json` reports, setup included.
#
# `bash bench/verify.sh --fixture DIR` only builds the fixture in DIR/billing
# and DIR/by-hand.sh (the same commands), to time them with another tool
# (hyperfine, /usr/bin/time -v): `deckhand verify --repo DIR/billing` against
# `env -i bash DIR/by-hand.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
fixture_only=""
if [ "${1:-}" = "--fixture" ]; then
  fixture_only="${2:?--fixture DIR}"
fi
# DECKHAND_BIN: time an already built binary instead of a release build.
if [ -n "${DECKHAND_BIN:-}" ]; then
  bin="$DECKHAND_BIN"
else
  cargo build --release --quiet
  bin="$PWD/target/release/deckhand"
fi
runs="${RUNS:-7}"

if [ -n "$fixture_only" ]; then
  mkdir -p "$fixture_only"
  work=$(cd "$fixture_only" && pwd)
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
repo="$work/billing"
mkdir -p "$repo/src" "$repo/test" "$repo/tools" "$repo/.github/workflows"
cat > "$repo/package.json" <<'JSON'
{
  "name": "billing",
  "private": true,
  "scripts": {
    "test:ci": "node --test test/",
    "check:lint": "node tools/lint.js"
  }
}
JSON
cat > "$repo/tools/lint.js" <<'JS'
'use strict';
const fs = require('node:fs');
let failed = false;
for (const name of fs.readdirSync('src')) {
  fs.readFileSync(`src/${name}`, 'utf8').split('\n').forEach((text, i) => {
    const col = text.indexOf('var ');
    if (col >= 0) { console.log(`src/${name}:${i + 1}:${col + 1}: error no-var`); failed = true; }
  });
}
process.exit(failed ? 1 : 0);
JS
for i in $(seq 1 40); do
  printf "'use strict';\nexports.f%d = (a, b) => a * b + %d;\n" "$i" "$i" > "$repo/src/m$i.js"
  printf "'use strict';\nconst test = require('node:test');\nconst assert = require('node:assert');\nconst { f%d } = require('../src/m%d');\ntest('f%d', () => { assert.strictEqual(f%d(2, 3), %d); });\n" \
    "$i" "$i" "$i" "$i" "$((6 + i))" > "$repo/test/m$i.test.js"
done
cat > "$repo/.github/workflows/ci.yml" <<'YML'
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: npm run test:ci
      - run: npm run check:lint
YML
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@e commit -qm fixture

# The commands verify runs, in its order, from its own report, in the
# environment verify gives its commands: Deckhand's allowlist, read from a
# command run through the same containment (`deckhand tool run_command`).
# Its egress proxy, private home and temp dir exist only while Deckhand
# runs, so by hand gets no proxy and a fresh home and temp dir. (By hand in
# the caller's full environment is not the same work: NODE_EXTRA_CA_CERTS
# alone doubles what each `node` process costs here.)
"$bin" verify --json --repo "$repo" > "$work/report.json" 2>/dev/null || true
"$bin" tool run_command --repo "$repo" '{"command":"env"}' > "$work/env.txt" 2>/dev/null
mkdir -p "$work/home" "$work/tmp"
python3 - "$work/report.json" "$work/env.txt" "$repo" "$work" > "$work/by-hand.sh" <<'PY'
import json, shlex, sys
doc = json.load(open(sys.argv[1]))
repo, work = sys.argv[3], sys.argv[4]
private = {"HOME", "TMPDIR", "PWD", "OLDPWD", "SHLVL", "_", "DECKHAND_RUN", "MAVEN_OPTS"}
lines = [l.partition("=") for l in open(sys.argv[2]).read().splitlines()[1:]]
home = next((v for k, _, v in lines if k == "HOME"), None)
print("set +e")
for key, sep, value in lines:
    proxied = "proxy" in key.lower() or key.startswith("GIT_CONFIG_")
    in_home = home is not None and value.startswith(home)
    if sep and key.isidentifier() and key not in private and not proxied and not in_home:
        print(f"export {key}={shlex.quote(value)}")
print(f"export HOME={shlex.quote(work + '/home')} TMPDIR={shlex.quote(work + '/tmp')} CI=true")
print(f"cd {shlex.quote(repo)}")
for s in doc["setup"]:
    print(s["command"])
for c in doc["checks"]:
    print(c["command"])
PY
echo "by hand (env -i bash $work/by-hand.sh):"
grep -v '^export ' "$work/by-hand.sh" | sed 's/^/  /'
if [ -n "$fixture_only" ]; then
  echo "fixture: $repo"
  exit 0
fi

now() { date +%s%N; }
verify_ns=()
hand_ns=()
for _ in $(seq 0 "$runs"); do
  t0=$(now); "$bin" verify --repo "$repo" >/dev/null 2>&1 || true; t1=$(now)
  env -i bash "$work/by-hand.sh" >/dev/null 2>&1 || true; t2=$(now)
  verify_ns+=($((t1 - t0)))
  hand_ns+=($((t2 - t1)))
done
# The first pair warms caches and is not counted.
python3 - "${verify_ns[*]:1}" "${hand_ns[*]:1}" <<'PY'
import statistics, sys
v = [int(x) / 1e9 for x in sys.argv[1].split()]
h = [int(x) / 1e9 for x in sys.argv[2].split()]
ratios = [a / b for a, b in zip(v, h)]
print(f"runs: {len(v)} (after one warm-up pair)")
print(f"deckhand verify: median {statistics.median(v):.3f} s (min {min(v):.3f}, max {max(v):.3f})")
print(f"by hand:         median {statistics.median(h):.3f} s (min {min(h):.3f}, max {max(h):.3f})")
print(f"ratio verify/by hand: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f}); goal <= 1.1x")
PY
