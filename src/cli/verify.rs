//! `deckhand verify --repo DIR`: the verification role alone, no model.
//! Detects the environment, runs setup, tests, lint and type check, and
//! reports every finding with file:line, where each command came from, and
//! whether the tree is as it was.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{contained, exit, GlobalArgs};
use crate::config::{EnvSnapshot, Settings};
use crate::report::Reporter;
use crate::sandbox::container::Paths;
use crate::sandbox::devstart;
use crate::sandbox::env::command_env;
use crate::sandbox::gitdir::KeptGitDir;
use crate::workspace::checks::{self, Options, Report};
use crate::workspace::detect;
use crate::workspace::{CommandRunner, Workspace};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The repository to verify.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Run setup and checks in the dev container the repository declares
    /// (devcontainer.json, devfile.yaml, `dev_container:` in the config, or
    /// an official image for its language), with the local Docker engine.
    #[arg(long)]
    pub dev_container: bool,
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
    for c in &environment.checks {
        reporter.progress(&format!(
            "🧭 {}: `{}` (from {})",
            c.kind.as_str(),
            c.command,
            c.source
        ));
        for line in &c.runs {
            reporter.progress(&format!("   runs: {line}"));
        }
    }
    for n in &environment.notes {
        reporter.progress(&format!("ℹ️ {n}"));
    }
    if environment.checks.is_empty() {
        reporter.progress("⚠️ no test, lint or type-check command was detected; set `commands:` in .github/deckhand.yml");
    }
    let mut environment = environment;
    let host_env = command_env(&env.pairs(), &settings.secret_names);
    let extra_write = environment
        .venv
        .then(|| detect::venv_dir(workspace.root()))
        .into_iter()
        .collect();
    let (containment, _private) = contained::build(
        workspace.root(),
        &settings,
        env,
        environment.command_env(workspace.root(), host_env.clone()),
        extra_write,
        &reporter,
    )
    .await?;
    let mut dev_env = None;
    let mut setup_runner: CommandRunner = containment.setup.clone();
    let runner: CommandRunner = if args.dev_container {
        let progress = |line: &str| reporter.progress(line);
        let started = devstart::start(
            devstart::Request {
                paths: Paths::single(workspace.root()),
                configured: settings
                    .file
                    .dev_container
                    .as_ref()
                    .and_then(|d| d.dockerfile.as_deref()),
                process_env: &env.pairs(),
                secret_names: &settings.secret_names,
                user: None,
                containment: &containment,
                host_without_docker: false,
                progress: &progress,
            },
            &mut environment,
        )
        .await?;
        dev_env = Some(started.env);
        match started.launchers {
            Some(launchers) => {
                // The container sees the checkout's .git as well.
                match crate::git::LocalRepo::open(workspace.root()) {
                    Ok(repo) => {
                        let kept = KeptGitDir::record(repo.common_dir())?;
                        setup_runner = KeptGitDir::wrap(launchers.setup, kept.clone());
                        KeptGitDir::wrap(launchers.agent, kept)
                    }
                    Err(_) => {
                        setup_runner = launchers.setup;
                        launchers.agent
                    }
                }
            }
            None => {
                reporter.progress("🐳 dev container: none declared; commands run here");
                containment.agent.clone()
            }
        }
    } else {
        containment.agent.clone()
    };
    let redact = |t: &str| redactor.redact(t).into_owned();
    let progress = |line: &str| reporter.progress(line);
    let report = checks::verify_with_setup(
        workspace.root(),
        &setup_runner,
        &runner,
        &environment,
        &Options {
            timeout: settings.budgets.check_timeout,
            purpose: "verify",
            redact: &redact,
            progress: &progress,
        },
        Some(&containment.setup_network()),
    )
    .await;
    runner.stop_all().await;
    if env.get("GITHUB_ACTIONS") == Some("true") && !global.json {
        // Findings show on the diff in GitHub (workflow commands: stdout).
        for r in report.checks.iter().filter(|r| !r.ok()) {
            for f in &r.findings {
                let line = crate::report::workflow::error_annotation(
                    &f.file, f.line, f.column, &r.command, &f.message,
                );
                println!("{}", redactor.redact(&line));
            }
        }
    }
    if global.json {
        let mut doc = serde_json::to_value(&report)?;
        if let Some(map) = doc.as_object_mut() {
            map.insert("event".into(), "verify_finished".into());
            if let Some(dev) = &dev_env {
                map.insert("dev_environment".into(), serde_json::to_value(dev)?);
            }
        }
        println!("{}", redactor.redact(&doc.to_string()));
    } else {
        reporter.result(&human(&report));
    }
    Ok(if report.passed {
        exit::DONE
    } else {
        exit::ERROR
    })
}

/// The report as people read it: one line per check with its source, its
/// findings, and what changed in the tree.
fn human(report: &Report) -> String {
    let mut out = String::new();
    for s in report.setup.iter().filter(|s| !s.passed) {
        out.push_str(&format!(
            "setup `{}` (from {}) ❌ {}\n",
            s.command,
            s.source,
            crate::report::pr::setup_status(s)
        ));
        if let Some(tail) = s.output.as_deref().filter(|o| !o.trim().is_empty()) {
            out.push_str(tail.trim_end());
            out.push('\n');
        }
    }
    for r in &report.checks {
        out.push_str(&format!(
            "{} `{}` (from {}) {}\n",
            r.kind.as_str(),
            r.command,
            r.source,
            r.outcome()
        ));
        for f in &r.findings {
            let col = f.column.map(|c| format!(":{c}")).unwrap_or_default();
            out.push_str(&format!("{}:{}{col}: {}\n", f.file, f.line, f.message));
        }
        if !r.ok() && r.findings.is_empty() {
            out.push_str(&r.output);
            out.push('\n');
        }
    }
    let wrote: Vec<String> = report
        .setup
        .iter()
        .map(|s| (&s.command, &s.wrote, "setup"))
        .chain(
            report
                .checks
                .iter()
                .map(|c| (&c.command, &c.wrote, "a check: put back")),
        )
        .filter(|(_, w, _)| !w.is_empty())
        .map(|(c, w, what)| format!("⚠️ `{c}` changed the tree ({what}): {}\n", w.join(", ")))
        .collect();
    for line in &wrote {
        out.push_str(line);
    }
    for why in &report.tree.not_restored {
        out.push_str(&format!("⚠️ not put back: {why}\n"));
    }
    match (&report.tree.note, report.tree.changed.is_empty()) {
        (Some(note), _) => out.push_str(&format!("tree: {note}\n")),
        (None, true) => out.push_str("tree: unchanged\n"),
        (None, false) => out.push_str(&format!(
            "tree: CHANGED by verify: {}\n",
            report.tree.changed.join(", ")
        )),
    }
    out.push_str(if report.passed {
        "verify: passed"
    } else {
        "verify: FAILED"
    });
    out
}
