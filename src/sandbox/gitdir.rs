//! The git dir of a plain checkout, kept as it was around every command: Landlock cannot leave `.git` out of a writable checkout, so its configuration and hooks are put back after each command and refused changes are told.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::git::protect::GitDirSnapshot;
use crate::git::GitError;

use super::launcher::{CommandOutput, CommandRunner, Launcher};

/// A launcher whose commands cannot leave configuration or hooks in the
/// checkout's own git dir: what they changed there is put back when each
/// command ends (and when everything is stopped), and the command's output
/// says so.
pub struct KeptGitDir {
    inner: CommandRunner,
    snapshot: Arc<GitDirSnapshot>,
}

impl KeptGitDir {
    /// Records `git_dir` now; wrap every launcher of the checkout with
    /// [`KeptGitDir::wrap`] before any command runs.
    pub fn record(git_dir: &Path) -> Result<Arc<GitDirSnapshot>, GitError> {
        GitDirSnapshot::take(git_dir).map(Arc::new)
    }

    pub fn wrap(inner: CommandRunner, snapshot: Arc<GitDirSnapshot>) -> CommandRunner {
        Arc::new(KeptGitDir { inner, snapshot })
    }

    /// Puts the git dir back (off the async workers); the paths changed.
    async fn restore(&self) -> Vec<String> {
        let snapshot = self.snapshot.clone();
        let restored = tokio::task::spawn_blocking(move || snapshot.restore()).await;
        match restored {
            Ok(Ok(changed)) => changed,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not restore the repository's git configuration and hooks");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "restoring the repository's git dir stopped");
                Vec::new()
            }
        }
    }
}

/// What the command is told when it changed the git dir.
pub fn refusal(changed: &[String]) -> String {
    format!(
        "refused: this command changed the repository's own git dir ({}); Deckhand put it back. Commands may change the working tree, not git's configuration or hooks",
        changed
            .iter()
            .map(|p| format!(".git/{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[async_trait::async_trait]
impl Launcher for KeptGitDir {
    fn cwd(&self) -> &Path {
        self.inner.cwd()
    }

    async fn run(&self, command: &str, timeout: Duration) -> std::io::Result<CommandOutput> {
        let result = self.inner.run(command, timeout).await;
        let changed = self.restore().await;
        let mut out = result?;
        if !changed.is_empty() {
            if !out.output.is_empty() && !out.output.ends_with('\n') {
                out.output.push('\n');
            }
            out.output.push_str(&refusal(&changed));
            out.output.push('\n');
        }
        Ok(out)
    }

    async fn stop_all(&self) -> usize {
        let stopped = self.inner.stop_all().await;
        let changed = self.restore().await;
        if !changed.is_empty() {
            tracing::warn!("{}", refusal(&changed));
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_each_path_under_git() {
        assert_eq!(
            refusal(&["config".into(), "hooks/post-checkout".into()]),
            "refused: this command changed the repository's own git dir (.git/config, .git/hooks/post-checkout); Deckhand put it back. Commands may change the working tree, not git's configuration or hooks"
        );
    }
}
