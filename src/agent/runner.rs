//! Runs one task in a worktree of a local repository: starts or resumes it,
//! drives the roles, and finishes with commits on the task's branch, the PR
//! description and the task's files under `.git/deckhand/<id>/`. Shared by
//! `deckhand run` and `deckhand action`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::context;
use crate::agent::conversation::AgentError;
use crate::agent::inbox::Inbox;
use crate::agent::orchestrator::{self, Outcome, TaskState};
use crate::agent::session::{Limit, Session, SessionParts};
use crate::config::{EnvSnapshot, Settings};
use crate::git::protect::GitDirSnapshot;
use crate::git::{self, FileChange, GitError, LocalRepo};
use crate::llm::{Provider, Usage};
use crate::report::pr::{self, PrInput, PrStatus};
use crate::report::{Event, Reporter};
use crate::sandbox::container::Paths;
use crate::sandbox::containment::{self, Containment, ContainmentError, SetupNetwork};
use crate::sandbox::env::command_env;
use crate::sandbox::{devstart, user, Redactor};
use crate::task::{checkpoint, TaskSpec, TaskStatus};
use crate::workspace::detect;
use crate::workspace::{CommandRunner, Workspace};

pub const STATE_FILE: &str = "state.json";
/// A finished task's state, kept so feedback can continue its branch.
pub const FINISHED_FILE: &str = "finished.json";
const REPO_MAP_BYTES: usize = 12_000;

/// What the runner needs besides the repository.
pub struct RunContext<'a> {
    pub settings: &'a Settings,
    pub env: &'a EnvSnapshot,
    pub provider: std::sync::Arc<dyn Provider>,
    pub reporter: Reporter,
    pub redactor: Redactor,
    /// Questions may be asked on this process's terminal.
    pub interactive: bool,
    /// Steering and pause requests that arrive while the task runs.
    pub inbox: Option<Box<dyn Inbox>>,
    /// Commands run as the `deckhand` account when this process is root and
    /// no `command_user` is configured (the action's image).
    pub default_command_user: bool,
    /// Running out of time checkpoints the task (for a continuation job)
    /// instead of ending it as needs-review.
    pub continue_after_time_limit: bool,
    /// Commands run in the dev container the repository declares (or an
    /// official image for its language), when there is one.
    pub dev_container: bool,
    /// The team rules on the memory branch (recalled at each role's start).
    pub team_rules: Vec<crate::memory::rules::Rule>,
    /// Review feedback this run fixes: after the fix, `learn` runs on it.
    pub feedback: Option<String>,
}

/// A new task, or one continuing from its saved state.
pub enum Start {
    New {
        task: String,
        id: String,
        branch: String,
        repo_name: String,
        /// Start from this branch or commit instead of HEAD.
        start: Option<String>,
    },
    Resume {
        state: Box<TaskState>,
    },
}

/// How a run ended, as users and workflows see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Done,
    NeedsReview(String),
    Waiting(String),
    /// Checkpointed at someone's request (who).
    Paused(String),
    /// Checkpointed because this job's time ran out; a new job continues.
    OutOfTime,
}

impl Ending {
    pub fn label(&self) -> &'static str {
        match self {
            Ending::Done => "done",
            Ending::NeedsReview(_) => "needs-review",
            Ending::Waiting(_) => "waiting",
            Ending::Paused(_) => "paused",
            Ending::OutOfTime => "continued",
        }
    }

    pub fn exit_code(&self) -> i32 {
        use crate::cli::exit;
        match self {
            Ending::Done => exit::DONE,
            Ending::NeedsReview(_) => exit::NEEDS_REVIEW,
            Ending::Waiting(_) | Ending::Paused(_) | Ending::OutOfTime => exit::WAITING,
        }
    }
}

/// Everything a finished (or waiting) run produced.
pub struct TaskResult {
    pub state: TaskState,
    pub ending: Ending,
    /// The PR description (not for a waiting task).
    pub pr_text: Option<String>,
    pub changes: Vec<FileChange>,
    pub usage: Usage,
    pub cost: Option<f64>,
    pub model: String,
    pub task_dir: PathBuf,
    /// Rules the learn step recorded from the feedback (not stored yet).
    pub learned: Vec<crate::agent::tools::RecordedRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("task {id} failed; the work so far is committed on branch {branch}")]
    Agent {
        id: String,
        branch: String,
        #[source]
        source: Box<AgentError>,
    },
    #[error("cannot open the task's worktree {path}: {source}")]
    Worktree {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Containment(#[from] ContainmentError),
    #[error(transparent)]
    Preflight(#[from] crate::agent::preflight::PreflightError),
    #[error(transparent)]
    DevContainer(#[from] crate::sandbox::container::ContainerError),
    #[error("git work stopped before it finished: {0}")]
    Stopped(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Puts the repository's git configuration and hooks back when dropped.
struct RestoreGitDir(GitDirSnapshot);

impl Drop for RestoreGitDir {
    fn drop(&mut self) {
        if let Err(e) = self.0.restore() {
            tracing::error!(error = %e, "could not restore the repository's git configuration and hooks");
        }
    }
}

/// The worktree of task `id`.
pub fn worktree_path(repo: &LocalRepo, id: &str) -> PathBuf {
    repo.task_dir(id).join("worktree")
}

/// Runs the task to its end (done, needs review, or waiting).
pub async fn execute(
    repo: &LocalRepo,
    start: Start,
    mut cx: RunContext<'_>,
) -> Result<TaskResult, RunError> {
    let resuming = matches!(start, Start::Resume { .. });
    // The worktree shares the repository's git dir: whatever a command
    // plants there (fsmonitor, hooksPath, hooks) is gone when the task ends.
    let _git_dir = RestoreGitDir(GitDirSnapshot::take(repo.common_dir())?);
    let (mut state, worktree) = match start {
        Start::New {
            task,
            id,
            branch,
            repo_name,
            start,
        } => {
            // Only the branch now; the checkout runs in the background.
            let base = repo.create_branch(&branch, start.as_deref())?;
            let spec = TaskSpec::new(&id, repo_name, task.trim());
            let author = (
                cx.settings.file.git.name.clone(),
                cx.settings.file.git.email.clone(),
            );
            let worktree = worktree_path(repo, &id);
            (TaskState::new(spec, branch, base, author), worktree)
        }
        Start::Resume { state } => {
            let worktree = worktree_path(repo, &state.spec.id);
            (*state, worktree)
        }
    };
    let id = state.spec.id.clone();
    let task_dir = repo.task_dir(&id);
    let io_err = |source| RunError::Worktree {
        path: worktree.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&task_dir).map_err(io_err)?;
    let needs_checkout = !worktree.join(".git").exists();
    let mut workspace = Workspace::planned(&task_dir, "worktree").map_err(io_err)?;
    // A resumed task (a continuation, a feedback fix) is read from its own
    // branch: check it out before reading checks, steering and the map.
    let attach = needs_checkout && !resuming;
    if needs_checkout && resuming {
        let (dir, id, branch, path) = (
            repo.workdir().to_path_buf(),
            id.clone(),
            state.branch.clone(),
            worktree.clone(),
        );
        tokio::task::spawn_blocking(move || {
            LocalRepo::open(&dir)?.attach_worktree(&id, &branch, &path)
        })
        .await
        .map_err(|e| io_err(std::io::Error::other(e)))??;
    }
    // Until a new task's worktree is there, the prompt is built from the
    // checkout it comes from (the same commit, or the user's tree on top).
    let source = if attach {
        repo.workdir().to_path_buf()
    } else {
        worktree.clone()
    };
    let mut environment = detect::detect(&source).with_overrides(&cx.settings.file.commands);
    let stable_steering = context::load_steering(&source, &state.spec.task, &[]);
    let steering = context::render_steering(&stable_steering);
    let task_context = context::TaskContext::for_task(
        &source,
        &state,
        &stable_steering,
        std::mem::take(&mut cx.team_rules),
    );
    let repo_map = context::repo_map(&source, REPO_MAP_BYTES);
    let user = cx.settings.command_user(cx.default_command_user)?;
    if let Some(user) = &user {
        // Before any model call: commands must be able to run there.
        crate::agent::preflight::check_reach(&task_dir, user)?;
        let path = cx.env.get("PATH").unwrap_or_default().to_string();
        let commands: Vec<String> = environment
            .checks
            .iter()
            .map(|c| c.command.clone())
            .chain(environment.setup.iter().map(|s| s.command.clone()))
            .collect();
        crate::agent::preflight::check_toolchain(&commands, &path, user)?;
        workspace = workspace.with_owner(user.uid, user.gid);
    }
    let containment =
        build_containment(&cx, repo, &task_dir, &worktree, user.as_ref(), &environment).await?;
    let dev = match cx.dev_container {
        true => {
            let paths = Paths {
                build_root: &source,
                share: &task_dir,
                cwd: &worktree,
            };
            dev_container(&cx, paths, user.as_ref(), &containment, &mut environment).await?
        }
        false => None,
    };
    let (runner, setup_runner) = match dev {
        Some(container) => (container.agent, container.setup),
        None => (containment.agent.clone(), containment.setup.clone()),
    };
    let preparation = prepare(Preparing {
        repo_dir: repo.workdir().to_path_buf(),
        id: id.clone(),
        branch: state.branch.clone(),
        checkout: needs_checkout.then(|| worktree.clone()),
        attach,
        user: user.clone(),
        baseline: !resuming,
        workspace: workspace.clone(),
        runner: runner.clone(),
        setup_runner,
        setup_network: containment.setup_network(),
        environment: environment.clone(),
        reporter: cx.reporter.clone(),
        timeout: cx.settings.budgets.check_timeout,
    });
    let reporter = cx.reporter.clone();
    let mut session = Session::new(SessionParts {
        provider: cx.provider,
        prices: cx.settings.prices.clone(),
        budgets: cx.settings.budgets,
        workspace,
        runner,
        redactor: cx.redactor,
        reporter: reporter.clone(),
        environment,
        steering,
        repo_map,
        context: Some(task_context),
        interactive: cx.interactive,
        inbox: cx.inbox,
    });
    session.resume_from(state.usage, Duration::from_millis(state.elapsed_ms));
    session.limits.allow_workflow_changes = cx.settings.file.allow_workflow_changes;

    let first_line = state.spec.title().to_string();
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
    }
    session.preparing(preparation);

    // The fix learn reads starts where the branch is now. A branch this
    // task has no commits on yet (a PR fixed from review feedback in
    // Actions) is measured from its tip, not from its merge-base.
    let fix_base = match (resuming, state.commits.is_empty()) {
        (true, true) => repo
            .resolve_commit(&state.branch)
            .unwrap_or_else(|_| state.head_commit().to_string()),
        _ => state.head_commit().to_string(),
    };
    let mut outcome = orchestrator::drive(&mut session, &mut state).await;
    state.containment.blocked = containment.blocked();
    state.containment.advisories = containment.advisories.clone();
    // Whatever ended the task, the worktree must be ready to commit in.
    if let Err(e) = state.take_baseline(&mut session).await {
        outcome = Err(e);
    }
    if let Some(context) = &session.context {
        state.team_rules = context.applied.clone();
    }
    let learned = match (&outcome, cx.feedback.as_deref()) {
        (Ok(Outcome::Done | Outcome::GaveUp), Some(feedback)) => {
            learn_from(&mut session, &state, &worktree, &fix_base, feedback).await
        }
        _ => Vec::new(),
    };
    state.usage = session.usage;
    state.elapsed_ms = session.elapsed().as_millis() as u64;
    let ending = match outcome {
        Err(source) => {
            // Nothing lost: what was written so far stays on the branch.
            let _ = state.commit_async(&session, "stopped by an error").await;
            let _ = checkpoint::save(&task_dir.join(STATE_FILE), &state, &session.redactor);
            let _ = remove_worktree(repo, &id, &worktree).await;
            finished_event(
                &session,
                &state,
                "error",
                crate::cli::exit::ERROR,
                &task_dir,
                Some(session.redactor.redact(&source.to_string()).into_owned()),
            );
            return Err(RunError::Agent {
                id,
                branch: state.branch.clone(),
                source: Box::new(source),
            });
        }
        Ok(Outcome::Waiting(question)) => Ending::Waiting(question),
        Ok(Outcome::Paused(author)) => Ending::Paused(author),
        Ok(Outcome::Done) => Ending::Done,
        Ok(Outcome::GaveUp) => Ending::NeedsReview(format!(
            "verification still failed after {} attempts; the last failure is below",
            state.reports.len()
        )),
        Ok(Outcome::Stopped(Limit::WallClock)) if cx.continue_after_time_limit => Ending::OutOfTime,
        Ok(Outcome::Stopped(limit)) => Ending::NeedsReview(format!(
            "the task stopped early because {}; the work done so far is committed",
            limit.describe(&session.budgets)
        )),
    };
    if let Ending::Waiting(_) | Ending::Paused(_) | Ending::OutOfTime = &ending {
        let why = match &ending {
            Ending::Paused(author) => {
                reporter.progress(&format!("⏸️ task {id} is paused (asked by @{author})"));
                format!("paused by @{author}")
            }
            Ending::OutOfTime => {
                state.spec.status = TaskStatus::Paused;
                reporter.progress(&format!(
                    "⏱️ task {id} ran out of time in this job; checkpointed"
                ));
                "out of time".to_string()
            }
            _ => {
                reporter.progress(&format!("❓ task {id} is waiting for an answer"));
                state.question.clone().unwrap_or_default()
            }
        };
        checkpoint::save(&task_dir.join(STATE_FILE), &state, &session.redactor)?;
        write_file(
            &task_dir.join("spec.md"),
            &state.spec.to_markdown(),
            &session.redactor,
        )?;
        finished_event(
            &session,
            &state,
            ending.label(),
            ending.exit_code(),
            &task_dir,
            Some(why),
        );
        let changes = diff_since(&worktree, &state.base_commit).await?;
        return Ok(TaskResult {
            usage: session.usage,
            cost: session.cost(),
            model: session.provider.model().to_string(),
            state,
            ending,
            pr_text: None,
            changes,
            task_dir,
            learned: Vec::new(),
        });
    }
    let mut result = finish(repo, session, state, &worktree, ending, task_dir).await?;
    result.learned = learned;
    Ok(result)
}

/// Git work on the blocking pool, off the async workers.
async fn off_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RunError::Stopped(e.to_string()))?
        .map_err(RunError::from)
}

async fn diff_since(worktree: &Path, base: &str) -> Result<Vec<FileChange>, RunError> {
    let (worktree, base) = (worktree.to_path_buf(), base.to_string());
    off_workers(move || git::diff_since(&worktree, &base).map(|(changes, _)| changes)).await
}

async fn remove_worktree(repo: &LocalRepo, id: &str, worktree: &Path) -> Result<(), RunError> {
    let (dir, id, worktree) = (
        repo.workdir().to_path_buf(),
        id.to_string(),
        worktree.to_path_buf(),
    );
    off_workers(move || LocalRepo::open(&dir)?.remove_worktree(&id, &worktree)).await
}

/// The learn step on the fix this run made (`fix_base`..the branch); a
/// failure costs the rules, never the fix.
async fn learn_from(
    session: &mut Session,
    state: &TaskState,
    worktree: &Path,
    fix_base: &str,
    feedback: &str,
) -> Vec<crate::agent::tools::RecordedRule> {
    let diff = match git::diff_since(worktree, fix_base) {
        Ok((_, diff)) => diff,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the fix's diff for learning");
            String::new()
        }
    };
    match crate::agent::learn::learn(session, &state.spec.repo, feedback, &diff).await {
        Ok(recorded) => recorded,
        Err(e) => {
            session.progress(&format!("⚠️ learn: no rules learned ({e})"));
            Vec::new()
        }
    }
}

/// The launchers of the task's commands (see [`Containment`]).
async fn build_containment(
    cx: &RunContext<'_>,
    repo: &LocalRepo,
    task_dir: &Path,
    worktree: &Path,
    user: Option<&user::CommandUser>,
    environment: &crate::workspace::detect::Environment,
) -> Result<Containment, RunError> {
    let reporter = cx.reporter.clone();
    let process_env = cx.env.pairs();
    // Python checks run in the virtual environment setup makes.
    let command_env = environment.command_env(
        worktree,
        command_env(&process_env, &cx.settings.secret_names),
    );
    let extra_write = environment
        .venv
        .then(|| crate::workspace::detect::venv_dir(worktree))
        .into_iter()
        .collect();
    let network = &cx.settings.network;
    Ok(Containment::build(containment::Params {
        worktree,
        task_dir,
        git_dir: repo.raw().commondir(),
        command_env,
        extra_write,
        process_env: &process_env,
        user,
        level: network.level,
        setup_level: network.setup_level,
        allowed_domains: &network.allowed_domains,
        max_processes: cx.settings.file.max_processes,
        log: std::sync::Arc::new(move |line: &str| reporter.progress(line)),
    })
    .await?)
}

/// Starts the dev container the repository declares, when it declares one
/// (or needs an official image for its language): agent commands, setup
/// and verify then run in it. Its own setup commands run first.
async fn dev_container(
    cx: &RunContext<'_>,
    paths: Paths<'_>,
    user: Option<&user::CommandUser>,
    containment: &Containment,
    environment: &mut crate::workspace::detect::Environment,
) -> Result<Option<devstart::Launchers>, RunError> {
    let reporter = cx.reporter.clone();
    let progress = move |line: &str| reporter.progress(line);
    let started = devstart::start(
        devstart::Request {
            paths,
            configured: cx
                .settings
                .file
                .dev_container
                .as_ref()
                .and_then(|d| d.dockerfile.as_deref()),
            process_env: &cx.env.pairs(),
            secret_names: &cx.settings.secret_names,
            user,
            containment,
            host_without_docker: true,
            progress: &progress,
        },
        environment,
    )
    .await?;
    Ok(started.launchers)
}

/// What the background preparation needs.
struct Preparing {
    repo_dir: PathBuf,
    id: String,
    branch: String,
    /// The worktree made for this run (handed to the command user), when
    /// it was not there before.
    checkout: Option<PathBuf>,
    /// Whether the branch still has to be checked out there.
    attach: bool,
    user: Option<user::CommandUser>,
    /// Run setup and the baseline tests (not on resume).
    baseline: bool,
    workspace: Workspace,
    runner: CommandRunner,
    setup_runner: CommandRunner,
    /// Closed once setup is over (or at once, when no setup runs).
    setup_network: SetupNetwork,
    environment: crate::workspace::detect::Environment,
    reporter: Reporter,
    timeout: Duration,
}

/// Checks the worktree out, hands it to the command user, runs setup and
/// the baseline tests, in the background.
fn prepare(p: Preparing) -> crate::agent::session::Preparation {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let (checkout, user, id, branch, repo_dir) =
            (p.checkout, p.user.clone(), p.id, p.branch, p.repo_dir);
        let attach = p.attach;
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            if let (Some(path), true) = (&checkout, attach) {
                let repo = LocalRepo::open(&repo_dir).map_err(|e| e.to_string())?;
                repo.attach_worktree(&id, &branch, path)
                    .map_err(|e| e.to_string())?;
            }
            if let (Some(user), Some(path)) = (&user, &checkout) {
                user::hand_over(path, user).map_err(|e| e.to_string())?;
                // The worktree's own git dir too, so `git status` and friends
                // work for the command user.
                if let Some(gitdir) = std::fs::read_to_string(path.join(".git"))
                    .ok()
                    .and_then(|t| t.strip_prefix("gitdir:").map(|g| PathBuf::from(g.trim())))
                {
                    user::hand_over(&gitdir, user).map_err(|e| e.to_string())?;
                }
                // The worktree now belongs to the command user; Deckhand
                // still commits in it.
                // SAFETY: a process-wide libgit2 option; it only relaxes the
                // ownership check for repositories opened after this.
                unsafe {
                    let _ = git2::opts::set_verify_owner_validation(false);
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("the checkout stopped: {e}"))??;
        if started.elapsed() > Duration::from_secs(1) {
            p.reporter.progress(&format!(
                "📦 worktree ready ({})",
                crate::report::events::human_duration(started.elapsed())
            ));
        }
        if !p.baseline {
            // No setup runs on a resume: its wider network is not needed.
            p.setup_network.close().await;
            return Ok(None);
        }
        Ok(Some(
            crate::agent::verify::baseline(
                &p.workspace,
                &p.setup_runner,
                &p.runner,
                &p.environment,
                &p.reporter,
                p.timeout,
                &p.setup_network,
            )
            .await,
        ))
    })
}

/// Commits leftovers, writes the PR description and spec, removes the
/// worktree (the branch stays).
async fn finish(
    repo: &LocalRepo,
    session: Session,
    mut state: TaskState,
    worktree: &Path,
    ending: Ending,
    task_dir: PathBuf,
) -> Result<TaskResult, RunError> {
    state
        .commit_async(&session, "final state")
        .await
        .map_err(|source| RunError::Agent {
            id: state.spec.id.clone(),
            branch: state.branch.clone(),
            source: Box::new(source),
        })?;
    let status = match &ending {
        Ending::NeedsReview(reason) => PrStatus::NeedsReview(reason.clone()),
        _ => PrStatus::Done,
    };
    state.spec.status = match status {
        PrStatus::Done => TaskStatus::Done,
        PrStatus::NeedsReview(_) => TaskStatus::NeedsReview,
    };
    let changes = diff_since(worktree, &state.base_commit).await?;
    let text = pr::render(&PrInput {
        spec: &state.spec,
        status: status.clone(),
        summary: &state.code_summary,
        changes: &changes,
        baseline: &state.baseline,
        setup_failed: &state.setup_failed,
        reports: &state.reports,
        usage: session.usage,
        cost: session.cost(),
        model: session.provider.model(),
        branch: &state.branch,
        verified_commit: state.verified_commit.as_deref(),
        head_commit: state.head_commit(),
        containment: &state.containment,
        team_rules: &state.team_rules,
    });
    let text = session.redactor.redact(&text).into_owned();
    let pr_path = task_dir.join("pr.md");
    write_file(&pr_path, &text, &session.redactor)?;
    write_file(
        &task_dir.join("spec.md"),
        &state.spec.to_markdown(),
        &session.redactor,
    )?;
    let _ = std::fs::remove_file(task_dir.join(STATE_FILE));
    checkpoint::save(&task_dir.join(FINISHED_FILE), &state, &session.redactor)?;
    remove_worktree(repo, &state.spec.id, worktree).await?;
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
    let stop_reason = match &ending {
        Ending::NeedsReview(reason) => Some(reason.clone()),
        _ => None,
    };
    finished_event(
        &session,
        &state,
        ending.label(),
        ending.exit_code(),
        &task_dir,
        stop_reason,
    );
    Ok(TaskResult {
        usage: session.usage,
        cost: session.cost(),
        model: session.provider.model().to_string(),
        state,
        ending,
        pr_text: Some(text),
        changes,
        task_dir,
        learned: Vec::new(),
    })
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

/// Writes a file Deckhand produced, redacted.
pub fn write_file(path: &Path, text: &str, redactor: &Redactor) -> Result<(), RunError> {
    let err = |source| RunError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, redactor.redact(text).as_bytes()).map_err(err)
}
