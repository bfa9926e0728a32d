//! Test fixture shared by the tool tests: a repository in a temp dir with a secret outside it.

use std::path::Path;

use serde_json::Value;

use super::{CriterionVerdict, Tool, ToolContext, ToolError, ToolLimits, ToolOutput};
use crate::sandbox::{HostLauncher, Redactor};
use crate::task::TaskSpec;
use crate::workspace::{CommandRunner, Workspace};

/// A value the redactor masks.
pub const SECRET: &str = "hunter2-top-secret";
/// What the file outside the repository holds.
pub const OUTSIDE: &str = "outside-content-never-shown";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub workspace: Workspace,
    pub runner: CommandRunner,
    pub redactor: Redactor,
    pub limits: ToolLimits,
    pub spec: TaskSpec,
    pub verdict: Option<Vec<CriterionVerdict>>,
    pub team: super::TeamRules,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        std::fs::write(dir.path().join("outside.txt"), OUTSIDE).unwrap();
        let workspace = Workspace::open(&dir.path().join("repo")).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        let runner: CommandRunner = std::sync::Arc::new(HostLauncher::new(
            workspace.root(),
            vec![("PATH".into(), path)],
        ));
        // Symlinks that lead out of the repository.
        std::os::unix::fs::symlink(
            dir.path().join("outside.txt"),
            workspace.root().join("link"),
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.path(), workspace.root().join("up")).unwrap();
        Fixture {
            dir,
            workspace,
            runner,
            redactor: Redactor::new([SECRET]),
            limits: ToolLimits::default(),
            spec: TaskSpec::new("dh-1", "acme/app", "do it"),
            verdict: None,
            team: super::TeamRules::default(),
        }
    }

    pub fn root(&self) -> &Path {
        self.workspace.root()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap()
    }

    /// A tool context over this fixture.
    pub fn context(&mut self) -> ToolContext<'_> {
        ToolContext {
            workspace: &self.workspace,
            runner: &self.runner,
            redactor: &self.redactor,
            limits: self.limits,
            spec: &mut self.spec,
            verdict: &mut self.verdict,
            team: &mut self.team,
        }
    }

    pub async fn call(&mut self, tool: &dyn Tool, input: Value) -> Result<ToolOutput, ToolError> {
        tool.call(&mut self.context(), input).await
    }

    /// The text of a call that must succeed.
    pub async fn ok(&mut self, tool: &dyn Tool, input: Value) -> String {
        text(self.call(tool, input).await)
    }

    /// The message of a call that must fail with an error for the model.
    pub async fn err(&mut self, tool: &dyn Tool, input: Value) -> String {
        error(self.call(tool, input).await)
    }

    /// Every way out of the repository is refused and nothing outside is
    /// read or changed.
    pub async fn assert_confined(&mut self, tool: &dyn Tool, input: impl Fn(&str) -> Value) {
        for path in [
            "../outside.txt",
            "/etc/passwd",
            "link",
            "up/outside.txt",
            "up/new.txt",
        ] {
            let message = self.err(tool, input(path)).await;
            assert!(!message.contains(OUTSIDE), "{path}: {message}");
            assert!(
                message.contains("outside the repository") || message.contains("absolute path"),
                "{path}: {message}"
            );
        }
        let outside = std::fs::read_to_string(self.dir.path().join("outside.txt")).unwrap();
        assert_eq!(outside, OUTSIDE);
        assert!(!self.dir.path().join("new.txt").exists());
    }
}

/// The text of a result that must be a success.
pub fn text(out: Result<ToolOutput, ToolError>) -> String {
    match out {
        Ok(ToolOutput::Text(t)) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

/// The message of a result that must be an error for the model.
pub fn error(out: Result<ToolOutput, ToolError>) -> String {
    match out {
        Err(ToolError::ForModel(m)) => m,
        other => panic!("expected an error for the model, got {other:?}"),
    }
}
