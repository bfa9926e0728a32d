//! The file tools through the built binary: a symlink or a hard link to a
//! file outside the repository is neither read nor written, and reads of
//! large files stay small.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::{Path, PathBuf};

use common::{deckhand_cmd, output, RunResult};
use support::repos::node_service;

const OUTSIDE: &str = "root only: do not touch\n";

fn tool(repo: &Path, name: &str, args: &serde_json::Value) -> RunResult {
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["tool", name, "--repo"])
        .arg(repo)
        .arg(args.to_string());
    output(cmd)
}

/// A repository and a file outside it.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), OUTSIDE).unwrap();
    (dir, repo, outside)
}

#[test]
fn a_hard_link_to_an_outside_file_is_not_read_written_or_edited() {
    let (_dir, repo, outside) = setup();
    std::fs::hard_link(outside.join("secret.txt"), repo.join("src/linked.txt")).unwrap();
    let tries = [
        (
            "write_file",
            serde_json::json!({"path": "src/linked.txt", "content": "pwned\n"}),
        ),
        (
            "edit_file",
            serde_json::json!({"path": "src/linked.txt", "old_text": "do not touch", "new_text": "pwned"}),
        ),
        ("read_file", serde_json::json!({"path": "src/linked.txt"})),
    ];
    for (name, args) in tries {
        let r = tool(&repo, name, &args);
        r.assert_code(1);
        assert!(
            r.stdout.contains("`src/linked.txt` has 2 hard links")
                || r.stderr.contains("`src/linked.txt` has 2 hard links"),
            "{name}: {r:?}"
        );
        assert!(!r.stdout.contains("do not touch"), "{name} read it: {r:?}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        OUTSIDE
    );
}

#[test]
fn symlinks_to_outside_files_and_folders_are_not_followed() {
    let (_dir, repo, outside) = setup();
    std::os::unix::fs::symlink(&outside, repo.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), repo.join("src/s.txt")).unwrap();
    for (name, args) in [
        (
            "write_file",
            serde_json::json!({"path": "out/secret.txt", "content": "pwned\n"}),
        ),
        (
            "write_file",
            serde_json::json!({"path": "out/new.txt", "content": "pwned\n"}),
        ),
        (
            "write_file",
            serde_json::json!({"path": "src/s.txt", "content": "pwned\n"}),
        ),
        (
            "edit_file",
            serde_json::json!({"path": "src/s.txt", "old_text": "do not touch", "new_text": "pwned"}),
        ),
        ("read_file", serde_json::json!({"path": "src/s.txt"})),
    ] {
        let r = tool(&repo, name, &args);
        r.assert_code(1);
        assert!(!r.stdout.contains("do not touch"), "{name} read it: {r:?}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        OUTSIDE
    );
    assert!(!outside.join("new.txt").exists());
}

#[test]
fn new_files_and_folders_are_written_inside() {
    let (_dir, repo, _outside) = setup();
    let r = tool(
        &repo,
        "write_file",
        &serde_json::json!({"path": "lib/deep/x.js", "content": "module.exports = 1;\n"}),
    );
    r.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(repo.join("lib/deep/x.js")).unwrap(),
        "module.exports = 1;\n"
    );
}
