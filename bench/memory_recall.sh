#!/usr/bin/env bash
# Recall with 10,000 rules on the memory branch: `deckhand memory recall`
# cold (the parsed-rule cache removed, so every rule file is read from git
# and parsed) and warm (the cache keyed by the rules/ tree is present),
# against reading the same files with `git ls-tree` + `git cat-file --batch`.
# Goal: under 1 s cold, under 50 ms warm. Prints the median of RUNS runs of
# each, the same command with no memory branch (the fixed cost of a run),
# and the ratios to the git baseline.
#
# Environment:
#   RUNS=5                           timed runs of each
#   RULES=10000                      rules on the branch
#   DECKHAND=target/release/deckhand the binary; set it to skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
RULES="${RULES:-10000}"
if [ -z "${DECKHAND:-}" ]; then
  cargo build --release --quiet
  DECKHAND="$PWD/target/release/deckhand"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/service"
mkdir -p "$repo/src"
echo 'print(1)' > "$repo/src/app.py"
echo 'export {};' > "$repo/src/app.ts"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@e commit -qm init

# 10,000 rule files written as one commit on the memory branch.
python3 - "$repo" "$RULES" <<'PY'
import os, random, subprocess, sys
repo, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
topics = ["error", "log", "test", "api", "database", "cache", "auth", "token", "query",
          "request", "response", "config", "retry", "timeout", "queue", "migration",
          "index", "name", "format", "payload", "header", "session", "metric", "trace"]
verbs = ["Return", "Validate", "Wrap", "Name", "Check", "Keep", "Document", "Limit", "Prefer", "Avoid"]
scopes = ["org", "lang:python", "lang:typescript", "lang:go", "path:src/**", "repo:acme/service"]
tree = os.path.join(repo, ".git", "bench-rules")
os.makedirs(os.path.join(tree, "rules"))
for i in range(n):
    rid = "r-%08x" % (i + 1)
    words = random.sample(topics, 4)
    text = f"{random.choice(verbs)} the {words[0]} {words[1]} before the {words[2]} {words[3]} is used, rule {i}."
    with open(os.path.join(tree, "rules", rid + ".md"), "w") as f:
        f.write(f"---\nid: {rid}\nscope: {random.choice(scopes)}\nstatus: active\n"
                f"source: local:bench\nauthor: bench (owner)\ncreated: 2026-01-01T00:00:00Z\n---\n{text}\n")
env = dict(os.environ, GIT_DIR=os.path.join(repo, ".git"), GIT_WORK_TREE=tree,
           GIT_INDEX_FILE=os.path.join(repo, ".git", "bench-index"))
subprocess.run(["git", "add", "-A", "."], cwd=tree, env=env, check=True)
t = subprocess.run(["git", "write-tree"], env=env, check=True, capture_output=True, text=True).stdout.strip()
c = subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@e", "commit-tree", t, "-m", "bench rules"],
                   env=env, check=True, capture_output=True, text=True).stdout.strip()
subprocess.run(["git", "update-ref", "refs/heads/deckhand/memory", c], env=env, check=True)
PY
rm -rf "$repo/.git/bench-rules" "$repo/.git/bench-index"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s%N; }
time_ms() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo $(( (e - s) / 1000000 )); }

recall() { "$DECKHAND" memory recall --repo "$repo" --task "validate the api request payload before the database query" --json; }
# The same command on a repository with no memory branch: what every run
# costs before any rule is read (start-up, git and TLS initialisation).
bare_repo="$work/no-rules"
git init -q -b main "$bare_repo"
git -C "$bare_repo" -c user.name=b -c user.email=b@e commit -q --allow-empty -m init
floor() { "$DECKHAND" memory recall --repo "$bare_repo" --task "validate the api request payload before the database query" --json; }
cold() { rm -rf "$repo/.git/deckhand/memory-cache"; recall; }
baseline() {
  git -C "$repo" ls-tree -r --format='%(objectname)' deckhand/memory rules/ \
    | git -C "$repo" cat-file --batch >/dev/null
}

hits=$(recall | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["rules"]), "rules recalled; skipped", len(d["skipped"]))')
c=$(for _ in $(seq "$RUNS"); do time_ms cold; done | median)
recall >/dev/null 2>&1  # fill the cache
w=$(for _ in $(seq "$RUNS"); do time_ms recall; done | median)
g=$(for _ in $(seq "$RUNS"); do time_ms baseline; done | median)
f=$(for _ in $(seq "$RUNS"); do time_ms floor; done | median)
echo "memory recall, $RULES rules ($hits), median of $RUNS:"
echo "  cold (from git):         ${c} ms   (goal < 1000 ms)"
echo "  warm (cached rules):     ${w} ms   (goal < 50 ms)"
echo "  git ls-tree + cat-file:  ${g} ms"
echo "  no rules (fixed cost):   ${f} ms   (warm minus this: what the rules cost)"
awk -v c="$c" -v w="$w" -v g="$g" 'BEGIN { g = (g < 1 ? 1 : g); printf "  ratio cold/git %.1f, warm/git %.1f\n", c/g, w/g }'
