//! Makefiles: the targets a repository declares for test, lint and type
//! check (`check` is the test suite when there is no `test`, GNU's
//! convention), and the recipe lines a target runs.

use std::path::Path;

use super::{read, CheckKind, Found};

/// Target names defined in a Makefile (pattern rules and variables left out).
pub(super) fn make_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((names, rest)) = line.split_once(':') else {
            continue;
        };
        if rest.starts_with('=') || names.contains(['=', '%', '$']) {
            continue;
        }
        targets.extend(names.split_whitespace().map(str::to_string));
    }
    targets
}

/// The rule lines defining `target`: its prerequisites and recipe.
fn rule<'a>(text: &'a str, target: &str) -> Option<(Vec<&'a str>, Vec<&'a str>)> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((names, rest)) = line.split_once(':') else {
            continue;
        };
        if rest.starts_with('=') || !names.split_whitespace().any(|n| n == target) {
            continue;
        }
        let (prereqs, inline) = match rest.split_once(';') {
            Some((p, r)) => (p, Some(r.trim())),
            None => (rest, None),
        };
        let prereqs = prereqs.split('|').next().unwrap_or("");
        let mut recipe: Vec<&str> = inline.into_iter().filter(|r| !r.is_empty()).collect();
        for l in lines.by_ref() {
            if let Some(cmd) = l.strip_prefix('\t') {
                let cmd = cmd.trim();
                if !cmd.is_empty() && !cmd.starts_with('#') {
                    recipe.push(cmd);
                }
            } else if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            } else {
                break;
            }
        }
        return Some((prereqs.split_whitespace().collect(), recipe));
    }
    None
}

/// What `make TARGET` runs: the recipes of its prerequisites that the file
/// defines (first, as make runs them), then its own; `@` and `-` prefixes
/// dropped.
pub(super) fn recipe(text: &str, target: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    collect(text, target, &mut seen, &mut out);
    out
}

fn collect(text: &str, target: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
    if seen.iter().any(|t| t == target) {
        return;
    }
    seen.push(target.to_string());
    let Some((prereqs, lines)) = rule(text, target) else {
        return;
    };
    for p in prereqs {
        collect(text, p, seen, out);
    }
    for l in lines {
        let l = l.trim_start_matches(['@', '-', '+']).trim();
        if !l.is_empty() {
            out.push(l.to_string());
        }
    }
}

/// The target a `make` command line names (`make -j2 lint V=1` → `lint`).
pub(super) fn target_of(words: &[&str]) -> Option<String> {
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if matches!(*w, "-C" | "-f" | "--directory" | "--file") {
            return None;
        }
        if *w == "-j" {
            it.next();
            continue;
        }
        if w.starts_with('-') || w.contains('=') {
            continue;
        }
        return Some(w.to_string());
    }
    None
}

/// The Makefile at the root, by make's own order of names.
pub(super) fn makefile(root: &Path) -> Option<(&'static str, String)> {
    ["GNUmakefile", "Makefile", "makefile"]
        .into_iter()
        .find_map(|n| read(root, n).map(|t| (n, t)))
}

pub(super) fn detect(root: &Path, found: &mut Found) {
    let Some((name, text)) = makefile(root) else {
        return;
    };
    found.detected.push(name.to_string());
    let targets = make_targets(&text);
    let has = |t: &str| targets.iter().any(|x| x == t);
    let mut add = |kind: CheckKind, target: &str| {
        found.entry_point(
            kind,
            format!("make {target}"),
            format!("{name} target {target}"),
        );
    };
    if has("test") {
        add(CheckKind::Test, "test");
    } else if has("check") {
        add(CheckKind::Test, "check");
    }
    if has("lint") {
        add(CheckKind::Lint, "lint");
    }
    if let Some(t) = ["typecheck", "type-check"].into_iter().find(|t| has(t)) {
        add(CheckKind::Typecheck, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAKEFILE: &str = "\
.PHONY: lint test ci
PY ?= python3

deps: ; @echo deps ok

build: deps
\t@mkdir -p build
\t$(CC) -o build/runner tests/runner.c src/calc.c

lint:
\t# style first
\t-clang-format --dry-run -Werror src/*.c

test: build | out
\t./build/runner

ci: lint test
";

    #[test]
    fn a_target_runs_its_prerequisites_recipes_then_its_own() {
        assert_eq!(
            recipe(MAKEFILE, "ci"),
            vec![
                "clang-format --dry-run -Werror src/*.c",
                "echo deps ok",
                "mkdir -p build",
                "$(CC) -o build/runner tests/runner.c src/calc.c",
                "./build/runner",
            ]
        );
        assert_eq!(recipe(MAKEFILE, "missing"), Vec::<String>::new());
        assert_eq!(
            target_of(&["make", "-j", "4", "test", "V=1"]),
            Some("test".into())
        );
        assert_eq!(target_of(&["make", "-C", "sub", "test"]), None);
    }
}
