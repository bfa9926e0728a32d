//! `deckhand verify --repo DIR`: the verification role alone, no model.
//! Detects the environment, runs setup, tests, lint and type check, and
//! reports every finding with file:line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{exit, GlobalArgs};
use crate::agent::verify::{run_checks, run_setup, ALL_KINDS};
use crate::config::{EnvSnapshot, Settings};
use crate::report::Reporter;
use crate::sandbox::env::command_env;
use crate::sandbox::HostLauncher;
use crate::workspace::detect;
use crate::workspace::{CommandRunner, Workspace};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The repository to verify.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

pub async fn run(global: &GlobalArgs, args: VerifyArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let workspace = Workspace::open(&args.repo)
        .with_context(|| format!("cannot open repository directory {}", args.repo.display()))?;
    let settings = Settings::load(workspace.root(), &global.flags())?;
    let redactor = settings.redactor(env);
    // Progress goes to stderr; stdout carries only the result (with
    // `--json`, one JSON document).
    let reporter = Reporter::new(false, redactor.clone());
    let environment = detect::detect(workspace.root()).with_overrides(&settings.file.commands);
    for d in &environment.detected {
        reporter.progress(&format!("🔍 detected: {d}"));
    }
    if environment.checks.is_empty() {
        reporter.progress("⚠️ no test, lint or type-check command was detected; set `commands:` in .github/deckhand.yml");
    }
    let runner: CommandRunner = std::sync::Arc::new(HostLauncher::new(
        workspace.root(),
        command_env(&env.pairs(), &settings.secret_names),
    ));
    run_setup(
        &runner,
        &environment,
        &reporter,
        settings.budgets.check_timeout,
    )
    .await;
    let runs = run_checks(
        &workspace,
        &runner,
        &environment,
        &reporter,
        settings.budgets.check_timeout,
        "verify",
        &ALL_KINDS,
    )
    .await;
    let passed = runs.iter().all(|r| r.passed());
    if env.get("GITHUB_ACTIONS") == Some("true") && !global.json {
        // Findings show on the diff in GitHub (workflow commands: stdout).
        for r in runs.iter().filter(|r| !r.passed()) {
            for f in &r.findings {
                let line = crate::report::workflow::error_annotation(
                    &f.file, f.line, f.column, &r.command, &f.message,
                );
                println!("{}", redactor.redact(&line));
            }
        }
    }
    if global.json {
        let doc = serde_json::json!({"event": "verify_finished", "passed": passed, "checks": runs});
        println!("{}", redactor.redact(&doc.to_string()));
    } else {
        let mut out = String::new();
        for r in &runs {
            out.push_str(&format!(
                "{} `{}` {}\n",
                r.kind.as_str(),
                r.command,
                r.outcome()
            ));
            for f in &r.findings {
                let col = f.column.map(|c| format!(":{c}")).unwrap_or_default();
                out.push_str(&format!("{}:{}{col}: {}\n", f.file, f.line, f.message));
            }
            if !r.passed() && r.findings.is_empty() {
                out.push_str(&r.output);
                out.push('\n');
            }
        }
        out.push_str(if passed {
            "verify: passed"
        } else {
            "verify: FAILED"
        });
        reporter.result(&out);
    }
    Ok(if passed { exit::DONE } else { exit::ERROR })
}
