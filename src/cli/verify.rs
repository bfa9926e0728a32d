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
use crate::sandbox::container::{ContainerNetwork, DevContainer, Paths};
use crate::sandbox::env::command_env;
use crate::sandbox::gitdir::KeptGitDir;
use crate::workspace::checks::{self, Options, Report};
use crate::workspace::{detect, devenv};
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
        let configured = settings
            .file
            .dev_container
            .as_ref()
            .and_then(|d| d.dockerfile.as_deref());
        let found = devenv::detect(workspace.root(), configured);
        for w in &found.warnings {
            reporter.progress(&format!("⚠️ {w}; falling back"));
        }
        for n in &found.env.notes {
            reporter.progress(&format!("ℹ️ {n}"));
        }
        let dev = found.env;
        let runner: CommandRunner = if dev.image.is_some() {
            environment.setup.splice(
                0..0,
                dev.setup.iter().map(|c| {
                    detect::Setup::new(c.clone(), format!("{} (dev container)", dev.describe()))
                }),
            );
            let secrets: Vec<(String, String)> = host_env
                .iter()
                .filter(|(k, _)| settings.secret_names.contains(k))
                .cloned()
                .collect();
            let venv = environment
                .venv
                .then(|| detect::venv_dir(workspace.root()).display().to_string());
            let mut inside = secrets;
            if let Some(v) = &venv {
                inside.push(("VIRTUAL_ENV".into(), v.clone()));
            }
            let progress = |line: &str| reporter.progress(line);
            let container = DevContainer::start(
                &dev,
                Paths::single(workspace.root()),
                ContainerNetwork::Default,
                host_env.clone(),
                &inside,
                &progress,
            )
            .await?;
            let container = match venv {
                Some(v) => container.with_path_prefix(&format!("{v}/bin")),
                None => container,
            };
            let mut container: CommandRunner = std::sync::Arc::new(container);
            // The container sees the checkout's .git as well.
            if let Ok(repo) = crate::git::LocalRepo::open(workspace.root()) {
                let kept = KeptGitDir::record(repo.common_dir())?;
                container = KeptGitDir::wrap(container, kept);
            }
            setup_runner = container.clone();
            container
        } else {
            reporter.progress("🐳 dev container: none declared; commands run here");
            containment.agent.clone()
        };
        dev_env = Some(dev);
        runner
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
            "setup `{}` (from {}) ❌ exit {}\n",
            s.command,
            s.source,
            s.exit_code.map_or("?".into(), |c| c.to_string())
        ));
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
        .map(|s| (&s.command, &s.wrote))
        .chain(report.checks.iter().map(|c| (&c.command, &c.wrote)))
        .filter(|(_, w)| !w.is_empty())
        .map(|(c, w)| {
            format!(
                "⚠️ `{c}` changed the tree (nothing was restored): {}\n",
                w.join(", ")
            )
        })
        .collect();
    for line in &wrote {
        out.push_str(line);
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
