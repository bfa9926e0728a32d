//! The command line's contracts: `deckhand tool`, `deckhand verify`, exit
//! codes and clear errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use common::{deckhand_cmd, output};
use support::repos::{self, git, node_service};

fn tool(repo: &std::path::Path, name: &str, args: &str) -> common::RunResult {
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["tool", name, "--repo"]).arg(repo).arg(args);
    output(cmd)
}

#[test]
fn tool_runs_each_tool_as_the_model_would() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let r = tool(
        &repo,
        "read_file",
        r#"{"path": "src/app.js", "start_line": 3, "end_line": 3}"#,
    );
    r.assert_code(0);
    assert!(r.stdout.contains("3\tconst users"), "{}", r.stdout);

    let r = tool(&repo, "search", r#"{"pattern": "api/login"}"#);
    r.assert_code(0);
    assert!(r.stdout.contains("src/app.js:6:"), "{}", r.stdout);

    let r = tool(
        &repo,
        "edit_file",
        r#"{"path": "src/app.js", "old_text": "'alice'", "new_text": "'bob'"}"#,
    );
    r.assert_code(0);
    assert!(std::fs::read_to_string(repo.join("src/app.js"))
        .unwrap()
        .contains("'bob'"));

    let r = tool(&repo, "run_command", r#"{"command": "echo hello; exit 4"}"#);
    r.assert_code(0);
    assert!(
        r.stdout.contains("exit code: 4") || r.stdout.contains("exit code 4"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("hello"));

    let r = tool(&repo, "list_dir", r#"{"path": "."}"#);
    r.assert_code(0);
    assert!(r.stdout.contains("src/"), "{}", r.stdout);
}

#[test]
fn tool_refuses_paths_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    std::fs::write(dir.path().join("outside.txt"), "keep").unwrap();
    for (name, args) in [
        ("read_file", r#"{"path": "../outside.txt"}"#.to_string()),
        (
            "write_file",
            format!(
                r#"{{"path": "{}", "content": "x"}}"#,
                dir.path().join("outside.txt").display()
            ),
        ),
        (
            "edit_file",
            r#"{"path": "../outside.txt", "old_text": "keep", "new_text": "lost"}"#.to_string(),
        ),
    ] {
        let r = tool(&repo, name, &args);
        r.assert_code(1);
        assert!(
            r.stdout.contains("outside the repository") || r.stdout.contains("absolute path"),
            "{name}: {}",
            r.stdout
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("outside.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn tool_reports_bad_json_and_unknown_tools() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let r = tool(&repo, "read_file", "{not json");
    r.assert_code(1);
    assert!(r.stderr.contains("not valid JSON"), "{}", r.stderr);
    let r = tool(&repo, "delete_everything", "{}");
    r.assert_code(1);
    assert!(
        r.stdout.contains("unknown tool `delete_everything`"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("read_file"), "{}", r.stdout);
}

#[test]
fn run_without_a_key_lists_every_way_to_configure_one() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["run", "--repo"])
        .arg(&repo)
        .args(["--task", "anything"]);
    let r = output(cmd);
    r.assert_code(1);
    for way in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "api_key_env"] {
        assert!(r.stderr.contains(way), "{}", r.stderr);
    }
    assert_eq!(git(&repo, &["branch", "--list", "deckhand/*"]), "");
}

#[test]
fn malformed_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    std::fs::create_dir_all(repo.join(".github")).unwrap();
    std::fs::write(
        repo.join(".github/deckhand.yml"),
        "model: claude\nmax_attempts: three\n",
    )
    .unwrap();
    let mut cmd = deckhand_cmd(&[("ANTHROPIC_API_KEY", "sk-x-123456")]);
    cmd.args(["run", "--repo"])
        .arg(&repo)
        .args(["--task", "anything"]);
    let r = output(cmd);
    r.assert_code(1);
    assert!(r.stderr.contains(".github/deckhand.yml"), "{}", r.stderr);
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    assert!(r.stderr.contains("max_attempts"), "{}", r.stderr);
}

#[test]
fn verify_passes_a_healthy_node_service() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(&repo);
    let r = output(cmd);
    r.assert_code(0);
    assert!(r.stdout.contains("verify: passed"), "{}", r.stdout);
    assert!(r.stderr.contains("npm test"), "{}", r.stderr);
}

#[test]
fn verify_reports_failures_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let app = std::fs::read_to_string(repo.join("src/app.js"))
        .unwrap()
        .replace("200 : 401", "200 : 403");
    std::fs::write(repo.join("src/app.js"), app).unwrap();
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(&repo);
    let r = output(cmd);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("test/app.test.js:"), "{}", r.stdout);

    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--json", "--repo"]).arg(&repo);
    let r = output(cmd);
    assert_ne!(r.code, 0);
    let last: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(last["passed"], false);
    assert_eq!(last["checks"][0]["counts"]["failed"], 1);
}

#[test]
fn verify_runs_python_and_rust_checks() {
    let dir = tempfile::tempdir().unwrap();
    let py = repos::python_package(dir.path());
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(&py);
    output(cmd).assert_code(0);

    let krate = repos::rust_crate(dir.path());
    std::fs::write(
        krate.join("src/lib.rs"),
        "pub fn total(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn sums() {\n        assert_eq!(super::total(&[1, 2, 3]), 7);\n    }\n}\n",
    )
    .unwrap();
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--repo"]).arg(&krate);
    let r = output(cmd);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("src/lib.rs:"), "{}", r.stdout);
}
