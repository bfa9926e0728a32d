//! One verification run without a model: setup, every check, a tool that
//! is not installed told apart from a failing repository, and the tree
//! compared before and after each command (reported, never restored).

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::command::cap_head_tail;
use super::detect::{CheckKind, Environment};
use super::findings::{parse_findings, parse_test_counts, Finding, TestCounts};
use super::tree::{self, TreeState};
use super::{CommandOutput, CommandRunner};

/// Lines and bytes of a failing command's output kept in the report.
const TAIL_LINES: usize = 80;
const TAIL_BYTES: usize = 8_000;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    TimedOut,
    /// The tool is not installed: not run, not a failure of the repository.
    NotInstalled,
}

/// One setup command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetupResult {
    pub command: String,
    pub source: String,
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The end of the output, when it failed.
    pub output: Option<String>,
    /// Files in the tree it changed.
    pub wrote: Vec<String>,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub kind: CheckKind,
    pub command: String,
    pub source: String,
    pub status: Status,
    /// The program that is not installed (with `NotInstalled`).
    pub missing: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub counts: Option<TestCounts>,
    pub findings: Vec<Finding>,
    /// The end of the output (redacted, capped).
    pub output: String,
    /// Files in the tree it changed (a check should change none).
    pub wrote: Vec<String>,
}

impl CheckResult {
    /// Passed, or could not run for want of a tool.
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Passed | Status::NotInstalled)
    }

    /// `✅ 14 passed`, `❌ 2 failed, 12 passed`, `❌ exit 2`, `⏱️ timed out`,
    /// `⚪ not run: ruff is not installed`.
    pub fn outcome(&self) -> String {
        match self.status {
            Status::TimedOut => "⏱️ timed out".into(),
            Status::NotInstalled => format!(
                "⚪ not run: {} is not installed",
                self.missing.as_deref().unwrap_or("the tool")
            ),
            status => {
                let mark = if status == Status::Passed {
                    "✅"
                } else {
                    "❌"
                };
                match self.counts {
                    Some(c) if c.failed > 0 => {
                        format!("{mark} {} failed, {} passed", c.failed, c.passed)
                    }
                    Some(c) => format!("{mark} {} passed", c.passed),
                    None if status == Status::Passed => format!("{mark} passed"),
                    None => format!(
                        "{mark} exit {}",
                        self.exit_code.map_or("?".into(), |c| c.to_string())
                    ),
                }
            }
        }
    }
}

/// Whether the tree and index are as they were before verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeReport {
    /// `false` when the tree could not be compared (see `note`).
    pub compared: bool,
    /// Every path a command changed (nothing is restored).
    pub changed: Vec<String>,
    pub note: Option<String>,
}

/// The whole run, as `deckhand verify --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub passed: bool,
    pub environment: Environment,
    pub setup: Vec<SetupResult>,
    pub checks: Vec<CheckResult>,
    pub tree: TreeReport,
}

/// How to run: the per-command timeout, the redactor every output goes
/// through, and where progress lines go.
pub struct Options<'a> {
    pub timeout: Duration,
    pub redact: &'a dyn Fn(&str) -> String,
    pub progress: &'a dyn Fn(&str),
}

/// Runs setup, then every check, comparing the tree around each command.
pub async fn verify(
    root: &Path,
    runner: &CommandRunner,
    env: &Environment,
    opts: &Options<'_>,
) -> Report {
    let mut tree_note = None;
    let mut state = match tree::snapshot(root) {
        Ok(s) => Some(s),
        Err(e) => {
            tree_note = Some(format!("the tree was not compared: {e}"));
            None
        }
    };
    let first = state.clone();
    let mut setup = Vec::new();
    for step in &env.setup {
        let out = run(runner, &step.command, opts.timeout).await;
        let wrote = wrote(root, &mut state);
        let passed = out.success();
        (opts.progress)(&format!(
            "🔄 setup: {} … {} ({})",
            step.command,
            if passed { "✅" } else { "❌" },
            seconds(out.duration)
        ));
        let output = (!passed).then(|| cap_head_tail(&(opts.redact)(&out.output), 20, 4_000));
        if let Some(o) = &output {
            (opts.progress)(o);
        }
        setup.push(SetupResult {
            command: step.command.clone(),
            source: step.source.clone(),
            passed,
            exit_code: out.exit_code,
            duration_ms: out.duration.as_millis() as u64,
            output,
            wrote,
        });
    }
    let mut checks = Vec::new();
    for check in &env.checks {
        let out = run(runner, &check.command, opts.timeout).await;
        let wrote = wrote(root, &mut state);
        let text = (opts.redact)(&out.output);
        let missing = missing_tool(&check.command, &out);
        let status = if out.timed_out {
            Status::TimedOut
        } else if out.success() {
            Status::Passed
        } else if missing.is_some() {
            Status::NotInstalled
        } else {
            Status::Failed
        };
        let findings = if status == Status::Failed {
            parse_findings(&text, root)
        } else {
            Vec::new()
        };
        let result = CheckResult {
            kind: check.kind,
            command: check.command.clone(),
            source: check.source.clone(),
            status,
            missing,
            exit_code: out.exit_code,
            duration_ms: out.duration.as_millis() as u64,
            counts: parse_test_counts(&text),
            findings,
            output: cap_head_tail(&text, TAIL_LINES, TAIL_BYTES),
            wrote,
        };
        (opts.progress)(&format!(
            "🔄 verify: {} … {} ({})",
            result.command,
            result.outcome(),
            seconds(out.duration)
        ));
        if !result.wrote.is_empty() {
            (opts.progress)(&format!(
                "⚠️ `{}` changed the tree: {}",
                result.command,
                result.wrote.join(", ")
            ));
        }
        checks.push(result);
    }
    let changed = match (&first, &state) {
        (Some(a), Some(b)) => tree::changed(a, b),
        _ => Vec::new(),
    };
    Report {
        passed: checks.iter().all(CheckResult::ok),
        environment: env.clone(),
        setup,
        checks,
        tree: TreeReport {
            compared: first.is_some(),
            changed,
            note: tree_note,
        },
    }
}

async fn run(runner: &CommandRunner, command: &str, timeout: Duration) -> CommandOutput {
    match runner.run(command, timeout).await {
        Ok(out) => out,
        Err(e) => CommandOutput {
            command: command.to_string(),
            exit_code: None,
            timed_out: false,
            output: format!("could not start: {e}"),
            dropped_bytes: 0,
            duration: Duration::ZERO,
        },
    }
}

/// What changed since `state`, which becomes the new state.
fn wrote(root: &Path, state: &mut Option<TreeState>) -> Vec<String> {
    let Some(before) = state.as_ref() else {
        return Vec::new();
    };
    match tree::snapshot(root) {
        Ok(after) => {
            let changed = tree::changed(before, &after);
            *state = Some(after);
            changed
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the tree after a command");
            Vec::new()
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[expect(
    clippy::expect_used,
    reason = "the patterns are constants, exercised by the tests"
)]
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid constant regex")
}

static NOT_FOUND: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?m)(?:^|: )([\w.+@/-]+): (?:command )?not found\s*$"));
static NO_MODULE: LazyLock<Regex> = LazyLock::new(|| regex(r"No module named '?([\w.]+)'?"));

/// The program that is not installed, when that is why `command` failed:
/// exit 127 (`X: command not found`), or `python -m X` without module X.
pub fn missing_tool(command: &str, out: &CommandOutput) -> Option<String> {
    if out.exit_code == Some(127) {
        let named = NOT_FOUND
            .captures_iter(&out.output)
            .filter_map(|c| c.get(1))
            .map(|m| {
                m.as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or(m.as_str())
                    .to_string()
            })
            .last();
        return named.or_else(|| {
            command
                .split_whitespace()
                .find(|w| !w.contains('='))
                .map(str::to_string)
        });
    }
    if out.success() {
        return None;
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let module = words
        .windows(2)
        .find(|w| w[0] == "-m" && w[1] != "pip")
        .map(|w| w[1])?;
    let missing = NO_MODULE.captures(&out.output)?;
    (missing[1] == *module).then(|| module.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, output: &str) -> CommandOutput {
        CommandOutput {
            command: String::new(),
            exit_code: Some(code),
            timed_out: false,
            output: output.into(),
            dropped_bytes: 0,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn missing_tools_are_told_apart_from_failures() {
        let cases = [
            (
                "ruff check --no-fix .",
                out(127, "bash: line 1: ruff: command not found\n"),
                Some("ruff"),
            ),
            (
                "npm run lint",
                out(127, "> eslint .\n\nsh: 1: eslint: not found\n"),
                Some("eslint"),
            ),
            ("clang-tidy src/*.c", out(127, ""), Some("clang-tidy")),
            (
                "python3 -m pytest",
                out(1, "/usr/bin/python3: No module named pytest\n"),
                Some("pytest"),
            ),
            // The tests themselves import something missing: a failure.
            (
                "python3 -m pytest",
                out(1, "E   ModuleNotFoundError: No module named 'tomli'\n"),
                None,
            ),
            ("mypy", out(1, "src/a.py:1: error: boom\n"), None),
        ];
        for (command, output, want) in cases {
            assert_eq!(missing_tool(command, &output).as_deref(), want, "{command}");
        }
    }
}
