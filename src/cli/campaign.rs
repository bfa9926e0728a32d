//! `deckhand campaign status|sync|run|record|gate|dashboard ID`: a campaign's records on the memory branch — shown, refreshed from GitHub, produced by local runs or matrix jobs, rendered into the tracking issue.

use std::path::Path;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::plan::{github, MemoryArgs};
use super::GlobalArgs;
use crate::campaign::control::Control;
use crate::campaign::dashboard;
use crate::campaign::local::{self, Runner};
use crate::campaign::plan::Plan;
use crate::campaign::status::{Record, State};
use crate::campaign::store::CampaignStore;
use crate::campaign::{is_valid_campaign_id, sync, ticks, tracking, waves};
use crate::config::EnvSnapshot;
use crate::github::RepoRef;

#[derive(Debug, Args)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub command: CampaignCommand,
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Print the campaign's table.
    Status(IdArgs),
    /// Refresh states (merged, closed, checks) from GitHub.
    Sync(IdArgs),
    /// Run the planned tasks on local checkouts, wave by wave.
    Run(RunArgs),
    /// Write one repository's status record (matrix jobs).
    Record(RecordArgs),
    /// Whether a wave may start; writes `open=true|false` to `$GITHUB_OUTPUT`.
    Gate(GateArgs),
    /// Render the tracking issue from all records, acting on its ticks.
    Dashboard(DashboardArgs),
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The campaign id (`cp-…`, printed by `deckhand plan`).
    pub id: String,
    #[command(flatten)]
    pub memory: MemoryArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub campaign: IdArgs,
    /// Tasks at once (at most 10).
    #[arg(short = 'j', long, default_value_t = 4)]
    pub jobs: usize,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub campaign: IdArgs,
    /// `owner/name`.
    #[arg(long)]
    pub repository: String,
    /// queued, running, pr_open, checks_failing, needs_review, merged, closed, skipped, failed.
    #[arg(long, conflicts_with = "action_status")]
    pub state: Option<String>,
    /// The action's `status` output (done, needs-review, waiting, error, …).
    #[arg(long)]
    pub action_status: Option<String>,
    #[arg(long)]
    pub pr_url: Option<String>,
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub tokens: Option<u64>,
    #[arg(long)]
    pub cost: Option<f64>,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub campaign: IdArgs,
    #[arg(long)]
    pub wave: usize,
    /// The job's repository: closed when its record is past `queued`
    /// (a re-dispatched run does not redo it; a retry tick queues it again).
    #[arg(long)]
    pub repository: Option<String>,
    /// Wait until every earlier wave is decided (no repository queued or
    /// running), then decide: strict wave order across parallel jobs.
    #[arg(long)]
    pub wait: bool,
    /// Seconds between looks at the records while waiting.
    #[arg(long, default_value_t = 30)]
    pub poll_seconds: u64,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub campaign: IdArgs,
    /// The repository of the tracking issue (default: the memory repository).
    #[arg(long)]
    pub issue_repo: Option<String>,
}

pub async fn run(
    global: &GlobalArgs,
    args: CampaignArgs,
    env: &EnvSnapshot,
) -> anyhow::Result<i32> {
    match args.command {
        CampaignCommand::Status(a) => status(global, a, env).await,
        CampaignCommand::Sync(a) => sync_cmd(a, env).await,
        CampaignCommand::Run(a) => run_local(global, a, env).await,
        CampaignCommand::Record(a) => record(a, env).await,
        CampaignCommand::Gate(a) => gate(a, env).await,
        CampaignCommand::Dashboard(a) => dashboard_cmd(a, env).await,
    }
}

/// The store and plan of a campaign.
async fn open(
    a: &IdArgs,
    env: &EnvSnapshot,
) -> anyhow::Result<(CampaignStore, Plan, tempfile::TempDir)> {
    if !is_valid_campaign_id(&a.id) {
        bail!(
            "`{}` is not a campaign id (ids look like cp-1a2b3c4d)",
            a.id
        );
    }
    let Some((store, cache)) = a.memory.open(env).await? else {
        bail!("no memory repository: give --memory-repo (owner/name or a local git repository)");
    };
    let plan = store.plan(&a.id)?;
    Ok((store, plan, cache))
}

async fn status(global: &GlobalArgs, a: IdArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let (store, plan, _cache) = open(&a, env).await?;
    let records = store.records(&a.id)?;
    let control = store.control(&a.id)?;
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "campaign_id": plan.campaign_id,
                "halted": waves::halted(&plan, &records, &control).map(|h| h.to_string()),
                "control": control,
                "records": records,
            }))?
        );
    } else {
        print!("{}", status_table(&plan, &records, &control));
    }
    Ok(super::exit::DONE)
}

/// The campaign as a plain-text table.
pub fn status_table(plan: &Plan, records: &[Record], control: &Control) -> String {
    let mut out = format!(
        "campaign {} · {}\n",
        plan.campaign_id,
        plan.task.lines().next().unwrap_or_default()
    );
    let mut rows = vec![[
        "#",
        "repository",
        "wave",
        "risk",
        "status",
        "PR / branch",
        "tests",
        "tokens",
        "cost",
    ]
    .map(String::from)];
    for p in &plan.repositories {
        let r = records.iter().find(|r| r.repository == p.repository);
        let tests = |t: Option<bool>| match t {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "-",
        };
        rows.push([
            p.order.to_string(),
            p.repository.clone(),
            p.wave.to_string(),
            p.risk.to_string(),
            r.map_or(State::Queued, |r| r.state).as_str().to_string(),
            r.and_then(|r| r.pr_url.clone().or_else(|| r.branch.clone()))
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}→{}",
                tests(r.and_then(|r| r.tests_before)),
                tests(r.and_then(|r| r.tests_after))
            ),
            r.map_or(0, |r| r.tokens).to_string(),
            format!("${:.2}", r.map_or(0.0, |r| r.cost_usd)),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    match (&control.cancelled, waves::halted(plan, records, control)) {
        (Some(c), _) => out.push_str(&format!("🛑 cancelled by {}\n", c.by)),
        (None, Some(h)) => out.push_str(&format!("⛔ {h}\n")),
        (None, None) => out.push_str("rolling out\n"),
    }
    out
}

async fn sync_cmd(a: IdArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let Some(gh) = github(env)? else {
        bail!("campaign sync needs GITHUB_TOKEN");
    };
    let (mut store, plan, _cache) = open(&a, env).await?;
    let records = store.records(&a.id)?;
    let mut changed = 0;
    for record in &records {
        if let Some(next) = sync::refresh(&gh, record).await? {
            let id = plan.campaign_id.clone();
            eprintln!(
                "🔄 {}: {} → {}",
                next.repository,
                record.state.as_str(),
                next.state.as_str()
            );
            // GitHub's view of the PR on the record as it now is (a job or
            // a tick may have changed it since it was read).
            store
                .update_record(&id, &next.repository.clone(), move |current| {
                    let mut merged = current.unwrap_or_else(|| next.clone());
                    merged.state = next.state;
                    merged.pr_url.clone_from(&next.pr_url);
                    merged.merged_at = next.merged_at;
                    merged.updated_at = next.updated_at;
                    Some(merged)
                })
                .await?;
            changed += 1;
        }
    }
    eprintln!(
        "✅ synced {} record(s), {changed} changed · {} GitHub API call(s)",
        records.len(),
        gh.calls()
    );
    Ok(super::exit::DONE)
}

async fn run_local(global: &GlobalArgs, a: RunArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    if a.jobs == 0 || a.jobs > local::MAX_JOBS {
        bail!("-j takes 1 to {}", local::MAX_JOBS);
    }
    let (store, plan, _cache) = open(&a.campaign, env).await?;
    let mut global_args = Vec::new();
    if let Some(p) = global.provider {
        global_args.extend(["--provider".to_string(), p.as_str().to_string()]);
    }
    for (flag, value) in [("--model", &global.model), ("--base-url", &global.base_url)] {
        if let Some(v) = value {
            global_args.extend([flag.to_string(), v.clone()]);
        }
    }
    if let Some(c) = &global.config {
        global_args.extend(["--config".to_string(), c.display().to_string()]);
    }
    if global.no_stream {
        global_args.push("--no-stream".to_string());
    }
    let runner = Runner {
        exe: std::env::current_exe().context("find the deckhand binary")?,
        global_args,
        jobs: a.jobs,
    };
    let (summary, store) = local::run(&runner, &plan, store, |r| {
        eprintln!("{} {} {}", r.state.emoji(), r.repository, r.state.as_str());
    })
    .await?;
    let records = store.records(&plan.campaign_id)?;
    let control = store.control(&plan.campaign_id)?;
    print!("{}", status_table(&plan, &records, &control));
    eprintln!("✅ ran {} task(s)", summary.ran);
    Ok(match summary.halt {
        Some(_) => super::exit::NEEDS_REVIEW,
        None => super::exit::DONE,
    })
}

/// Maps the action's `status` output to a record state.
fn action_state(status: &str) -> Option<State> {
    Some(match status {
        "done" => State::PrOpen,
        "needs-review" | "waiting" | "paused" => State::NeedsReview,
        "continued" => State::Running,
        "cancelled" => State::Cancelled,
        "skipped" => State::Skipped,
        "error" => State::Failed,
        _ => return None,
    })
}

async fn record(a: RecordArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let state = match (&a.state, &a.action_status) {
        (Some(s), _) => State::parse(s).with_context(|| format!("unknown --state {s}"))?,
        (None, Some(s)) => action_state(s).unwrap_or(State::Failed),
        (None, None) => bail!("give --state or --action-status"),
    };
    let (mut store, plan, _cache) = open(&a.campaign, env).await?;
    let Some(planned) = plan.repo(&a.repository) else {
        bail!("{} is not in campaign {}", a.repository, plan.campaign_id);
    };
    let wave = planned.wave;
    let repository = a.repository.clone();
    let pr_url = a.pr_url.filter(|u| !u.is_empty());
    let branch = a.branch.filter(|b| !b.is_empty());
    let (tokens, cost) = (a.tokens, a.cost);
    // The run working on it: what `/deckhand cancel` cancels.
    let run_id: Option<u64> = env.get("GITHUB_RUN_ID").and_then(|r| r.trim().parse().ok());
    // Applied to the record as it is at each attempt: what others wrote
    // into it meanwhile (a tick acted on, a sync) stays.
    let written = store
        .update_record(&plan.campaign_id, &a.repository, move |current| {
            let mut record = current.unwrap_or_else(|| Record::new(&repository, state, wave));
            record.state = state;
            record.updated_at = chrono::Utc::now();
            if let Some(url) = &pr_url {
                record.pr_number = url.rsplit('/').next().and_then(|n| n.parse().ok());
                record.pr_url = Some(url.clone());
            }
            if let Some(b) = &branch {
                record.branch = Some(b.clone());
            }
            record.run_id = run_id.or(record.run_id);
            record.tokens = tokens.unwrap_or(record.tokens);
            record.cost_usd = cost.unwrap_or(record.cost_usd);
            Some(record)
        })
        .await?;
    let shown = written
        .map(|r| format!("{} {}", r.repository, r.state.as_str()))
        .unwrap_or_default();
    eprintln!("💾 {shown}");
    Ok(super::exit::DONE)
}

async fn gate(a: GateArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let (mut store, plan, _cache) = open(&a.campaign, env).await?;
    let mut last_wait = None;
    let decision = loop {
        let records = store.records(&plan.campaign_id)?;
        let control = store.control(&plan.campaign_id)?;
        let mine = a
            .repository
            .as_deref()
            .and_then(|r| records.iter().find(|x| x.repository == r));
        let decision = match (&control.cancelled, mine) {
            (Some(c), _) => Err(format!("🛑 campaign cancelled by {}", c.by)),
            (None, Some(r)) if r.state != State::Queued => Err(format!(
                "⏭️ {} is already {}",
                r.repository,
                r.state.as_str()
            )),
            _ if !a.wait => {
                waves::gate(&plan, &records, &control, a.wave).map_err(|h| format!("⛔ {h}"))
            }
            _ => match waves::decide(&plan, &records, &control, a.wave) {
                waves::Decision::Open => Ok(()),
                waves::Decision::Halted(h) => Err(format!("⛔ {h}")),
                waves::Decision::Waiting { wave, pending } => {
                    let line = format!(
                        "⏳ wave {} waits for wave {wave}: {pending} repositories not decided yet",
                        a.wave
                    );
                    if last_wait.as_ref() != Some(&line) {
                        eprintln!("{line}");
                        last_wait = Some(line);
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(a.poll_seconds.max(1))).await;
                    store.refresh()?;
                    continue;
                }
            },
        };
        break decision;
    };
    let open = match decision {
        Ok(()) => true,
        Err(why) => {
            eprintln!("{why}");
            false
        }
    };
    println!("{}", if open { "open" } else { "halted" });
    if let Some(path) = env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        crate::report::workflow::write_outputs(
            Path::new(path),
            &[("open", open.to_string())],
            &crate::sandbox::Redactor::new(env.secret_values()),
        )
        .with_context(|| format!("write {path}"))?;
    }
    Ok(super::exit::DONE)
}

async fn dashboard_cmd(a: DashboardArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let Some(gh) = github(env)? else {
        bail!("campaign dashboard needs GITHUB_TOKEN");
    };
    let issue_repo = a
        .issue_repo
        .clone()
        .or_else(|| a.campaign.memory.repo(env))
        .context("give --issue-repo owner/name")?;
    let repo: RepoRef = issue_repo
        .parse()
        .with_context(|| format!("--issue-repo {issue_repo}"))?;
    let (mut store, plan, _cache) = open(&a.campaign, env).await?;
    let id = plan.campaign_id.clone();
    let number = match store.issue(&id)? {
        Some(n) => n,
        None => {
            let title = format!(
                "Campaign {id}: {}",
                plan.task.lines().next().unwrap_or_default()
            );
            let issue = gh
                .create_issue(&repo, &title, &dashboard::marker(&id))
                .await?;
            store.save_issue(&id, issue.number).await?;
            issue.number
        }
    };
    // Ticks act on the records first (each once), then the view is written.
    let (_, ticks) = tracking::read_ticks(&gh, &repo, number).await?;
    for line in ticks::act(&gh, &repo, &mut store, &plan, &ticks).await? {
        eprintln!("{line}");
    }
    store.refresh()?;
    let records = store.records(&id)?;
    let control = store.control(&id)?;
    tracking::render_issue(&gh, &repo, number, &plan, &records, &control, &ticks).await?;
    eprintln!(
        "📋 dashboard: {repo}#{number} · {} GitHub API call(s)",
        gh.calls()
    );
    Ok(super::exit::DONE)
}
