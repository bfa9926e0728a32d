//! package.json: the package manager (by lockfile), its install command,
//! and the test, lint and type-check scripts (lint scripts by any of their
//! usual names, fixers run without `--fix`, lint left out when the test
//! script already runs it).

use std::path::Path;

use super::classify::{check_mode, kind_of_name};
use super::{exists, read, CheckKind, Found};

const NPM_PLACEHOLDER: &str = "no test specified";

/// Script names tried for lint, before any `lint:*`.
const LINT_NAMES: [&str; 4] = ["lint", "check:lint", "lint:check", "lint:all"];
const TYPECHECK_NAMES: [&str; 6] = [
    "typecheck",
    "type-check",
    "check:types",
    "types:check",
    "check-types",
    "tsc",
];

pub(super) fn detect(root: &Path, found: &mut Found) {
    let Some(text) = read(root, "package.json") else {
        return;
    };
    let manifest: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(file = "package.json", line = e.line(), error = %e, "package.json is not valid JSON");
            found.notes.push(format!(
                "package.json line {} is not valid JSON ({e})",
                e.line()
            ));
            return;
        }
    };
    let declared = manifest
        .get("packageManager")
        .and_then(|p| p.as_str())
        .unwrap_or("");
    let (pm, lockfile) = if exists(root, "pnpm-lock.yaml") {
        ("pnpm", Some("pnpm-lock.yaml"))
    } else if exists(root, "yarn.lock") {
        ("yarn", Some("yarn.lock"))
    } else if exists(root, "package-lock.json") {
        ("npm", Some("package-lock.json"))
    } else if declared.starts_with("pnpm@") {
        ("pnpm", None)
    } else if declared.starts_with("yarn@") {
        ("yarn", None)
    } else {
        ("npm", None)
    };
    found.detected.push(format!(
        "Node.js ({pm}, {})",
        lockfile.unwrap_or("no lockfile")
    ));
    let deps = |field: &str| {
        manifest
            .get(field)
            .and_then(|d| d.as_object())
            .map(|d| d.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let all_deps: Vec<String> = ["dependencies", "devDependencies", "optionalDependencies"]
        .iter()
        .flat_map(|f| deps(f))
        .collect();
    if !all_deps.is_empty() {
        let yarn_berry = exists(root, ".yarnrc.yml")
            || declared
                .strip_prefix("yarn@")
                .is_some_and(|v| !v.starts_with('1'));
        let (command, source) = match (pm, lockfile) {
            ("pnpm", Some(l)) => ("pnpm install --frozen-lockfile", l),
            ("pnpm", None) => ("pnpm install", "package.json packageManager"),
            ("yarn", Some(l)) if yarn_berry => ("yarn install --immutable", l),
            ("yarn", Some(l)) => ("yarn install --frozen-lockfile", l),
            ("yarn", None) => ("yarn install", "package.json packageManager"),
            (_, Some(l)) => ("npm ci", l),
            _ => ("npm install", "package.json dependencies"),
        };
        found.setup(command, source);
    }
    let scripts: Vec<(String, String)> = manifest
        .get("scripts")
        .and_then(|s| s.as_object())
        .map(|s| {
            s.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.trim().to_string())))
                .filter(|(_, v)| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let script = |name: &str| {
        scripts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let run = |name: &str| format!("{pm} run {name}");

    let test = script("test").filter(|s| !s.contains(NPM_PLACEHOLDER));
    if test.is_some() {
        found.check(
            CheckKind::Test,
            format!("{pm} test"),
            "package.json scripts.test",
        );
    }

    let mut lint: Vec<&str> = match LINT_NAMES.iter().find(|n| script(n).is_some()) {
        Some(name) => vec![name],
        None => scripts
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.starts_with("lint:") && kind_of_name(k) == Some(CheckKind::Lint))
            .collect(),
    };
    if lint.is_empty() && script("check").is_some() {
        lint.push("check");
    }
    // `npm test` that already lints (in the script or its pre/post hook).
    let test_chain: String = ["pretest", "test", "posttest"]
        .iter()
        .filter_map(|n| script(n))
        .collect::<Vec<_>>()
        .join(" && ");
    for name in lint {
        let body = script(name).unwrap_or("");
        let source = format!("package.json scripts.{name}");
        if test.is_some() && runs_script(&test_chain, name) {
            found.notes.push(format!(
                "`{}` ({source}) is not run separately: `{pm} test` already runs it",
                run(name)
            ));
        } else if writes(body) {
            if body.contains("&&") || body.contains(';') || body.contains("run ") {
                found.notes.push(format!(
                    "`{}` ({source}) is not run: it rewrites files (`{body}`)",
                    run(name)
                ));
            } else {
                let exec = match pm {
                    "pnpm" => "pnpm exec",
                    "yarn" => "yarn",
                    _ => "npx",
                };
                found.check(
                    CheckKind::Lint,
                    check_mode(&format!("{exec} {body}")),
                    format!("{source}, in check mode"),
                );
            }
        } else {
            found.check(CheckKind::Lint, run(name), source);
        }
    }

    if let Some(name) = TYPECHECK_NAMES.into_iter().find(|n| script(n).is_some()) {
        found.check(
            CheckKind::Typecheck,
            run(name),
            format!("package.json scripts.{name}"),
        );
    } else if exists(root, "tsconfig.json") && all_deps.iter().any(|d| d == "typescript") {
        let command = match pm {
            "pnpm" => "pnpm exec tsc --noEmit",
            "yarn" => "yarn tsc --noEmit",
            _ => "npx tsc --noEmit",
        };
        found.check(
            CheckKind::Typecheck,
            command,
            "tsconfig.json with typescript",
        );
    }
}

/// Whether a script body rewrites files.
fn writes(body: &str) -> bool {
    body.split_whitespace()
        .any(|w| matches!(w, "--fix" | "--write" | "-w" | "--apply"))
}

/// Whether `chain` runs the script `name` (`npm run lint`, `pnpm lint`,
/// `run-s lint`) or, for `lint`, eslint itself.
fn runs_script(chain: &str, name: &str) -> bool {
    let words: Vec<&str> = chain.split_whitespace().collect();
    words.windows(2).any(|w| {
        matches!(
            w[0],
            "run" | "pnpm" | "yarn" | "run-s" | "run-p" | "npm-run-all"
        ) && w[1] == name
    }) || (name == "lint" && words.contains(&"eslint"))
}

#[cfg(test)]
mod tests {
    use super::super::{detect as detect_all, Check, Environment, Setup};
    use super::*;
    use crate::workspace::testing::temp_repo;

    fn check(kind: CheckKind, command: &str, source: &str) -> Check {
        Check {
            kind,
            command: command.into(),
            source: source.into(),
            runs: Vec::new(),
        }
    }

    #[test]
    fn jest_project_with_a_check_lint_script() {
        let dir = temp_repo(&[
            (
                "package.json",
                r#"{"scripts":{"test":"jest","check:lint":"eslint src","format":"prettier --write .","check:types":"tsc --noEmit"},
                   "devDependencies":{"jest":"29","eslint":"9","typescript":"5"}}"#,
            ),
            ("package-lock.json", "{}"),
            ("tsconfig.json", "{}"),
        ]);
        assert_eq!(
            detect_all(dir.path()),
            Environment {
                setup: vec![Setup::new("npm ci", "package-lock.json")],
                checks: vec![
                    check(CheckKind::Test, "npm test", "package.json scripts.test"),
                    check(
                        CheckKind::Lint,
                        "npm run check:lint",
                        "package.json scripts.check:lint"
                    ),
                    check(
                        CheckKind::Typecheck,
                        "npm run check:types",
                        "package.json scripts.check:types"
                    ),
                ],
                detected: vec!["Node.js (npm, package-lock.json)".into()],
                notes: vec![],
                venv: false,
            }
        );
    }

    #[test]
    fn lint_star_scripts_fixers_and_lint_inside_test() {
        let dir = temp_repo(&[
            (
                "package.json",
                r#"{"packageManager":"yarn@4.1.0","scripts":{"test":"vitest run","lint:js":"eslint . --fix","lint:css":"stylelint '**/*.css'"},
                   "devDependencies":{"vitest":"1"}}"#,
            ),
            ("yarn.lock", ""),
        ]);
        let env = detect_all(dir.path());
        assert_eq!(
            env.setup,
            vec![Setup::new("yarn install --immutable", "yarn.lock")]
        );
        assert_eq!(
            env.checks,
            vec![
                check(CheckKind::Test, "yarn test", "package.json scripts.test"),
                check(
                    CheckKind::Lint,
                    "yarn eslint .",
                    "package.json scripts.lint:js, in check mode"
                ),
                check(
                    CheckKind::Lint,
                    "yarn run lint:css",
                    "package.json scripts.lint:css"
                ),
            ]
        );

        let dir = temp_repo(&[(
            "package.json",
            r#"{"scripts":{"pretest":"npm run lint","test":"mocha","lint":"eslint ."}}"#,
        )]);
        let env = detect_all(dir.path());
        assert_eq!(
            env.checks,
            vec![check(
                CheckKind::Test,
                "npm test",
                "package.json scripts.test"
            )]
        );
        assert_eq!(
            env.notes,
            vec!["`npm run lint` (package.json scripts.lint) is not run separately: `npm test` already runs it"]
        );
    }
}
