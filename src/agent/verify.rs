//! The verify role: the repository's own checks first (no model needed),
//! then a model review of each acceptance criterion; and the failure report
//! that goes back to code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::conversation::{self, AgentError, RoleEnd, RoleState, Shared};
use crate::agent::session::{Limit, Session};
use crate::agent::tools::CriterionVerdict;
use crate::agent::{prompts, AgentRole};
use crate::report::events::{human_duration, CheckSummary};
use crate::report::Event;
use crate::task::TaskSpec;
use crate::workspace::command::cap_head_tail;
use crate::workspace::detect::{Check, CheckKind, Environment};
use crate::workspace::findings::{parse_findings, parse_test_counts, Finding, TestCounts};
use crate::workspace::{CommandOutput, CommandRunner, Workspace};

/// Lines of a failing command's output kept for the model and the PR.
const TAIL_LINES: usize = 80;
const TAIL_BYTES: usize = 8_000;

/// One check run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub kind: CheckKind,
    pub command: String,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub counts: Option<Counts>,
    pub findings: Vec<Location>,
    /// The end of the output (redacted, capped).
    pub output: String,
}

/// Test counts, serialisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl From<TestCounts> for Counts {
    fn from(c: TestCounts) -> Self {
        Counts {
            passed: c.passed,
            failed: c.failed,
            skipped: c.skipped,
        }
    }
}

/// A finding, serialisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
    pub message: String,
}

impl From<Finding> for Location {
    fn from(f: Finding) -> Self {
        Location {
            file: f.file,
            line: f.line,
            column: f.column,
            message: f.message,
        }
    }
}

impl CheckRun {
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// `✅ 14 passed`, `❌ 2 failed, 12 passed`, `❌ exit 2`, `⏱️ timed out`.
    pub fn outcome(&self) -> String {
        let mark = if self.passed() { "✅" } else { "❌" };
        if self.timed_out {
            return "⏱️ timed out".into();
        }
        match self.counts {
            Some(c) if c.failed > 0 => format!("{mark} {} failed, {} passed", c.failed, c.passed),
            Some(c) => format!("{mark} {} passed", c.passed),
            None if self.passed() => format!("{mark} passed"),
            None => format!(
                "{mark} exit {}",
                self.exit_code.map_or("?".into(), |c| c.to_string())
            ),
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }

    fn from_output(
        check: &Check,
        out: CommandOutput,
        workspace: &Workspace,
        runner_redact: &dyn Fn(&str) -> String,
    ) -> Self {
        let text = runner_redact(&out.output);
        let findings = if out.success() {
            Vec::new()
        } else {
            parse_findings(&text, workspace.root())
                .into_iter()
                .map(Location::from)
                .collect()
        };
        CheckRun {
            kind: check.kind,
            command: check.command.clone(),
            exit_code: out.exit_code,
            timed_out: out.timed_out,
            duration_ms: out.duration.as_millis() as u64,
            counts: parse_test_counts(&text).map(Counts::from),
            findings,
            output: cap_head_tail(&text, TAIL_LINES, TAIL_BYTES),
        }
    }

    /// What code needs to fix this failure.
    pub fn failure_text(&self) -> String {
        let mut out = format!(
            "`{}` ({}) {} after {}",
            self.command,
            self.kind.as_str(),
            if self.timed_out {
                "timed out".to_string()
            } else {
                format!(
                    "exited with code {}",
                    self.exit_code.map_or("?".into(), |c| c.to_string())
                )
            },
            human_duration(self.duration())
        );
        if let Some(c) = self.counts {
            out.push_str(&format!(" — {} passed, {} failed", c.passed, c.failed));
        }
        out.push('\n');
        if !self.findings.is_empty() {
            out.push_str("Failures:\n");
            for f in &self.findings {
                let col = f.column.map(|c| format!(":{c}")).unwrap_or_default();
                out.push_str(&format!("- {}:{}{col} — {}\n", f.file, f.line, f.message));
            }
        }
        out.push_str(&format!("Output:\n```\n{}\n```\n", self.output.trim_end()));
        out
    }
}

/// Runs the setup commands; a failure is reported, not fatal.
pub async fn run_setup(
    runner: &CommandRunner,
    s_env: &Environment,
    reporter: &crate::report::Reporter,
    timeout: Duration,
) {
    for command in &s_env.setup {
        match runner.run(command, timeout).await {
            Ok(out) => {
                let mark = if out.success() { "✅" } else { "❌" };
                reporter.progress(&format!(
                    "🔄 setup: {command} … {mark} ({})",
                    human_duration(out.duration)
                ));
                if !out.success() {
                    reporter.progress(&cap_head_tail(&out.output, 20, 4000));
                }
            }
            Err(e) => reporter.progress(&format!("❌ setup: {command}: {e}")),
        }
    }
}

/// Runs every check of `kinds` and reports each on one line.
pub async fn run_checks(
    workspace: &Workspace,
    runner: &CommandRunner,
    env: &Environment,
    reporter: &crate::report::Reporter,
    timeout: Duration,
    purpose: &str,
    kinds: &[CheckKind],
) -> Vec<CheckRun> {
    let redactor = reporter.redactor().clone();
    let redact = |t: &str| redactor.redact(t).into_owned();
    let mut runs = Vec::new();
    for check in env.checks.iter().filter(|c| kinds.contains(&c.kind)) {
        let out = match runner.run(&check.command, timeout).await {
            Ok(out) => out,
            Err(e) => CommandOutput {
                command: check.command.clone(),
                exit_code: None,
                timed_out: false,
                output: format!("could not start: {e}"),
                dropped_bytes: 0,
                duration: Duration::ZERO,
            },
        };
        let run = CheckRun::from_output(check, out, workspace, &redact);
        reporter.progress(&format!(
            "🔄 {purpose}: {} … {} ({})",
            run.command,
            run.outcome(),
            human_duration(run.duration())
        ));
        reporter.event(Event::CommandRun {
            purpose: purpose.into(),
            command: run.command.clone(),
            exit_code: run.exit_code,
            timed_out: run.timed_out,
            duration_ms: run.duration_ms as u128,
            passed: run.counts.map(|c| c.passed),
            failed: run.counts.map(|c| c.failed),
        });
        runs.push(run);
    }
    runs
}

pub const ALL_KINDS: [CheckKind; 3] = [CheckKind::Test, CheckKind::Lint, CheckKind::Typecheck];

/// One verification of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub attempt: u32,
    pub checks: Vec<CheckRun>,
    /// The model's judgement; `None` when checks failed (no review was
    /// needed) or the spec had no criteria.
    pub verdict: Option<Vec<CriterionVerdict>>,
    /// Set when the review itself could not finish.
    pub review_problem: Option<String>,
    /// Commands that failed exactly as they did before the task (the
    /// baseline): not a regression, so not this attempt's failure.
    #[serde(default)]
    pub preexisting: Vec<String>,
}

impl VerifyReport {
    /// Every check passed, or failed only as it did in the baseline.
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(|c| self.acceptable(c))
    }

    fn acceptable(&self, c: &CheckRun) -> bool {
        c.passed() || self.preexisting.contains(&c.command)
    }

    /// Checks ran and all of them passed outright.
    pub fn all_checks_clean(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(CheckRun::passed)
    }

    pub fn passed(&self) -> bool {
        self.checks_passed()
            && self.review_problem.is_none()
            && self
                .verdict
                .as_ref()
                .is_none_or(|v| v.iter().all(|c| c.met))
    }

    /// What failed, for code's next attempt and for the PR.
    pub fn failure_report(&self) -> String {
        let mut out = String::new();
        for c in self.checks.iter().filter(|c| !self.acceptable(c)) {
            out.push_str(&c.failure_text());
            out.push('\n');
        }
        if let Some(problem) = &self.review_problem {
            out.push_str(&format!("Review: {problem}\n"));
        }
        if let Some(verdict) = &self.verdict {
            let unmet: Vec<_> = verdict.iter().filter(|c| !c.met).collect();
            if !unmet.is_empty() {
                out.push_str("Acceptance criteria not met:\n");
                for c in unmet {
                    out.push_str(&format!("- {} — {}\n", c.criterion, c.evidence));
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

/// Whether `run` is worse than the same command in the baseline: it fails
/// and the baseline passed (or never ran it), or it has a failure the
/// baseline did not have (a new finding, more failed tests, a new timeout,
/// another exit code when neither says more).
pub fn regressed(run: &CheckRun, baseline: &[CheckRun]) -> bool {
    if run.passed() {
        return false;
    }
    let Some(before) = baseline.iter().find(|b| b.command == run.command) else {
        return true;
    };
    if before.passed() || (run.timed_out && !before.timed_out) {
        return true;
    }
    if let (Some(now), Some(then)) = (run.counts, before.counts) {
        if now.failed > then.failed {
            return true;
        }
    }
    let known = |f: &Location| {
        before
            .findings
            .iter()
            .any(|b| b.file == f.file && b.message == f.message)
    };
    if run.findings.iter().any(|f| !known(f)) {
        return true;
    }
    run.findings.is_empty() && run.counts.is_none() && run.exit_code != before.exit_code
}

/// Check results as the reviewer reads them.
pub fn describe_checks(checks: &[CheckRun]) -> String {
    if checks.is_empty() {
        return "No checks were detected for this repository.".into();
    }
    checks
        .iter()
        .map(|c| {
            if c.passed() {
                format!("- `{}` ({}): {}\n", c.command, c.kind.as_str(), c.outcome())
            } else {
                format!("- {}", c.failure_text())
            }
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
    baseline: &[CheckRun],
) -> Result<Result<VerifyReport, Interrupt>, AgentError> {
    let checks = run_checks(
        &s.workspace,
        &s.runner,
        &s.environment,
        &s.reporter,
        s.check_timeout(),
        "verify",
        &ALL_KINDS,
    )
    .await;
    let preexisting: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed() && !regressed(c, baseline))
        .map(|c| c.command.clone())
        .collect();
    for command in &preexisting {
        s.progress(&format!(
            "ℹ️ verify: {command} fails as it did before the task (no new failure); not held against this attempt"
        ));
    }
    let mut report = VerifyReport {
        attempt,
        checks,
        verdict: None,
        review_problem: None,
        preexisting,
    };
    if report.checks_passed() && !spec.acceptance_criteria.is_empty() {
        let diff = cap_head_tail(diff, 1500, 60_000);
        let opening = prompts::verify_start(spec, &describe_checks(&report.checks), &diff);
        let mut state = RoleState::new(AgentRole::Verify, opening);
        let mut verdict = None;
        let end = conversation::run(
            s,
            &mut state,
            &mut Shared {
                spec,
                verdict: &mut verdict,
            },
            true,
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

    fn lint(exit: i32, findings: &[(&str, &str)]) -> CheckRun {
        CheckRun {
            kind: CheckKind::Lint,
            command: "npm run lint".into(),
            exit_code: Some(exit),
            timed_out: false,
            duration_ms: 1,
            counts: None,
            findings: findings
                .iter()
                .enumerate()
                .map(|(i, (file, message))| Location {
                    file: file.to_string(),
                    line: 10 + i as u32,
                    column: None,
                    message: message.to_string(),
                })
                .collect(),
            output: String::new(),
        }
    }

    #[test]
    fn only_a_new_failure_is_a_regression() {
        let before = [lint(1, &[("src/legacy.js", "no-todo: TODO left")])];
        // The same finding (moved by a few lines) is not new.
        assert!(!regressed(
            &lint(1, &[("src/legacy.js", "no-todo: TODO left")]),
            &before
        ));
        assert!(regressed(
            &lint(
                1,
                &[
                    ("src/legacy.js", "no-todo: TODO left"),
                    ("src/one.js", "no-todo: TODO left")
                ]
            ),
            &before
        ));
        assert!(regressed(&lint(1, &[]), &[lint(0, &[])]));
        assert!(regressed(&lint(1, &[]), &[]));
        assert!(!regressed(&lint(0, &[]), &[]));
    }
}
