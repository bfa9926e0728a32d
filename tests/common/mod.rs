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

/// `.git/deckhand/<id>/`.
pub fn task_dir(repo: &Path, branch: &str) -> PathBuf {
    let id = branch.trim_start_matches("deckhand/");
    repo.join(".git/deckhand").join(id)
}

/// A file's content on a branch.
pub fn show(repo: &Path, branch: &str, path: &str) -> String {
    crate::support::repos::git(repo, &["show", &format!("{branch}:{path}")])
}
