//! One task inside an Actions job: clone with the token, run the task loop,
//! push the branch, open or update the pull request, keep the progress
//! comment current, checkpoint a task that waits, and report the outputs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::learning::{self, Learning, Lesson, Teacher, Trust};
use super::offload::{self, MemoryAt};
use super::progress::{Marker, Progress, Status, Updater, MAX_COMMENT};
use super::route::Feedback;
use super::team;
use super::Ctx;
use crate::agent::orchestrator::{Phase, TaskState};
use crate::agent::runner::{self, Ending, RunContext, Start, TaskResult};
use crate::campaign::pacing::Request;
use crate::config::Settings;
use crate::git::remote::{self, Remote};
use crate::git::LocalRepo;
use crate::github::client::{NewPull, Pull, RepoRef};
use crate::llm;
use crate::memory::{checkpoint_path, Author};
use crate::report::workflow;

/// The label a PR gets when verification gave up.
pub const NEEDS_REVIEW_LABEL: &str = "needs-human-review";
const TASK_MARKER: &str = "<!-- deckhand:task id=";

/// What to run.
pub struct Job {
    pub id: String,
    pub branch: String,
    /// PR title.
    pub title: String,
    pub task: String,
    /// The issue the task comes from: progress comment, question, `Closes`.
    pub issue: Option<u64>,
    /// Continue from a checkpoint instead of starting.
    pub resume: Option<TaskState>,
    pub kind: JobKind,
    /// Comments left out of the prompt: their authors may not write.
    pub unread: usize,
    /// Jobs dispatched in a row before this one because time ran out.
    pub continuations: u32,
}

/// A checkpoint on the memory branch: the task and the job it runs in.
pub type Checkpoint = crate::task::checkpoint::Saved<TaskState, JobKind>;

/// Continuations dispatched in a row before a task waits for a person.
pub const MAX_CONTINUATIONS: u32 = 5;

impl Job {
    /// The continuation of a checkpointed task: the same kind of job (a
    /// feedback job stays one, on the same PR and thread).
    pub fn resuming(saved: Checkpoint) -> Job {
        let state = saved.state;
        Job {
            id: state.spec.id.clone(),
            branch: state.branch.clone(),
            title: first_line(&state.spec.task),
            task: state.spec.task.clone(),
            issue: state.issue,
            resume: Some(state),
            kind: saved.kind.unwrap_or(JobKind::Task),
            unread: 0,
            continuations: saved.continuations,
        }
    }

    /// A fix of Deckhand's pull request `pull` on `branch`, per review
    /// feedback or a sibling's rule: straight to code, replies on the PR.
    pub fn fixing(
        id: String,
        pull: &Pull,
        branch: String,
        task: String,
        feedback: Feedback,
        source: Option<FeedbackSource>,
    ) -> Job {
        Job {
            id,
            branch,
            title: pull.title.clone(),
            task,
            issue: None,
            resume: None,
            unread: 0,
            continuations: 0,
            kind: JobKind::Feedback {
                pr: pull.number,
                base: pull.base_ref.clone(),
                feedback,
                source,
            },
        }
    }

    /// Where the task talks to people: its issue, or the PR it fixes.
    pub fn thread(&self) -> Option<u64> {
        match &self.kind {
            JobKind::Feedback { pr, .. } => Some(*pr),
            JobKind::Task => self.issue,
        }
    }
}

/// A title from a task's first line.
pub fn first_line(text: &str) -> String {
    crate::task::spec::first_line(text)
        .unwrap_or("Deckhand task")
        .chars()
        .take(120)
        .collect()
}

/// A task of its own, or a fix of a Deckhand PR per review feedback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobKind {
    Task,
    Feedback {
        pr: u64,
        /// The PR's base branch.
        base: String,
        feedback: Feedback,
        /// Where the feedback is and who gave it: what rules are learned
        /// from (checkpoints written before it existed have none).
        #[serde(default)]
        source: Option<FeedbackSource>,
    },
}

/// The page of a review, review comment or PR comment, and its author.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedbackSource {
    pub url: String,
    pub author: String,
}

/// What the step reports (`$GITHUB_OUTPUT`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub task_id: String,
    pub status: String,
    pub pr_url: String,
    pub branch: String,
    pub tokens_used: u64,
    pub cost_usd: Option<f64>,
    pub summary: String,
}

impl Outputs {
    pub fn skipped(why: &str) -> Outputs {
        Outputs {
            status: "skipped".into(),
            summary: format!("Deckhand did nothing: {why}.\n"),
            ..Outputs::default()
        }
    }
}

/// The PR marker that ties a pull request to its task.
pub fn task_marker(id: &str) -> String {
    format!("{TASK_MARKER}{id} -->")
}

/// The task a Deckhand pull request fixes: the id its body records, else
/// one made from the repository and the PR's branch.
pub fn task_of_fix(repo: &RepoRef, pull: &Pull, branch: &str) -> String {
    pull.body
        .as_deref()
        .and_then(task_of_pr)
        .unwrap_or_else(|| crate::task::id::new_task_id(&format!("{repo}\n{branch}"), |_| false))
}

/// The task id recorded in a PR body.
pub fn task_of_pr(body: &str) -> Option<String> {
    let start = body.find(TASK_MARKER)? + TASK_MARKER.len();
    let end = body[start..].find(" -->")? + start;
    Some(body[start..end].to_string())
}

/// `{server}/{owner}/{name}.git` with the job's token.
pub fn remote_of(ctx: &Ctx, repo: &RepoRef) -> Remote {
    Remote {
        url: format!("{}/{}/{}.git", ctx.runner.server_url, repo.owner, repo.name),
        token: ctx.token.clone(),
    }
}

/// Where the memory branch of the config repository lives: the input
/// `config_repo`, else the workflow's own repository (`GITHUB_REPOSITORY`),
/// never the target of a matrix job.
pub fn memory_at(ctx: &Ctx) -> anyhow::Result<MemoryAt> {
    let (name, input) = match &ctx.inputs.config_repo {
        Some(r) => (r, "input `config_repo`"),
        None => (&ctx.runner.repository, "GITHUB_REPOSITORY"),
    };
    let repo: RepoRef = name
        .parse()
        .with_context(|| format!("{input}: `{name}` is not owner/name"))?;
    Ok(MemoryAt {
        repo: repo.to_string(),
        remote: remote_of(ctx, &repo),
        branch: ctx.inputs.memory_branch.clone(),
        cache: ctx.runner.runner_temp.join("deckhand-memory"),
    })
}

/// Finds the task's progress comment on the issue.
pub async fn find_progress(
    ctx: &Ctx,
    issue: u64,
    id: &str,
) -> anyhow::Result<Option<(u64, Marker)>> {
    let comments = ctx.github.comments(&ctx.repo, issue, None).await?;
    for c in comments.iter().rev() {
        let Some(marker) = Marker::find(&c.body).filter(|m| m.task == id) else {
            continue;
        };
        // Anyone may write a marker into a comment; only Deckhand's own
        // account's counts (a forged `running` swallows nothing).
        if ctx.identity.wrote(&c.user.login, &c.body) {
            return Ok(Some((c.id, marker)));
        }
        tracing::warn!(
            "ignoring a progress marker in a comment by @{}",
            c.user.login
        );
    }
    Ok(None)
}

/// A fresh clone of the repository, seeded from the workspace checkout when
/// there is one (on the blocking pool).
async fn clone_repo(ctx: &Ctx, id: &str) -> anyhow::Result<LocalRepo> {
    let dest = ctx
        .runner
        .runner_temp
        .join("deckhand")
        .join(id)
        .join("repo");
    let local: Option<PathBuf> = ctx
        .runner
        .workspace
        .clone()
        .filter(|w| w.join(".git").exists());
    let remote = remote_of(ctx, &ctx.repo);
    offload::blocking(move || {
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .with_context(|| format!("cannot clear {}", dest.display()))?;
        }
        Ok(remote::clone_with_reference(
            &remote,
            &dest,
            local.as_deref(),
        )?)
    })
    .await
}

/// The first comment Deckhand writes shows the account it writes as: the
/// rest of the job knows it (a GitHub App's bot, not the Actions bot), and
/// so do later jobs (kept on the memory branch).
async fn learn_identity(ctx: &Ctx, author: &str, settings: &Settings) {
    if let Some(login) = ctx.identity.learn(author) {
        println!(
            "{}",
            workflow::warning(
                "Deckhand",
                &format!("the token writes as @{login}; set the `bot_login` input to `{login}` so every job knows its own comments and pull requests from the start")
            )
        );
        let git = &settings.file.git;
        if let Err(e) =
            super::remembered::remember(ctx, login, (git.name.clone(), git.email.clone())).await
        {
            println!(
                "{}",
                workflow::warning(
                    "Deckhand",
                    &ctx.redactor.redact(&format!(
                        "could not keep @{login} on the memory branch: {e:#}"
                    ))
                )
            );
        }
    }
}

/// Runs `job` to its end and reports.
pub async fn run(ctx: &Ctx, job: Job) -> anyhow::Result<Outputs> {
    println!(
        "{}",
        workflow::group(&format!("Deckhand task {}: {}", job.id, job.title))
    );
    let result = run_inner(ctx, job).await;
    println!("{}", workflow::END_GROUP);
    result
}

async fn run_inner(ctx: &Ctx, job: Job) -> anyhow::Result<Outputs> {
    // A campaign without a plan fails here, before any work, not at the PR.
    let campaign = super::campaign::CampaignJob::open(ctx).await?;
    let repo = clone_repo(ctx, &job.id).await?;
    let dir = repo.workdir().to_path_buf();
    let mut settings = Settings::load(repo.workdir(), &ctx.flags)?;
    ctx.apply_inputs(&mut settings)?;
    let provider_settings = settings.provider(&ctx.flags, &ctx.env)?;
    let model = provider_settings.model.clone();
    let provider: std::sync::Arc<dyn llm::Provider> = llm::build(provider_settings)?.into();
    let remote = remote_of(ctx, &ctx.repo);
    // Every task gets the team's rules; feedback from someone who may
    // teach is learned from after the fix.
    let memory = memory_at(ctx)?;
    let team_rules = team::read(&memory, &ctx.redactor).await;
    let teacher = teacher_of(ctx, &job.kind).await;
    let learn_from = match (&job.kind, &teacher) {
        // A review without words (only diff comments) teaches nothing.
        (JobKind::Feedback { feedback, .. }, Some(Ok(t)))
            if !feedback.body().trim().is_empty()
                && matches!(
                    learning::trust(t, settings.file.memory.approve, &ctx.repo),
                    Trust::Teaches(_)
                ) =>
        {
            Some(feedback.body().to_string())
        }
        _ => None,
    };
    let wanted_base = match &job.kind {
        JobKind::Feedback { base, .. } => Some(base.clone()),
        JobKind::Task => ctx.inputs.base_branch.clone(),
    };
    let default_branch = ctx.github.repository(&ctx.repo).await?.default_branch;
    let base_branch = wanted_base.clone().unwrap_or(default_branch);
    let base_start = if wanted_base.is_some() {
        offload::fetch(dir.clone(), remote.clone(), base_branch.clone())
            .await?
            .with_context(|| format!("the base branch `{base_branch}` does not exist"))?;
        Some(base_branch.clone())
    } else {
        None
    };

    // Diffs are measured from where the task's branch left its base, not
    // from the base's tip (which may have moved on since).
    let base_tip = repo.resolve_commit(base_start.as_deref().unwrap_or("HEAD"))?;

    // Progress comment: found again by its marker, or created once.
    let progress_comment = match job.issue {
        Some(issue) => {
            let mut progress = Progress::new(
                &job.id,
                ctx.runner.run_id,
                ctx.runner.run_url(),
                &model,
                settings.prices.clone(),
            );
            progress.marker.status = Status::Running;
            progress.unread = job.unread;
            let body = ctx.redactor.redact(&progress.render()).into_owned();
            let id = match find_progress(ctx, issue, &job.id).await? {
                Some((comment_id, _)) => {
                    ctx.github
                        .update_comment(&ctx.repo, comment_id, &body)
                        .await?
                        .id
                }
                None => {
                    let created = ctx.github.create_comment(&ctx.repo, issue, &body).await?;
                    learn_identity(ctx, &created.user.login, &settings).await;
                    created.id
                }
            };
            // Another trigger may have started the task at the same moment:
            // the older claim runs it, this job steps aside.
            if let Some(run) = super::claim::earlier_claim(ctx, issue, &job.id, id).await? {
                super::claim::step_aside(ctx, id, &job.id, run).await?;
                println!(
                    "Deckhand: task {} was started by run {run} at the same time; leaving it to that run.",
                    job.id
                );
                return Ok(Outputs::skipped(&format!(
                    "task {} is already running in run {run}",
                    job.id
                )));
            }
            Some((id, progress))
        }
        None => None,
    };
    let updater = progress_comment.map(|(id, progress)| {
        Updater::start(
            ctx.github.clone(),
            ctx.repo.clone(),
            id,
            progress,
            ctx.redactor.clone(),
        )
    });
    let reporter = match &updater {
        Some(u) => u.reporter(ctx.json, ctx.redactor.clone()),
        None => crate::report::Reporter::new(ctx.json, ctx.redactor.clone()),
    };

    // A branch left by an earlier run is continued, never overwritten.
    let start = match job.resume.clone() {
        Some(mut state) => {
            let tip = offload::fetch(dir.clone(), remote.clone(), state.branch.clone())
                .await?
                .with_context(|| {
                    format!(
                        "the task's branch `{}` is gone from the repository",
                        state.branch
                    )
                })?;
            state.base_commit = repo.merge_base(&tip, &base_tip)?;
            Start::Resume {
                state: Box::new(state),
            }
        }
        None => match offload::fetch(dir.clone(), remote.clone(), job.branch.clone()).await? {
            Some(tip) => {
                let base = repo.merge_base(&tip, &base_tip)?;
                let spec =
                    crate::task::TaskSpec::new(&job.id, ctx.repo.to_string(), job.task.trim());
                let author = (
                    settings.file.git.name.clone(),
                    settings.file.git.email.clone(),
                );
                let mut state = TaskState::new(spec, job.branch.clone(), base, author);
                state.issue = job.issue;
                if matches!(job.kind, JobKind::Feedback { .. }) {
                    // The plan is the reviewer's words: straight to code.
                    state.phase = Phase::Code { attempt: 1 };
                }
                Start::Resume {
                    state: Box::new(state),
                }
            }
            None if matches!(job.kind, JobKind::Feedback { .. }) => {
                anyhow::bail!(
                    "the pull request's branch `{}` is gone from the repository",
                    job.branch
                )
            }
            None => Start::New {
                task: job.task.clone(),
                id: job.id.clone(),
                branch: job.branch.clone(),
                repo_name: ctx.repo.to_string(),
                start: base_start,
            },
        },
    };
    let executed = runner::execute(
        &repo,
        start,
        RunContext {
            settings: &settings,
            env: &ctx.env,
            provider,
            reporter: reporter.clone(),
            redactor: ctx.redactor.clone(),
            interactive: false,
            default_command_user: true,
            continue_after_time_limit: true,
            // The action image has Python and Node.js only: a repository
            // that declares its environment, or needs another toolchain,
            // gets its container.
            dev_container: true,
            team_rules,
            feedback: learn_from,
            inbox: job.issue.map(|issue| {
                Box::new(super::inbox::CommentInbox::new(
                    ctx.github.clone(),
                    ctx.repo.clone(),
                    issue,
                    &ctx.inputs.trigger_phrase,
                    &ctx.inputs.allowed_bots,
                    ctx.started,
                    std::time::Duration::from_secs(settings.file.poll_seconds.unwrap_or(20)),
                    ctx.trigger_comment,
                )) as Box<dyn crate::agent::inbox::Inbox>
            }),
        },
    )
    .await;
    let result = match executed {
        Ok(result) => result,
        Err(e) => {
            let message = ctx
                .redactor
                .redact(&format!("{:#}", anyhow::Error::from(e)))
                .into_owned();
            // Whatever was committed is worth keeping.
            let _ = offload::push(dir.clone(), remote.clone(), job.branch.clone()).await;
            if let Some(u) = updater {
                let _ = u
                    .finish(|p| {
                        p.marker.status = Status::Failed;
                        p.note = Some(format!(
                            "{message}\n\nThe work so far is on branch `{}`.",
                            job.branch
                        ));
                    })
                    .await;
            }
            return Err(anyhow::anyhow!(message));
        }
    };
    annotate_failures(&result);
    let pushing = format!("📤 pushing branch `{}`", result.state.branch);
    reporter.progress(&pushing);
    if let Some(u) = &updater {
        u.step(&pushing);
    }
    push(ctx, &dir, &remote, &result.state.branch, &result).await?;

    let committer = Author {
        name: settings.file.git.name.clone(),
        email: settings.file.git.email.clone(),
    };
    if !matches!(
        result.ending,
        Ending::Waiting(_) | Ending::OutOfTime | Ending::Paused(_)
    ) {
        team::record_use(&memory, committer.clone(), &result.state, &ctx.redactor).await;
    }
    let mut outputs = Outputs {
        task_id: job.id.clone(),
        status: result.ending.label().into(),
        pr_url: String::new(),
        branch: result.state.branch.clone(),
        tokens_used: result.usage.total(),
        cost_usd: result.cost,
        summary: String::new(),
    };
    match (&result.ending, &job.kind) {
        (Ending::Waiting(question), _) => {
            save_checkpoint(ctx, &job, &result, &settings).await?;
            let asked = format!(
                "❓ **Deckhand needs an answer** to continue:\n\n> {}\n\nReply with `{} <your answer>`.",
                question.replace('\n', "\n> "),
                ctx.inputs.trigger_phrase
            );
            // Asked where the task talks to people: its issue, or the PR
            // a feedback job fixes.
            if let Some(issue) = job.thread() {
                let body = workflow::truncate_markdown(&asked, MAX_COMMENT);
                ctx.github
                    .create_comment(&ctx.repo, issue, &ctx.redactor.redact(&body))
                    .await?;
            }
            outputs.summary = asked;
            if let Some(u) = updater {
                u.finish(|p| {
                    p.marker.status = Status::Waiting;
                    p.note = Some(format!("Waiting for an answer: {question}"));
                })
                .await?;
            }
        }
        (Ending::OutOfTime, _) => {
            save_checkpoint(ctx, &job, &result, &settings).await?;
            let hops = job.continuations + 1;
            let continued = if hops > MAX_CONTINUATIONS {
                Err(anyhow::anyhow!(
                    "it already continued in {MAX_CONTINUATIONS} jobs in a row; a person decides whether it goes on"
                ))
            } else {
                continue_in_new_job(ctx, &job.id, &settings).await
            };
            if let (Err(e), Some(thread)) = (&continued, job.thread()) {
                let body = format!(
                    "<!-- deckhand:paused id={} -->\n⏱️ Deckhand stopped task `{}`: this job's time ran out and {e}. The work so far is on branch `{}`; comment `{} resume` to continue from the checkpoint.",
                    job.id, job.id, result.state.branch, ctx.inputs.trigger_phrase
                );
                ctx.github
                    .create_comment(&ctx.repo, thread, &ctx.redactor.redact(&body))
                    .await?;
            }
            let (status, note) = match continued {
                Ok(workflow) => (
                    "continued",
                    format!("This job's time ran out; the task continues in a new run of `{workflow}` from its checkpoint."),
                ),
                Err(e) => (
                    "paused",
                    format!(
                        "This job's time ran out and no continuation could be started ({e}). Comment `{} resume` to continue from the checkpoint.",
                        ctx.inputs.trigger_phrase
                    ),
                ),
            };
            outputs.status = status.into();
            outputs.summary = format!("⏱️ {note}\n");
            if let Some(u) = updater {
                u.finish(|p| {
                    p.marker.status = Status::Paused;
                    p.note = Some(note);
                })
                .await?;
            }
        }
        (Ending::Paused(author), _) => {
            save_checkpoint(ctx, &job, &result, &settings).await?;
            let note = format!(
                "Paused by @{author}; the work so far is on branch `{}`. Comment `{} resume` to continue.",
                result.state.branch, ctx.inputs.trigger_phrase
            );
            outputs.summary = format!("⏸️ {note}\n");
            if let Some(u) = updater {
                u.finish(|p| {
                    p.marker.status = Status::Paused;
                    p.note = Some(note);
                })
                .await?;
            }
        }
        (
            _,
            JobKind::Feedback {
                pr,
                feedback,
                source,
                ..
            },
        ) => {
            let learned = match (teacher, source) {
                (Some(Ok(teacher)), Some(source)) => Some(
                    learning::store(
                        &memory,
                        committer,
                        Lesson {
                            teacher,
                            source: source.url.clone(),
                            recorded: result.learned.clone(),
                            commit: Some(result.state.head_commit().to_string()),
                        },
                        settings.file.memory.approve,
                        &ctx.repo,
                        &ctx.redactor,
                    )
                    .await,
                ),
                (Some(Err(why)), _) => Some(Learning::Failed(why)),
                _ => None,
            };
            // An active rule learned on a campaign's PR goes to its open siblings.
            let active: Vec<String> = match &learned {
                Some(Learning::Stored { rules, .. }) => rules
                    .iter()
                    .filter(|r| r.status == crate::memory::rules::Status::Active)
                    .map(|r| r.id.clone())
                    .collect(),
                _ => Vec::new(),
            };
            let sent = super::siblings::spread_from(ctx, *pr, &active).await;
            reply_to_feedback(ctx, *pr, feedback, &result, learned.as_ref(), &sent).await?;
            outputs.pr_url = ctx.github.pull(&ctx.repo, *pr).await?.html_url;
            clear_checkpoint(ctx, &job.id, &settings).await;
            outputs.summary = result.pr_text.clone().unwrap_or_default();
            if let Some(section) = learned.and_then(|l| l.reply_section(&ctx.inputs.trigger_phrase))
            {
                outputs.summary.push_str(&section);
            }
            outputs
                .summary
                .push_str(&super::siblings::reply_section(&sent));
        }
        (_, JobKind::Task) => {
            let pr_url = open_pull(ctx, &job, campaign.as_ref(), &result, &base_branch).await?;
            outputs.pr_url = pr_url.clone();
            outputs.summary = result.pr_text.clone().unwrap_or_default();
            clear_checkpoint(ctx, &job.id, &settings).await;
            if let Some(u) = updater {
                let ending = result.ending.clone();
                let finished = u
                    .finish(|p| {
                        p.pr_url = Some(pr_url);
                        p.marker.status = match &ending {
                            Ending::Done => Status::Done,
                            _ => Status::NeedsReview,
                        };
                        if let Ending::NeedsReview(reason) = &ending {
                            p.note = Some(reason.clone());
                        }
                    })
                    .await;
                // The PR is open: the work is delivered whatever the comment does.
                if let Err(e) = finished {
                    println!(
                        "{}",
                        workflow::warning(
                            "Deckhand",
                            &ctx.redactor
                                .redact(&format!("could not update the progress comment: {e}"))
                        )
                    );
                }
            }
        }
    }
    Ok(outputs)
}

/// Dispatches the workflow that continues task `id` (input
/// `deckhand_task_id`); returns the workflow's file name.
async fn continue_in_new_job(ctx: &Ctx, id: &str, settings: &Settings) -> anyhow::Result<String> {
    let workflow = settings
        .file
        .continuation_workflow
        .clone()
        .or_else(|| ctx.runner.workflow_file())
        .context("the running workflow is unknown (GITHUB_WORKFLOW_REF is not set) and no `continuation_workflow` is configured")?;
    let git_ref = match &ctx.runner.git_ref {
        Some(r) if r.starts_with("refs/heads/") || r.starts_with("refs/tags/") => r.clone(),
        _ => ctx.github.repository(&ctx.repo).await?.default_branch,
    };
    let mut inputs = serde_json::Map::new();
    inputs.insert(
        "deckhand_task_id".into(),
        serde_json::Value::String(id.to_string()),
    );
    ctx.github
        .dispatch_workflow(&ctx.repo, &workflow, &git_ref, &inputs)
        .await?;
    println!("Deckhand: out of time; dispatched {workflow} to continue task {id}.");
    Ok(workflow)
}

/// A finished task needs no checkpoint any more; failing to remove it is
/// worth a warning, not a failed job.
async fn clear_checkpoint(ctx: &Ctx, id: &str, settings: &Settings) {
    let path = checkpoint_path(&ctx.repo.to_string(), id);
    let author = (
        settings.file.git.name.clone(),
        settings.file.git.email.clone(),
    );
    let message = format!("Task {id} finished");
    let cleared = match memory_at(ctx) {
        Ok(at) => {
            at.with(move |store| {
                if store.read(&path)?.is_some() {
                    store.write(&[(path.clone(), None)], &message, (&author.0, &author.1))?;
                }
                Ok(())
            })
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = cleared {
        println!(
            "{}",
            workflow::warning(
                "Deckhand",
                &ctx.redactor.redact(&format!(
                    "could not remove the checkpoint of task {id}: {e:#}"
                ))
            )
        );
    }
}

/// Saves the task's state under `tasks/<owner>/<repo>/<id>/` on the memory branch.
async fn save_checkpoint(
    ctx: &Ctx,
    job: &Job,
    result: &TaskResult,
    settings: &Settings,
) -> anyhow::Result<()> {
    let mut state = result.state.clone();
    state.issue = job.issue;
    let mut continuations = job.continuations;
    if result.ending == Ending::OutOfTime {
        // The next job gets a whole time budget of its own.
        state.elapsed_ms = 0;
        continuations += 1;
    }
    let saved = Checkpoint {
        state,
        kind: Some(job.kind.clone()),
        continuations,
    };
    let text = ctx.redactor.to_json_pretty(&saved)?;
    let author = (
        settings.file.git.name.clone(),
        settings.file.git.email.clone(),
    );
    let path = checkpoint_path(&ctx.repo.to_string(), &job.id);
    let message = format!("Checkpoint task {} ({})", job.id, result.ending.label());
    memory_at(ctx)?
        .with(move |store| {
            store.write(&[(path, Some(text))], &message, (&author.0, &author.1))?;
            Ok(())
        })
        .await
}

/// Pushes the task's branch; explains a refused workflow change.
async fn push(
    ctx: &Ctx,
    dir: &Path,
    remote: &Remote,
    branch: &str,
    result: &TaskResult,
) -> anyhow::Result<()> {
    match offload::push(dir.to_path_buf(), remote.clone(), branch.to_string()).await {
        Ok(()) => Ok(()),
        Err(e) if touches_workflows(result) => Err(anyhow::anyhow!(
            "{}: the change edits .github/workflows/, which the default GITHUB_TOKEN may not push. Give Deckhand a GitHub App token (actions/create-github-app-token) or a PAT with the workflow scope as `github_token`.",
            ctx.redactor.redact(&e.to_string())
        )),
        Err(e) => Err(e.into()),
    }
}

fn touches_workflows(result: &TaskResult) -> bool {
    result
        .changes
        .iter()
        .any(|c| c.path.starts_with(".github/workflows/"))
}

/// Opens the PR, or updates the one already open for the branch.
async fn open_pull(
    ctx: &Ctx,
    job: &Job,
    campaign: Option<&super::campaign::CampaignJob>,
    result: &TaskResult,
    base: &str,
) -> anyhow::Result<String> {
    let mut body = result.pr_text.clone().unwrap_or_default();
    if touches_workflows(result) {
        body.push_str(
            "\n> [!IMPORTANT]\n> This change edits `.github/workflows/`. Pushes and PRs made with the default `GITHUB_TOKEN` cannot change workflows and do not start other workflows; use a GitHub App token or a PAT as `github_token` for such changes.\n",
        );
    }
    if let Some(issue) = job.issue {
        body.push_str(&format!("\nCloses #{issue}\n"));
    }
    if let Some(c) = campaign {
        body.push_str(&c.footer());
    }
    body.push_str(&format!("\n{}\n", task_marker(&job.id)));
    let body = ctx
        .redactor
        .redact(&workflow::truncate_markdown(&body, 65_000))
        .into_owned();
    let needs_review = matches!(result.ending, Ending::NeedsReview(_));
    let label: &[Request] = if needs_review { &[Request::Label] } else { &[] };
    let pull = match ctx
        .github
        .pull_for_branch(&ctx.repo, &result.state.branch)
        .await?
    {
        Some(existing) => {
            if let (Some(c), false) = (campaign, label.is_empty()) {
                c.pace(ctx, label).await?;
            }
            ctx.github
                .update_pull(&ctx.repo, existing.number, Some(&job.title), Some(&body))
                .await?
        }
        None => {
            if let Some(c) = campaign {
                c.pace(ctx, &[&[Request::PullRequest], label].concat())
                    .await?;
            }
            ctx.github
                .create_pull(
                    &ctx.repo,
                    &NewPull {
                        title: &job.title,
                        head: &result.state.branch,
                        base,
                        body: &body,
                        draft: ctx.inputs.draft || needs_review,
                    },
                )
                .await?
        }
    };
    if needs_review {
        ctx.github
            .add_labels(&ctx.repo, pull.number, &[NEEDS_REVIEW_LABEL])
            .await?;
    }
    println!("Deckhand: pull request {}", pull.html_url);
    Ok(pull.html_url)
}

/// Answers the reviewer where they wrote: a reply on the review thread, or
/// a comment on the PR (a sibling's rule: naming the rule and its source).
async fn reply_to_feedback(
    ctx: &Ctx,
    pr: u64,
    feedback: &Feedback,
    result: &TaskResult,
    learned: Option<&Learning>,
    sent: &[super::siblings::Sent],
) -> anyhow::Result<()> {
    let commit = result
        .state
        .commits
        .last()
        .map(|c| format!("`{}`", &c[..c.len().min(8)]))
        .unwrap_or_else(|| "no new commit".into());
    let checks = result
        .state
        .reports
        .last()
        .map(|r| {
            r.checks
                .iter()
                .map(|c| format!("- `{}` {}\n", c.command, c.outcome()))
                .collect::<String>()
        })
        .unwrap_or_default();
    let applied = match feedback {
        Feedback::Rule { id, source, .. } => {
            format!("Deckhand applied rule `{id}` from {source}: ")
        }
        _ => "Deckhand ".to_string(),
    };
    let mut body = format!(
        "<!-- deckhand:reply -->\n🛠️ {applied}pushed {commit} to `{}`.\n\n{}\n",
        result.state.branch,
        result.state.code_summary.trim()
    );
    if !checks.is_empty() {
        body.push_str(&format!("\n**Checks**\n{checks}"));
    }
    if let Some(section) = learned.and_then(|l| l.reply_section(&ctx.inputs.trigger_phrase)) {
        body.push_str(&section);
    }
    body.push_str(&super::siblings::reply_section(sent));
    let needs_review = matches!(result.ending, Ending::NeedsReview(_));
    if let Feedback::Rule { .. } = feedback {
        // One of many sibling jobs of a campaign: paced with the others.
        let pull = ctx.github.pull(&ctx.repo, pr).await?;
        if let Some(campaign) = pull.body.as_deref().and_then(super::campaign::campaign_of) {
            let label: &[Request] = if needs_review { &[Request::Label] } else { &[] };
            super::campaign::pace(
                &mut memory_at(ctx)?.open().await?,
                campaign,
                None,
                &ctx.repo.to_string(),
                &[&[Request::Comment], label].concat(),
                "replying on the pull request",
            )
            .await?;
        }
    }
    if let Ending::NeedsReview(reason) = &result.ending {
        body.push_str(&format!("\n⚠️ Needs a human look: {reason}\n"));
        ctx.github
            .add_labels(&ctx.repo, pr, &[NEEDS_REVIEW_LABEL])
            .await?;
    }
    let body = ctx
        .redactor
        .redact(&workflow::truncate_markdown(&body, MAX_COMMENT))
        .into_owned();
    match feedback {
        Feedback::ReviewComment { id, .. } => {
            ctx.github
                .reply_to_review_comment(&ctx.repo, pr, *id, &body)
                .await?;
        }
        Feedback::Review { .. } | Feedback::PrComment { .. } | Feedback::Rule { .. } => {
            ctx.github.create_comment(&ctx.repo, pr, &body).await?;
        }
    }
    Ok(())
}

/// Who gave a feedback job's feedback, and their role (asked of GitHub
/// before the fix: only who may teach has learn run).
async fn teacher_of(ctx: &Ctx, kind: &JobKind) -> Option<Result<Teacher, String>> {
    let JobKind::Feedback {
        source: Some(source),
        ..
    } = kind
    else {
        return None;
    };
    Some(
        Teacher::ask(&ctx.github, &ctx.repo, &source.author)
            .await
            .map_err(|e| {
                format!(
                    "the permission of @{} could not be read: {}",
                    source.author,
                    ctx.redactor.redact(&e.to_string())
                )
            }),
    )
}

/// `::error file=…,line=…::` for what the last verification found.
fn annotate_failures(result: &TaskResult) {
    let Some(last) = result.state.reports.last() else {
        return;
    };
    for check in last.checks.iter().filter(|c| !c.passed()) {
        for f in &check.findings {
            println!(
                "{}",
                workflow::error_annotation(&f.file, f.line, f.column, &check.command, &f.message)
            );
        }
    }
}

/// Where the job's files live.
pub fn job_dir(ctx: &Ctx, id: &str) -> PathBuf {
    ctx.runner.runner_temp.join("deckhand").join(id)
}
