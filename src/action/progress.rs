//! The live progress comment on the issue: the plan as a checklist ticked as
//! steps finish, the current step, test results, tokens and cost, a link to
//! the run log. One comment per task, found again by its marker and updated
//! in place.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::github::client::{GitHub, RepoRef};
use crate::llm::{PriceTable, Usage};
use crate::report::events::human_duration;
use crate::report::workflow::truncate_markdown;
use crate::report::{Event, Reporter};
use crate::sandbox::Redactor;
use crate::task::PlanItem;

const MARKER_PREFIX: &str = "<!-- deckhand:progress ";
/// GitHub refuses comment bodies over 65,536 characters; stay under it.
pub const MAX_COMMENT: usize = 65_000;
/// Most of a comment one section (note, plan, checks) may take.
const MAX_SECTION: usize = 20_000;
/// Least time between two updates of the comment, final one excepted.
const MIN_INTERVAL: Duration = Duration::from_secs(3);

/// Where a task stands, as the comment says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Waiting,
    Paused,
    Done,
    NeedsReview,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Paused => "paused",
            Status::Done => "done",
            Status::NeedsReview => "needs-review",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        [
            Status::Running,
            Status::Waiting,
            Status::Paused,
            Status::Done,
            Status::NeedsReview,
            Status::Failed,
            Status::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    fn headline(self) -> &'static str {
        match self {
            Status::Running => "🛠️ Deckhand is working on this",
            Status::Waiting => "❓ Deckhand is waiting for an answer",
            Status::Paused => "⏸️ Deckhand is paused",
            Status::Done => "✅ Deckhand finished",
            Status::NeedsReview => "⚠️ Deckhand needs a human review",
            Status::Failed => "❌ Deckhand stopped with an error",
            Status::Cancelled => "🛑 Deckhand was cancelled",
        }
    }
}

/// What the marker of a progress comment records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub task: String,
    pub run: Option<u64>,
    pub status: Status,
}

impl Marker {
    pub fn render(&self) -> String {
        let run = self.run.map(|r| format!(" run={r}")).unwrap_or_default();
        format!(
            "{MARKER_PREFIX}task={}{run} status={} -->",
            self.task,
            self.status.as_str()
        )
    }

    /// The marker in a comment body, if it has one.
    pub fn find(body: &str) -> Option<Marker> {
        let start = body.find(MARKER_PREFIX)? + MARKER_PREFIX.len();
        let end = body[start..].find("-->")? + start;
        let mut task = None;
        let mut run = None;
        let mut status = None;
        for pair in body[start..end].split_whitespace() {
            match pair.split_once('=') {
                Some(("task", v)) => task = Some(v.to_string()),
                Some(("run", v)) => run = v.parse().ok(),
                Some(("status", v)) => status = Status::parse(v),
                _ => {}
            }
        }
        Some(Marker {
            task: task?,
            run,
            status: status?,
        })
    }
}

/// Everything the comment shows.
#[derive(Debug, Clone)]
pub struct Progress {
    pub marker: Marker,
    pub run_url: Option<String>,
    pub step: String,
    pub plan: Vec<PlanItem>,
    pub checks: Vec<String>,
    pub usage: Usage,
    pub model: String,
    pub prices: PriceTable,
    pub pr_url: Option<String>,
    /// Why the task stopped, or what it waits for.
    pub note: Option<String>,
    /// Comments left out of the prompt: their authors may not write.
    pub unread: usize,
    started: Instant,
}

impl Progress {
    pub fn new(
        task: &str,
        run: Option<u64>,
        run_url: Option<String>,
        model: &str,
        prices: PriceTable,
    ) -> Self {
        Progress {
            marker: Marker {
                task: task.to_string(),
                run,
                status: Status::Running,
            },
            run_url,
            step: "starting".into(),
            plan: Vec::new(),
            checks: Vec::new(),
            usage: Usage::default(),
            model: model.to_string(),
            prices,
            pr_url: None,
            note: None,
            unread: 0,
            started: Instant::now(),
        }
    }

    /// Applies one event; `true` when the comment should be refreshed soon.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::RoleStarted { role, attempt } => {
                self.step = match role.as_str() {
                    "research" => "🧭 research: reading the repository and planning".into(),
                    "code" => format!("🛠️ code: attempt {attempt}"),
                    _ => format!("🔎 verify: checking attempt {attempt}"),
                };
                true
            }
            Event::PlanUpdated { plan } => {
                let changed = *plan != self.plan;
                self.plan = plan.clone();
                changed
            }
            Event::CommandRun {
                purpose,
                command,
                exit_code,
                timed_out,
                duration_ms,
                passed,
                failed,
            } => {
                let ok = *exit_code == Some(0) && !timed_out;
                let counts = match (passed, failed) {
                    (Some(p), Some(f)) if *f > 0 => format!("{f} failed, {p} passed"),
                    (Some(p), _) => format!("{p} passed"),
                    _ if ok => "passed".into(),
                    _ => format!("exit {}", exit_code.map_or("?".into(), |c| c.to_string())),
                };
                let mark = if ok { "✅" } else { "❌" };
                let line = format!(
                    "{purpose}: `{command}` {mark} {counts} ({})",
                    human_duration(Duration::from_millis(*duration_ms as u64))
                );
                let key = format!("{purpose}: `{command}`");
                self.checks.retain(|c| !c.starts_with(&key));
                self.checks.push(line);
                true
            }
            Event::ModelReply { usage, .. } => {
                self.usage.add(usage);
                false
            }
            Event::VerifyResult { .. } | Event::Committed { .. } | Event::Question { .. } => true,
            _ => false,
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "{}\n### {}\n\n",
            self.marker.render(),
            self.marker.status.headline()
        );
        let cut = |text: String| truncate_markdown(&text, MAX_SECTION);
        if let Some(note) = &self.note {
            out.push_str(&cut(format!("> {}\n\n", note.replace('\n', "\n> "))));
        }
        if let Some(url) = &self.pr_url {
            out.push_str(&format!("**Pull request:** {url}\n\n"));
        }
        if self.marker.status == Status::Running {
            out.push_str(&format!("**Now:** {}\n\n", self.step));
        }
        if let Some(note) = super::trusted::unread_note(self.unread) {
            out.push_str(&format!("_{note}_\n\n"));
        }
        if !self.plan.is_empty() {
            let mut plan = "**Plan**\n".to_string();
            for (i, item) in self.plan.iter().enumerate() {
                plan.push_str(&format!(
                    "- [{}] {}. {}\n",
                    if item.done { 'x' } else { ' ' },
                    i + 1,
                    item.text
                ));
            }
            out.push_str(&cut(plan));
            out.push('\n');
        }
        if !self.checks.is_empty() {
            let mut checks = "**Checks**\n".to_string();
            for c in &self.checks {
                checks.push_str(&format!("- {c}\n"));
            }
            out.push_str(&cut(checks));
            out.push('\n');
        }
        let cost = self
            .prices
            .cost(&self.model, &self.usage)
            .map(|c| format!(" · ~${c:.2}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "<sub>task `{}` · {} tokens{cost} · {}",
            self.marker.task,
            self.usage.total(),
            human_duration(self.started.elapsed())
        ));
        if let Some(url) = &self.run_url {
            out.push_str(&format!(" · [run log]({url})"));
        }
        out.push_str("</sub>\n");
        truncate_markdown(&out, MAX_COMMENT)
    }
}

/// Keeps the comment in step with the task's events, in the background.
pub struct Updater {
    progress: Arc<Mutex<Progress>>,
    tx: Option<mpsc::UnboundedSender<Update>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    github: GitHub,
    repo: RepoRef,
    comment_id: u64,
    redactor: Redactor,
}

/// What the updater's worker hears.
enum Update {
    Event(Event),
    Step(String),
}

impl Updater {
    pub fn start(
        github: GitHub,
        repo: RepoRef,
        comment_id: u64,
        progress: Progress,
        redactor: Redactor,
    ) -> Self {
        let progress = Arc::new(Mutex::new(progress));
        let (tx, mut rx) = mpsc::unbounded_channel::<Update>();
        let worker = {
            let (github, repo, redactor, progress) = (
                github.clone(),
                repo.clone(),
                redactor.clone(),
                progress.clone(),
            );
            tokio::spawn(async move {
                let mut last: Option<Instant> = None;
                let mut dirty = false;
                loop {
                    let wait = if dirty {
                        last.map_or(Duration::ZERO, |t| MIN_INTERVAL.saturating_sub(t.elapsed()))
                    } else {
                        Duration::from_secs(3600)
                    };
                    tokio::select! {
                        got = rx.recv() => match got {
                            Some(update) => {
                                if let Ok(mut p) = progress.lock() {
                                    dirty |= match update {
                                        Update::Event(event) => p.apply(&event),
                                        Update::Step(step) => {
                                            p.step = step;
                                            true
                                        }
                                    };
                                }
                            }
                            None => break,
                        },
                        _ = tokio::time::sleep(wait), if dirty => {
                            let body = progress.lock().map(|p| p.render()).unwrap_or_default();
                            if let Err(e) = github.update_comment(&repo, comment_id, &redactor.redact(&body)).await {
                                tracing::warn!("could not update the progress comment: {e}");
                            }
                            last = Some(Instant::now());
                            dirty = false;
                        }
                    }
                }
            })
        };
        Updater {
            progress,
            tx: Some(tx),
            worker: Some(worker),
            github,
            repo,
            comment_id,
            redactor,
        }
    }

    /// Shows what the job does now (outside the task loop: pushing, …).
    pub fn step(&self, step: &str) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Update::Step(step.to_string()));
        }
    }

    /// A reporter that feeds this updater.
    pub fn reporter(&self, json: bool, redactor: Redactor) -> Reporter {
        let tx = self.tx.clone();
        Reporter::with_observer(
            json,
            redactor,
            Arc::new(move |event: &Event| {
                if let Some(tx) = &tx {
                    let _ = tx.send(Update::Event(event.clone()));
                }
            }),
        )
    }

    /// Stops listening, applies `finish`, and writes the final comment.
    pub async fn finish(
        mut self,
        finish: impl FnOnce(&mut Progress),
    ) -> Result<(), crate::github::client::GitHubError> {
        drop(self.tx.take());
        if let Some(worker) = self.worker.take() {
            worker.abort();
            let _ = worker.await;
        }
        let body = match self.progress.lock() {
            Ok(mut p) => {
                finish(&mut p);
                p.render()
            }
            Err(_) => return Ok(()),
        };
        self.github
            .update_comment(&self.repo, self.comment_id, &self.redactor.redact(&body))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        let m = Marker {
            task: "dh-1a2b3c".into(),
            run: Some(42),
            status: Status::Waiting,
        };
        let body = format!("{}\n### hello", m.render());
        assert_eq!(Marker::find(&body), Some(m));
        assert_eq!(Marker::find("no marker"), None);
    }

    #[test]
    fn long_sections_are_cut_under_githubs_limit() {
        let mut p = Progress::new("dh-1", Some(7), None, "m", PriceTable::default());
        p.plan = (0..100)
            .map(|i| PlanItem {
                text: format!("step {i} {}", "x".repeat(2_000)),
                done: false,
            })
            .collect();
        p.checks = vec!["y".repeat(100_000)];
        p.note = Some("z".repeat(100_000));
        let text = p.render();
        assert!(text.chars().count() <= MAX_COMMENT, "{}", text.len());
        assert!(text.starts_with("<!-- deckhand:progress task=dh-1 run=7 status=running -->"));
        assert_eq!(text.matches("cut to fit GitHub's size limit").count(), 3);
        assert!(text.contains("<sub>task `dh-1`"), "the footer stays");
    }

    #[test]
    fn renders_plan_checks_and_usage() {
        let mut p = Progress::new(
            "dh-1",
            Some(7),
            Some("https://x/runs/7".into()),
            "m",
            PriceTable::default(),
        );
        p.apply(&Event::RoleStarted {
            role: "code".into(),
            attempt: 2,
        });
        p.apply(&Event::PlanUpdated {
            plan: vec![
                PlanItem {
                    text: "Add limiter".into(),
                    done: true,
                },
                PlanItem {
                    text: "Tests".into(),
                    done: false,
                },
            ],
        });
        p.apply(&Event::CommandRun {
            purpose: "verify".into(),
            command: "npm test".into(),
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 2100,
            passed: Some(14),
            failed: Some(0),
        });
        p.apply(&Event::ModelReply {
            role: "code".into(),
            usage: Usage {
                input_tokens: 100,
                output_tokens: 20,
                ..Usage::default()
            },
            tool_calls: 1,
        });
        let text = p.render();
        assert!(
            text.starts_with("<!-- deckhand:progress task=dh-1 run=7 status=running -->"),
            "{text}"
        );
        assert!(text.contains("**Now:** 🛠️ code: attempt 2"));
        assert!(text.contains("- [x] 1. Add limiter\n- [ ] 2. Tests"));
        assert!(text.contains("verify: `npm test` ✅ 14 passed (2.1 s)"));
        assert!(text.contains("120 tokens"));
        assert!(text.contains("[run log](https://x/runs/7)"));
    }
}
