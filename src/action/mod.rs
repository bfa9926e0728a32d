//! `deckhand action`: the Docker action's entrypoint. Reads what the runner
//! passes, routes the event, gates on permission, and runs the task loop
//! with GitHub side effects (branch, PR, progress comment, outputs).

pub mod approve;
pub mod campaign;
pub mod claim;
pub mod feedback;
pub mod gate;
pub mod identity;
pub mod inbox;
pub mod inputs;
pub mod job;
pub mod learning;
pub mod offload;
pub mod progress;
pub mod remembered;
pub mod route;
pub mod siblings;
pub mod team;
pub mod tracking;
pub mod trusted;

use anyhow::Context as _;

use crate::cli::{exit, GlobalArgs};
use crate::config::{EnvSnapshot, Flags, Settings};
use crate::github::client::{GitHub, RepoRef};
use crate::github::events::{self, User};
use crate::llm::ProviderKind;
use crate::memory::checkpoint_path;
use crate::report::workflow;
use crate::sandbox::network::NetworkLevel;
use crate::sandbox::Redactor;
use crate::task::id::new_task_id;

use gate::Decision;
use inputs::{ActionInputs, RunnerEnv};
use job::{Job, Outputs};
use progress::Status;
use route::{Control, Route};

/// GitHub takes at most 1 MiB of job summary per step; leave room for the note.
const MAX_SUMMARY: usize = 1024 * 1024 - 1024;

/// Minutes a task works in one job before it continues in another.
const DEFAULT_TIMEOUT_MINUTES: u64 = 300;

/// Overrides the job's working time, in seconds (for tests of time limits).
pub const WALL_CLOCK_VAR: &str = "DECKHAND_WALL_CLOCK_SECONDS";

/// Everything a job shares.
pub struct Ctx {
    pub inputs: ActionInputs,
    pub runner: RunnerEnv,
    /// The process environment with the inputs' keys and secrets added.
    pub env: EnvSnapshot,
    pub github: GitHub,
    /// The repository worked on.
    pub repo: RepoRef,
    pub token: String,
    pub redactor: Redactor,
    pub json: bool,
    pub flags: Flags,
    /// When the job started: later comments are steering.
    pub started: chrono::DateTime<chrono::Utc>,
    /// The comment that started this job, if one did (never steering).
    pub trigger_comment: Option<u64>,
    /// The account Deckhand writes as: only its markers are trusted.
    pub identity: identity::Identity,
}

impl Ctx {
    /// Action inputs that override the repository's config file.
    pub fn apply_inputs(&self, settings: &mut Settings) -> anyhow::Result<()> {
        // The input, else the repository's config, else most of a 6-hour job.
        let minutes = match (self.inputs.timeout_minutes, settings.file.timeout_minutes) {
            (Some(m), _) => m,
            (None, Some(m)) if m < inputs::MIN_TIMEOUT_MINUTES => anyhow::bail!(
                "{}: `timeout_minutes: {m}` is below the minimum of {} minutes a job needs to clone, work, push and hand over",
                settings
                    .source
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the config file".into()),
                inputs::MIN_TIMEOUT_MINUTES
            ),
            (None, Some(m)) => m,
            (None, None) => DEFAULT_TIMEOUT_MINUTES,
        };
        // Leave time to push, checkpoint and dispatch the continuation.
        let margin = (minutes * 6).min(300);
        settings.budgets.wall_clock = std::time::Duration::from_secs(minutes * 60 - margin);
        // The job's clock set outright, in seconds (tests drive a job out
        // of time with it).
        if let Some(text) = self.env.get(WALL_CLOCK_VAR) {
            let seconds: u64 = text.trim().parse().with_context(|| {
                format!("{WALL_CLOCK_VAR}: `{text}` is not a number of seconds")
            })?;
            settings.budgets.wall_clock = std::time::Duration::from_secs(seconds);
        }
        for (name, _) in &self.inputs.secrets {
            if !settings.secret_names.contains(name) {
                settings.secret_names.push(name.clone());
            }
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let inputs = match ActionInputs::from_env(env) {
        Ok(inputs) => inputs,
        Err(e) => return bad_inputs(env, e),
    };
    // Mask every secret before anything else prints.
    let mut secret_values = inputs.secret_values();
    secret_values.extend(env.secret_values());
    secret_values.sort();
    secret_values.dedup();
    for value in &secret_values {
        print!("{}", workflow::add_mask(value));
    }
    let redactor = Redactor::new(secret_values);
    let runner = RunnerEnv::from_env(env)?;
    // The workspace belongs to the runner's user, not the container's root.
    // SAFETY: set once, before any repository is opened, on this thread.
    unsafe {
        let _ = git2::opts::set_verify_owner_validation(false);
    }

    let outputs = match handle(global, env, inputs, runner.clone(), redactor.clone()).await {
        Ok(outputs) => outputs,
        Err(e) => {
            let message = redactor.redact(&format!("{e:#}")).into_owned();
            println!(
                "::error title=Deckhand::{}",
                workflow::escape_data(&message)
            );
            let outputs = Outputs {
                status: "error".into(),
                summary: format!("### ❌ Deckhand stopped with an error\n\n```\n{message}\n```\n"),
                ..Outputs::default()
            };
            write_outputs(&runner, &outputs, &redactor)?;
            return Err(anyhow::anyhow!(message));
        }
    };
    write_outputs(&runner, &outputs, &redactor)?;
    Ok(exit::DONE)
}

/// An input that cannot be read: an `::error` naming it, and still the
/// `status` output (`error`) for the steps after this one.
fn bad_inputs(env: &EnvSnapshot, e: inputs::InputError) -> anyhow::Result<i32> {
    let mut secrets = env.secret_values();
    for key in ["github_token", "anthropic_api_key", "openai_api_key"] {
        if let Some(v) = env
            .get(&inputs::input_var(key))
            .filter(|v| !v.trim().is_empty())
        {
            secrets.push(v.trim().to_string());
        }
    }
    for value in &secrets {
        print!("{}", workflow::add_mask(value));
    }
    let redactor = Redactor::new(secrets);
    let message = redactor.redact(&e.to_string()).into_owned();
    println!(
        "::error title=Deckhand::{}",
        workflow::escape_data(&message)
    );
    if let Ok(runner) = RunnerEnv::from_env(env) {
        let outputs = Outputs {
            status: "error".into(),
            summary: format!("### ❌ Deckhand did not start\n\n{message}\n"),
            ..Outputs::default()
        };
        write_outputs(&runner, &outputs, &redactor)?;
    }
    Err(anyhow::anyhow!(message))
}

fn write_outputs(runner: &RunnerEnv, o: &Outputs, redactor: &Redactor) -> anyhow::Result<()> {
    if let Some(path) = &runner.output {
        workflow::write_outputs(
            path,
            &[
                ("task_id", o.task_id.clone()),
                ("status", o.status.clone()),
                ("pr_url", o.pr_url.clone()),
                ("branch", o.branch.clone()),
                ("tokens_used", o.tokens_used.to_string()),
                (
                    "cost_usd",
                    o.cost_usd.map(|c| format!("{c:.4}")).unwrap_or_default(),
                ),
            ],
            redactor,
        )
        .with_context(|| format!("cannot write GITHUB_OUTPUT {}", path.display()))?;
    }
    if let Some(path) = &runner.step_summary {
        if !o.summary.is_empty() {
            let summary = workflow::truncate_markdown(&o.summary, MAX_SUMMARY);
            workflow::write_summary(path, &summary, redactor)
                .with_context(|| format!("cannot write GITHUB_STEP_SUMMARY {}", path.display()))?;
        }
    }
    Ok(())
}

async fn handle(
    global: &GlobalArgs,
    env: &EnvSnapshot,
    inputs: ActionInputs,
    runner: RunnerEnv,
    redactor: Redactor,
) -> anyhow::Result<Outputs> {
    // The network level is enforced by the task's sandbox (egress proxy
    // and Landlock); an unknown level stops here.
    let network = match inputs.network.as_deref() {
        None => None,
        Some(text) => Some(NetworkLevel::parse(text).with_context(|| {
            format!("input `network`: `{text}` is not integration, dependencies, open or custom")
        })?),
    };
    let event = events::read_event(&runner.event_name, &runner.event_path)?;
    let route = route::route(&event, &inputs);
    if let Route::Ignore(why) = &route {
        println!("Deckhand: nothing to do: {why}.");
        return Ok(Outputs::skipped(why));
    }
    let token = inputs
        .github_token
        .clone()
        .or_else(|| env.get("GITHUB_TOKEN").map(str::to_string))
        .context(
            "no GitHub token: the `github_token` input is empty and GITHUB_TOKEN is not set",
        )?;
    let repository = match &route {
        Route::Dispatch {
            repository: Some(r),
            ..
        }
        | Route::ApplyRule {
            repository: Some(r),
            ..
        } => r.clone(),
        _ => inputs
            .repository
            .clone()
            .unwrap_or_else(|| runner.repository.clone()),
    };
    let repo: RepoRef = repository
        .parse()
        .with_context(|| format!("`{repository}` is not owner/name"))?;
    let mut overlay: Vec<(String, String)> = inputs.secrets.clone();
    // The token is the model key for GitHub Models (`api_key_env:
    // GITHUB_TOKEN`); a Docker action only gets it as an input. It never
    // reaches the agent's commands.
    overlay.push(("GITHUB_TOKEN".into(), token.clone()));
    if let Some(k) = &inputs.anthropic_api_key {
        overlay.push(("ANTHROPIC_API_KEY".into(), k.clone()));
    }
    if let Some(k) = &inputs.openai_api_key {
        overlay.push(("OPENAI_API_KEY".into(), k.clone()));
    }
    let provider = match inputs.provider.as_deref() {
        None => None,
        Some("anthropic") => Some(ProviderKind::Anthropic),
        Some("openai") => Some(ProviderKind::Openai),
        Some(other) => anyhow::bail!("input `provider`: `{other}` is not anthropic or openai"),
    };
    let flags = Flags {
        provider: global.provider.or(provider),
        model: global.model.clone().or_else(|| inputs.model.clone()),
        base_url: global.base_url.clone().or_else(|| inputs.base_url.clone()),
        config: global.config.clone(),
        no_stream: global.no_stream,
        max_attempts: inputs.max_attempts,
        network,
        allowed_domains: inputs.allowed_domains.clone(),
    };
    let github = GitHub::new(&runner.api_url, &token)?.with_redactor(redactor.clone());
    let identity = identity::Identity::resolve(&github, inputs.bot_login.as_deref()).await?;
    let mut ctx = Ctx {
        identity,
        github,
        env: env.with(overlay),
        inputs,
        runner,
        repo,
        token,
        redactor,
        json: global.json,
        flags,
        started: chrono::Utc::now(),
        trigger_comment: match &route {
            Route::IssueComment { comment_id, .. } | Route::Approve { comment_id, .. } => {
                Some(*comment_id)
            }
            _ => None,
        },
    };

    // A GitHub App's bot, learned by an earlier job, is trusted from the
    // start: this job knows its own markers before it writes a comment.
    if !ctx.identity.is_known() {
        if let Some(login) = remembered::recall(&ctx).await {
            ctx.identity = identity::Identity::assumed(&login);
        }
    }
    let ctx = ctx;

    // Deckhand's own comments and replies (its marker, from its account)
    // never trigger it, whatever the token.
    if let Some((actor, text)) = trigger_text(&route) {
        if ctx.identity.wrote(&actor.login, text) {
            let why = "the comment is Deckhand's own";
            println!("Deckhand: nothing to do: {why}.");
            return Ok(Outputs::skipped(why));
        }
    }
    // Feedback on a pull request counts only on PRs Deckhand opened (its
    // account is the author); on others nothing runs (and nobody is told
    // they may not trigger it).
    let mut route = route;
    if let Route::Feedback { pr, branch, .. } = &mut route {
        let pull = ctx.github.pull(&ctx.repo, *pr).await?;
        if let Some(why) = feedback::not_deckhands(&pull, &ctx.repo, &ctx.identity) {
            println!("Deckhand: nothing to do: {why}.");
            return Ok(Outputs::skipped(&why));
        }
        *branch = Some(pull.head_ref);
    }
    // A dispatch Deckhand sent itself (a continuation, a sibling's rule)
    // needs no other permission than its token's.
    let dispatched_by_me = matches!(route, Route::Dispatch { .. } | Route::ApplyRule { .. });
    if let Some(actor) =
        actor_of(&route).filter(|a| !(dispatched_by_me && ctx.identity.is_me(&a.login)))
    {
        if let Decision::Refused(why) =
            gate::check(&ctx.github, &ctx.repo, actor, &ctx.inputs.allowed_bots).await?
        {
            println!("Deckhand: refused: {why}.");
            // People are told why, once; bots (Deckhand's own replies among
            // them) only get the log line.
            if let (Some(issue), false) = (issue_of(&route), actor.is_bot()) {
                gate::comment_refusal(&ctx.github, &ctx.repo, issue, actor, &why).await?;
            }
            return Ok(Outputs::skipped(&why));
        }
    }

    match route {
        Route::Ignore(why) => Ok(Outputs::skipped(&why)),
        Route::IssueTask { issue, .. } => issue_task(&ctx, issue, None).await,
        Route::IssueComment {
            issue,
            comment_id,
            text,
            control,
            actor,
        } => match tracking::handle(&ctx, issue, control, &actor).await? {
            Some(outputs) => Ok(outputs),
            None => issue_comment(&ctx, issue, comment_id, &text, control).await,
        },
        Route::Dispatch { task, resume, .. } => dispatch(&ctx, task, resume).await,
        Route::Schedule { cron } => schedule(&ctx, cron.as_deref()).await,
        Route::Feedback {
            pr,
            branch,
            feedback,
            url,
            actor,
        } => {
            let source = job::FeedbackSource {
                url,
                author: actor.login,
            };
            feedback::run(&ctx, pr, branch, feedback, source).await
        }
        Route::Approve {
            issue, rule, actor, ..
        } => approve::run(&ctx, issue, &rule, &actor).await,
        Route::ApplyRule { pr, rule, .. } => siblings::apply(&ctx, pr, &rule).await,
    }
}

fn actor_of(route: &Route) -> Option<&User> {
    match route {
        Route::IssueTask { actor, .. }
        | Route::IssueComment { actor, .. }
        | Route::Feedback { actor, .. }
        | Route::ApplyRule { actor, .. } => Some(actor),
        Route::Dispatch { actor, .. } => actor.as_ref(),
        // Approving asks more than write access: checked when it runs,
        // with a reply saying why.
        Route::Approve { .. } | Route::Schedule { .. } | Route::Ignore(_) => None,
    }
}

/// The author and text of the comment or review that triggered the route.
fn trigger_text(route: &Route) -> Option<(&User, &str)> {
    match route {
        Route::IssueComment { actor, text, .. } => Some((actor, text)),
        Route::Feedback {
            actor, feedback, ..
        } => Some((actor, feedback.body())),
        _ => None,
    }
}

fn issue_of(route: &Route) -> Option<u64> {
    match route {
        Route::IssueTask { issue, .. }
        | Route::IssueComment { issue, .. }
        | Route::Approve { issue, .. } => Some(*issue),
        Route::Feedback { pr, .. } | Route::ApplyRule { pr, .. } => Some(*pr),
        _ => None,
    }
}

/// The stable id of an issue's task.
pub fn issue_task_id(repo: &RepoRef, issue: u64) -> String {
    new_task_id(&format!("{repo}#{issue}"), |_| false)
}

/// `deckhand/<issue>-<slug of the title>`.
pub fn issue_branch(issue: u64, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("deckhand/{issue}")
    } else {
        format!("deckhand/{issue}-{slug}")
    }
}

/// The task of an issue: its title, body and comments (Deckhand's own
/// left out), plus `extra` from a triggering comment.
async fn issue_task(ctx: &Ctx, issue: u64, extra: Option<&str>) -> anyhow::Result<Outputs> {
    let id = issue_task_id(&ctx.repo, issue);
    // Re-running the same job changes nothing once the task is done; a new
    // instruction in a comment is new work on the same branch and PR.
    let rerun = extra.is_none_or(|e| e.trim().is_empty());
    let found_progress = job::find_progress(ctx, issue, &id).await?;
    if let Some((_, marker)) = &found_progress {
        if let Liveness::Running = live_elsewhere(ctx, marker).await? {
            let run = marker.run.unwrap_or_default();
            println!("Deckhand: task {id} is already running in run {run}; not starting it twice.");
            return Ok(Outputs::skipped(&format!(
                "task {id} is already running in run {run}"
            )));
        }
    }
    if let (true, Some((_, marker))) = (rerun, found_progress) {
        if marker.status == Status::Done {
            if let Some(pull) = ctx
                .github
                .pull_for_branch(&ctx.repo, &issue_branch_of(ctx, issue).await?)
                .await?
            {
                println!("Deckhand: task {id} is already done: {}", pull.html_url);
                return Ok(Outputs {
                    task_id: id,
                    status: "done".into(),
                    pr_url: pull.html_url,
                    branch: pull.head_ref,
                    summary: "Deckhand had already finished this task; nothing was changed.\n"
                        .into(),
                    ..Outputs::default()
                });
            }
        }
    }
    let found = ctx.github.issue(&ctx.repo, issue).await?;
    let mut task = format!(
        "{}\n\n{}",
        found.title,
        found.body.clone().unwrap_or_default().trim()
    );
    let comments = ctx.github.comments(&ctx.repo, issue, None).await?;
    // Only people who may write steer the task: anyone else's comment is
    // left out of the prompt (and counted on the progress comment).
    let mut readers = trusted::Readers::new(
        &ctx.github,
        &ctx.repo,
        &ctx.inputs.allowed_bots,
        &ctx.identity,
    );
    let mut admitted = Vec::new();
    for c in &comments {
        if readers
            .admit(&c.user.login, c.user.is_bot(), &c.body)
            .await?
        {
            admitted.push(c);
        }
    }
    let unread = readers.unread;
    if !admitted.is_empty() {
        task.push_str("\n\nComments on the issue:\n");
        for c in admitted {
            task.push_str(&format!(
                "- @{}: {}\n",
                c.user.login,
                c.body.trim().replace('\n', "\n  ")
            ));
        }
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        task.push_str(&format!(
            "\nInstruction from the triggering comment: {extra}\n"
        ));
    }
    job::run(
        ctx,
        Job {
            id,
            branch: issue_branch(issue, &found.title),
            title: found.title.clone(),
            task,
            issue: Some(issue),
            resume: None,
            kind: job::JobKind::Task,
            unread,
            continuations: 0,
        },
    )
    .await
}

async fn issue_branch_of(ctx: &Ctx, issue: u64) -> anyhow::Result<String> {
    let found = ctx.github.issue(&ctx.repo, issue).await?;
    Ok(issue_branch(issue, &found.title))
}

/// A trigger-phrase comment on an issue.
async fn issue_comment(
    ctx: &Ctx,
    issue: u64,
    comment_id: u64,
    text: &str,
    control: Option<Control>,
) -> anyhow::Result<Outputs> {
    let id = issue_task_id(&ctx.repo, issue);
    let progress = job::find_progress(ctx, issue, &id).await?;
    let (running_elsewhere, died) = match progress {
        Some((comment, m)) => match live_elsewhere(ctx, &m).await? {
            Liveness::Running => (Some((comment, m)), false),
            Liveness::Dead => (None, true),
            Liveness::NotRunning => (None, false),
        },
        None => (None, false),
    };
    let reply = |body: String| async move {
        ctx.github
            .create_comment(&ctx.repo, issue, &ctx.redactor.redact(&body))
            .await
    };
    match control {
        Some(Control::Cancel) => {
            let Some((comment, marker)) = running_elsewhere else {
                reply(format!(
                    "Deckhand: there is no running task to cancel for #{issue}."
                ))
                .await?;
                return Ok(Outputs::skipped("no running task to cancel"));
            };
            let run = marker.run.unwrap_or_default();
            ctx.github.cancel_run(&ctx.repo, run).await?;
            // The running job updates the same comment: mark it cancelled only
            // once that job has stopped, so its last update cannot undo this.
            wait_until_over(ctx, run).await;
            let mut body = ctx
                .github
                .comments(&ctx.repo, issue, None)
                .await?
                .into_iter()
                .find(|c| c.id == comment)
                .map(|c| c.body)
                .unwrap_or_default();
            body = body.replacen(
                &marker.render(),
                &progress::Marker {
                    status: Status::Cancelled,
                    ..marker.clone()
                }
                .render(),
                1,
            );
            ctx.github.update_comment(&ctx.repo, comment, &body).await?;
            reply(format!("🛑 Deckhand cancelled run {run} of task `{id}`.")).await?;
            println!("Deckhand: cancelled run {run} of task {id}.");
            Ok(Outputs {
                task_id: id,
                status: "cancelled".into(),
                summary: format!("Cancelled run {run}.\n"),
                ..Outputs::default()
            })
        }
        Some(Control::Pause) => {
            if let Some((_, marker)) = running_elsewhere {
                let run = marker.run.unwrap_or_default();
                react(ctx, comment_id, "eyes").await;
                println!("Deckhand: the pause request went to run {run}, which checks for comments between steps.");
                return Ok(Outputs::skipped(&format!("pause delivered to run {run}")));
            }
            reply(format!(
                "Deckhand: there is no running task to pause for #{issue}."
            ))
            .await?;
            Ok(Outputs::skipped("no running task to pause"))
        }
        // A running task hears about comments itself (between steps); a
        // second run must not start it again.
        _ if running_elsewhere.is_some() => {
            let run = running_elsewhere
                .and_then(|(_, marker)| marker.run)
                .unwrap_or_default();
            react(ctx, comment_id, "eyes").await;
            println!(
                "Deckhand: the comment went to the running task (run {run}), which reads new comments between steps."
            );
            Ok(Outputs::skipped(&format!("comment delivered to run {run}")))
        }
        Some(Control::Resume) => match load_checkpoint(ctx, &id).await? {
            Some(state) => resume(ctx, issue, state).await,
            None => {
                reply(format!(
                    "Deckhand: task `{id}` has no checkpoint to resume."
                ))
                .await?;
                Ok(Outputs::skipped("nothing to resume"))
            }
        },
        None => {
            if let Some(mut state) = load_checkpoint(ctx, &id).await? {
                let answered = state.state.role.as_mut().is_some_and(|r| r.answer(text));
                if answered {
                    react(ctx, comment_id, "+1").await;
                    return resume(ctx, issue, state).await;
                }
                if died {
                    // The run holding the task died: its checkpoint goes
                    // on, with this comment's instruction.
                    println!("Deckhand: resuming task {id} from its checkpoint; the run that held it has ended.");
                    state
                        .state
                        .spec
                        .task
                        .push_str(&format!("\n\nInstruction from a later comment: {text}\n"));
                    react(ctx, comment_id, "+1").await;
                    return resume(ctx, issue, state).await;
                }
            }
            issue_task(ctx, issue, Some(text)).await
        }
    }
}

/// What a task's progress marker says about another run holding it.
enum Liveness {
    /// Another run holds the task and is still going.
    Running,
    /// The marker says running, but its run has ended (time limit, lost
    /// runner, cancelled in the UI): the task is free.
    Dead,
    /// Not running, or running in this very run.
    NotRunning,
}

/// Asks GitHub whether the run a `running` marker names is still going.
async fn live_elsewhere(ctx: &Ctx, marker: &progress::Marker) -> anyhow::Result<Liveness> {
    let Some(run) = marker.run.filter(|r| Some(*r) != ctx.runner.run_id) else {
        return Ok(Liveness::NotRunning);
    };
    if marker.status != Status::Running {
        return Ok(Liveness::NotRunning);
    }
    match ctx.github.run(&ctx.repo, run).await {
        Ok(r) if !r.is_over() => Ok(Liveness::Running),
        Ok(r) => {
            println!(
                "Deckhand: run {run} held task {} but has ended ({}); the task is free.",
                marker.task,
                r.conclusion.as_deref().unwrap_or("no conclusion")
            );
            Ok(Liveness::Dead)
        }
        Err(e) if e.status() == Some(404) => {
            println!(
                "Deckhand: run {run} held task {} but no longer exists; the task is free.",
                marker.task
            );
            Ok(Liveness::Dead)
        }
        Err(e) => Err(e.into()),
    }
}

/// Waits (a bounded time) for a cancelled run to stop.
async fn wait_until_over(ctx: &Ctx, run: u64) {
    for _ in 0..30 {
        match ctx.github.run(&ctx.repo, run).await {
            Ok(r) if !r.is_over() => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("cannot read run {run}: {e}");
                return;
            }
        }
    }
    println!(
        "{}",
        workflow::warning(
            "Deckhand",
            &format!("run {run} had not stopped a minute after it was cancelled")
        )
    );
}

/// A reaction says "seen"; failing to add one changes nothing else.
async fn react(ctx: &Ctx, comment_id: u64, content: &str) {
    if let Err(e) = ctx
        .github
        .add_reaction(&ctx.repo, comment_id, content)
        .await
    {
        tracing::warn!("could not react to comment {comment_id}: {e}");
    }
}

pub(crate) async fn load_checkpoint(
    ctx: &Ctx,
    id: &str,
) -> anyhow::Result<Option<job::Checkpoint>> {
    let path = checkpoint_path(&ctx.repo.to_string(), id);
    let text = job::memory_at(ctx)?
        .with(move |store| Ok(store.read(&path)?))
        .await?;
    match text {
        Some(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("the checkpoint of task {id} on the memory branch is not valid")
        })?)),
        None => Ok(None),
    }
}

/// A person resumes the task: the count of automatic continuations starts over.
async fn resume(ctx: &Ctx, issue: u64, mut saved: job::Checkpoint) -> anyhow::Result<Outputs> {
    if !matches!(saved.kind, Some(job::JobKind::Feedback { .. })) {
        saved.state.issue = Some(issue);
    }
    saved.continuations = 0;
    job::run(ctx, Job::resuming(saved)).await
}

/// `workflow_dispatch` / matrix job: a task from the inputs, or the
/// continuation of a checkpointed task.
async fn dispatch(
    ctx: &Ctx,
    task: Option<String>,
    resume_id: Option<String>,
) -> anyhow::Result<Outputs> {
    if let Some(id) = resume_id {
        let saved = load_checkpoint(ctx, &id)
            .await?
            .with_context(|| format!("task {id} has no checkpoint on the memory branch"))?;
        return job::run(ctx, Job::resuming(saved)).await;
    }
    let task = task.context("no task given")?;
    let id = new_task_id(&format!("{}\n{task}", ctx.repo), |_| false);
    job::run(
        ctx,
        Job {
            branch: format!("deckhand/{id}"),
            title: job::first_line(&task),
            task,
            issue: None,
            resume: None,
            kind: job::JobKind::Task,
            unread: 0,
            continuations: 0,
            id,
        },
    )
    .await
}

/// The maintenance tasks listed in the config, one job each.
async fn schedule(ctx: &Ctx, cron: Option<&str>) -> anyhow::Result<Outputs> {
    let config_dir = match ctx
        .runner
        .workspace
        .as_deref()
        .filter(|w| crate::config::find_config_file(w).is_some())
    {
        Some(w) => w.to_path_buf(),
        None => {
            let probe = job::job_dir(ctx, "schedule-config");
            if probe.exists() {
                std::fs::remove_dir_all(&probe)?;
            }
            let (remote, dest) = (job::remote_of(ctx, &ctx.repo), probe.clone());
            offload::blocking(move || Ok(crate::git::remote::clone(&remote, &dest, None)?)).await?;
            probe
        }
    };
    let settings = Settings::load(&config_dir, &ctx.flags)?;
    let due: Vec<_> = settings
        .file
        .maintenance
        .iter()
        .filter(|m| m.cron.is_none() || m.cron.as_deref() == cron)
        .cloned()
        .collect();
    if due.is_empty() {
        return Ok(Outputs::skipped(
            "no maintenance task in .github/deckhand.yml is due",
        ));
    }
    // Each entry is its own task with its own budget, on a branch of this
    // week: last week's branch (merged, closed or stale) is never continued.
    let week = maintenance_week(ctx.started);
    let mut last = Outputs::default();
    let mut summary = String::new();
    let mut failed = Vec::new();
    for m in due {
        let slug = issue_branch(0, &m.name)
            .trim_start_matches("deckhand/0-")
            .to_string();
        let id = new_task_id(
            &format!("{}\nmaintenance:{}:{week}", ctx.repo, m.name),
            |_| false,
        );
        let ran = job::run(
            ctx,
            Job {
                branch: format!("deckhand/maintenance-{slug}-{week}"),
                title: m.name.clone(),
                task: m.task.clone(),
                issue: None,
                resume: None,
                kind: job::JobKind::Task,
                unread: 0,
                continuations: 0,
                id,
            },
        )
        .await;
        match ran {
            Ok(outputs) => {
                summary.push_str(&format!(
                    "- **{}**: {} {}\n",
                    m.name, outputs.status, outputs.pr_url
                ));
                last = outputs;
            }
            // One entry failing does not stop the others.
            Err(e) => {
                let message = ctx.redactor.redact(&format!("{e:#}")).into_owned();
                println!(
                    "::error title=Deckhand maintenance::{}: {}",
                    workflow::escape_data(&m.name),
                    workflow::escape_data(&message)
                );
                summary.push_str(&format!("- **{}**: error: {message}\n", m.name));
                failed.push(m.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        last.status = "error".into();
    }
    last.summary = format!("### Deckhand maintenance\n{summary}");
    Ok(last)
}

/// The ISO week a maintenance run belongs to: `2026-w49`.
fn maintenance_week(now: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike as _;
    let week = now.iso_week();
    format!("{}-w{:02}", week.year(), week.week())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_weeks_are_iso_weeks() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(maintenance_week(at("2026-12-01T04:17:00Z")), "2026-w49");
        // ISO years: the first days of January can be last year's week 53.
        assert_eq!(maintenance_week(at("2027-01-01T00:00:00Z")), "2026-w53");
    }

    #[test]
    fn branch_names_slug_the_title() {
        assert_eq!(
            issue_branch(12, "Add rate limiting to /api/login!"),
            "deckhand/12-add-rate-limiting-to-api-login"
        );
        assert_eq!(issue_branch(3, "🚀"), "deckhand/3");
        assert!(issue_branch(1, &"word ".repeat(30)).len() <= "deckhand/1-".len() + 40);
    }
}
