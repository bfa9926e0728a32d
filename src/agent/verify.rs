//! The verify role: the repository's own checks first (no model needed,
//! run by `workspace::checks`), judged against the baseline, then a model
//! review of each acceptance criterion; and the failure report that goes
//! back to code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::conversation::{self, AgentError, RoleEnd, RoleState, Shared};
use crate::agent::session::{Limit, Session};
use crate::agent::tools::CriterionVerdict;
use crate::agent::{prompts, AgentRole};
use crate::report::events::{human_duration, CheckSummary};
use crate::report::{Event, Reporter};
use crate::sandbox::containment::SetupNetwork;
use crate::task::TaskSpec;
use crate::workspace::checks::{self, CheckResult, Options, SetupResult, Status, TreeWatch};
use crate::workspace::command::cap_head_tail;
use crate::workspace::detect::Environment;
use crate::workspace::findings::Finding;
use crate::workspace::{CommandRunner, Workspace};

/// Files a check wrote while it ran (checks should write none; what they
/// wrote is put back, never committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub command: String,
    pub files: Vec<String>,
}

impl Written {
    fn of(checks: &[CheckResult]) -> Vec<Written> {
        checks
            .iter()
            .filter(|c| !c.wrote.is_empty())
            .map(|c| Written {
                command: c.command.clone(),
                files: c.wrote.clone(),
            })
            .collect()
    }
}

/// What ran before the task changed anything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Baseline {
    pub setup: Vec<SetupResult>,
    pub checks: Vec<CheckResult>,
}

/// Runs setup (with `setup_runner`) and every check before the task
/// changes anything: the baseline. Setup's wider network is closed once
/// setup is over, before the checks.
pub async fn baseline(
    workspace: &Workspace,
    setup_runner: &CommandRunner,
    runner: &CommandRunner,
    env: &Environment,
    reporter: &Reporter,
    timeout: Duration,
    setup_network: &SetupNetwork,
) -> Baseline {
    let redactor = reporter.redactor().clone();
    let redact = |t: &str| redactor.redact(t).into_owned();
    let progress = |line: &str| reporter.progress(line);
    let opts = Options {
        timeout,
        purpose: "baseline",
        redact: &redact,
        progress: &progress,
    };
    let mut watch = TreeWatch::start(workspace.root());
    let setup = checks::setup(setup_runner, env, &opts, &mut watch).await;
    setup_network.close().await;
    let checks = checks::run_checks(workspace.root(), runner, env, &opts, &mut watch).await;
    emit(reporter, "baseline", &checks);
    Baseline { setup, checks }
}

/// Every check, as `purpose` (one progress line and one event each).
async fn run_all(s: &Session, purpose: &str) -> Vec<CheckResult> {
    let reporter = s.reporter.clone();
    let redactor = reporter.redactor().clone();
    let redact = |t: &str| redactor.redact(t).into_owned();
    let progress = |line: &str| reporter.progress(line);
    let opts = Options {
        timeout: s.check_timeout(),
        purpose,
        redact: &redact,
        progress: &progress,
    };
    let root = s.workspace.root();
    let mut watch = TreeWatch::start(root);
    let runs = checks::run_checks(root, &s.runner, &s.environment, &opts, &mut watch).await;
    emit(&s.reporter, purpose, &runs);
    runs
}

fn emit(reporter: &Reporter, purpose: &str, runs: &[CheckResult]) {
    for run in runs {
        reporter.event(Event::CommandRun {
            purpose: purpose.into(),
            command: run.command.clone(),
            exit_code: run.exit_code,
            timed_out: run.status == Status::TimedOut,
            duration_ms: u128::from(run.duration_ms),
            passed: run.counts.map(|c| c.passed),
            failed: run.counts.map(|c| c.failed),
        });
    }
}

/// One verification of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub attempt: u32,
    pub checks: Vec<CheckResult>,
    /// The model's judgement; `None` when checks failed (no review was
    /// needed) or the spec had no criteria.
    pub verdict: Option<Vec<CriterionVerdict>>,
    /// Set when the review itself could not finish.
    pub review_problem: Option<String>,
    /// Commands that failed exactly as they did before the task (the
    /// baseline): unchanged, so not this attempt's failure.
    #[serde(default)]
    pub preexisting: Vec<String>,
    /// Commands that failed before the task and pass now.
    #[serde(default)]
    pub fixed: Vec<String>,
    /// Checks that wrote files while verifying this attempt.
    #[serde(default)]
    pub written: Vec<Written>,
}

impl VerifyReport {
    /// Every check passed (or could not run for want of a tool), or failed
    /// only as it did in the baseline.
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(|c| self.acceptable(c))
    }

    fn acceptable(&self, c: &CheckResult) -> bool {
        c.ok() || self.preexisting.contains(&c.command)
    }

    /// Checks that fail now and did not, or fail with something new.
    pub fn new_failures(&self) -> impl Iterator<Item = &CheckResult> + '_ {
        self.checks.iter().filter(|c| !self.acceptable(c))
    }

    /// Checks ran and each passed outright or could not run for want of a
    /// tool (see [`VerifyReport::not_run`]).
    pub fn all_checks_clean(&self) -> bool {
        self.checks.iter().any(CheckResult::passed) && self.checks.iter().all(CheckResult::ok)
    }

    /// Checks that did not run because their tool is not installed.
    pub fn not_run(&self) -> impl Iterator<Item = &CheckResult> + '_ {
        self.checks
            .iter()
            .filter(|c| c.status == Status::NotInstalled)
    }

    pub fn passed(&self) -> bool {
        self.checks_passed()
            && self.review_problem.is_none()
            && self
                .verdict
                .as_ref()
                .is_none_or(|v| v.iter().all(|c| c.met))
    }

    /// What this attempt broke or must fix, for code's next attempt and
    /// for the PR: only failures the baseline did not have.
    pub fn failure_report(&self, baseline: &[CheckResult]) -> String {
        let mut out = String::new();
        for c in self.new_failures() {
            out.push_str(&failure_text(c, baseline));
            out.push('\n');
        }
        if let Some(problem) = &self.review_problem {
            out.push_str(&format!("Review: {problem}\n"));
        }
        if let Some(verdict) = &self.verdict {
            let (rules, criteria): (Vec<_>, Vec<_>) = verdict
                .iter()
                .filter(|c| !c.met)
                .partition(|c| is_rule_entry(&c.criterion));
            for (heading, unmet) in [
                ("Acceptance criteria not met", criteria),
                (
                    "Team rules broken (fix the change so it follows each)",
                    rules,
                ),
            ] {
                if !unmet.is_empty() {
                    out.push_str(&format!("{heading}:\n"));
                    for c in unmet {
                        out.push_str(&format!("- {} — {}\n", c.criterion, c.evidence));
                    }
                }
            }
        }
        out
    }

    fn summary_event(&self) -> Event {
        Event::VerifyResult {
            attempt: self.attempt,
            passed: self.passed(),
            checks: self
                .checks
                .iter()
                .map(|c| CheckSummary {
                    kind: c.kind.as_str().into(),
                    command: c.command.clone(),
                    passed: c.passed(),
                    exit_code: c.exit_code,
                })
                .collect(),
            criteria_met: self
                .verdict
                .as_ref()
                .map(|v| (v.iter().filter(|c| c.met).count(), v.len())),
        }
    }
}

/// Whether a verdict entry judges a team rule (`rule <id>: <text>`).
fn is_rule_entry(criterion: &str) -> bool {
    criterion
        .strip_prefix("rule ")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(id, _)| crate::memory::rules::is_rule_id(id))
}

/// The same command in the baseline.
fn before<'a>(run: &CheckResult, baseline: &'a [CheckResult]) -> Option<&'a CheckResult> {
    baseline.iter().find(|b| b.command == run.command)
}

/// Whether the baseline had this finding (same file and message: a line
/// moved by the change is the same finding).
fn known(f: &Finding, before: Option<&CheckResult>) -> bool {
    before.is_some_and(|b| {
        b.findings
            .iter()
            .any(|k| k.file == f.file && k.message == f.message)
    })
}

/// Whether `run` is worse than the same command in the baseline: it fails
/// and the baseline passed (or never ran it), or it has a failure the
/// baseline did not have (a new finding, more failed tests, a new timeout,
/// another exit code when neither says more). A tool that is not
/// installed is never a regression.
pub fn regressed(run: &CheckResult, baseline: &[CheckResult]) -> bool {
    if run.ok() {
        return false;
    }
    let Some(then) = before(run, baseline) else {
        return true;
    };
    if then.ok() || (run.status == Status::TimedOut && then.status != Status::TimedOut) {
        return true;
    }
    if let (Some(now), Some(was)) = (run.counts, then.counts) {
        if now.failed > was.failed {
            return true;
        }
    }
    if run.findings.iter().any(|f| !known(f, Some(then))) {
        return true;
    }
    run.findings.is_empty() && run.counts.is_none() && run.exit_code != then.exit_code
}

/// What code needs to fix a failing check: its new findings only. The
/// output is shown unless the baseline failed too and the new findings
/// could be told apart (the output would name the old failures).
pub fn failure_text(run: &CheckResult, baseline: &[CheckResult]) -> String {
    let then = before(run, baseline).filter(|b| !b.ok());
    let ended = match run.status {
        Status::TimedOut => "timed out".to_string(),
        _ => format!(
            "exited with code {}",
            run.exit_code.map_or("?".into(), |c| c.to_string())
        ),
    };
    let mut out = format!(
        "`{}` ({}) {ended} after {}",
        run.command,
        run.kind.as_str(),
        human_duration(run.duration())
    );
    if let Some(c) = run.counts {
        out.push_str(&format!(" — {} passed, {} failed", c.passed, c.failed));
    }
    out.push('\n');
    let new: Vec<&Finding> = run.findings.iter().filter(|f| !known(f, then)).collect();
    let old = run.findings.len() - new.len();
    if !new.is_empty() {
        out.push_str(if then.is_some() {
            "New failures (not there before the task):\n"
        } else {
            "Failures:\n"
        });
        for f in &new {
            let col = f.column.map(|c| format!(":{c}")).unwrap_or_default();
            out.push_str(&format!("- {}:{}{col} — {}\n", f.file, f.line, f.message));
        }
    }
    if let Some(was) = then {
        out.push_str(&format!(
            "This command already failed before the task ({}); {} failure(s) from then are left out: only what this change broke counts.\n",
            was.outcome(),
            old
        ));
        if !new.is_empty() {
            return out;
        }
    }
    out.push_str(&format!("Output:\n```\n{}\n```\n", run.output.trim_end()));
    out
}

/// Check results as the reviewer reads them.
pub fn describe_checks(checks: &[CheckResult], baseline: &[CheckResult]) -> String {
    if checks.is_empty() {
        return "No checks were detected for this repository.".into();
    }
    checks
        .iter()
        .map(|c| {
            if c.ok() {
                format!("- `{}` ({}): {}\n", c.command, c.kind.as_str(), c.outcome())
            } else if !regressed(c, baseline) {
                format!(
                    "- `{}` ({}): {} — fails exactly as before the task\n",
                    c.command,
                    c.kind.as_str(),
                    c.outcome()
                )
            } else {
                format!("- {}", failure_text(c, baseline))
            }
        })
        .collect()
}

/// The baseline as code reads it: outcomes only. Failures that were there
/// before the task are not named: they are not code's to fix.
pub fn describe_baseline(baseline: &[CheckResult]) -> String {
    if baseline.is_empty() {
        return "No checks were detected for this repository.".into();
    }
    baseline
        .iter()
        .map(|c| {
            let note = if c.ok() {
                ""
            } else {
                " — fails before any change; those failures are not part of this task (only new ones count)"
            };
            format!(
                "- `{}` ({}): {}{note}\n",
                c.command,
                c.kind.as_str(),
                c.outcome()
            )
        })
        .collect()
}

/// Why a verification did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupt {
    /// A budget ran out.
    Stopped(Limit),
    /// Someone asked the task to pause (who).
    Paused(String),
}

/// Verifies an attempt: checks, then (when they pass) the model review.
/// `Err` only for model failures; a budget hit is `Ok(Err(limit))`.
pub async fn verify(
    s: &mut Session,
    spec: &mut TaskSpec,
    attempt: u32,
    diff: &str,
    baseline: &[CheckResult],
) -> Result<Result<VerifyReport, Interrupt>, AgentError> {
    let checks = run_all(s, "verify").await;
    let mut preexisting = Vec::new();
    let mut fixed = Vec::new();
    for c in &checks {
        let then = before(c, baseline);
        if !c.ok() && !regressed(c, baseline) {
            preexisting.push(c.command.clone());
            s.progress(&format!(
                "ℹ️ verify: unchanged: {} fails as it did before the task (no new failure); not held against this attempt",
                c.command
            ));
        } else if !c.ok() {
            s.progress(&format!("❌ verify: new failure: {}", c.command));
        } else if c.passed() && then.is_some_and(|b| !b.ok()) {
            fixed.push(c.command.clone());
            s.progress(&format!(
                "✅ verify: fixed: {} passes now (it failed before the task)",
                c.command
            ));
        }
    }
    let written = Written::of(&checks);
    let mut report = VerifyReport {
        attempt,
        checks,
        verdict: None,
        review_problem: None,
        preexisting,
        fixed,
        written,
    };
    // The review judges the criteria and every team rule recalled for
    // verify: rules are judged even when the spec has no criteria.
    let varying = if report.checks_passed() {
        conversation::role_context(s, AgentRole::Verify, spec).await
    } else {
        String::new()
    };
    if report.checks_passed() && !(spec.acceptance_criteria.is_empty() && s.team.judged.is_empty())
    {
        let diff = cap_head_tail(diff, 1500, 60_000);
        let opening =
            prompts::verify_start(spec, &describe_checks(&report.checks, baseline), &diff);
        let mut state = RoleState::new(AgentRole::Verify, opening);
        let mut verdict = None;
        let end = conversation::run_with(
            s,
            &mut state,
            &mut Shared {
                spec,
                verdict: &mut verdict,
            },
            true,
            varying,
        )
        .await?;
        match end {
            RoleEnd::Stopped(limit) => return Ok(Err(Interrupt::Stopped(limit))),
            RoleEnd::Paused(author) => return Ok(Err(Interrupt::Paused(author))),
            // Verify asks nobody (it has no ask_question tool).
            RoleEnd::Finished(_) | RoleEnd::Waiting(_) => {}
        }
        if verdict.is_none() {
            report.review_problem =
                Some("the reviewer did not report a verdict with report_verdict".into());
        }
        report.verdict = verdict;
    }
    let line = if report.passed() {
        "✅ verify: passed".to_string()
    } else {
        "❌ verify: failed".to_string()
    };
    let criteria = report
        .verdict
        .as_ref()
        .map(|v| {
            format!(
                " ({} of {} criteria met)",
                v.iter().filter(|c| c.met).count(),
                v.len()
            )
        })
        .unwrap_or_default();
    s.progress(&format!("{line}{criteria}"));
    s.reporter.event(report.summary_event());
    Ok(Ok(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::detect::CheckKind;
    use crate::workspace::findings::TestCounts;

    fn check(status: Status, failed: u32, findings: &[(&str, &str)]) -> CheckResult {
        CheckResult {
            kind: CheckKind::Test,
            command: "npm test".into(),
            source: "package.json scripts.test".into(),
            status,
            missing: None,
            exit_code: Some(if status == Status::Passed { 0 } else { 1 }),
            duration_ms: 1,
            counts: Some(TestCounts {
                passed: 3,
                failed,
                skipped: 0,
            }),
            findings: findings
                .iter()
                .enumerate()
                .map(|(i, (file, message))| Finding {
                    file: file.to_string(),
                    line: 10 + i as u32,
                    column: None,
                    message: message.to_string(),
                })
                .collect(),
            output: "not ok 1 - legacy rounding\nnot ok 2 - new limit\n".into(),
            wrote: Vec::new(),
        }
    }

    const OLD: (&str, &str) = ("test/legacy.test.js", "legacy rounding: expected 2, got 3");
    const NEW: (&str, &str) = ("test/limit.test.js", "new limit: expected 429, got 200");

    #[test]
    fn only_a_new_failure_is_a_regression() {
        let before = [check(Status::Failed, 1, &[OLD])];
        // The same finding (moved by a few lines) is not new.
        assert!(!regressed(&check(Status::Failed, 1, &[OLD]), &before));
        assert!(regressed(&check(Status::Failed, 2, &[OLD, NEW]), &before));
        assert!(regressed(
            &check(Status::Failed, 1, &[]),
            &[check(Status::Passed, 0, &[])]
        ));
        assert!(regressed(&check(Status::Failed, 1, &[]), &[]));
        assert!(!regressed(&check(Status::Passed, 0, &[]), &[]));
        let mut missing = check(Status::NotInstalled, 0, &[]);
        missing.missing = Some("jest".into());
        assert!(!regressed(&missing, &[check(Status::Passed, 0, &[])]));
    }

    #[test]
    fn code_is_told_only_what_its_change_broke() {
        let baseline = [check(Status::Failed, 1, &[OLD])];
        let now = check(Status::Failed, 2, &[OLD, NEW]);
        assert_eq!(
            failure_text(&now, &baseline),
            "`npm test` (test) exited with code 1 after 1 ms — 3 passed, 2 failed\n\
             New failures (not there before the task):\n\
             - test/limit.test.js:11 — new limit: expected 429, got 200\n\
             This command already failed before the task (❌ 1 failed, 3 passed); 1 failure(s) from then are left out: only what this change broke counts.\n"
        );
        assert_eq!(
            describe_baseline(&baseline),
            "- `npm test` (test): ❌ 1 failed, 3 passed — fails before any change; those failures are not part of this task (only new ones count)\n"
        );
        // With a clean baseline the output is kept.
        let text = failure_text(&now, &[check(Status::Passed, 0, &[])]);
        assert!(
            text.contains("Failures:\n- test/legacy.test.js:10"),
            "{text}"
        );
        assert!(
            text.ends_with("Output:\n```\nnot ok 1 - legacy rounding\nnot ok 2 - new limit\n```\n"),
            "{text}"
        );
    }
}
