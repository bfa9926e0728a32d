//! The command line: clap definitions, and the mapping of each command to
//! the modules that do the work. Reads the environment once, here.

mod campaign;
mod contained;
mod memory;
mod plan;
mod run;
mod tool;
mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{EnvSnapshot, Flags};
use crate::llm::ProviderKind;

/// Exit codes shared by every command.
pub mod exit {
    pub const DONE: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const NEEDS_REVIEW: i32 = 2;
    pub const WAITING: i32 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "deckhand",
    version,
    about = "An autonomous coding agent: plans a change, writes it, runs the repository's checks until they pass, and describes it for review."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Model provider (default: from the config file, else whichever API key is set).
    #[arg(long, global = true, value_enum)]
    pub provider: Option<ProviderKind>,
    /// Model id.
    #[arg(long, global = true)]
    pub model: Option<String>,
    /// Base URL of the model API (also ANTHROPIC_BASE_URL / OPENAI_BASE_URL).
    #[arg(long, global = true)]
    pub base_url: Option<String>,
    /// Config file (default: .github/deckhand.yml or .deckhand.yml in the repository).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// One JSON event per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Ask the model for whole replies instead of streamed ones.
    #[arg(long, global = true)]
    pub no_stream: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Do one task on a local checkout: a branch `deckhand/<task-id>` and a PR description.
    Run(run::RunArgs),
    /// Detect and run the repository's tests, lint and type check; no model needed.
    Verify(verify::VerifyArgs),
    /// Run one agent tool exactly as the model would call it and print its result.
    Tool(tool::ToolArgs),
    /// Inspect and edit the learned rules on the memory branch.
    Memory(memory::MemoryArgs),
    /// Find the repositories a campaign touches, rank them by risk into waves, print a table, JSON or an Actions matrix.
    Plan(plan::PlanArgs),
    /// A campaign's status, refresh from GitHub, local runs, records and dashboard.
    Campaign(campaign::CampaignArgs),
    /// The GitHub Action's entrypoint: reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH and INPUT_*, and acts on the event.
    Action,
}

impl GlobalArgs {
    fn flags(&self) -> Flags {
        Flags {
            provider: self.provider,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            config: self.config.clone(),
            no_stream: self.no_stream,
            max_attempts: None,
            network: None,
            allowed_domains: Vec::new(),
        }
    }
}

/// Masks what the environment says is secret (keys, tokens, the action's
/// secret inputs) in everything the process prints before a command knows
/// more (its config's secrets).
pub fn process_redactor(env: &EnvSnapshot) -> crate::sandbox::Redactor {
    let mut values = env.secret_values();
    if let Ok(inputs) = crate::action::inputs::ActionInputs::from_env(env) {
        values.extend(inputs.secret_values());
    }
    crate::sandbox::Redactor::new(values)
}

/// Runs the parsed command; returns the process exit code.
pub async fn main(cli: Cli, env: EnvSnapshot) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(&cli.global, args, &env).await,
        Command::Verify(args) => verify::run(&cli.global, args, &env).await,
        Command::Tool(args) => tool::run(&cli.global, args, &env).await,
        Command::Memory(args) => memory::run(&cli.global, args, &env).await,
        Command::Plan(args) => plan::run(&cli.global, args, &env).await,
        Command::Campaign(args) => campaign::run(&cli.global, args, &env).await,
        Command::Action => crate::action::run(&cli.global, &env).await,
    }
}
