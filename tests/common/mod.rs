//! Helpers for tests that drive the built `deckhand` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::model_server::ModelServer;

pub mod action_scenarios;
pub mod action_world;
pub mod container;
pub mod memory;

pub const API_KEY: &str = "sk-test-key-0123456789";

/// Which wire format a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Anthropic,
    OpenAi,
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct RunResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunResult {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The binary with a clean environment: PATH and HOME only, plus `env`.
pub fn deckhand_cmd(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deckhand"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub fn output(mut cmd: Command) -> RunResult {
    let out = cmd.output().expect("deckhand runs");
    RunResult {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A gate a command inside the run opens: a listener on 127.0.0.1 whose
/// first connection sends on the returned channel. Returns its port.
pub fn connection_gate() -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (opened, gate) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if listener.accept().is_ok() {
            let _ = opened.send(());
        }
    });
    (port, gate)
}

/// The hostile command of the late-workflow scenarios: it leaves the
/// command's session and drops the run's marker, returns once its process
/// runs (a FIFO, no polling), and that process waits for code's next
/// change (`src/limit.js`: its own loop, not the test's synchronisation),
/// plants `.github/workflows/late.yml` (`planted-late-0043`), then opens
/// the [`connection_gate`] on `port` with bash's `/dev/tcp` (the action
/// image has no curl).
pub fn late_workflow_writer(port: u16) -> String {
    format!(
        "mkfifo \"$TMPDIR/up\"; env -u DECKHAND_RUN setsid sh -c 'echo up > \"$TMPDIR/up\"; \
         while [ ! -e src/limit.js ]; do sleep 0.02; done; \
         mkdir -p .github/workflows && echo \"on: push # planted-late-0043\" > .github/workflows/late.yml \
         && bash -c \"exec 3<>/dev/tcp/127.0.0.1/{port}\"' \
         > /dev/null 2>&1 < /dev/null & \
         read up < \"$TMPDIR/up\"; echo \"started: $up\""
    )
}

/// What a run with the [`late_workflow_writer`] must show: the late
/// workflow is in no commit of `branch` on the server, the task's own file
/// is, and Deckhand's `stderr` says the commit path reverted it.
pub fn assert_late_workflow_kept_out(
    gh: &crate::support::github_server::GithubServer,
    (owner, repo): (&str, &str),
    stderr: &str,
) {
    assert!(
        !gh.history_contains(owner, repo, "planted-late-0043"),
        "a workflow written after run_command returned was pushed"
    );
    assert!(gh.history_contains(owner, repo, "module.exports = 1;"));
    assert!(
        stderr.contains("reverted .github/workflows/late.yml before committing"),
        "the late workflow was not caught in the commit path:\n{stderr}"
    );
}

/// `deckhand <args>` against the scripted model server.
pub fn deckhand(
    server: &ModelServer,
    wire: Wire,
    args: &[&str],
    env: &[(&str, &str)],
) -> RunResult {
    let (key_var, url_var, url) = match wire {
        Wire::Anthropic => (
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            server.anthropic_base_url(),
        ),
        Wire::OpenAi => (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            server.openai_base_url(),
        ),
    };
    let mut cmd = deckhand_cmd(env);
    cmd.env(key_var, API_KEY).env(url_var, url).args(args);
    output(cmd)
}

/// `deckhand run --repo REPO --task TASK`.
pub fn run_task(
    server: &ModelServer,
    wire: Wire,
    repo: &Path,
    task: &str,
    extra: &[&str],
) -> RunResult {
    let repo = repo.display().to_string();
    let mut args = vec!["run", "--repo", repo.as_str(), "--task", task];
    args.extend_from_slice(extra);
    deckhand(server, wire, &args, &[])
}

/// The one `deckhand/*` branch of the repository.
pub fn task_branch(repo: &Path) -> String {
    let out = crate::support::repos::git(
        repo,
        &[
            "branch",
            "--list",
            "deckhand/*",
            "--format=%(refname:short)",
        ],
    );
    let branches: Vec<&str> = out.lines().collect();
    assert_eq!(
        branches.len(),
        1,
        "expected one deckhand branch, got {branches:?}"
    );
    branches[0].to_string()
}

/// A new temp dir and the fixture repository `make` builds in it.
pub fn temp_fixture(make: impl FnOnce(&Path) -> PathBuf) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = make(dir.path());
    (dir, repo)
}

/// `.git/deckhand/<id>/`.
pub fn task_dir(repo: &Path, branch: &str) -> PathBuf {
    let id = branch.trim_start_matches("deckhand/");
    repo.join(".git/deckhand").join(id)
}

/// A file's content on a branch.
pub fn show(repo: &Path, branch: &str, path: &str) -> String {
    crate::support::repos::git(repo, &["show", &format!("{branch}:{path}")])
}

/// A one-reply HTTP server on `ip` (127.0.0.x) that counts its
/// connections: a host the egress proxy lets through or refuses.
pub fn http_server(
    ip: &str,
    body: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (port, hits)
}

/// Whether `tool` is on PATH. A test that needs it and finds it missing
/// prints `SKIPPED` and returns; with `DECKHAND_REQUIRE_TOOLS=1` (CI) it
/// fails instead, so it never skips there.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("DECKHAND_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "DECKHAND_REQUIRE_TOOLS=1 but `{tool}` is not installed"
        );
        eprintln!(
            "SKIPPED: `{tool}` is not installed (CI installs it and sets DECKHAND_REQUIRE_TOOLS=1)"
        );
    }
    found
}
