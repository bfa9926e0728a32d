//! The `Launcher` seam: the one way every command the agent, setup and
//! verify run is started, stopped and captured.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub command: String,
    /// `None` when the command was killed (timeout or signal).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// stdout and stderr, interleaved as written.
    pub output: String,
    /// Bytes produced beyond what was kept.
    pub dropped_bytes: usize,
    pub duration: Duration,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Starts commands in one place with one policy (user, environment,
/// limits, confinement) and can stop everything it started. Implemented for
/// the host ([`super::host::HostLauncher`]); a dev container implements the
/// same contract.
#[async_trait::async_trait]
pub trait Launcher: Send + Sync {
    /// The directory commands start in.
    fn cwd(&self) -> &Path;

    /// Runs `command` with a shell; when it ends (or times out), whatever
    /// it left running is killed.
    async fn run(&self, command: &str, timeout: Duration) -> std::io::Result<CommandOutput>;

    /// Kills everything this launcher's commands started that is still
    /// running; returns how many processes it killed.
    async fn stop_all(&self) -> usize;
}

/// How the rest of Deckhand holds a launcher.
pub type CommandRunner = Arc<dyn Launcher>;
