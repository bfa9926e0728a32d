//! `run_command`: a shell command in the workspace, with a timeout and capped, redacted output.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{for_model, redacted};
use super::{parse_args, workflows, Tool, ToolContext, ToolError, ToolOutput};
use crate::workspace::command::cap_head_tail;

/// `run_command`; research gets a description that asks it not to change anything.
pub struct RunCommand {
    read_only: bool,
}

impl RunCommand {
    /// For roles that change the repository.
    pub fn full() -> Self {
        RunCommand { read_only: false }
    }

    /// For research: described as inspection only.
    pub fn read_only() -> Self {
        RunCommand { read_only: true }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    command: String,
    timeout_seconds: Option<u64>,
}

#[async_trait]
impl Tool for RunCommand {
    fn name(&self) -> &'static str {
        "run_command"
    }

    fn description(&self) -> &'static str {
        if self.read_only {
            "Run a bash command in the repository root to inspect it: run the tests, list files, query git, print versions. Use it read-only: do not modify files, install or commit anything. Result: exit code, duration, then stdout+stderr (long output keeps head and tail). Timeout default 300 s, max 1800 s; on timeout the whole process group is killed. No stdin; secrets are masked."
        } else {
            "Run a bash command in the repository root (build, test, lint, git status, code generators). Result: exit code, duration, then stdout+stderr (long output keeps head and tail). A non-zero exit is reported, not an error. Timeout default 300 s, max 1800 s; on timeout the whole process group is killed. No stdin, so use non-interactive flags; secrets are masked. Edit files with edit_file/write_file, not with shell redirection."
        }
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command line, run with `bash -c` in the repository root, e.g. `npm test -- --reporter=dot 2>&1 | tail -50`."},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 1800, "description": "Seconds before the command is killed (default 300, at most 1800)."}
            },
            "required": ["command"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = match parse_args::<Args>(self.name(), input) {
            Ok(args) => run(ctx, args).await,
            Err(e) => Err(e),
        };
        redacted(ctx, result)
    }
}

async fn run(ctx: &ToolContext<'_>, args: Args) -> Result<ToolOutput, ToolError> {
    if args.command.trim().is_empty() {
        return Err(for_model("the command is empty"));
    }
    let limits = ctx.limits;
    let secs = match args.timeout_seconds {
        Some(0) => return Err(for_model("timeout_seconds must be at least 1")),
        Some(s) => s.min(limits.max_command_timeout_secs),
        None => limits.default_command_timeout_secs,
    };
    tracing::debug!(command = %ctx.redactor.redact(&args.command), secs, "run_command");
    let out = ctx
        .runner
        .run(&args.command, Duration::from_secs(secs))
        .await
        .map_err(|e| for_model(format!("could not start the command: {e}")))?;
    let duration = format!("{:.1}s", out.duration.as_secs_f64());
    let mut text = match (out.timed_out, out.exit_code) {
        (true, _) => format!("timed out after {secs}s; process group killed ({duration})\n"),
        (false, Some(code)) => format!("exit code {code} ({duration})\n"),
        (false, None) => format!("killed by a signal ({duration})\n"),
    };
    // Redact before cutting so a secret split by the cut is still masked.
    let output = ctx.redactor.redact(&out.output);
    if output.trim().is_empty() {
        text.push_str("(no output)\n");
    } else {
        text.push_str(&cap_head_tail(
            &output,
            limits.max_output_lines,
            limits.max_output_bytes,
        ));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if out.dropped_bytes > 0 {
        text.push_str(&format!(
            "[{} more bytes of output were discarded]\n",
            out.dropped_bytes
        ));
    }
    if !limits.allow_workflow_changes {
        match workflows::revert(ctx.workspace.root(), ctx.workspace.owner()) {
            Ok(reverted) if !reverted.is_empty() => text.push_str(&format!(
                "changes to .github/workflows/ are not allowed for this task; they were reverted ({}). Describe the workflow change it needs under \"Decisions needing review\" with update_spec\n",
                reverted.join(", ")
            )),
            Ok(_) => {}
            // Not a git checkout (nothing will be committed from it).
            Err(e) => tracing::warn!(error = %e, "could not check .github/workflows/ after a command"),
        }
    }
    Ok(ToolOutput::Text(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    #[tokio::test]
    async fn reports_exit_codes_as_results() {
        let mut f = Fixture::new();
        let text = f
            .ok(&RunCommand::full(), json!({"command": "echo hi; exit 3"}))
            .await;
        assert!(text.starts_with("exit code 3 ("), "{text}");
        assert!(text.ends_with("s)\nhi\n"), "{text}");
        let text = f.ok(&RunCommand::full(), json!({"command": "true"})).await;
        assert!(text.starts_with("exit code 0 ("), "{text}");
        assert!(text.ends_with("(no output)\n"), "{text}");
    }

    #[tokio::test]
    async fn runs_in_the_repository_root() {
        let mut f = Fixture::new();
        f.write("marker.txt", "");
        let text = f
            .ok(&RunCommand::full(), json!({"command": "ls marker.txt"}))
            .await;
        assert!(text.ends_with("marker.txt\n"), "{text}");
    }

    #[tokio::test]
    async fn times_out_and_clamps_the_timeout() {
        let mut f = Fixture::new();
        let text = f
            .ok(
                &RunCommand::full(),
                json!({"command": "sleep 20", "timeout_seconds": 1}),
            )
            .await;
        assert!(
            text.starts_with("timed out after 1s; process group killed"),
            "{text}"
        );
        f.limits.max_command_timeout_secs = 1;
        let text = f
            .ok(
                &RunCommand::full(),
                json!({"command": "sleep 20", "timeout_seconds": 999}),
            )
            .await;
        assert!(text.starts_with("timed out after 1s"), "{text}");
        let err = f
            .err(
                &RunCommand::full(),
                json!({"command": "true", "timeout_seconds": 0}),
            )
            .await;
        assert!(err.contains("at least 1"), "{err}");
        let err = f.err(&RunCommand::full(), json!({"command": " "})).await;
        assert_eq!(err, "the command is empty");
    }

    #[tokio::test]
    async fn caps_output_head_and_tail() {
        let mut f = Fixture::new();
        f.limits.max_output_lines = 10;
        let text = f
            .ok(&RunCommand::full(), json!({"command": "seq 1 100"}))
            .await;
        assert!(text.contains("\n1\n2\n"), "{text}");
        assert!(text.contains("[… 90 lines left out …]"), "{text}");
        assert!(text.ends_with("\n100\n"), "{text}");
    }

    #[tokio::test]
    async fn masks_secrets_in_output() {
        let mut f = Fixture::new();
        f.write("cfg", SECRET);
        let text = f
            .ok(&RunCommand::full(), json!({"command": "cat cfg"}))
            .await;
        assert!(text.ends_with("\n***\n"), "{text}");
        assert!(!text.contains(SECRET));
    }

    #[tokio::test]
    async fn failure_to_spawn_is_for_the_model() {
        let mut f = Fixture::new();
        f.runner = std::sync::Arc::new(crate::sandbox::HostLauncher::new(
            &f.root().join("missing-dir"),
            vec![],
        ));
        let err = f.err(&RunCommand::full(), json!({"command": "true"})).await;
        assert!(err.starts_with("could not start the command"), "{err}");
    }
}
