//! The containment `deckhand verify` and `deckhand tool` run commands in: the one a task's commands get (Landlock, limits, process tracking, the egress proxy at the configured level).

use std::path::Path;

use anyhow::Context;

use crate::config::{EnvSnapshot, Settings};
use crate::git::LocalRepo;
use crate::report::Reporter;
use crate::sandbox::containment::{Containment, Params};
use crate::sandbox::gitdir::KeptGitDir;

/// A containment around the checkout `root`; its private home and temp dir
/// live in the returned directory, removed when it is dropped. The
/// repository's git dir is kept as it was around every command (in a plain
/// checkout it lies inside the writable tree).
pub async fn build(
    root: &Path,
    settings: &Settings,
    env: &EnvSnapshot,
    command_env: Vec<(String, String)>,
    extra_write: Vec<std::path::PathBuf>,
    reporter: &Reporter,
) -> anyhow::Result<(Containment, tempfile::TempDir)> {
    let private = tempfile::Builder::new()
        .prefix("deckhand-cli-")
        .tempdir()
        .context("cannot create a private directory for the commands")?;
    let user = settings.command_user(false)?;
    if let Some(u) = &user {
        crate::sandbox::user::hand_over(private.path(), u)?;
    }
    // Git works (read-only) in a worktree whose git dir lies elsewhere.
    let repo = LocalRepo::open(root).ok();
    let git_dir = repo
        .as_ref()
        .map(|r| r.common_dir().to_path_buf())
        .unwrap_or_else(|| root.to_path_buf());
    let kept = match &repo {
        Some(_) => Some(KeptGitDir::record(&git_dir)?),
        None => None,
    };
    let process_env = env.pairs();
    let reporter = reporter.clone();
    let network = &settings.network;
    let containment = Containment::build(Params {
        worktree: root,
        task_dir: private.path(),
        git_dir: &git_dir,
        command_env,
        extra_write,
        process_env: &process_env,
        user: user.as_ref(),
        level: network.level,
        setup_level: network.setup_level,
        allowed_domains: &network.allowed_domains,
        max_processes: settings.file.max_processes,
        log: std::sync::Arc::new(move |line: &str| reporter.progress(line)),
    })
    .await?;
    let mut containment = containment;
    if let Some(kept) = kept {
        containment.agent = KeptGitDir::wrap(containment.agent, kept.clone());
        containment.setup = KeptGitDir::wrap(containment.setup, kept);
    }
    Ok((containment, private))
}
