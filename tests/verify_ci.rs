//! `deckhand verify` on repositories whose own CI says how to verify them:
//! the CI's commands with their source, a tool that is not installed, an
//! injected bug and a lint error with file:line, a command that writes the
//! tree, and `--json` as one document.

mod common;
mod support;

use std::path::Path;

use common::{deckhand_cmd, output};
use serde_json::{json, Value};
use support::ci_repos::node_ci_library;
use support::repos::{git, snapshot};

fn verify_json(repo: &Path) -> (i32, Value) {
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--json", "--repo"]).arg(repo);
    let r = output(cmd);
    let doc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {}\n{}", r.stdout, r.stderr));
    (r.code, doc)
}

fn golangci_installed() -> bool {
    std::process::Command::new("sh")
        .args(["-c", "command -v golangci-lint"])
        .output()
        .is_ok_and(|o| o.status.success())
}

const CI: &str = ".github/workflows/ci.yml job test";

#[test]
fn healthy_tree_passes_with_the_ci_commands_and_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_ci_library(dir.path());
    let before = snapshot(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"],
        json!({
            "setup": [],
            "checks": [
                {"kind": "test", "command": "npm run test:ci", "source": CI},
                {"kind": "lint", "command": "npm run check:lint", "source": CI},
                {"kind": "lint", "command": "golangci-lint run ./tools/...", "source": CI},
            ],
            "detected": ["Node.js (npm, no lockfile)", "Makefile"],
            "notes": [
                format!("skipped `npx mocha --grep ${{{{ matrix.node }}}}` from {CI}: it uses a matrix expression"),
                "not required: `npm test` (package.json scripts.test): the repository's CI does not run it",
                "not required: `make lint` (Makefile target lint): the repository's CI does not run it",
            ],
            "venv": false,
        })
    );
    let statuses: Vec<(&str, &str)> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["command"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    let linter = if golangci_installed() {
        "failed"
    } else {
        "not_installed"
    };
    assert_eq!(
        statuses,
        vec![
            ("npm run test:ci", "passed"),
            ("npm run check:lint", "passed"),
            ("golangci-lint run ./tools/...", linter),
        ]
    );
    if linter == "not_installed" {
        assert_eq!(doc["checks"][2]["missing"], "golangci-lint");
        assert_eq!(doc["passed"], true);
    }
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 1, "failed": 0, "skipped": 0})
    );
    assert_eq!(
        doc["tree"],
        json!({"compared": true, "changed": [], "note": null})
    );
    assert_eq!(doc["event"], "verify_finished");
    assert_eq!(snapshot(&repo), before);

    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(&repo);
    let r = output(cmd);
    assert!(
        r.stdout
            .contains(&format!("test `npm run test:ci` (from {CI}) ✅ 1 passed")),
        "{}",
        r.stdout
    );
    if linter == "not_installed" {
        assert!(
            r.stdout
                .contains("⚪ not run: golangci-lint is not installed"),
            "{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("tree: unchanged"), "{}", r.stdout);
}

#[test]
fn injected_bug_and_lint_error_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_ci_library(dir.path());
    let source = std::fs::read_to_string(repo.join("src/total.js"))
        .unwrap()
        .replace("  let sum = 0;", "  var sum = 0;")
        .replace("sum += item.price", "sum = item.price");
    std::fs::write(repo.join("src/total.js"), &source).unwrap();
    let before = snapshot(&repo);
    let status = git(&repo, &["status", "--porcelain"]);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["passed"], false);
    let test = &doc["checks"][0];
    assert_eq!(test["status"], "failed");
    assert_eq!(
        test["counts"],
        json!({"passed": 0, "failed": 1, "skipped": 0})
    );
    let f = &test["findings"][0];
    assert_eq!(
        (&f["file"], &f["line"]),
        (&json!("test/total.test.js"), &json!(8))
    );
    assert!(f["message"].as_str().unwrap().contains("1 !== 7"), "{f:#}");
    assert_eq!(
        doc["checks"][1]["findings"],
        json!([{
            "file": "src/total.js",
            "line": 4,
            "column": 3,
            "message": "error no-var: Unexpected var, use let or const",
        }])
    );
    assert_eq!(doc["tree"]["changed"], json!([]));
    assert_eq!(snapshot(&repo), before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), status);
}

#[test]
fn a_command_that_rewrites_the_tree_is_named_and_nothing_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_ci_library(dir.path());
    std::fs::write(
        repo.join(".github/deckhand.yml"),
        "commands:\n  lint: npm run fix\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "lint with the fixer"]);
    let broken = std::fs::read_to_string(repo.join("src/total.js"))
        .unwrap()
        .replace("  let sum = 0;", "  var sum = 0;");
    std::fs::write(repo.join("src/total.js"), &broken).unwrap();
    let (_, doc) = verify_json(&repo);
    let lint = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "npm run fix")
        .unwrap();
    assert_eq!(lint["source"], ".github/deckhand.yml commands.lint");
    assert_eq!(lint["wrote"], json!(["src/total.js"]));
    assert_eq!(doc["tree"]["changed"], json!(["src/total.js"]));
    // Reported, not silently restored.
    assert_eq!(
        std::fs::read_to_string(repo.join("src/total.js")).unwrap(),
        broken.replace("var sum", "let sum")
    );
}
