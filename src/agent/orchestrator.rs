//! The task loop: research plans, code implements, verify checks; failures
//! go back to code for another attempt until `max_attempts`, then the task
//! ends as needs-review. The whole state is one serialisable value so a
//! task can stop (question, limit) and resume where it was.

use serde::{Deserialize, Serialize};

use crate::agent::conversation::{self, AgentError, RoleEnd, RoleState, Shared};
use crate::agent::session::{Limit, Session};
use crate::agent::tools::workflows;
use crate::agent::verify::{self, Interrupt, VerifyReport};
use crate::agent::{held, prompts, AgentRole};
use crate::git;
use crate::llm::Usage;
use crate::report::Event;
use crate::sandbox::scan::{Hit, Scanner};
use crate::task::{TaskSpec, TaskStatus};
use crate::workspace::checks::{CheckResult, SetupResult};

/// Which role the task is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Phase {
    Research,
    Code { attempt: u32 },
    Verify { attempt: u32 },
}

/// Everything a task knows; saved as its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub spec: TaskSpec,
    pub phase: Phase,
    /// The conversation of the role in progress, if it stopped mid-way.
    pub role: Option<RoleState>,
    pub branch: String,
    pub base_commit: String,
    pub author: (String, String),
    /// Every check before any change.
    pub baseline: Vec<CheckResult>,
    /// The setup commands that failed before any change (their output's
    /// tail, redacted): the PR says so.
    #[serde(default)]
    pub setup_failed: Vec<SetupResult>,
    /// One per verified attempt.
    pub reports: Vec<VerifyReport>,
    /// Code's closing words on its last attempt.
    pub code_summary: String,
    pub commits: Vec<String>,
    pub usage: Usage,
    pub elapsed_ms: u64,
    /// The question the task waits on, if any.
    pub question: Option<String>,
    /// The issue the task comes from, when it does (GitHub).
    #[serde(default)]
    pub issue: Option<u64>,
    /// The commit whose tree the last verification checked.
    #[serde(default)]
    pub verified_commit: Option<String>,
    /// What the task's containment refused or could not enforce.
    #[serde(default)]
    pub containment: ContainmentRecord,
    /// The team rules the task got, and the stale ones it set aside.
    #[serde(default)]
    pub team_rules: crate::memory::recall::Applied,
}

/// What the report says about containment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainmentRecord {
    /// `host:port` of connections the egress proxy refused.
    pub blocked: Vec<String>,
    /// What was only advisory (no Landlock, commands as root, …).
    pub advisories: Vec<String>,
    /// Files the secret scan kept out of the last commit.
    #[serde(default)]
    pub held_back: Vec<Hit>,
}

/// How the task loop ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// Verification still failed after the last attempt.
    GaveUp,
    /// A budget ended the task.
    Stopped(Limit),
    Waiting(String),
    /// Someone asked it to pause (who).
    Paused(String),
}

impl TaskState {
    pub fn new(
        spec: TaskSpec,
        branch: String,
        base_commit: String,
        author: (String, String),
    ) -> Self {
        TaskState {
            spec,
            phase: Phase::Research,
            role: None,
            branch,
            base_commit,
            author,
            baseline: Vec::new(),
            setup_failed: Vec::new(),
            reports: Vec::new(),
            code_summary: String::new(),
            commits: Vec::new(),
            usage: Usage::default(),
            elapsed_ms: 0,
            question: None,
            issue: None,
            verified_commit: None,
            containment: ContainmentRecord::default(),
            team_rules: Default::default(),
        }
    }

    /// The commit the worktree's branch is at.
    pub fn head_commit(&self) -> &str {
        self.commits.last().unwrap_or(&self.base_commit)
    }

    /// Commits the worktree's changes, if any, with a message that says
    /// what and why; files the secret scan flags are held back, and
    /// workflow changes the task may not make are reverted first (a process
    /// left running may have written them after its command's own check).
    pub fn commit(&mut self, s: &Session, note: &str) -> Result<(), AgentError> {
        let work = self.commit_work(s, note);
        let done = work.run()?;
        self.record(s, done);
        Ok(())
    }

    /// [`TaskState::commit`] off the async workers (git walks the tree).
    pub async fn commit_async(&mut self, s: &Session, note: &str) -> Result<(), AgentError> {
        let work = self.commit_work(s, note);
        let done = blocking(move || work.run()).await?;
        self.record(s, done);
        Ok(())
    }

    fn commit_work(&self, s: &Session, note: &str) -> CommitWork {
        CommitWork {
            root: s.workspace.root().to_path_buf(),
            owner: s.workspace.owner(),
            guard_workflows: !s.limits.allow_workflow_changes,
            branch: self.branch.clone(),
            author: self.author.clone(),
            message: s
                .redactor
                .redact(&commit_message(&self.spec, &self.code_summary, note))
                .into_owned(),
            scanner: Scanner::new(&s.redactor),
        }
    }

    fn record(&mut self, s: &Session, done: CommitDone) {
        for path in &done.reverted {
            s.progress(&format!(
                "↩️ reverted {path} before committing: changes to .github/workflows/ are not allowed for this task"
            ));
        }
        self.held(s, done.hits);
        self.committed(s, done.commit, &done.message);
    }

    /// Keeps what the scan held back for verify and the report.
    fn held(&mut self, s: &Session, hits: Vec<Hit>) {
        for h in &hits {
            if !self.containment.held_back.contains(h) {
                s.progress(&format!("🔒 held back from the commit: {}", h.message()));
            }
        }
        self.containment.held_back = hits;
    }

    fn committed(&mut self, s: &Session, committed: Option<String>, message: &str) {
        if let Some(id) = committed {
            let subject = message.lines().next().unwrap_or_default().to_string();
            s.progress(&format!("📝 commit {} {subject}", &id[..id.len().min(8)]));
            s.reporter.event(Event::Committed {
                commit: id.clone(),
                message: subject,
            });
            self.commits.push(id);
        }
    }

    /// Waits for the worktree's preparation and keeps its baseline.
    pub async fn take_baseline(&mut self, s: &mut Session) -> Result<(), AgentError> {
        s.ready().await?;
        if let Some(baseline) = s.baseline.take() {
            self.baseline = baseline.checks;
            self.setup_failed = baseline.setup.into_iter().filter(|r| !r.passed).collect();
        }
        Ok(())
    }

    fn feedback(&self) -> Vec<String> {
        self.reports
            .iter()
            .map(|r| r.failure_report(&self.baseline))
            .collect()
    }
}

/// One commit of the worktree, ready to run on any thread.
struct CommitWork {
    root: std::path::PathBuf,
    owner: Option<(u32, u32)>,
    /// Put `.github/workflows/` back as HEAD has it before committing.
    guard_workflows: bool,
    branch: String,
    author: (String, String),
    message: String,
    scanner: Scanner,
}

/// What a [`CommitWork`] did.
struct CommitDone {
    commit: Option<String>,
    hits: Vec<Hit>,
    reverted: Vec<String>,
    message: String,
}

impl CommitWork {
    fn run(self) -> Result<CommitDone, git::GitError> {
        let reverted = if self.guard_workflows {
            workflows::revert(&self.root, self.owner).map_err(|e| git::GitError::Io {
                context: format!("revert {}", workflows::WORKFLOWS),
                source: std::io::Error::other(e),
            })?
        } else {
            Vec::new()
        };
        let author = (self.author.0.as_str(), self.author.1.as_str());
        let (commit, hits) = held::commit_scanned(
            &self.root,
            &self.branch,
            author,
            &self.message,
            &self.scanner,
        )?;
        Ok(CommitDone {
            commit,
            hits,
            reverted,
            message: self.message,
        })
    }
}

/// Runs blocking git work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, git::GitError> + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AgentError::Fatal {
            role: "git",
            message: format!("git work stopped: {e}"),
        })?
        .map_err(AgentError::from)
}

/// Drives the task from its current phase to an outcome; nothing its
/// commands started is left running when it returns.
pub async fn drive(s: &mut Session, st: &mut TaskState) -> Result<Outcome, AgentError> {
    let outcome = drive_phases(s, st).await;
    stop_task_processes(s, "the task ended").await;
    outcome
}

/// Kills whatever the task's commands left running.
async fn stop_task_processes(s: &Session, when: &str) {
    let stopped = s.runner.stop_all().await;
    if stopped > 0 {
        s.progress(&format!(
            "🧹 stopped {stopped} process(es) left running ({when})"
        ));
    }
}

/// Verifies the committed tree with nothing else running; when files
/// changed during verification, verifies again once, then refuses.
async fn verify_settled(
    s: &mut Session,
    st: &mut TaskState,
    attempt: u32,
) -> Result<Result<VerifyReport, Interrupt>, AgentError> {
    let mut tries = 0;
    // Files checks wrote on an earlier try (put back, never committed).
    let mut written = Vec::new();
    loop {
        stop_task_processes(s, "before verify").await;
        st.commit_async(
            s,
            &format!("attempt {attempt}, files written after it ended"),
        )
        .await?;
        let verified = st.head_commit().to_string();
        let (root, base) = (s.workspace.root().to_path_buf(), st.base_commit.clone());
        let (_, diff) = blocking(move || git::diff_since(&root, &base)).await?;
        let mut report = match verify::verify(s, &mut st.spec, attempt, &diff, &st.baseline).await?
        {
            Ok(report) => report,
            Err(interrupt) => return Ok(Err(interrupt)),
        };
        if let Some(scan) = held::check_run(&st.containment.held_back) {
            report.checks.push(scan);
        }
        stop_task_processes(s, "after verify").await;
        written.append(&mut report.written);
        report.written = written.clone();
        let before = st.commits.len();
        st.commit_async(
            s,
            &format!("files changed while attempt {attempt} was verified"),
        )
        .await?;
        if st.commits.len() == before {
            st.verified_commit = Some(verified);
            return Ok(Ok(report));
        }
        tries += 1;
        if tries >= 2 {
            st.verified_commit = None;
            report.review_problem = Some(
                "files kept changing while the checks ran, so the branch's tree is not the one verified".into(),
            );
            return Ok(Ok(report));
        }
        s.progress("⚠️ verify: files changed while verifying; verifying the new tree");
    }
}

async fn drive_phases(s: &mut Session, st: &mut TaskState) -> Result<Outcome, AgentError> {
    st.question = None;
    loop {
        match st.phase {
            Phase::Research => {
                st.spec.status = TaskStatus::Planning;
                let mut role = match st.role.take() {
                    Some(role) => role,
                    None => {
                        start_role(s, AgentRole::Research, 0);
                        RoleState::new(AgentRole::Research, prompts::research_start(&st.spec))
                    }
                };
                let end = run_role(s, &mut role, &mut st.spec).await?;
                match end {
                    RoleEnd::Waiting(q) => return Ok(wait(st, role, q)),
                    RoleEnd::Paused(author) => return Ok(pause(st, role, author)),
                    RoleEnd::Stopped(limit) => return Ok(stopped(st, role, limit)),
                    RoleEnd::Finished(_) => {
                        s.progress(&format!(
                            "🧭 research: {} requirements, {} criteria, {} plan steps",
                            st.spec.requirements.len(),
                            st.spec.acceptance_criteria.len(),
                            st.spec.plan.len()
                        ));
                        st.phase = Phase::Code { attempt: 1 };
                    }
                }
            }
            Phase::Code { attempt } => {
                st.spec.status = TaskStatus::Coding;
                st.spec.attempt = attempt;
                let mut role = match st.role.take() {
                    Some(role) => role,
                    None => {
                        // Code changes files: the baseline must have run.
                        st.take_baseline(s).await?;
                        start_role(s, AgentRole::Code, attempt);
                        let baseline = verify::describe_baseline(&st.baseline);
                        RoleState::new(
                            AgentRole::Code,
                            prompts::code_start(&st.spec, attempt, &baseline, &st.feedback()),
                        )
                    }
                };
                let end = run_role(s, &mut role, &mut st.spec).await?;
                match end {
                    RoleEnd::Waiting(q) => {
                        st.commit_async(
                            s,
                            &format!("work in progress, waiting for an answer (attempt {attempt})"),
                        )
                        .await?;
                        return Ok(wait(st, role, q));
                    }
                    RoleEnd::Paused(author) => {
                        st.commit_async(
                            s,
                            &format!("work in progress, paused by @{author} (attempt {attempt})"),
                        )
                        .await?;
                        return Ok(pause(st, role, author));
                    }
                    RoleEnd::Stopped(limit) => {
                        st.commit_async(
                            s,
                            &format!(
                                "stopped: {} (attempt {attempt})",
                                limit.describe(&s.budgets)
                            ),
                        )
                        .await?;
                        return Ok(stopped(st, role, limit));
                    }
                    RoleEnd::Finished(summary) => st.code_summary = summary,
                }
                st.commit_async(s, &format!("attempt {attempt}")).await?;
                st.phase = Phase::Verify { attempt };
            }
            Phase::Verify { attempt } => {
                st.spec.status = TaskStatus::Verifying;
                start_role(s, AgentRole::Verify, attempt);
                let report = match verify_settled(s, st, attempt).await? {
                    Ok(report) => report,
                    Err(Interrupt::Stopped(limit)) => return Ok(Outcome::Stopped(limit)),
                    // Resuming verifies this attempt again.
                    Err(Interrupt::Paused(author)) => {
                        st.spec.status = TaskStatus::Paused;
                        return Ok(Outcome::Paused(author));
                    }
                };
                let passed = report.passed();
                st.reports.push(report);
                if passed {
                    return Ok(Outcome::Done);
                }
                if attempt >= s.budgets.max_attempts {
                    return Ok(Outcome::GaveUp);
                }
                s.progress(&format!(
                    "🔁 attempt {attempt} failed; retrying with a different approach"
                ));
                st.phase = Phase::Code {
                    attempt: attempt + 1,
                };
            }
        }
    }
}

/// Runs a top-level role (research or code) on the spec.
async fn run_role(
    s: &mut Session,
    role: &mut RoleState,
    spec: &mut TaskSpec,
) -> Result<RoleEnd, AgentError> {
    let mut verdict = None;
    conversation::run(
        s,
        role,
        &mut Shared {
            spec,
            verdict: &mut verdict,
        },
        false,
    )
    .await
}

fn wait(st: &mut TaskState, role: RoleState, question: String) -> Outcome {
    st.role = Some(role);
    st.spec.status = TaskStatus::WaitingForAnswer;
    st.question = Some(question.clone());
    Outcome::Waiting(question)
}

/// A role stopped by a budget. Out of time, its conversation is kept: the
/// job that continues the task goes on from the same turn.
fn stopped(st: &mut TaskState, role: RoleState, limit: Limit) -> Outcome {
    if limit == Limit::WallClock {
        st.role = Some(role);
    }
    Outcome::Stopped(limit)
}

fn pause(st: &mut TaskState, role: RoleState, author: String) -> Outcome {
    st.role = Some(role);
    st.spec.status = TaskStatus::Paused;
    Outcome::Paused(author)
}

pub(crate) fn start_role(s: &Session, role: AgentRole, attempt: u32) {
    let label = match role {
        AgentRole::Research => "🧭 research: reading the repository and planning".to_string(),
        AgentRole::Code => format!("🛠️ code: attempt {attempt}"),
        AgentRole::Verify => format!("🔎 verify: checking attempt {attempt}"),
        AgentRole::Learn => "📚 learn: looking for team rules in the feedback".to_string(),
    };
    s.progress(&label);
    s.reporter.event(Event::RoleStarted {
        role: role.as_str().into(),
        attempt,
    });
}

/// Subject: the task's first line; body: code's summary, the plan, and
/// which attempt this is.
pub fn commit_message(spec: &TaskSpec, summary: &str, note: &str) -> String {
    let first = spec.title();
    let mut subject: String = first.chars().take(72).collect();
    if subject.len() < first.len() {
        subject = subject.chars().take(71).collect::<String>() + "…";
    }
    let mut body = String::new();
    if !summary.trim().is_empty() {
        body.push_str(summary.trim());
        body.push_str("\n\n");
    }
    if !spec.plan.is_empty() {
        body.push_str("Plan:\n");
        for (i, p) in spec.plan.iter().enumerate() {
            body.push_str(&format!(
                "- [{}] {}. {}\n",
                if p.done { 'x' } else { ' ' },
                i + 1,
                p.text
            ));
        }
        body.push('\n');
    }
    body.push_str(&format!("Deckhand task {} ({note})", spec.id));
    format!("{subject}\n\n{body}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::CriterionVerdict;
    use crate::task::checkpoint::{self, CheckpointError};
    use crate::workspace::checks::Status;
    use crate::workspace::detect::CheckKind;
    use crate::workspace::findings::{Finding, TestCounts};

    /// A finished task saved before checks had a status (their records
    /// kept `timed_out` and the exit code).
    const OLD: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/checkpoint-check-runs.json"
    );

    fn check(command: &str, status: Status, exit_code: Option<i32>) -> CheckResult {
        CheckResult {
            kind: CheckKind::Test,
            command: command.into(),
            source: String::new(),
            status,
            missing: None,
            exit_code,
            duration_ms: 0,
            counts: None,
            findings: Vec::new(),
            output: String::new(),
            wrote: Vec::new(),
        }
    }

    #[test]
    fn a_checkpoint_with_older_check_records_loads() {
        let state: TaskState = checkpoint::load(std::path::Path::new(OLD)).unwrap();
        assert_eq!(
            state.baseline,
            vec![
                CheckResult {
                    duration_ms: 1840,
                    counts: Some(TestCounts {
                        passed: 11,
                        failed: 1,
                        skipped: 0
                    }),
                    findings: vec![Finding {
                        file: "test/tax.test.js".into(),
                        line: 14,
                        column: Some(3),
                        message: "AssertionError: 1.1 !== 1.10".into(),
                    }],
                    output: "not ok 12 - tax rounds half up\n# fail 1".into(),
                    ..check("npm test", Status::Failed, Some(1))
                },
                CheckResult {
                    kind: CheckKind::Lint,
                    duration_ms: 600_000,
                    ..check("npm run lint", Status::TimedOut, None)
                },
            ]
        );
        assert_eq!(
            state.reports,
            vec![VerifyReport {
                attempt: 1,
                checks: vec![CheckResult {
                    duration_ms: 1795,
                    counts: Some(TestCounts {
                        passed: 12,
                        failed: 0,
                        skipped: 0
                    }),
                    output: "# pass 12".into(),
                    ..check("npm test", Status::Passed, Some(0))
                }],
                verdict: Some(vec![CriterionVerdict {
                    criterion: "`npm test` passes".into(),
                    met: true,
                    evidence: "12 passed".into(),
                }]),
                review_problem: None,
                preexisting: Vec::new(),
                fixed: Vec::new(),
                written: Vec::new(),
            }]
        );
        assert_eq!(state.spec.status, TaskStatus::Done);
        assert_eq!(state.containment, ContainmentRecord::default());
        assert_eq!(state.team_rules, Default::default());
        // What loads also saves in today's shape and reads back the same.
        let again: TaskState =
            serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn a_check_record_with_neither_status_nor_timed_out_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let text = std::fs::read_to_string(OLD).unwrap();
        let broken = text.replacen("\"timed_out\": true,", "", 1);
        assert_ne!(broken, text);
        std::fs::write(&path, broken).unwrap();
        let err = checkpoint::load::<TaskState>(&path).unwrap_err();
        let CheckpointError::Corrupt {
            path: named,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(named, &path.display().to_string());
        assert_eq!(
            message,
            "check `npm run lint`: missing field `status` (or `timed_out`, as older checkpoints have it) at line 65 column 3"
        );
    }
}
