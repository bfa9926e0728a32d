//! `.pre-commit-config.yaml`: the hooks that have a read-only command
//! (ruff, black, flake8, isort, mypy, prettier, eslint), with the tool
//! versions the config pins.

use std::path::Path;

use serde::Deserialize;

use super::CheckKind;

pub(super) const FILE: &str = ".pre-commit-config.yaml";

/// One hook as a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hook {
    pub kind: CheckKind,
    pub command: String,
    pub source: String,
    /// The Python package to install (`ruff==0.4.4`), when the hook is one.
    pub install: Vec<String>,
}

/// The hooks with a read-only command, and the ids of those without.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct PreCommit {
    pub hooks: Vec<Hook>,
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    repos: Vec<Repo>,
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    rev: Option<String>,
    #[serde(default)]
    hooks: Vec<HookConfig>,
}

#[derive(Deserialize)]
struct HookConfig {
    id: String,
    #[serde(default)]
    additional_dependencies: Vec<String>,
}

/// `v0.4.4` → `0.4.4`; `None` for a branch or commit.
fn version(rev: Option<&str>) -> Option<String> {
    let v = rev?.trim_start_matches('v');
    (v.chars().next().is_some_and(|c| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    .then(|| v.to_string())
}

/// Reads the config; `mypy_files` says the project configures mypy's files.
pub(super) fn read(root: &Path, mypy_files: bool) -> Option<PreCommit> {
    let text = super::read(root, FILE)?;
    let config: Config = match serde_yaml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            tracing::warn!(file = FILE, line, error = %e, "pre-commit config is not valid; its hooks are not used");
            return None;
        }
    };
    let mut out = PreCommit::default();
    for repo in config.repos {
        let pin = version(repo.rev.as_deref());
        for hook in repo.hooks {
            let pinned = |tool: &str| match &pin {
                Some(v) => format!("{tool}=={v}"),
                None => tool.to_string(),
            };
            let (kind, command, mut install) = match hook.id.as_str() {
                "ruff" | "ruff-check" => (
                    CheckKind::Lint,
                    "ruff check --no-fix .",
                    vec![pinned("ruff")],
                ),
                "ruff-format" => (
                    CheckKind::Lint,
                    "ruff format --check .",
                    vec![pinned("ruff")],
                ),
                "black" | "black-jupyter" => {
                    (CheckKind::Lint, "black --check .", vec![pinned("black")])
                }
                "flake8" => (CheckKind::Lint, "flake8", vec![pinned("flake8")]),
                "isort" => (
                    CheckKind::Lint,
                    "isort --check-only .",
                    vec![pinned("isort")],
                ),
                "mypy" => (
                    CheckKind::Typecheck,
                    if mypy_files { "mypy" } else { "mypy ." },
                    vec![pinned("mypy")],
                ),
                "prettier" => (CheckKind::Lint, "npx prettier --check .", vec![]),
                "eslint" => (CheckKind::Lint, "npx eslint .", vec![]),
                other => {
                    out.skipped.push(other.to_string());
                    continue;
                }
            };
            if !install.is_empty() {
                install.extend(hook.additional_dependencies);
            }
            out.hooks.push(Hook {
                kind,
                command: command.to_string(),
                source: format!("{FILE} hook {}", hook.id),
                install,
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo;

    #[test]
    fn hooks_become_pinned_read_only_checks() {
        let dir = temp_repo(&[(
            FILE,
            r#"
repos:
  - repo: https://github.com/pre-commit/pre-commit-hooks
    rev: v4.6.0
    hooks:
      - id: trailing-whitespace
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.4.4
    hooks:
      - id: ruff
        args: [--fix]
      - id: ruff-format
  - repo: https://github.com/pre-commit/mirrors-mypy
    rev: main
    hooks:
      - id: mypy
        additional_dependencies: [types-requests]
"#,
        )]);
        let got = read(dir.path(), true).unwrap();
        let hook = |kind, command: &str, id: &str, install: &[&str]| Hook {
            kind,
            command: command.into(),
            source: format!("{FILE} hook {id}"),
            install: install.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            got,
            PreCommit {
                hooks: vec![
                    hook(
                        CheckKind::Lint,
                        "ruff check --no-fix .",
                        "ruff",
                        &["ruff==0.4.4"]
                    ),
                    hook(
                        CheckKind::Lint,
                        "ruff format --check .",
                        "ruff-format",
                        &["ruff==0.4.4"]
                    ),
                    hook(
                        CheckKind::Typecheck,
                        "mypy",
                        "mypy",
                        &["mypy", "types-requests"]
                    ),
                ],
                skipped: vec!["trailing-whitespace".into()],
            }
        );
    }
}
