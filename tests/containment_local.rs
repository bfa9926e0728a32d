//! Containment of `deckhand run` on a local checkout: a command cannot
//! leave configuration or hooks in the user's own git dir, Deckhand's
//! commits run no hooks, and the process's environment (the model key) is
//! not readable by the commands it starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use common::{run_task, Wire};
use support::model_server::{ModelServer, Reply};
use support::repos::{git, node_service};

/// Research plans; code runs `command`, then writes one file.
fn script(command: &str) -> Vec<Reply> {
    vec![
        Reply::tool("update_spec", json!({"plan": ["Create src/limit.js"]})),
        Reply::text("Planned."),
        Reply::tool("run_command", json!({"command": command})),
        Reply::tool(
            "write_file",
            json!({"path": "src/limit.js", "content": "module.exports = 1;\n"}),
        ),
        Reply::text("Created the file."),
    ]
}

/// The git dir's config and every hook, with their contents.
fn git_dir_state(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let git_dir = repo.join(".git");
    let mut state = BTreeMap::new();
    state.insert(
        PathBuf::from("config"),
        std::fs::read(git_dir.join("config")).unwrap(),
    );
    for entry in std::fs::read_dir(git_dir.join("hooks")).unwrap() {
        let entry = entry.unwrap();
        state.insert(
            PathBuf::from("hooks").join(entry.file_name()),
            std::fs::read(entry.path()).unwrap_or_default(),
        );
    }
    state
}

#[test]
fn a_command_leaves_no_config_or_hooks_in_the_users_git_dir() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let before = git_dir_state(&repo);
    let command = format!(
        "gd=$(git rev-parse --path-format=absolute --git-common-dir) \
         && git config --file \"$gd/config\" core.fsmonitor 'touch {m}/fsmonitor' \
         && git config --file \"$gd/config\" core.hooksPath \"$gd/hooks\" \
         && printf '#!/bin/sh\\ntouch {m}/hook\\n' > \"$gd/hooks/post-commit\" \
         && cp \"$gd/hooks/post-commit\" \"$gd/hooks/pre-commit\" \
         && chmod +x \"$gd/hooks/post-commit\" \"$gd/hooks/pre-commit\" && echo planted",
        m = marks.display()
    );
    let server = ModelServer::start(script(&command));
    let result = run_task(&server, Wire::Anthropic, &repo, "Create src/limit.js", &[]);
    let saw: String = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(
        saw.contains("planted"),
        "the command ran: {}",
        result.stderr
    );
    result.assert_code(0);
    assert_eq!(git_dir_state(&repo), before);
    // Deckhand's commits ran no hook, and the user's next git status runs
    // no fsmonitor.
    git(&repo, &["status", "--porcelain"]);
    let left: Vec<_> = std::fs::read_dir(&marks).unwrap().collect();
    assert!(left.is_empty(), "a planted program ran: {left:?}");
    let branch = common::task_branch(&repo);
    assert!(common::show(&repo, &branch, "src/limit.js").contains("module.exports"));
}

#[test]
fn commands_cannot_read_deckhands_environment() {
    const NOBODY: u32 = 65534;
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Deckhand and its commands run as one unprivileged user, as locally.
    for path in [dir.path().to_path_buf(), repo.clone(), home.clone()] {
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&repo)
        .status()
        .unwrap();
    let command = "p=$PPID; n=0; while [ \"$(cat /proc/$p/comm)\" != deckhand ] && [ $n -lt 8 ]; do p=$(cut -d' ' -f4 /proc/$p/stat); n=$((n+1)); done; \
                   if cat /proc/$p/environ > /dev/null 2>&1; then echo environ-of-$(cat /proc/$p/comm)=readable; else echo environ-of-$(cat /proc/$p/comm)=denied; fi";
    let server = ModelServer::start(script(command));
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.env("HOME", &home)
        .env("ANTHROPIC_API_KEY", common::API_KEY)
        .env("ANTHROPIC_BASE_URL", server.anthropic_base_url())
        .args(["run", "--repo"])
        .arg(&repo)
        .args(["--task", "Create src/limit.js"])
        .uid(NOBODY)
        .gid(NOBODY);
    let result = common::output(cmd);
    let saw: String = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(
        saw.contains("environ-of-deckhand=denied"),
        "{saw}\n--- stderr\n{}",
        result.stderr
    );
    assert!(!saw.contains("environ-of-deckhand=readable"));
}

fn landlock_abi() -> i64 {
    // SAFETY: the version query reads no memory.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    }
}

#[test]
fn deckhand_tool_run_command_cannot_write_outside_the_repo() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.join("planted.txt");
    let command = format!(
        "echo inside > inside.txt; echo planted > '{}'; echo \"rc=$?\"",
        target.display()
    );
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.args(["tool", "run_command", "--repo"])
        .arg(&repo)
        .arg(json!({ "command": command }).to_string());
    let r = common::output(cmd);
    r.assert_code(0);
    assert!(repo.join("inside.txt").exists(), "{}", r.stdout);
    if landlock_abi() < 1 {
        eprintln!("SKIPPED: this kernel has no Landlock");
        return;
    }
    assert!(!target.exists(), "the command wrote outside: {}", r.stdout);
    assert!(!r.stdout.contains("rc=0"), "{}", r.stdout);
}

/// A command that plants configuration and hooks in the checkout's own
/// `.git` (the plain checkout `deckhand tool` and `deckhand verify` work
/// in): what it planted, as `git config` and as plain writes.
fn plant(marks: &Path) -> String {
    format!(
        "git config core.fsmonitor 'touch {m}/fsmonitor' \
         && printf '[core]\\n\\thooksPath = /tmp\\n' > .git/config.worktree \
         && printf '#!/bin/sh\\ntouch {m}/hook\\n' > .git/hooks/post-checkout \
         && chmod +x .git/hooks/post-checkout && echo planted",
        m = marks.display()
    )
}

const REFUSED: &str = "refused: this command changed the repository's own git dir (.git/config, .git/config.worktree, .git/hooks/post-checkout); Deckhand put it back";

#[test]
fn deckhand_tool_cannot_change_the_checkouts_git_dir() {
    let dir = tempfile::tempdir().unwrap();
    let repo = node_service(dir.path());
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let before = git_dir_state(&repo);
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.args(["tool", "run_command", "--repo"])
        .arg(&repo)
        .arg(json!({ "command": plant(&marks) }).to_string());
    let r = common::output(cmd);
    r.assert_code(0);
    assert!(
        r.stdout.contains("planted"),
        "the command ran: {}",
        r.stdout
    );
    assert!(r.stdout.contains(REFUSED), "{}", r.stdout);
    assert_eq!(git_dir_state(&repo), before);
    assert!(!repo.join(".git/config.worktree").exists());
    git(&repo, &["status", "--porcelain"]);
    git(&repo, &["checkout", "-q", "HEAD"]);
    let left: Vec<_> = std::fs::read_dir(&marks).unwrap().collect();
    assert!(left.is_empty(), "a planted program ran: {left:?}");
}

#[test]
fn deckhand_verify_cannot_change_the_checkouts_git_dir() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let yml = format!(
        "commands:\n  test: {}\n",
        serde_json::to_string(&plant(&marks)).unwrap()
    );
    let repo = support::repos::commit_tree(
        &dir.path().join("svc"),
        &[("README.md", "# svc\n"), (".github/deckhand.yml", &yml)],
    );
    let before = git_dir_state(&repo);
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.args(["--json", "verify", "--repo"]).arg(&repo);
    let r = common::output(cmd);
    let report: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}):\n{}\n{}",
            r.stdout, r.stderr
        )
    });
    let output = report["checks"][0]["output"].as_str().unwrap_or_default();
    assert!(output.contains("planted"), "the check ran: {report:#}");
    assert!(output.contains(REFUSED), "{report:#}");
    assert_eq!(git_dir_state(&repo), before);
    assert!(!repo.join(".git/config.worktree").exists());
    git(&repo, &["status", "--porcelain"]);
    let left: Vec<_> = std::fs::read_dir(&marks).unwrap().collect();
    assert!(left.is_empty(), "a planted program ran: {left:?}");
}
