//! `deckhand run`: one task on a local checkout, in its own worktree, ending
//! in a branch `deckhand/<task-id>` and a PR description at
//! `.git/deckhand/<task-id>/pr.md`; or, waiting for an answer, in a saved
//! state that `--resume ID --answer TEXT` continues.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::{exit, GlobalArgs};
use crate::agent::context;
use crate::agent::orchestrator::{self, Outcome, TaskState};
use crate::agent::session::{Session, SessionParts};
use crate::agent::verify::{run_checks, run_setup};
use crate::config::{EnvSnapshot, Settings};
use crate::git::{self, LocalRepo};
use crate::llm;
use crate::report::pr::{self, PrInput, PrStatus};
use crate::report::{Event, Reporter};
use crate::sandbox::env::command_env;
use crate::sandbox::Redactor;
use crate::task::id::{is_valid_task_id, new_task_id};
use crate::task::{checkpoint, TaskSpec, TaskStatus};
use crate::workspace::detect::{self, CheckKind};
use crate::workspace::{CommandRunner, Workspace};

const STATE_FILE: &str = "state.json";
const REPO_MAP_BYTES: usize = 12_000;

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

    let resuming = args.resume.is_some();
    let (mut state, worktree) = match (&args.resume, &args.answer, &args.task) {
        (Some(id), Some(answer), _) => resume(&repo, id, answer)?,
        (_, _, Some(task)) => start(&repo, task, &settings)?,
        _ => bail!("give --task TEXT, or --resume TASK_ID with --answer TEXT"),
    };
    let id = state.spec.id.clone();

    let workspace = Workspace::open(&worktree)
        .with_context(|| format!("cannot open the task's worktree {}", worktree.display()))?;
    let environment = detect::detect(workspace.root()).with_overrides(&settings.file.commands);
    let runner = CommandRunner::new(
        workspace.root(),
        command_env(&env.pairs(), &settings.secret_names),
    );
    let steering = context::render_steering(&context::load_steering(
        workspace.root(),
        &state.spec.task,
        &[],
    ));
    let repo_map = context::repo_map(workspace.root(), REPO_MAP_BYTES);
    let interactive =
        !global.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut session = Session::new(SessionParts {
        provider,
        prices: settings.prices.clone(),
        budgets: settings.budgets,
        workspace,
        runner,
        redactor,
        reporter: reporter.clone(),
        environment,
        steering,
        repo_map,
        interactive,
    });
    session.resume_from(state.usage, Duration::from_millis(state.elapsed_ms));

    let first_line = state
        .spec
        .task
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    reporter.progress(&format!(
        "🚀 task {id}{}: {first_line}",
        if resuming { " (resumed)" } else { "" }
    ));
    reporter.progress(&format!(
        "   branch {} · {} {}",
        state.branch,
        session.provider.name(),
        session.provider.model()
    ));
    reporter.event(Event::TaskStarted {
        task_id: id.clone(),
        repo: state.spec.repo.clone(),
        branch: state.branch.clone(),
        task: state.spec.task.clone(),
        provider: session.provider.name().into(),
        model: session.provider.model().into(),
    });

    if !resuming {
        for d in &session.environment.detected {
            reporter.progress(&format!("🔍 detected: {d}"));
        }
        let timeout = session.budgets.check_timeout;
        run_setup(&session.runner, &session.environment, &reporter, timeout).await;
        state.baseline = run_checks(
            &session.workspace,
            &session.runner,
            &session.environment,
            &reporter,
            timeout,
            "baseline",
            &[CheckKind::Test],
        )
        .await;
    }

    let outcome = orchestrator::drive(&mut session, &mut state).await;
    state.usage = session.usage;
    state.elapsed_ms = session.elapsed().as_millis() as u64;
    let task_dir = repo.task_dir(&id);
    match outcome {
        Err(e) => {
            // Nothing lost: what was written so far stays on the branch.
            let _ = state.commit(&session, "stopped by an error");
            let _ = checkpoint::save(&task_dir.join(STATE_FILE), &state, &session.redactor);
            let _ = repo.remove_worktree(&id, &worktree);
            finished_event(&session, &state, "error", exit::ERROR, &task_dir, None);
            Err(anyhow::Error::new(e).context(format!(
                "task {id} failed; the work so far is committed on branch {}",
                state.branch
            )))
        }
        Ok(Outcome::Waiting(question)) => {
            checkpoint::save(&task_dir.join(STATE_FILE), &state, &session.redactor)?;
            write_file(
                &task_dir.join("spec.md"),
                &state.spec.to_markdown(),
                &session.redactor,
            )?;
            let repo_arg = shell_quote(&repo.workdir().display().to_string());
            reporter.progress(&format!("❓ task {id} is waiting for an answer"));
            reporter.result(&format!(
                "❓ Deckhand needs an answer to continue task {id}:\n\n> {}\n\nContinue with:\n  deckhand run --repo {repo_arg} --resume {id} --answer \"…\"",
                question.replace('\n', "\n> ")
            ));
            finished_event(
                &session,
                &state,
                "waiting",
                exit::WAITING,
                &task_dir,
                Some(question),
            );
            Ok(exit::WAITING)
        }
        Ok(outcome) => {
            let (status, code) = match outcome {
                Outcome::Done => (PrStatus::Done, exit::DONE),
                Outcome::GaveUp => (
                    PrStatus::NeedsReview(format!(
                        "verification still failed after {} attempts; the last failure is below",
                        state.reports.len()
                    )),
                    exit::NEEDS_REVIEW,
                ),
                Outcome::Stopped(limit) => (
                    PrStatus::NeedsReview(format!(
                        "the task stopped early because {}; the work done so far is committed",
                        limit.describe(&session.budgets)
                    )),
                    exit::NEEDS_REVIEW,
                ),
                Outcome::Waiting(_) => unreachable_waiting()?,
            };
            finish(&repo, &mut session, &mut state, &worktree, status, code)
        }
    }
}

fn unreachable_waiting() -> anyhow::Result<(PrStatus, i32)> {
    bail!("internal: a waiting task reached the finishing step")
}

/// A new task: id, branch and worktree.
fn start(
    repo: &LocalRepo,
    task: &str,
    settings: &Settings,
) -> anyhow::Result<(TaskState, PathBuf)> {
    if task.trim().is_empty() {
        bail!("--task is empty: say what Deckhand should do");
    }
    let id = new_task_id(task, |id| {
        repo.branch_exists(&format!("deckhand/{id}")) || repo.task_dir(id).exists()
    });
    let branch = format!("deckhand/{id}");
    let worktree = repo.task_dir(&id).join("worktree");
    let base = repo.add_worktree(&id, &branch, &worktree)?;
    let spec = TaskSpec::new(id, repo.display_name(), task.trim());
    let author = (
        settings.file.git.name.clone(),
        settings.file.git.email.clone(),
    );
    Ok((TaskState::new(spec, branch, base, author), worktree))
}

/// A saved task, with its question answered.
fn resume(repo: &LocalRepo, id: &str, answer: &str) -> anyhow::Result<(TaskState, PathBuf)> {
    if !is_valid_task_id(id) {
        bail!("`{id}` is not a task id (ids look like dh-2f9c1a)");
    }
    let dir = repo.task_dir(id);
    let mut state: TaskState = checkpoint::load(&dir.join(STATE_FILE))
        .with_context(|| format!("task {id} cannot be resumed"))?;
    if state.spec.status != TaskStatus::WaitingForAnswer {
        bail!(
            "task {id} is not waiting for an answer (its status is {})",
            state.spec.status.as_str()
        );
    }
    let worktree = dir.join("worktree");
    if !worktree.join(".git").exists() {
        bail!(
            "task {id}: its worktree {} is gone; start the task again",
            worktree.display()
        );
    }
    let answered = state.role.as_mut().is_some_and(|role| role.answer(answer));
    if !answered {
        bail!("task {id} has no open question to answer");
    }
    Ok((state, worktree))
}

/// Commits leftovers, writes the PR description and spec, removes the
/// worktree (the branch stays), prints the result.
fn finish(
    repo: &LocalRepo,
    session: &mut Session,
    state: &mut TaskState,
    worktree: &Path,
    status: PrStatus,
    code: i32,
) -> anyhow::Result<i32> {
    state.commit(session, "final state")?;
    state.spec.status = match status {
        PrStatus::Done => TaskStatus::Done,
        PrStatus::NeedsReview(_) => TaskStatus::NeedsReview,
    };
    let (changes, _) = git::diff_since(worktree, &state.base_commit)?;
    let id = state.spec.id.clone();
    let task_dir = repo.task_dir(&id);
    let text = pr::render(&PrInput {
        spec: &state.spec,
        status: status.clone(),
        summary: &state.code_summary,
        changes: &changes,
        baseline: &state.baseline,
        reports: &state.reports,
        usage: session.usage,
        cost: session.cost(),
        model: session.provider.model(),
        branch: &state.branch,
    });
    let pr_path = task_dir.join("pr.md");
    write_file(&pr_path, &text, &session.redactor)?;
    write_file(
        &task_dir.join("spec.md"),
        &state.spec.to_markdown(),
        &session.redactor,
    )?;
    let _ = std::fs::remove_file(task_dir.join(STATE_FILE));
    repo.remove_worktree(&id, worktree)?;
    session.reporter.result(&text);
    let (mark, word) = match status {
        PrStatus::Done => ("✅", "done"),
        PrStatus::NeedsReview(_) => ("⚠️", "needs review"),
    };
    session.progress(&format!(
        "{mark} {word}: branch {} · {} changed file(s) · PR description at {} · {}",
        state.branch,
        changes.len(),
        pr_path.display(),
        session.usage_line()
    ));
    let label = if code == exit::DONE {
        "done"
    } else {
        "needs-review"
    };
    finished_event(session, state, label, code, &task_dir, None);
    Ok(code)
}

fn finished_event(
    session: &Session,
    state: &TaskState,
    status: &str,
    code: i32,
    task_dir: &Path,
    stop_reason: Option<String>,
) {
    session.reporter.event(Event::TaskFinished {
        task_id: state.spec.id.clone(),
        status: status.into(),
        exit_code: code,
        branch: state.branch.clone(),
        pr_path: task_dir.join("pr.md").display().to_string(),
        stop_reason,
        usage: session.usage,
        cost_usd: session.cost(),
    });
}

fn write_file(path: &Path, text: &str, redactor: &Redactor) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, redactor.redact(text).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
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
