//! `deckhand verify` on repositories whose own CI says how to verify them:
//! the CI's commands with their source, a tool that is not installed, an
//! injected bug and a lint error with file:line, a command that writes the
//! tree, and `--json` as one document.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;

use common::{deckhand_cmd, have_tool, output, temp_fixture, RunResult};
use serde_json::{json, Value};
use support::ci_repos::{
    c_make_library, go_module, jest_project, node_ci_library, pnpm_vitest_library,
    python_src_layout, ruff_fix_project,
};
use support::repos::{git, snapshot};

fn verify_json(repo: &Path) -> (i32, Value) {
    verify_json_with(repo, &[])
}

/// [`verify_json`] with `env` set for Deckhand (and so for its commands).
fn verify_json_with(repo: &Path, env: &[(&str, &str)]) -> (i32, Value) {
    let mut cmd = deckhand_cmd(env);
    cmd.args(["verify", "--json", "--repo"]).arg(repo);
    let r = output(cmd);
    let doc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {}\n{}", r.stdout, r.stderr));
    (r.code, doc)
}

/// `deckhand verify --repo REPO`, its report as text.
fn verify_text(repo: &Path) -> RunResult {
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(repo);
    output(cmd)
}

/// Rewrites `path` in `repo`, replacing each `(from, to)` in turn.
fn replace_in(repo: &Path, path: &str, edits: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(repo.join(path)).unwrap();
    for (from, to) in edits {
        text = text.replace(from, to);
    }
    std::fs::write(repo.join(path), text).unwrap();
}

/// A lint error for the Node fixtures' `src/total.js`: `let sum` becomes `var sum`.
const VAR_SUM: (&str, &str) = ("  let sum = 0;", "  var sum = 0;");

/// A bug for the Node fixtures' `src/total.js`: the total keeps only the last price.
const LAST_PRICE_ONLY: (&str, &str) = ("sum += item.price", "sum = item.price");

/// Asserts verify reported no change and the whole tree is as `before`.
#[track_caller]
fn assert_snapshot_unchanged(doc: &Value, repo: &Path, before: &[(String, Vec<u8>)]) {
    assert_eq!(doc["tree"]["changed"], json!([]));
    assert_eq!(snapshot(repo), before);
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
    let (_dir, repo) = temp_fixture(node_ci_library);
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
        json!({"compared": true, "changed": [], "restored": [], "not_restored": [], "note": null})
    );
    assert_eq!(doc["event"], "verify_finished");
    assert_eq!(snapshot(&repo), before);

    let r = verify_text(&repo);
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
    let (_dir, repo) = temp_fixture(node_ci_library);
    replace_in(&repo, "src/total.js", &[VAR_SUM, LAST_PRICE_ONLY]);
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
    assert_snapshot_unchanged(&doc, &repo, &before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), status);
}

#[test]
fn a_command_that_rewrites_the_tree_is_named_and_put_back() {
    let (_dir, repo) = temp_fixture(node_ci_library);
    std::fs::write(
        repo.join(".github/deckhand.yml"),
        "commands:\n  lint: npm run fix\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "lint with the fixer"]);
    replace_in(&repo, "src/total.js", &[VAR_SUM]);
    let before = snapshot(&repo);
    let (_, doc) = verify_json(&repo);
    let lint = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "npm run fix")
        .unwrap();
    assert_eq!(lint["source"], ".github/deckhand.yml commands.lint");
    assert_eq!(lint["wrote"], json!(["src/total.js"]));
    assert_eq!(
        doc["tree"],
        json!({"compared": true, "changed": [], "restored": ["src/total.js"], "not_restored": [], "note": null})
    );
    // Put back as it was before verify: the user's uncommitted edit.
    assert_eq!(snapshot(&repo), before);

    let r = verify_text(&repo);
    assert!(
        r.stdout
            .contains("⚠️ `npm run fix` changed the tree (a check: put back): src/total.js\ntree: unchanged\n"),
        "{}",
        r.stdout
    );
    assert_eq!(snapshot(&repo), before);
}

/// `(command, status)` of every check.
fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["command"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(command: &str, status: &str) -> (String, String) {
    (command.to_string(), status.to_string())
}

/// Every file git does not ignore (build output and caches are ignored,
/// as in the repository's CI), with its content.
fn tracked(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let listed = git(repo, &["ls-files", "-co", "--exclude-standard"]);
    let keep: Vec<&str> = listed.lines().collect();
    let mut files = snapshot(repo);
    files.retain(|(path, _)| keep.contains(&path.as_str()));
    files
}

/// Asserts verify reported no change and every file git does not ignore is as `before`.
#[track_caller]
fn assert_tracked_unchanged(doc: &Value, repo: &Path, before: &[(String, Vec<u8>)]) {
    assert_eq!(doc["tree"]["changed"], json!([]));
    assert!(tracked(repo) == before, "the tree changed");
}

#[test]
fn a_makefile_runner_that_prints_only_the_line_is_tied_to_its_file() {
    let (_dir, repo) = temp_fixture(c_make_library);
    let ci = ".github/workflows/ci.yml job build";
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"]["checks"],
        json!([
            {"kind": "test", "command": "make test", "source": ci, "runs": [
                "mkdir -p build",
                "$(CC) $(CFLAGS) -o $@ src/calc.c tests/test_calc.c",
                "./build/test_calc",
            ]},
            {"kind": "lint", "command": "make lint", "source": ci, "runs": [
                "$(CC) -fsyntax-only -Wall -Wextra -Werror src/calc.c",
            ]},
        ])
    );
    assert_eq!(
        statuses(&doc),
        vec![pair("make test", "passed"), pair("make lint", "passed")]
    );
    assert_tracked_unchanged(&doc, &repo, &before);

    // An injected bug and a lint error.
    replace_in(
        &repo,
        "src/calc.c",
        &[("return a + b;", "int unused = 0;\n    return a - b;")],
    );
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        statuses(&doc),
        vec![pair("make test", "failed"), pair("make lint", "failed")]
    );
    assert_eq!(
        doc["checks"][0]["findings"],
        json!([{
            "file": "tests/test_calc.c",
            "line": 8,
            "column": null,
            "message": "FAILED: test_add (at line 8): CHECK(add(2, 3) == 5);",
        }])
    );
    let lint = &doc["checks"][1]["findings"][0];
    assert_eq!(
        (&lint["file"], &lint["line"]),
        (&json!("src/calc.c"), &json!(4)),
        "{lint:#}"
    );
    assert!(
        lint["message"]
            .as_str()
            .unwrap()
            .contains("unused variable"),
        "{lint:#}"
    );
    assert_tracked_unchanged(&doc, &repo, &before);
}

#[test]
fn a_jest_project_with_a_check_lint_script() {
    let (_dir, repo) = temp_fixture(jest_project);
    let ci = ".github/workflows/ci.yml job test";
    let before = snapshot(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"]["checks"],
        json!([
            {"kind": "test", "command": "npm test", "source": ci},
            {"kind": "lint", "command": "npm run check:lint", "source": ci},
        ])
    );
    assert_eq!(
        statuses(&doc),
        vec![
            pair("npm test", "passed"),
            pair("npm run check:lint", "passed")
        ]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 2, "failed": 0, "skipped": 0})
    );
    assert_eq!(snapshot(&repo), before);

    replace_in(&repo, "src/total.js", &[VAR_SUM, LAST_PRICE_ONLY]);
    let before = snapshot(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 1, "failed": 1, "skipped": 0})
    );
    let f = &doc["checks"][0]["findings"][0];
    assert_eq!(
        (&f["file"], &f["line"]),
        (&json!("test/total.test.js"), &json!(6)),
        "{f:#}"
    );
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("Expected: 7") && message.contains("Received: 1"),
        "{f:#}"
    );
    assert!(!message.contains(" | "), "no code-frame fragment: {f:#}");
    assert_eq!(
        doc["checks"][1]["findings"],
        json!([{
            "file": "src/total.js",
            "line": 4,
            "column": 3,
            "message": "error: Unexpected var, use let or const instead (no-var)",
        }])
    );
    assert_snapshot_unchanged(&doc, &repo, &before);
}

/// Needs PyPI (pytest, mypy and setuptools into a fresh virtual
/// environment): about a minute on a 2-core machine.
#[test]
fn a_src_layout_package_with_dependency_groups_and_mypy_files() {
    let (_dir, repo) = temp_fixture(python_src_layout);
    let ci = ".github/workflows/ci.yml job test";
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    let setup: Vec<&str> = doc["environment"]["setup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        setup,
        vec![
            "python3 -m venv \"$VIRTUAL_ENV\"",
            "python3 -m pip install -e . 'pytest>=7'",
            "python3 -m pip install mypy",
        ]
    );
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        statuses(&doc),
        vec![
            pair("python -m pytest -q", "passed"),
            pair("mypy", "passed")
        ],
        "{:#}",
        doc["setup"]
    );
    assert_eq!(doc["checks"][0]["source"], ci);
    assert_tracked_unchanged(&doc, &repo, &before);

    // A bug and a type error in the files the project checks.
    replace_in(
        &repo,
        "src/inventory/stock.py",
        &[
            ("+ amount", "- amount"),
            ("return levels[item]", "return str(levels[item])"),
        ],
    );
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    let test = &doc["checks"][0]["findings"][0];
    assert_eq!(
        (&test["file"], &test["line"]),
        (&json!("tests/test_stock.py"), &json!(6)),
        "{test:#}"
    );
    assert_eq!(test["message"], "AssertionError: assert '-1' == 5");
    let mypy = doc["checks"][1]["findings"].as_array().unwrap();
    assert_eq!(mypy.len(), 1, "only the configured files: {mypy:#?}");
    assert_eq!(
        (&mypy[0]["file"], &mypy[0]["line"]),
        (&json!("src/inventory/stock.py"), &json!(3))
    );
    assert_tracked_unchanged(&doc, &repo, &before);
}

/// Needs PyPI (setuptools and a pinned ruff into a fresh virtual
/// environment): about a minute on a 2-core machine.
#[test]
fn a_ruff_config_that_fixes_on_its_own_is_checked_without_fixing() {
    let (_dir, repo) = temp_fixture(ruff_fix_project);
    let ci = ".github/workflows/ci.yml job check";
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"]["setup"],
        json!([
            {"command": "python3 -m venv \"$VIRTUAL_ENV\"", "source": "Deckhand (a virtual environment for the checks)"},
            {"command": "pip install -e . -r requirements-dev.txt", "source": ci},
        ])
    );
    assert_eq!(
        doc["environment"]["checks"],
        json!([
            {"kind": "test", "command": "python -m unittest discover -s tests -v", "source": ci},
            {"kind": "lint", "command": "ruff check --no-fix .", "source": ci},
            {"kind": "lint", "command": "ruff format --check .", "source": ci},
        ])
    );
    assert_eq!(
        statuses(&doc),
        vec![
            pair("python -m unittest discover -s tests -v", "passed"),
            pair("ruff check --no-fix .", "passed"),
            pair("ruff format --check .", "passed"),
        ]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 2, "failed": 0, "skipped": 0})
    );
    assert_tracked_unchanged(&doc, &repo, &before);

    // A bug, and an unused import ruff would remove by itself.
    replace_in(
        &repo,
        "src/units/convert.py",
        &[
            ("KM_PER_MILE = ", "import os\n\nKM_PER_MILE = "),
            (", 3)", ", 2)"),
        ],
    );
    let before = tracked(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        statuses(&doc),
        vec![
            pair("python -m unittest discover -s tests -v", "failed"),
            pair("ruff check --no-fix .", "failed"),
            pair("ruff format --check .", "passed"),
        ]
    );
    assert_eq!(
        doc["checks"][0]["findings"],
        json!([{
            "file": "tests/test_convert.py",
            "line": 8,
            "column": null,
            "message": "AssertionError: 1.61 != 1.609",
        }])
    );
    assert_eq!(
        doc["checks"][1]["findings"],
        json!([{
            "file": "src/units/convert.py",
            "line": 1,
            "column": 8,
            "message": "F401 [*] `os` imported but unused",
        }])
    );
    assert_eq!(doc["checks"][1]["wrote"], json!([]));
    assert_tracked_unchanged(&doc, &repo, &before);
    assert!(std::fs::read_to_string(repo.join("src/units/convert.py"))
        .unwrap()
        .contains("import os"));
}

/// Needs Go (CI installs Debian's `golang-go`); the module uses only the
/// standard library, so nothing is downloaded.
#[test]
fn a_go_module_whose_ci_runs_go_test_without_v() {
    if !have_tool("go") {
        return;
    }
    let (_dir, repo) = temp_fixture(go_module);
    let ci = ".github/workflows/ci.yml job test";
    let before = snapshot(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"],
        json!({
            "setup": [],
            "checks": [
                {"kind": "test", "command": "go test -v ./...", "source": ci},
                {"kind": "lint", "command": "go vet ./...", "source": ci},
            ],
            "detected": ["Go (go.mod)"],
            "notes": [],
            "venv": false,
        })
    );
    assert_eq!(
        statuses(&doc),
        vec![
            pair("go test -v ./...", "passed"),
            pair("go vet ./...", "passed")
        ]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 2, "failed": 0, "skipped": 0})
    );
    assert_snapshot_unchanged(&doc, &repo, &before);

    // A bug, and a self-assignment only `go vet` reports (`go test` runs
    // a smaller set of vet checks).
    replace_in(
        &repo,
        "ledger.go",
        &[
            ("\t\tsum += e", "\t\tsum = e"),
            (
                "\tvar sum int64\n",
                "\tvar sum int64\n\tentries = entries\n",
            ),
        ],
    );
    let before = snapshot(&repo);
    let (code, doc) = verify_json(&repo);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        statuses(&doc),
        vec![
            pair("go test -v ./...", "failed"),
            pair("go vet ./...", "failed")
        ]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 1, "failed": 1, "skipped": 0})
    );
    assert_eq!(
        doc["checks"][0]["findings"],
        json!([{
            "file": "ledger_test.go",
            "line": 7,
            "column": null,
            "message": "Balance = 25, want 125",
        }])
    );
    assert_eq!(
        doc["checks"][1]["findings"],
        json!([{
            "file": "ledger.go",
            "line": 9,
            "column": 2,
            "message": "self-assignment of entries to entries",
        }])
    );
    assert_snapshot_unchanged(&doc, &repo, &before);
}

/// pnpm 9.12.0 from the npm registry, installed once under the target
/// directory, as a directory to put first on PATH. (The action image has
/// pnpm through corepack; here npm installs the same release.) The
/// directory holds the whole install, so the command sandbox, which reads
/// the PATH directories, reaches all of it.
fn pnpm_on_path() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pnpm-9.12.0");
    let wrapper = dir.join("pnpm");
    if !wrapper.exists() {
        let ok = std::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("pnpm@9.12.0")
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "npm could not install pnpm@9.12.0 into {}",
            dir.display()
        );
        let script =
            "#!/bin/sh\nexec node \"$(dirname \"$0\")/node_modules/pnpm/bin/pnpm.cjs\" \"$@\"\n";
        let tmp = dir.join("pnpm.tmp");
        std::fs::write(&tmp, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &wrapper).unwrap();
    }
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Needs the npm registry (pnpm itself, and vitest with its dependencies
/// from the fixture's lockfile): about a minute on a 2-core machine.
#[test]
fn a_pnpm_vitest_library_installs_from_its_lockfile_and_reports_vitest_locations() {
    let path = pnpm_on_path();
    let env = [("PATH", path.as_str())];
    let (_dir, repo) = temp_fixture(pnpm_vitest_library);
    let ci = ".github/workflows/ci.yml job test";
    let before = tracked(&repo);
    let (code, doc) = verify_json_with(&repo, &env);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["environment"],
        json!({
            "setup": [{"command": "pnpm install --frozen-lockfile", "source": ci}],
            "checks": [
                {"kind": "test", "command": "pnpm test", "source": ci},
                {"kind": "lint", "command": "pnpm run lint", "source": ci},
            ],
            "detected": ["Node.js (pnpm, pnpm-lock.yaml)"],
            "notes": [],
            "venv": false,
        })
    );
    assert_eq!(doc["setup"][0]["passed"], true, "{:#}", doc["setup"]);
    assert_eq!(
        statuses(&doc),
        vec![pair("pnpm test", "passed"), pair("pnpm run lint", "passed")]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 2, "failed": 0, "skipped": 0})
    );
    assert_tracked_unchanged(&doc, &repo, &before);

    replace_in(&repo, "src/total.js", &[VAR_SUM, LAST_PRICE_ONLY]);
    let before = tracked(&repo);
    let (code, doc) = verify_json_with(&repo, &env);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        statuses(&doc),
        vec![pair("pnpm test", "failed"), pair("pnpm run lint", "failed")]
    );
    assert_eq!(
        doc["checks"][0]["counts"],
        json!({"passed": 1, "failed": 1, "skipped": 0})
    );
    // vitest's `❯ file:line:col` under the failure.
    assert_eq!(
        doc["checks"][0]["findings"],
        json!([{
            "file": "test/total.test.js",
            "line": 6,
            "column": 65,
            "message": "total > sums price times quantity: AssertionError: expected 1 to be 7 // Object.is equality",
        }])
    );
    assert_eq!(
        doc["checks"][1]["findings"],
        json!([{
            "file": "src/total.js",
            "line": 2,
            "column": 3,
            "message": "error no-var: Unexpected var, use let or const",
        }])
    );
    assert_tracked_unchanged(&doc, &repo, &before);
}
