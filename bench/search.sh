#!/usr/bin/env bash
# Times the agent's `search` tool (`deckhand tool search`) against ripgrep
# on a large tree: the Rust sources of every crate in the local cargo
# registry (hundreds of MB), copied into a temp dir and made a git
# repository so both tools honour the same .gitignore files.
#
# Prints, per pattern, the median wall time of each and the ratio
# deckhand/rg (below 1.0 means deckhand was faster).
#
# Caveat printed with the results: rg prints every match, while the tool
# keeps only the first 200 (in path order) and counts the rest, so it still
# searches every file. Patterns with few matches compare the search itself;
# patterns with many matches also include rg's cost of printing them all.
#
# Environment:
#   RUNS=5                           timed runs per pattern (after one warm-up)
#   DECKHAND=target/release/deckhand the binary; set it to skip the build
#   TREE=DIR                         reuse an existing tree instead of copying
#   KEEP_TREE=1                      do not delete the copied tree
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}

if ! command -v rg >/dev/null 2>&1; then
    echo "rg (ripgrep) not found; install it, e.g. on Debian: apt-get install ripgrep" >&2
    exit 1
fi

if [[ -z "${DECKHAND:-}" ]]; then
    echo "building the release binary…" >&2
    cargo build --release --bin deckhand >&2
    DECKHAND=target/release/deckhand
fi

if [[ -z "${TREE:-}" ]]; then
    registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    if ! compgen -G "$registry/*/*" >/dev/null; then
        echo "no crate sources under $registry; run a cargo build first" >&2
        exit 1
    fi
    TREE=$(mktemp -d "${TMPDIR:-/tmp}/deckhand-bench.XXXXXX")
    [[ -n "${KEEP_TREE:-}" ]] || CLEAN_TREE=1
    echo "copying $registry into $TREE…" >&2
    for index in "$registry"/*/; do
        cp -R "$index". "$TREE"/
    done
    git -C "$TREE" init -q
    rm -rf "$TREE/.git/hooks" "$TREE/.git/description"
fi
OUT=$(mktemp "${TMPDIR:-/tmp}/deckhand-bench-out.XXXXXX")
trap 'rm -f "$OUT"; [[ -z "${CLEAN_TREE:-}" ]] || rm -rf "$TREE"' EXIT

echo "tree: $TREE ($(du -sh "$TREE" | cut -f1), $(find "$TREE" -type f | wc -l) files)"
echo "rg: $(rg --version | head -1); deckhand: $DECKHAND; $RUNS runs each, median"
echo "note: rg prints every match, deckhand keeps 200 and counts the rest;"
echo "      'few' patterns compare searching, 'many' ones include rg's printing."
echo

# Median wall time in milliseconds of RUNS runs of "$@" (stdout to $OUT:
# not /dev/null, which makes rg stop at the first match).
median_ms() {
    "$@" >"$OUT" 2>/dev/null || true # warm-up; rg exits 1 when nothing matches
    local times=() start end
    for ((i = 0; i < RUNS; i++)); do
        start=$(date +%s%N)
        "$@" >"$OUT" 2>/dev/null || true
        end=$(date +%s%N)
        times+=($(((end - start) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# Matching lines the tool reported: its "(N matches in" note, or its lines.
tool_matches() {
    local total
    total=$(grep -o '([0-9]* match[es]* in' "$OUT" | grep -o '[0-9]*' || true)
    if [[ -n "$total" ]]; then echo "$total"; else grep -c ':[0-9]*: ' "$OUT" || true; fi
}

# run_case NAME TOOL_JSON RG_ARGS…
run_case() {
    local name=$1 json=$2 rg_ms tool_ms rg_lines found ratio
    shift 2
    rg_ms=$(median_ms rg -n --hidden "$@" "$TREE")
    rg_lines=$(wc -l <"$OUT")
    tool_ms=$(median_ms "$DECKHAND" tool search --repo "$TREE" "$json")
    if ! grep -q -e ':[0-9]*: ' -e '^no matches' "$OUT"; then
        echo "unexpected output from deckhand for '$name':" >&2
        head -5 "$OUT" >&2
        exit 1
    fi
    found=$(tool_matches)
    ratio=$(awk -v a="$tool_ms" -v b="$rg_ms" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '%-24s %8s %8s %7s %10s %10s\n' "$name" "$rg_ms" "$tool_ms" "$ratio" "$rg_lines" "$found"
}

printf '%-24s %8s %8s %7s %10s %10s\n' pattern rg_ms tool_ms ratio rg_matches tool_matches
run_case "literal, few" '{"pattern":"fn poll_read_buf"}' 'fn poll_read_buf'
run_case "literal, many" '{"pattern":"unsafe"}' unsafe
run_case "regex, few" '{"pattern":"fn [a-z_]+_unchecked_mut\\("}' 'fn [a-z_]+_unchecked_mut\('
run_case "regex, many" '{"pattern":"fn \\w+\\(&mut self"}' 'fn \w+\(&mut self'
run_case "case-insensitive, few" '{"pattern":"deprecated since","case_insensitive":true}' -i 'deprecated since'
run_case "case-insensitive, many" '{"pattern":"error","case_insensitive":true}' -i error
run_case "glob *.toml, many" '{"pattern":"version","glob":"*.toml"}' -g '*.toml' version
run_case "glob *.toml, few" '{"pattern":"rust-version = \"1\\.6","glob":"*.toml"}' -g '*.toml' 'rust-version = "1\.6'
