//! `deckhand tool NAME --repo DIR 'JSON'`: one agent tool, called exactly as
//! the model would call it; the result printed as the model would see it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{contained, exit, GlobalArgs};
use crate::agent::tools::{self, ToolContext, ToolError, ToolLimits, ToolOutput};
use crate::config::{EnvSnapshot, Settings};
use crate::llm::ToolCall;
use crate::report::Reporter;
use crate::sandbox::env::command_env;
use crate::task::TaskSpec;
use crate::workspace::{CommandRunner, Workspace};

#[derive(Debug, Args)]
pub struct ToolArgs {
    /// Tool name (list_dir, read_file, search, edit_file, write_file, run_command, update_spec, ask_question, report_verdict).
    pub name: String,
    /// The repository the tool works in.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The tool's arguments as a JSON object.
    #[arg(default_value = "{}")]
    pub args: String,
}

pub async fn run(global: &GlobalArgs, args: ToolArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let input: serde_json::Value = serde_json::from_str(&args.args)
        .with_context(|| format!("the tool arguments are not valid JSON: {}", args.args))?;
    let workspace = Workspace::open(&args.repo)
        .with_context(|| format!("cannot open repository directory {}", args.repo.display()))?;
    let settings = Settings::load(workspace.root(), &global.flags())?;
    let redactor = settings.redactor(env);
    // Progress (containment advisories, refused hosts) goes to stderr.
    let reporter = Reporter::new(false, redactor.clone());
    let (containment, _private) = contained::build(
        workspace.root(),
        &settings,
        env,
        command_env(&env.pairs(), &settings.secret_names),
        Vec::new(),
        &reporter,
    )
    .await?;
    // A tool call runs no setup: setup's wider network is not needed.
    containment.setup_network().close().await;
    let runner: CommandRunner = containment.agent.clone();
    let mut spec = TaskSpec::new("tool", workspace.root().display().to_string(), "");
    let mut verdict = None;
    let mut team = tools::TeamRules::default();
    let mut ctx = ToolContext {
        workspace: &workspace,
        runner: &runner,
        redactor: &redactor,
        limits: ToolLimits {
            allow_workflow_changes: settings.file.allow_workflow_changes,
            ..ToolLimits::default()
        },
        spec: &mut spec,
        verdict: &mut verdict,
        team: &mut team,
    };
    let call = ToolCall {
        id: "cli".into(),
        name: args.name.clone(),
        input,
    };
    let result = tools::every_tool().dispatch(&mut ctx, &call).await;
    runner.stop_all().await;
    let (ok, text) = match result {
        Ok(ToolOutput::Text(text)) => (true, text),
        Ok(ToolOutput::Question(q)) => (true, format!("question for the user: {q}")),
        Err(ToolError::ForModel(m)) => (false, format!("error: {m}")),
        Err(ToolError::Fatal(m)) => (false, format!("fatal: {m}")),
    };
    let text = redactor.redact(&text);
    if global.json {
        let line = serde_json::json!({"event": "tool_result", "tool": args.name, "ok": ok, "output": text});
        println!("{line}");
    } else {
        println!("{text}");
        if !ok {
            eprintln!(
                "deckhand tool {}: {}",
                args.name,
                text.lines().next().unwrap_or_default()
            );
        }
    }
    Ok(if ok { exit::DONE } else { exit::ERROR })
}
