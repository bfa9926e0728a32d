//! `deckhand run`: one task on a local checkout, in its own worktree, ending
//! in a branch `deckhand/<task-id>` and a PR description at
//! `.git/deckhand/<task-id>/pr.md`; or, waiting for an answer, in a saved
//! state that `--resume ID --answer TEXT` continues.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::GlobalArgs;
use crate::agent::orchestrator::TaskState;
use crate::agent::runner::{self, Ending, RunContext, Start, STATE_FILE};
use crate::config::{EnvSnapshot, Settings};
use crate::git::LocalRepo;
use crate::llm;
use crate::report::Reporter;
use crate::sandbox::Redactor;
use crate::task::id::{is_valid_task_id, new_task_id};
use crate::task::{checkpoint, TaskStatus};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The repository (a git checkout with at least one commit).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// What to do, in plain words.
    #[arg(long, required_unless_present = "resume")]
    pub task: Option<String>,
    /// Continue a task that stopped to ask a question.
    #[arg(
        long,
        value_name = "TASK_ID",
        requires = "answer",
        conflicts_with = "task"
    )]
    pub resume: Option<String>,
    /// The answer to the question the task asked.
    #[arg(long, requires = "resume")]
    pub answer: Option<String>,
    /// Attempts before the task ends as needs-review (default 3).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Run commands in the dev container the repository declares
    /// (devcontainer.json, devfile.yaml, `dev_container:` in the config, or
    /// an official image for its language), with the local Docker engine.
    #[arg(long)]
    pub dev_container: bool,
}

pub async fn run(global: &GlobalArgs, args: RunArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let repo = LocalRepo::open(&args.repo)?;
    let mut flags = global.flags();
    flags.max_attempts = args.max_attempts;
    let settings = Settings::load(repo.workdir(), &flags)?;
    let provider_settings = settings.provider(&flags, env)?;
    let redactor = Redactor::new(
        settings
            .redactor(env)
            .values()
            .iter()
            .cloned()
            .chain([provider_settings.api_key.clone()]),
    );
    let reporter = Reporter::new(global.json, redactor.clone());
    let provider = llm::build(provider_settings)?;

    let start = match (&args.resume, &args.answer, &args.task) {
        (Some(id), Some(answer), _) => Start::Resume {
            state: Box::new(answered_state(&repo, id, answer)?),
        },
        (_, _, Some(task)) => {
            if task.trim().is_empty() {
                bail!("--task is empty: say what Deckhand should do");
            }
            let id = new_task_id(task, |id| {
                repo.branch_exists(&format!("deckhand/{id}")) || repo.task_dir(id).exists()
            });
            Start::New {
                task: task.clone(),
                branch: format!("deckhand/{id}"),
                id,
                repo_name: repo.display_name(),
                start: None,
            }
        }
        _ => bail!("give --task TEXT, or --resume TASK_ID with --answer TEXT"),
    };
    let interactive =
        !global.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let result = runner::execute(
        &repo,
        start,
        RunContext {
            settings: &settings,
            env,
            provider,
            reporter: reporter.clone(),
            redactor,
            interactive,
            inbox: None,
            default_command_user: false,
            continue_after_time_limit: false,
            dev_container: args.dev_container,
        },
    )
    .await?;
    match &result.ending {
        Ending::Waiting(question) => {
            let id = &result.state.spec.id;
            let repo_arg = shell_quote(&repo.workdir().display().to_string());
            reporter.result(&format!(
                "❓ Deckhand needs an answer to continue task {id}:\n\n> {}\n\nContinue with:\n  deckhand run --repo {repo_arg} --resume {id} --answer \"…\"",
                question.replace('\n', "\n> ")
            ));
        }
        Ending::Paused(_) | Ending::OutOfTime => {}
        _ => {
            if let Some(text) = &result.pr_text {
                reporter.result(text);
            }
        }
    }
    Ok(result.ending.exit_code())
}

/// A saved task, with its question answered.
fn answered_state(repo: &LocalRepo, id: &str, answer: &str) -> anyhow::Result<TaskState> {
    if !is_valid_task_id(id) {
        bail!("`{id}` is not a task id (ids look like dh-2f9c1a)");
    }
    let mut state: TaskState = checkpoint::load(&repo.task_dir(id).join(STATE_FILE))
        .with_context(|| format!("task {id} cannot be resumed"))?;
    if state.spec.status != TaskStatus::WaitingForAnswer {
        bail!(
            "task {id} is not waiting for an answer (its status is {})",
            state.spec.status.as_str()
        );
    }
    let answered = state.role.as_mut().is_some_and(|role| role.answer(answer));
    if !answered {
        bail!("task {id} has no open question to answer");
    }
    Ok(state)
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
