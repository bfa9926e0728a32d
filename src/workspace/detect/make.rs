//! Makefiles: the targets a repository declares for test, lint and type
//! check (`check` is the test suite when there is no `test`, GNU's
//! convention).

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

pub(super) fn detect(root: &Path, found: &mut Found) {
    let Some((name, text)) = ["GNUmakefile", "Makefile", "makefile"]
        .into_iter()
        .find_map(|n| read(root, n).map(|t| (n, t)))
    else {
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
