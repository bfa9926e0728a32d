//! `campaign run`: the planned tasks on local checkouts, up to 10 at once, wave by wave, each one `deckhand run` in its own process, with the same status records.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::Semaphore;

use super::plan::{Plan, PlannedRepo};
use super::status::{Record, State};
use super::store::CampaignStore;
use super::waves::{self, Halt};
use super::CampaignError;

/// Tasks running at once, at most (as the Actions workflow's `max-parallel`).
pub const MAX_JOBS: usize = 10;

/// How to start one task.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The `deckhand` binary.
    pub exe: PathBuf,
    /// Global flags passed before `run` (provider, model, config…).
    pub global_args: Vec<String>,
    /// Tasks at once (1..=10).
    pub jobs: usize,
}

/// What one task ended with, read from its `--json` events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub exit_code: i32,
    pub status: Option<String>,
    pub branch: Option<String>,
    pub tokens: u64,
    pub cost_usd: f64,
    pub tests_before: Option<bool>,
    pub tests_after: Option<bool>,
    /// The last stderr line, for a task that failed.
    pub error: Option<String>,
}

impl Outcome {
    pub fn state(&self) -> State {
        match self.exit_code {
            0 => State::PrOpen,
            2 | 3 => State::NeedsReview,
            _ => State::Failed,
        }
    }
}

/// What a whole run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub ran: usize,
    pub halt: Option<Halt>,
}

/// Reads one line of `deckhand run --json` output into the outcome.
pub fn read_event(line: &str, out: &mut Outcome) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    match v.get("event").and_then(|e| e.as_str()) {
        Some("command_run") => {
            let baseline = v.get("purpose").and_then(|p| p.as_str()) == Some("baseline");
            if baseline {
                let ok = v.get("exit_code").and_then(|c| c.as_i64()) == Some(0);
                out.tests_before = Some(out.tests_before.unwrap_or(true) && ok);
            }
        }
        Some("verify_result") => {
            out.tests_after = v.get("passed").and_then(|p| p.as_bool());
        }
        Some("task_finished") => {
            out.status = v.get("status").and_then(|s| s.as_str()).map(String::from);
            out.branch = v.get("branch").and_then(|s| s.as_str()).map(String::from);
            let usage = v.get("usage");
            let n = |k: &str| {
                usage
                    .and_then(|u| u.get(k))
                    .and_then(|x| x.as_u64())
                    .unwrap_or(0)
            };
            out.tokens = n("input_tokens") + n("output_tokens");
            out.cost_usd = v.get("cost_usd").and_then(|c| c.as_f64()).unwrap_or(0.0);
        }
        _ => {}
    }
}

/// Runs `deckhand run` on one checkout and reads what it did.
pub async fn run_one(runner: &Runner, dir: &Path, task: &str) -> Result<Outcome, CampaignError> {
    let mut child = tokio::process::Command::new(&runner.exe)
        .args(&runner.global_args)
        .arg("--json")
        .arg("run")
        .arg("--repo")
        .arg(dir)
        .arg("--task")
        .arg(task)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(CampaignError::io(format!("start {}", runner.exe.display())))?;
    let mut out = Outcome::default();
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut last = None;
        if let Some(stderr) = stderr {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.trim().is_empty() {
                    last = Some(line);
                }
            }
        }
        last
    });
    if let Some(stdout) = child.stdout.take() {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(CampaignError::io("read the task's output"))?
        {
            read_event(&line, &mut out);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(CampaignError::io("wait for the task"))?;
    out.exit_code = status.code().unwrap_or(1);
    if out.exit_code == 1 {
        out.error = errors.await.ok().flatten();
    }
    Ok(out)
}

/// Whether a repository still needs its task run (no record, or queued again).
fn pending(records: &[Record], p: &PlannedRepo) -> bool {
    records
        .iter()
        .find(|r| r.repository == p.repository)
        .is_none_or(|r| r.state == State::Queued)
}

/// The record a finished task leaves.
fn finished(p: &PlannedRepo, outcome: Result<Outcome, CampaignError>) -> Record {
    let mut record = Record::new(&p.repository, State::Failed, p.wave);
    match outcome {
        Ok(o) => {
            record.state = o.state();
            record.branch = o.branch.clone();
            record.tokens = o.tokens;
            record.cost_usd = o.cost_usd;
            record.tests_before = o.tests_before;
            record.tests_after = o.tests_after;
            record.note = match (&o.error, o.exit_code) {
                (Some(e), _) => Some(e.clone()),
                (None, 0) => Some("branch ready (local run)".into()),
                (None, 3) => Some("waiting for an answer".into()),
                _ => None,
            };
        }
        Err(e) => record.note = Some(e.to_string()),
    }
    record
}

/// Runs every pending repository of the plan, wave by wave, at most
/// `runner.jobs` at once; stops before a wave the gate refuses.
pub async fn run(
    runner: &Runner,
    plan: &Plan,
    mut store: CampaignStore,
    report: impl Fn(&Record),
) -> Result<(Summary, CampaignStore), CampaignError> {
    let jobs = runner.jobs.clamp(1, MAX_JOBS);
    let limit = Arc::new(Semaphore::new(jobs));
    let mut ran = 0;
    for wave in 1..=plan.waves() {
        let records = store.records(&plan.campaign_id)?;
        let control = store.control(&plan.campaign_id)?;
        if control.cancelled.is_some() {
            tracing::warn!("campaign {} was cancelled", plan.campaign_id);
            break;
        }
        if let Err(halt) = waves::gate(plan, &records, &control, wave) {
            tracing::warn!("{halt}");
            return Ok((
                Summary {
                    ran,
                    halt: Some(halt),
                },
                store,
            ));
        }
        let todo: Vec<&PlannedRepo> = plan
            .repositories
            .iter()
            .filter(|p| p.wave == wave && pending(&records, p))
            .collect();
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<&PlannedRepo>();
        let mut running = FuturesUnordered::new();
        for p in todo {
            let Some(dir) = p.path.as_deref() else {
                tracing::warn!(repo = %p.repository, "no local checkout in the plan; skipped");
                continue;
            };
            let dir = PathBuf::from(dir);
            let limit = limit.clone();
            let task = plan.task.clone();
            let started = started_tx.clone();
            running.push(async move {
                let outcome = match limit.acquire_owned().await {
                    Ok(_permit) => {
                        let _ = started.send(p);
                        run_one(runner, &dir, &task).await
                    }
                    Err(e) => Err(CampaignError::Invalid(format!("task limit closed: {e}"))),
                };
                (p, outcome)
            });
        }
        drop(started_tx);
        while !running.is_empty() {
            tokio::select! {
                Some(p) = started_rx.recv() => {
                    let record = Record::new(&p.repository, State::Running, p.wave);
                    report(&record);
                    store.write_record(&plan.campaign_id, &record).await?;
                }
                Some((p, outcome)) = running.next() => {
                    let record = finished(p, outcome);
                    report(&record);
                    store.write_record(&plan.campaign_id, &record).await?;
                    ran += 1;
                }
            }
        }
    }
    Ok((Summary { ran, halt: None }, store))
}
