//! `deckhand run`: one task on a local checkout, in its own worktree, ending
//! in a branch `deckhand/<task-id>` and a PR description at
//! `.git/deckhand/<task-id>/pr.md`; or, waiting for an answer, in a saved
//! state that `--resume ID --answer TEXT` continues. `--resume ID --feedback
//! TEXT` fixes a finished task's branch from feedback and learns team rules
//! from it; every task gets the rules on the memory branch.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::memory::{self, Place};
use super::GlobalArgs;
use crate::agent::learn;
use crate::agent::orchestrator::{Phase, TaskState};
use crate::agent::runner::{
    self, Ending, RunContext, Start, TaskResult, FINISHED_FILE, STATE_FILE,
};
use crate::config::{EnvSnapshot, Settings};
use crate::git::LocalRepo;
use crate::llm;
use crate::memory::edits;
use crate::memory::rules::{Rule, RuleAuthor, Status};
use crate::memory::usage::UsageRecord;
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
    /// Continue a task that stopped to ask a question (with --answer), or
    /// fix a finished one from feedback (with --feedback).
    #[arg(long, value_name = "TASK_ID", conflicts_with = "task")]
    pub resume: Option<String>,
    /// The answer to the question the task asked.
    #[arg(long, requires = "resume", conflicts_with = "feedback")]
    pub answer: Option<String>,
    /// Review feedback on a finished task: a new commit on its branch,
    /// verified again, and team rules learned from it.
    #[arg(long, requires = "resume")]
    pub feedback: Option<String>,
    /// Where the memory branch lives: a path or a URL (default: the repository itself).
    #[arg(long)]
    pub memory_repo: Option<String>,
    /// The memory branch.
    #[arg(long, default_value = crate::memory::DEFAULT_BRANCH)]
    pub memory_branch: String,
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
    let provider: std::sync::Arc<dyn llm::Provider> = llm::build(provider_settings)?.into();

    let start = match (&args.resume, &args.answer, &args.task) {
        (Some(id), Some(answer), _) => Start::Resume {
            state: Box::new(answered_state(&repo, id, answer)?),
        },
        (Some(id), None, _) if args.feedback.is_some() => Start::Resume {
            state: Box::new(feedback_state(
                &repo,
                id,
                args.feedback.as_deref().unwrap_or_default(),
            )?),
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
        _ => bail!("give --task TEXT, or --resume TASK_ID with --answer TEXT or --feedback TEXT"),
    };
    let memory = open_memory(&args, env, &settings, &redactor).await;
    let team_rules = memory
        .as_ref()
        .map(|(_, rules)| rules.clone())
        .unwrap_or_default();
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
            redactor: redactor.clone(),
            interactive,
            inbox: None,
            default_command_user: false,
            continue_after_time_limit: false,
            dev_container: args.dev_container,
            team_rules,
            feedback: args.feedback.clone(),
        },
    )
    .await?;
    if let Some((mut place, _)) = memory {
        remember(&mut place, &result, &reporter, &redactor).await;
    }
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

/// The memory branch and its rules; a branch that cannot be read costs the
/// rules, never the task.
async fn open_memory(
    args: &RunArgs,
    env: &EnvSnapshot,
    settings: &Settings,
    redactor: &Redactor,
) -> Option<(Place, Vec<Rule>)> {
    let (repo, memory_repo, branch) = (
        args.repo.clone(),
        args.memory_repo.clone(),
        args.memory_branch.clone(),
    );
    let token = env.get("GITHUB_TOKEN").unwrap_or_default().to_string();
    let fallback = settings.file.git.clone();
    let redactor = redactor.clone();
    let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<(Place, Vec<Rule>)> {
        let place = memory::open(&repo, memory_repo.as_deref(), &branch, &token, fallback)?;
        let catalog = memory::load(&place, &redactor)?;
        Ok((place, catalog.rules))
    })
    .await;
    match opened {
        Ok(Ok(found)) => Some(found),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "memory branch not read; the task runs without team rules");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the memory branch stopped");
            None
        }
    }
}

/// Records which rules the task used and stores the rules it learned
/// (locally the person running Deckhand owns the repository: active).
async fn remember(
    place: &mut Place,
    result: &TaskResult,
    reporter: &Reporter,
    redactor: &Redactor,
) {
    let state = &result.state;
    let id = state.spec.id.clone();
    if !state.team_rules.rules.is_empty() {
        let record = UsageRecord {
            task: id.clone(),
            repo: Some(state.spec.repo.clone()),
            used_at: chrono::Utc::now(),
            rules: state.team_rules.ids(),
        };
        if let Err(e) = edits::record_use(&mut place.store, place.committer.clone(), record).await {
            tracing::warn!(error = %e, "rule use not recorded");
        }
    }
    if result.learned.is_empty() {
        return;
    }
    let feedback = learn::Feedback {
        text: String::new(),
        source: format!("local:{id}"),
        author: RuleAuthor {
            login: place.committer.name.clone(),
            permission: "owner".into(),
        },
    };
    let stored = learn::store(
        &mut place.store,
        place.committer.clone(),
        result.learned.clone(),
        &feedback,
        Status::Active,
        Some(state.head_commit()),
        redactor,
    )
    .await;
    match stored {
        Ok(learned) => reporter.progress(&format!(
            "📚 rules on {}:\n{}",
            place.store.branch(),
            learn::describe(&learned).trim_end()
        )),
        Err(e) => reporter.progress(&format!("⚠️ learned rules not stored: {e}")),
    }
}

/// A finished task, set to fix its branch from `feedback`: code works on
/// the feedback, verify checks the whole branch again.
fn feedback_state(repo: &LocalRepo, id: &str, feedback: &str) -> anyhow::Result<TaskState> {
    if !is_valid_task_id(id) {
        bail!("`{id}` is not a task id (ids look like dh-2f9c1a)");
    }
    if feedback.trim().is_empty() {
        bail!("--feedback is empty: say what should change");
    }
    let dir = repo.task_dir(id);
    if dir.join(STATE_FILE).exists() {
        bail!("task {id} has not finished; resume it with --answer first");
    }
    let mut state: TaskState = checkpoint::load(&dir.join(FINISHED_FILE))
        .with_context(|| format!("task {id} has no finished state to continue"))?;
    state.spec.task = format!(
        "{}\n\n# Review feedback to address\n{}\n\nChange only what the feedback asks for and keep the tests passing.",
        state.spec.task.trim_end(),
        feedback.trim()
    );
    state.spec.status = TaskStatus::Coding;
    state.phase = Phase::Code { attempt: 1 };
    state.role = None;
    state.reports.clear();
    state.question = None;
    state.verified_commit = None;
    Ok(state)
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
