//! One verification run without a model: setup, every check, a tool that
//! is not installed told apart from a failing repository, and the tree
//! compared before and after each command (what a check wrote is reported
//! and put back; what setup wrote is reported).

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::command::cap_head_tail;
use super::detect::{CheckKind, Environment};
use super::findings::{parse_findings, parse_test_counts, Finding, TestCounts};
use super::tree::{self, TreeState};
use super::{CommandOutput, CommandRunner};
use crate::sandbox::containment::SetupNetwork;

/// Lines and bytes of a failing command's output kept in the report.
const TAIL_LINES: usize = 80;
const TAIL_BYTES: usize = 8_000;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    TimedOut,
    /// The tool is not installed: not run, not a failure of the repository.
    NotInstalled,
}

/// One setup command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CheckRecord")]
pub struct CheckResult {
    pub kind: CheckKind,
    pub command: String,
    #[serde(default)]
    pub source: String,
    pub status: Status,
    /// The program that is not installed (with `NotInstalled`).
    #[serde(default)]
    pub missing: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub counts: Option<TestCounts>,
    pub findings: Vec<Finding>,
    /// The end of the output (redacted, capped).
    pub output: String,
    /// Files in the tree it changed (a check should change none).
    #[serde(default)]
    pub wrote: Vec<String>,
}

/// A check as any Deckhand saved it in a checkpoint: older ones kept no
/// `status`, only `timed_out` and the exit code (their `CheckRun`).
#[derive(Deserialize)]
struct CheckRecord {
    kind: CheckKind,
    command: String,
    #[serde(default)]
    source: String,
    status: Option<Status>,
    timed_out: Option<bool>,
    #[serde(default)]
    missing: Option<String>,
    exit_code: Option<i32>,
    duration_ms: u64,
    counts: Option<TestCounts>,
    findings: Vec<Finding>,
    output: String,
    #[serde(default)]
    wrote: Vec<String>,
}

impl TryFrom<CheckRecord> for CheckResult {
    type Error = String;

    fn try_from(r: CheckRecord) -> Result<Self, String> {
        let status = match (r.status, r.timed_out) {
            (Some(status), _) => status,
            (None, Some(true)) => Status::TimedOut,
            (None, Some(false)) if r.exit_code == Some(0) => Status::Passed,
            (None, Some(false)) => Status::Failed,
            (None, None) => {
                return Err(format!(
                "check `{}`: missing field `status` (or `timed_out`, as older checkpoints have it)",
                r.command
            ))
            }
        };
        Ok(CheckResult {
            kind: r.kind,
            command: r.command,
            source: r.source,
            status,
            missing: r.missing,
            exit_code: r.exit_code,
            duration_ms: r.duration_ms,
            counts: r.counts,
            findings: r.findings,
            output: r.output,
            wrote: r.wrote,
        })
    }
}

impl CheckResult {
    /// Passed, or could not run for want of a tool.
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Passed | Status::NotInstalled)
    }

    /// Ran and passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
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
    /// Every path that differs from before verify at its end (what setup
    /// wrote, and what could not be put back).
    pub changed: Vec<String>,
    /// Paths checks wrote that were put back as they were.
    pub restored: Vec<String>,
    /// Paths checks wrote that could not be put back, and why.
    pub not_restored: Vec<String>,
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
/// through, where progress lines go and what they say the run is for
/// (`verify`, `baseline`).
pub struct Options<'a> {
    pub timeout: Duration,
    pub purpose: &'a str,
    pub redact: &'a (dyn Fn(&str) -> String + Sync),
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// The tree as it was when verification started and after the last
/// command, so each command's writes are told apart.
pub struct TreeWatch {
    root: std::path::PathBuf,
    first: Option<TreeState>,
    last: Option<TreeState>,
    /// The tree the checks must leave as they found it.
    kept: Option<tree::Saved>,
    restored: Vec<String>,
    not_restored: Vec<String>,
    note: Option<String>,
}

impl TreeWatch {
    /// Reads the tree now (a tree that cannot be read is noted, not fatal).
    pub fn start(root: &Path) -> TreeWatch {
        let (first, note) = match tree::snapshot(root) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(format!("the tree was not compared: {e}"))),
        };
        TreeWatch {
            root: root.to_path_buf(),
            last: first.clone(),
            first,
            kept: None,
            restored: Vec::new(),
            not_restored: Vec::new(),
            note,
        }
    }

    /// Keeps the tree as it is now, so what each later command writes can
    /// be put back ([`TreeWatch::put_back`]).
    pub fn keep(&mut self) {
        if self.first.is_none() {
            return;
        }
        match tree::save(&self.root) {
            Ok(saved) => {
                self.last = Some(saved.state.clone());
                self.kept = Some(saved);
            }
            Err(e) => tracing::warn!(error = %e, "cannot keep the tree before the checks"),
        }
    }

    /// Puts `wrote` back as [`TreeWatch::keep`] found it; returns why
    /// some paths could not be.
    fn put_back(&mut self, wrote: &[String]) -> Vec<String> {
        let Some(kept) = &self.kept else {
            return vec!["the tree before the checks was not kept".into()];
        };
        let done = tree::restore(kept, wrote);
        let failed: Vec<String> = done.failed.iter().map(ToString::to_string).collect();
        self.restored.extend(done.restored);
        self.not_restored.extend(failed.iter().cloned());
        match tree::snapshot(&self.root) {
            Ok(now) => self.last = Some(now),
            Err(e) => tracing::warn!(error = %e, "cannot read the tree after putting it back"),
        }
        failed
    }

    /// What changed since the last look, which becomes the new state.
    fn wrote(&mut self) -> Vec<String> {
        let Some(before) = self.last.as_ref() else {
            return Vec::new();
        };
        match tree::snapshot(&self.root) {
            Ok(after) => {
                let changed = tree::changed(before, &after);
                self.last = Some(after);
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tree after a command");
                Vec::new()
            }
        }
    }

    /// Every path changed since [`TreeWatch::start`].
    pub fn report(&self) -> TreeReport {
        let changed = match (&self.first, &self.last) {
            (Some(a), Some(b)) => tree::changed(a, b),
            _ => Vec::new(),
        };
        let mut restored = self.restored.clone();
        restored.sort();
        restored.dedup();
        TreeReport {
            compared: self.first.is_some(),
            changed,
            restored,
            not_restored: self.not_restored.clone(),
            note: self.note.clone(),
        }
    }
}

/// Runs setup, then every check, comparing the tree around each command.
pub async fn verify(
    root: &Path,
    runner: &CommandRunner,
    env: &Environment,
    opts: &Options<'_>,
) -> Report {
    verify_with_setup(root, runner, runner, env, opts, None).await
}

/// [`verify`] with setup started by its own launcher (setup may reach
/// the package registries where checks may not); `setup_network`, when
/// given, is closed once setup is over, before any check runs.
pub async fn verify_with_setup(
    root: &Path,
    setup_runner: &CommandRunner,
    runner: &CommandRunner,
    env: &Environment,
    opts: &Options<'_>,
    setup_network: Option<&SetupNetwork>,
) -> Report {
    let mut watch = TreeWatch::start(root);
    let setup = setup(setup_runner, env, opts, &mut watch).await;
    if let Some(net) = setup_network {
        net.close().await;
    }
    let checks = run_checks(root, runner, env, opts, &mut watch).await;
    Report {
        passed: checks.iter().all(CheckResult::ok),
        environment: env.clone(),
        setup,
        checks,
        tree: watch.report(),
    }
}

/// Runs the setup commands; a failure is reported, not fatal.
pub async fn setup(
    runner: &CommandRunner,
    env: &Environment,
    opts: &Options<'_>,
    watch: &mut TreeWatch,
) -> Vec<SetupResult> {
    let mut setup = Vec::new();
    for step in &env.setup {
        let out = run(runner, &step.command, opts.timeout).await;
        let wrote = watch.wrote();
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
    setup
}

/// Runs every check, one progress line each, and says which wrote files.
pub async fn run_checks(
    root: &Path,
    runner: &CommandRunner,
    env: &Environment,
    opts: &Options<'_>,
    watch: &mut TreeWatch,
) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    watch.keep();
    for check in &env.checks {
        let out = run(runner, &check.command, opts.timeout).await;
        let wrote = watch.wrote();
        let unrestored = if wrote.is_empty() {
            Vec::new()
        } else {
            watch.put_back(&wrote)
        };
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
            "🔄 {}: {} … {} ({})",
            opts.purpose,
            result.command,
            result.outcome(),
            seconds(out.duration)
        ));
        if !result.wrote.is_empty() {
            let restored = if unrestored.is_empty() {
                "put back as it was".to_string()
            } else {
                format!("not all put back: {}", unrestored.join("; "))
            };
            (opts.progress)(&format!(
                "⚠️ `{}` changed the tree ({restored}): {}",
                result.command,
                result.wrote.join(", ")
            ));
        }
        checks.push(result);
    }
    checks
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
