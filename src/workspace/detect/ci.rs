//! The repository's own CI: the `run:` steps of the GitHub workflow jobs
//! that run on `push` or `pull_request`, as setup and check commands that
//! say which file and job they came from.

use std::path::Path;

use serde_yaml::Value;

use super::classify::{check_mode, classify, is_shell_noise, Role};

/// One command a workflow runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub role: Role,
    /// In check mode for checks; prefixed with `cd DIR &&` when the step
    /// runs elsewhere.
    pub command: String,
    /// `.github/workflows/ci.yml job test`.
    pub source: String,
}

/// What the workflows say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Ci {
    pub steps: Vec<Step>,
    /// Steps left out and why.
    pub notes: Vec<String>,
    /// Where pre-commit is run (`pre-commit run` or `pre-commit/action`).
    pub precommit: Option<String>,
}

const TRIGGERS: [&str; 3] = ["push", "pull_request", "merge_group"];

/// Reads every workflow under `.github/workflows`, in name order.
pub(super) fn read(root: &Path) -> Ci {
    let dir = root.join(".github/workflows");
    let mut ci = Ci::default();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return ci;
    };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    files.sort();
    for name in files {
        let rel = format!(".github/workflows/{name}");
        let Some(text) = super::read(root, &rel) else {
            continue;
        };
        workflow(&rel, &text, &mut ci);
    }
    ci
}

/// One workflow file's jobs.
pub(super) fn workflow(rel: &str, text: &str, ci: &mut Ci) {
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            tracing::warn!(file = rel, line, error = %e, "workflow is not valid YAML; its commands are not used");
            ci.notes.push(format!(
                "{rel} line {line} is not valid YAML ({e}); its commands were not used"
            ));
            return;
        }
    };
    let on = doc.get("on").or_else(|| doc.get(Value::Bool(true)));
    if !on.is_some_and(runs_on_changes) {
        return;
    }
    let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) else {
        return;
    };
    for (id, job) in jobs {
        let Some(id) = id.as_str() else { continue };
        let source = format!("{rel} job {id}");
        if let Some(os) = job.get("runs-on").and_then(Value::as_str) {
            if !os.contains("${{") && (os.contains("windows") || os.contains("macos")) {
                ci.notes.push(format!("{source} runs on {os}; not used"));
                continue;
            }
        }
        let job_dir = job
            .get("defaults")
            .and_then(|d| d.get("run"))
            .and_then(|r| r.get("working-directory"))
            .and_then(Value::as_str);
        let Some(steps) = job.get("steps").and_then(Value::as_sequence) else {
            continue;
        };
        for step in steps {
            if step
                .get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("pre-commit/action"))
            {
                ci.precommit.get_or_insert_with(|| source.clone());
                continue;
            }
            let Some(run) = step.get("run").and_then(Value::as_str) else {
                continue;
            };
            if let Some(shell) = step.get("shell").and_then(Value::as_str) {
                if !(shell.starts_with("bash") || shell.starts_with("sh")) {
                    continue;
                }
            }
            let secrets = step
                .get("env")
                .and_then(Value::as_mapping)
                .is_some_and(|env| env.values().any(mentions_secrets))
                || step
                    .get("if")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.contains("secrets."));
            let dir = step
                .get("working-directory")
                .and_then(Value::as_str)
                .or(job_dir);
            run_text(run, dir, secrets, &source, ci);
        }
    }
}

fn mentions_secrets(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains("secrets."))
}

/// Whether the `on:` value includes a push or pull-request trigger.
fn runs_on_changes(on: &Value) -> bool {
    match on {
        Value::String(s) => TRIGGERS.contains(&s.as_str()),
        Value::Sequence(list) => list
            .iter()
            .any(|v| v.as_str().is_some_and(|s| TRIGGERS.contains(&s))),
        Value::Mapping(map) => map
            .keys()
            .any(|k| k.as_str().is_some_and(|s| TRIGGERS.contains(&s))),
        _ => false,
    }
}

/// The commands of one `run:` block.
fn run_text(run: &str, dir: Option<&str>, secrets: bool, source: &str, ci: &mut Ci) {
    let joined = run.replace("\\\n", " ");
    let mut cwd: Option<String> = dir
        .filter(|d| *d != "." && !d.contains("${{"))
        .map(str::to_string);
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for part in line.split(" && ").flat_map(|p| p.split("; ")) {
            let part = part
                .trim()
                .trim_end_matches(';')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let part = part.as_str();
            if part.is_empty() {
                continue;
            }
            if let Some(target) = part.strip_prefix("cd ") {
                let target = target.trim();
                cwd = (target != "." && !target.contains("${{")).then(|| target.to_string());
                continue;
            }
            if is_shell_noise(part) {
                continue;
            }
            let role = classify(part);
            if matches!(role, Role::Other) {
                continue;
            }
            if secrets || part.contains("secrets.") {
                ci.notes.push(format!(
                    "skipped `{part}` from {source}: it needs the repository's secrets"
                ));
                continue;
            }
            if part.contains("${{") {
                let what = if part.contains("matrix.") {
                    "a matrix expression"
                } else {
                    "a workflow expression"
                };
                ci.notes
                    .push(format!("skipped `{part}` from {source}: it uses {what}"));
                continue;
            }
            match role {
                Role::Privileged => ci
                    .notes
                    .push(format!("skipped `{part}` from {source}: it needs root")),
                Role::PreCommit => {
                    ci.precommit.get_or_insert_with(|| source.to_string());
                }
                Role::Check(_) | Role::Setup(_) => {
                    let command = if matches!(role, Role::Check(_)) {
                        check_mode(part)
                    } else {
                        part.to_string()
                    };
                    let command = match &cwd {
                        Some(d) => format!("cd {d} && {command}"),
                        None => command,
                    };
                    if !ci.steps.iter().any(|s| s.command == command) {
                        ci.steps.push(Step {
                            role,
                            command,
                            source: source.to_string(),
                        });
                    }
                }
                Role::Other => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::classify::Eco;
    use super::super::CheckKind;
    use super::*;

    fn step(role: Role, command: &str, job: &str) -> Step {
        Step {
            role,
            command: command.into(),
            source: format!(".github/workflows/ci.yml job {job}"),
        }
    }

    #[test]
    fn run_steps_of_push_and_pull_request_jobs() {
        let yaml = r#"
name: CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.12"}
      - run: |
          python -m pip install --upgrade pip
          pip install -r requirements/lint.txt
      - run: ruff check . && ruff format .
      - uses: pre-commit/action@v3.0.1
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest]
        python: ["3.11", "3.12"]
    steps:
      - run: pip install -e ".[test]"
      - run: |
          # unit tests
          python -m pytest -q \
            tests/unit
      - run: pytest --cov=${{ matrix.python }}
      - name: upload
        run: codecov upload
        env:
          CODECOV_TOKEN: ${{ secrets.CODECOV_TOKEN }}
      - run: sudo apt-get install -y graphviz
  docs:
    runs-on: ubuntu-latest
    defaults: {run: {working-directory: docs}}
    steps:
      - run: make html
      - run: npm run lint
  windows:
    runs-on: windows-latest
    steps:
      - run: pytest
"#;
        let mut ci = Ci::default();
        workflow(".github/workflows/ci.yml", yaml, &mut ci);
        assert_eq!(
            ci,
            Ci {
                steps: vec![
                    step(Role::Setup(Eco::Python), "python -m pip install --upgrade pip", "lint"),
                    step(Role::Setup(Eco::Python), "pip install -r requirements/lint.txt", "lint"),
                    step(Role::Check(CheckKind::Lint), "ruff check --no-fix .", "lint"),
                    step(Role::Check(CheckKind::Lint), "ruff format --check .", "lint"),
                    step(Role::Setup(Eco::Python), "pip install -e \".[test]\"", "test"),
                    step(Role::Check(CheckKind::Test), "python -m pytest -q tests/unit", "test"),
                    step(Role::Check(CheckKind::Lint), "cd docs && npm run lint", "docs"),
                ],
                notes: vec![
                    "skipped `pytest --cov=${{ matrix.python }}` from .github/workflows/ci.yml job test: it uses a matrix expression".into(),
                    "skipped `sudo apt-get install -y graphviz` from .github/workflows/ci.yml job test: it needs root".into(),
                    ".github/workflows/ci.yml job windows runs on windows-latest; not used".into(),
                ],
                precommit: Some(".github/workflows/ci.yml job lint".into()),
            }
        );
    }

    #[test]
    fn other_triggers_and_bad_yaml() {
        let mut ci = Ci::default();
        workflow(
            "w.yml",
            "on: [release, workflow_dispatch]\njobs:\n  a:\n    steps:\n      - run: pytest\n",
            &mut ci,
        );
        workflow(
            "x.yml",
            "on:\n  schedule:\n    - cron: '0 0 * * *'\njobs:\n  a:\n    steps:\n      - run: pytest\n",
            &mut ci,
        );
        assert_eq!(ci, Ci::default());
        workflow("bad.yml", "on: push\njobs:\n  a: [\n", &mut ci);
        assert!(ci.steps.is_empty());
        assert_eq!(ci.notes.len(), 1);
        assert!(
            ci.notes[0].starts_with("bad.yml line 4 is not valid YAML"),
            "{:?}",
            ci.notes
        );
    }
}
