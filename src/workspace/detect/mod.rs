//! Environment detection: which setup, test, lint and type-check commands
//! a repository uses, and where each came from.
//!
//! Sources, strongest first: `.github/deckhand.yml` `commands:`; the
//! repository's own CI (`ci`: workflow `run:` steps, and the pre-commit
//! hooks it runs); entry points the repository declares (Makefile targets,
//! devfile commands); ecosystem defaults (`node`, `python`, `toolchains`).
//! When the CI runs checks, those are the checks: a guess it does not run
//! is listed in `notes`, not required. Every check is read-only
//! (`classify::check_mode`).

mod ci;
mod classify;
mod make;
mod node;
mod nox;
mod precommit;
mod pylock;
mod python;
mod sessions;
mod toolchains;
mod tox;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use classify::{check_mode, classify, program_name, Eco, Role};

/// The setup step that makes the virtual environment the checks run in.
pub const VENV_SETUP: &str = "python3 -m venv \"$VIRTUAL_ENV\"";
const VENV_SOURCE: &str = "Deckhand (a virtual environment for the checks)";
/// Python tools a check may run that setup installs when the project does
/// not list them.
const PY_TOOLS: [&str; 7] = [
    "pytest", "ruff", "mypy", "flake8", "black", "isort", "pylint",
];

/// Where the virtual environment for the repository at `root` lives:
/// outside the tree, so the tree stays as it was.
pub fn venv_dir(root: &Path) -> PathBuf {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(canonical.display().to_string().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("deckhand-venv-{hex}"))
}

/// The kind of a verification command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Test,
    Lint,
    Typecheck,
}

impl CheckKind {
    pub const ALL: [CheckKind; 3] = [CheckKind::Test, CheckKind::Lint, CheckKind::Typecheck];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Test => "test",
            CheckKind::Lint => "lint",
            CheckKind::Typecheck => "typecheck",
        }
    }

    fn rank(self) -> u8 {
        match self {
            CheckKind::Test => 0,
            CheckKind::Lint => 1,
            CheckKind::Typecheck => 2,
        }
    }
}

/// One verification command and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    pub command: String,
    /// Where the command came from, e.g. `package.json scripts.test`.
    pub source: String,
    /// What the command runs, when it only names a recipe (the lines of a
    /// Makefile target and its prerequisites).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
}

/// One setup command and where it came from; reads as the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setup {
    pub command: String,
    pub source: String,
}

impl Setup {
    pub fn new(command: impl Into<String>, source: impl Into<String>) -> Setup {
        Setup {
            command: command.into(),
            source: source.into(),
        }
    }
}

impl std::ops::Deref for Setup {
    type Target = str;
    fn deref(&self) -> &str {
        &self.command
    }
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.command)
    }
}

/// What the repository needs: setup commands, checks, and what was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub setup: Vec<Setup>,
    /// Ordered tests first, then lint, then type checks.
    pub checks: Vec<Check>,
    /// Human-readable, e.g. `Node.js (npm, package-lock.json)`, `Dockerfile`.
    pub detected: Vec<String>,
    /// What detection chose not to run, and why (CI steps skipped, checks
    /// the CI does not require, scripts that would rewrite files).
    pub notes: Vec<String>,
    /// Setup makes a Python virtual environment; commands run with it
    /// first on PATH (see [`Environment::command_env`]).
    pub venv: bool,
}

/// The `commands:` section of `.github/deckhand.yml`. `Some("")` disables
/// that command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub setup: Option<String>,
    pub test: Option<String>,
    pub lint: Option<String>,
    pub typecheck: Option<String>,
}

impl Overrides {
    fn for_kind(&self, kind: CheckKind) -> Option<&str> {
        match kind {
            CheckKind::Test => self.test.as_deref(),
            CheckKind::Lint => self.lint.as_deref(),
            CheckKind::Typecheck => self.typecheck.as_deref(),
        }
    }
}

/// Where override commands are said to come from.
const OVERRIDE_SOURCE: &str = ".github/deckhand.yml commands";

impl Environment {
    /// Applies the configured commands: `None` keeps what was detected, an
    /// empty string removes it, anything else replaces it.
    pub fn with_overrides(mut self, o: &Overrides) -> Environment {
        if let Some(setup) = o.setup.as_deref() {
            let source = format!("{OVERRIDE_SOURCE}.setup");
            let venv = self.venv;
            self.setup.retain(|s| venv && s.command == VENV_SETUP);
            self.setup
                .extend(non_empty(setup).map(|c| Setup::new(c, source)));
        }
        for kind in CheckKind::ALL {
            let Some(command) = o.for_kind(kind) else {
                continue;
            };
            let first = self.checks.iter().position(|c| c.kind == kind);
            self.checks.retain(|c| c.kind != kind);
            if let Some(command) = non_empty(command) {
                let source = format!("{OVERRIDE_SOURCE}.{}", kind.as_str());
                let check = Check::new(kind, command, source);
                let at = first.unwrap_or(self.checks.len()).min(self.checks.len());
                self.checks.insert(at, check);
            }
        }
        sort_checks(&mut self.checks);
        self
    }

    /// The environment commands run with: `VIRTUAL_ENV` set and its `bin`
    /// first on PATH when setup makes a virtual environment.
    pub fn command_env(
        &self,
        root: &Path,
        mut env: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        if !self.venv {
            return env;
        }
        let dir = venv_dir(root);
        let bin = dir.join("bin").display().to_string();
        env.retain(|(k, _)| k != "VIRTUAL_ENV");
        match env.iter_mut().find(|(k, _)| k == "PATH") {
            Some((_, path)) => *path = format!("{bin}:{path}"),
            None => env.push(("PATH".into(), bin)),
        }
        env.push(("VIRTUAL_ENV".into(), dir.display().to_string()));
        env.push(("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()));
        env
    }

    pub fn checks_of(&self, kind: CheckKind) -> impl Iterator<Item = &Check> + '_ {
        self.checks.iter().filter(move |c| c.kind == kind)
    }
}

fn non_empty(command: &str) -> Option<String> {
    let trimmed = command.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn sort_checks(checks: &mut [Check]) {
    checks.sort_by_key(|c| c.kind.rank());
}

/// What the sources found, before the CI has its say.
#[derive(Default)]
struct Found {
    setup: Vec<Setup>,
    ecosystem: Vec<Check>,
    entry_points: Vec<Check>,
    detected: Vec<String>,
    notes: Vec<String>,
    venv: bool,
    /// Names of the Python packages the project lists, each with where
    /// it is listed: a requirement file, or [`python::PROJECT`] (its own
    /// metadata, installed with the project).
    python_deps: Vec<(String, String)>,
    /// mypy's `files` is configured (so `mypy` runs with no path).
    mypy_files: bool,
}

impl Found {
    /// An ecosystem default, replaced by any entry point of the same kind.
    fn check(&mut self, kind: CheckKind, command: impl Into<String>, source: impl Into<String>) {
        self.ecosystem.push(Check::new(kind, command, source));
    }

    /// A command the repository declares itself (Makefile, devfile).
    fn entry_point(
        &mut self,
        kind: CheckKind,
        command: impl Into<String>,
        source: impl Into<String>,
    ) {
        self.entry_points.push(Check::new(kind, command, source));
    }

    fn setup(&mut self, command: impl Into<String>, source: impl Into<String>) {
        self.setup.push(Setup::new(command, source));
    }
}

impl Check {
    fn new(kind: CheckKind, command: impl Into<String>, source: impl Into<String>) -> Check {
        Check {
            kind,
            command: command.into(),
            source: source.into(),
            runs: Vec::new(),
        }
    }
}

/// Looks at the repository and says how to set it up and verify it.
pub fn detect(root: &Path) -> Environment {
    let mut found = Found::default();
    toolchains::dockerfile(root, &mut found);
    toolchains::devfile(root, &mut found);
    node::detect(root, &mut found);
    python::detect(root, &mut found);
    toolchains::rust(root, &mut found);
    toolchains::go(root, &mut found);
    make::detect(root, &mut found);
    let ci = ci::read(root);
    let runners = sessions::read(root);
    let mut session_setup = Vec::new();
    if ci.precommit.is_none() && !ci.steps.iter().any(|s| matches!(s.role, Role::Check(_))) {
        // No CI: the sessions tox or nox run by default are declared
        // entry points.
        for runner in [&runners.tox, &runners.nox].into_iter().flatten() {
            for name in &runner.default {
                let Some(session) = runner.sessions.iter().find(|s| &s.name == name) else {
                    continue;
                };
                for check in session_checks(session, None) {
                    found.entry_point(check.kind, check.command, check.source);
                }
                session_setup.extend(session_install(session, None));
                found.notes.extend(session.notes.iter().cloned());
            }
        }
    }

    let overridden: Vec<CheckKind> = found.entry_points.iter().map(|c| c.kind).collect();
    let mut guessed: Vec<Check> = std::mem::take(&mut found.ecosystem)
        .into_iter()
        .filter(|c| !overridden.contains(&c.kind))
        .collect();
    guessed.append(&mut found.entry_points);

    let hooks = precommit::read(root, found.mypy_files);
    let mut notes = std::mem::take(&mut found.notes);
    notes.extend(ci.notes.iter().cloned());
    let mut checks: Vec<Check> = ci
        .steps
        .iter()
        .filter_map(|s| match s.role {
            Role::Check(kind) => Some(Check::new(kind, s.command.clone(), s.source.clone())),
            _ => None,
        })
        .flat_map(|c| match sessions::selected(&runners, &c.command) {
            // `tox -e lint` in CI: what that env runs, run directly.
            Some(list) => {
                let mut out = Vec::new();
                for session in list {
                    let by = Some((c.source.as_str(), c.command.as_str()));
                    out.extend(session_checks(session, by));
                    session_setup.extend(session_install(session, by));
                    notes.extend(session.notes.iter().cloned());
                }
                out
            }
            None => vec![c],
        })
        .collect();
    let mut pins: Vec<String> = Vec::new();
    // Versions the repository pins elsewhere, most specific first.
    let mut versions: Vec<(String, String)> = Vec::new();
    let from_ci = !checks.is_empty() || ci.precommit.is_some();
    if let Some(hooks) = &hooks {
        let hook_pins = hooks.hooks.iter().flat_map(|h| h.install.first());
        if ci.precommit.is_none() && from_ci {
            // Hooks nobody runs still say which version the team uses.
            versions.extend(
                hook_pins
                    .filter(|p| p.contains("=="))
                    .map(|p| (p.clone(), precommit::FILE.to_string())),
            );
        }
        if ci.precommit.is_some() || !from_ci {
            let run_by = ci
                .precommit
                .as_ref()
                .map(|s| format!(", run by {s}"))
                .unwrap_or_default();
            for hook in &hooks.hooks {
                checks.push(Check::new(
                    hook.kind,
                    hook.command.clone(),
                    format!("{}{run_by}", hook.source),
                ));
                pins.extend(hook.install.iter().cloned());
            }
            if !hooks.skipped.is_empty() {
                notes.push(format!(
                    "pre-commit hooks not run (no read-only form): {}",
                    hooks.skipped.join(", ")
                ));
            }
        }
    }
    if from_ci {
        for g in &guessed {
            if !checks.iter().any(|c| c.command == g.command) {
                notes.push(format!(
                    "not required: `{}` ({}): the repository's CI does not run it",
                    g.command, g.source
                ));
            }
        }
    } else {
        checks.extend(guessed);
    }
    let mut seen = BTreeSet::new();
    checks.retain(|c| seen.insert(c.command.clone()));
    sort_checks(&mut checks);
    if let Some((_, text)) = make::makefile(root) {
        for c in &mut checks {
            let words: Vec<&str> = c.command.split_whitespace().collect();
            if words.first() == Some(&"make") {
                if let Some(target) = make::target_of(&words) {
                    c.runs = make::recipe(&text, &target);
                }
            }
        }
    }

    // Setup: the CI's install commands replace the guessed ones of the
    // same ecosystem.
    let eco = |command: &str| match classify(command) {
        Role::Setup(e) => Some(e),
        _ => None,
    };
    let ci_setup: Vec<Setup> = ci
        .steps
        .iter()
        .filter(|s| matches!(s.role, Role::Setup(_)))
        .map(|s| Setup::new(s.command.clone(), s.source.clone()))
        .collect();
    let ci_ecos: Vec<Eco> = ci_setup.iter().filter_map(|s| eco(&s.command)).collect();
    let venv = found.venv || ci_ecos.contains(&Eco::Python) || !session_setup.is_empty();
    let mut setup = Vec::new();
    if venv {
        setup.push(Setup::new(VENV_SETUP, VENV_SOURCE));
    }
    setup.extend(
        found
            .setup
            .into_iter()
            .filter(|s| eco(&s.command).is_none_or(|e| !ci_ecos.contains(&e))),
    );
    setup.extend(ci_setup);
    setup.extend(session_setup);
    if venv {
        let mut pinned = python::pinned(root);
        pinned.append(&mut versions);
        // What the setup installs: a requirement file it names, the
        // project's own dependencies when it installs the project.
        let installs = |from: &str| {
            setup.iter().any(|s| {
                let words: Vec<&str> = s.command.split_whitespace().collect();
                words.contains(&"install")
                    && if from == python::PROJECT {
                        words.iter().any(|w| {
                            let w = w.trim_matches(['\'', '"']);
                            w == "." || w.starts_with(".[")
                        })
                    } else {
                        words.contains(&from)
                    }
            })
        };
        let deps: Vec<String> = found
            .python_deps
            .iter()
            .filter(|(_, from)| installs(from))
            .map(|(name, _)| name.clone())
            .collect();
        let tools = missing_python_tools(&checks, &deps, &setup, &pins, &pinned);
        if let Some(tools) = tools {
            setup.push(tools);
        }
    }
    let mut seen = BTreeSet::new();
    setup.retain(|s| seen.insert(s.command.clone()));
    Environment {
        setup,
        checks,
        detected: found.detected,
        notes,
        venv,
    }
}

/// A tox env's or nox session's commands as checks; `by` is the CI step
/// that runs the session (its source and command).
fn session_checks(session: &sessions::Session, by: Option<(&str, &str)>) -> Vec<Check> {
    let source = match by {
        Some((ci, command)) => format!("{}, run by {ci} as `{command}`", session.source),
        None => session.source.clone(),
    };
    session
        .commands
        .iter()
        .filter_map(|c| {
            let kind = sessions::kind_of(c, &session.name)?;
            Some(Check::new(kind, check_mode(c), source.clone()))
        })
        .collect()
}

/// What a session installs, as one `pip install` in the virtual environment.
fn session_install(session: &sessions::Session, by: Option<(&str, &str)>) -> Option<Setup> {
    if session.install.is_empty() {
        return None;
    }
    let words: Vec<String> = session
        .install
        .iter()
        .flat_map(|i| i.split_whitespace())
        .map(python::quote)
        .collect();
    let by = by
        .map(|(ci, _)| format!(", run by {ci}"))
        .unwrap_or_default();
    Some(Setup::new(
        format!("python3 -m pip install {}", words.join(" ")),
        format!("{} deps{by}", session.source),
    ))
}

/// One `pip install` for the Python tools the checks run that nothing
/// else installs, pinned where the repository pins them: `pins` are the
/// hooks that are checks (with what they need besides), `pinned` the
/// versions its lockfile, requirement files or other hooks give, with
/// their file.
fn missing_python_tools(
    checks: &[Check],
    deps: &[String],
    setup: &[Setup],
    pins: &[String],
    pinned: &[(String, String)],
) -> Option<Setup> {
    let mut tools: Vec<String> = Vec::new();
    let mut pinned_by: Vec<&str> = Vec::new();
    for c in checks {
        let Some(name) = program_name(&c.command) else {
            continue;
        };
        if !PY_TOOLS.contains(&name.as_str()) || deps.contains(&name) {
            continue;
        }
        // Installed already, pinned or not (`ruff==0.4.4`, `'mypy>=1'`).
        let installs = |w: &str| {
            python::requirement_name(w.trim_matches(['\'', '"'])).as_deref() == Some(name.as_str())
        };
        if setup
            .iter()
            .any(|s| s.command.split_whitespace().any(installs))
        {
            continue;
        }
        let named = |p: &str| python::requirement_name(p).as_deref() == Some(name.as_str());
        let spec = match pins.iter().find(|p| named(p)) {
            Some(p) => p.clone(),
            None => match pinned.iter().find(|(p, _)| named(p)) {
                Some((p, file)) => {
                    if !pinned_by.contains(&file.as_str()) {
                        pinned_by.push(file);
                    }
                    p.clone()
                }
                None => name.clone(),
            },
        };
        if !tools.contains(&spec) {
            tools.push(spec);
        }
    }
    // Extra packages a pinned hook needs (mypy's additional_dependencies).
    for p in pins {
        let name = python::requirement_name(p).unwrap_or_default();
        if !PY_TOOLS.contains(&name.as_str()) && !tools.contains(p) && !tools.is_empty() {
            tools.push(p.clone());
        }
    }
    if tools.is_empty() {
        return None;
    }
    let names: Vec<String> = tools
        .iter()
        .filter_map(|t| python::requirement_name(t))
        .filter(|n| PY_TOOLS.contains(&n.as_str()))
        .collect();
    let quoted: Vec<String> = tools.iter().map(|t| python::quote(t)).collect();
    Some(Setup::new(
        format!("python3 -m pip install {}", quoted.join(" ")),
        format!(
            "Deckhand: checks need {} (not in the project's dependencies){}",
            names.join(", "),
            if pinned_by.is_empty() {
                String::new()
            } else {
                format!("; versions from {}", pinned_by.join(", "))
            }
        ),
    ))
}

fn read(root: &Path, name: &str) -> Option<String> {
    let path = root.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read file during detection");
            None
        }
    }
}

fn exists(root: &Path, name: &str) -> bool {
    root.join(name).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo as repo;

    fn setups(env: &Environment) -> Vec<String> {
        env.setup.iter().map(|s| s.command.clone()).collect()
    }

    fn commands(env: &Environment, kind: CheckKind) -> Vec<String> {
        env.checks_of(kind).map(|c| c.command.clone()).collect()
    }

    #[test]
    fn node_without_dependencies_needs_no_setup() {
        let dir = repo(&[(
            "package.json",
            r#"{"name":"x","scripts":{"test":"node --test"}}"#,
        )]);
        let env = detect(dir.path());
        assert_eq!(
            env,
            Environment {
                setup: vec![],
                checks: vec![Check {
                    kind: CheckKind::Test,
                    command: "npm test".into(),
                    source: "package.json scripts.test".into(),
                    runs: Vec::new(),
                }],
                detected: vec!["Node.js (npm, no lockfile)".into()],
                notes: vec![],
                venv: false,
            }
        );
    }

    #[test]
    fn node_npm_placeholder_is_not_a_test() {
        let dir = repo(&[(
            "package.json",
            r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
        )]);
        assert!(detect(dir.path()).checks.is_empty());
    }

    #[test]
    fn node_lockfiles_choose_the_package_manager_and_setup() {
        let manifest = r#"{"scripts":{"test":"jest","lint":"eslint .","type-check":"tsc"},
                          "dependencies":{"express":"4"}}"#;
        let cases = [
            ("package-lock.json", "npm ci", "npm test", "npm run lint"),
            (
                "pnpm-lock.yaml",
                "pnpm install --frozen-lockfile",
                "pnpm test",
                "pnpm run lint",
            ),
            (
                "yarn.lock",
                "yarn install --frozen-lockfile",
                "yarn test",
                "yarn run lint",
            ),
        ];
        for (lock, setup, test, lint) in cases {
            let dir = repo(&[("package.json", manifest), (lock, "")]);
            let env = detect(dir.path());
            assert_eq!(setups(&env), vec![setup.to_string()], "{lock}");
            assert_eq!(commands(&env, CheckKind::Test), vec![test], "{lock}");
            assert_eq!(commands(&env, CheckKind::Lint), vec![lint], "{lock}");
            let pm = test.split(' ').next().unwrap();
            assert_eq!(
                commands(&env, CheckKind::Typecheck),
                vec![format!("{pm} run type-check")]
            );
        }
        let dir = repo(&[("package.json", manifest)]);
        assert_eq!(setups(&detect(dir.path())), vec!["npm install"]);
    }

    #[test]
    fn node_tsconfig_with_typescript_gets_tsc() {
        let dir = repo(&[
            ("package.json", r#"{"devDependencies":{"typescript":"5"}}"#),
            ("tsconfig.json", "{}"),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            commands(&env, CheckKind::Typecheck),
            vec!["npx tsc --noEmit"]
        );
        let dir = repo(&[("package.json", "{}"), ("tsconfig.json", "{}")]);
        assert!(detect(dir.path()).checks.is_empty());
    }

    #[test]
    fn python_pyproject_with_pytest_ruff_and_mypy() {
        let dir = repo(&[(
            "pyproject.toml",
            r#"
[project]
name = "x"
dependencies = ["requests>=2"]
[project.optional-dependencies]
dev = ["pytest", "ruff"]
[tool.pytest.ini_options]
testpaths = ["tests"]
[tool.ruff]
line-length = 100
[tool.mypy]
strict = true
"#,
        )]);
        let env = detect(dir.path());
        assert_eq!(
            setups(&env),
            vec![
                VENV_SETUP,
                "python3 -m pip install -e '.[dev]'",
                "python3 -m pip install mypy"
            ]
        );
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "python3 -m pytest".into(),
                    source: "pyproject.toml [tool.pytest.ini_options]".into(),
                    runs: Vec::new(),
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "ruff check --no-fix .".into(),
                    source: "pyproject.toml [tool.ruff]".into(),
                    runs: Vec::new(),
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "mypy .".into(),
                    source: "pyproject.toml [tool.mypy]".into(),
                    runs: Vec::new(),
                },
            ]
        );
        assert_eq!(env.detected, vec!["Python (pyproject.toml)"]);
    }

    #[test]
    fn python_without_pytest_uses_unittest() {
        let dir = repo(&[
            ("requirements.txt", "# nothing yet\n"),
            ("tests/test_a.py", ""),
        ]);
        let env = detect(dir.path());
        assert_eq!(setups(&env), vec![VENV_SETUP]);
        assert_eq!(
            commands(&env, CheckKind::Test),
            vec!["python3 -m unittest discover -s tests"]
        );
        let dir = repo(&[("setup.py", ""), ("tests/__init__.py", "")]);
        assert_eq!(
            commands(&detect(dir.path()), CheckKind::Test),
            vec!["python3 -m unittest discover -s tests -t ."]
        );
        let dir = repo(&[("setup.py", ""), ("conftest.py", "")]);
        assert_eq!(
            commands(&detect(dir.path()), CheckKind::Test),
            vec!["python3 -m pytest"]
        );
    }

    #[test]
    fn cargo_and_go() {
        let dir = repo(&[
            ("Cargo.toml", "[package]\nname='x'\n"),
            ("go.mod", "module x\n"),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            commands(&env, CheckKind::Test),
            vec!["cargo test --no-fail-fast", "go test -v ./..."]
        );
        assert_eq!(
            commands(&env, CheckKind::Lint),
            vec!["cargo clippy --all-targets -- -D warnings", "go vet ./..."]
        );
        assert_eq!(env.detected, vec!["Rust (Cargo.toml)", "Go (go.mod)"]);
    }

    #[test]
    fn makefile_targets_win_over_ecosystem_defaults() {
        let dir = repo(&[
            ("go.mod", "module x\n"),
            (
                "Makefile",
                ".PHONY: test lint\nVERSION := 1\n%.o: %.c\n\tcc $<\ntest lint: build\n\tgo test ./...\ntype-check:\n\ttrue\n",
            ),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "make test".into(),
                    source: "Makefile target test".into(),
                    runs: vec!["go test ./...".into()],
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "make lint".into(),
                    source: "Makefile target lint".into(),
                    runs: vec!["go test ./...".into()],
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "make type-check".into(),
                    source: "Makefile target type-check".into(),
                    runs: vec!["true".into()],
                },
            ]
        );
        let dir = repo(&[("Cargo.toml", ""), ("Makefile", "check:\n\tcargo test\n")]);
        let env = detect(dir.path());
        assert_eq!(commands(&env, CheckKind::Test), vec!["make check"]);
        assert_eq!(
            commands(&env, CheckKind::Lint),
            vec!["cargo clippy --all-targets -- -D warnings"]
        );
    }

    #[test]
    fn devfile_commands_and_dockerfile() {
        let dir = repo(&[
            ("Dockerfile", "FROM node:20\n"),
            (
                "devfile.yaml",
                r#"
schemaVersion: 2.2.0
metadata: {name: x}
commands:
  - id: install
    exec:
      component: runtime
      commandLine: npm install
      group: {kind: build, isDefault: true}
  - id: run-tests
    exec:
      component: runtime
      commandLine: npm run test:ci
      group: {kind: test}
  - id: run
    exec:
      commandLine: npm start
      group: {kind: run}
"#,
            ),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            env.setup,
            vec![Setup::new("npm install", "devfile.yaml command install")]
        );
        assert_eq!(
            env.checks,
            vec![Check {
                kind: CheckKind::Test,
                command: "npm run test:ci".into(),
                source: "devfile.yaml command run-tests".into(),
                runs: Vec::new(),
            }]
        );
        assert_eq!(env.detected, vec!["Dockerfile", "devfile.yaml"]);
    }

    #[test]
    fn overrides_replace_disable_or_keep() {
        let dir = repo(&[
            (
                "package.json",
                r#"{"scripts":{"test":"jest","lint":"eslint ."},"dependencies":{"a":"1"}}"#,
            ),
            ("package-lock.json", "{}"),
        ]);
        let overrides: Overrides =
            serde_yaml::from_str("setup: ''\ntest: npm run test:unit\ntypecheck: npx tsc -p .\n")
                .unwrap();
        let env = detect(dir.path()).with_overrides(&overrides);
        assert!(env.setup.is_empty());
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "npm run test:unit".into(),
                    source: ".github/deckhand.yml commands.test".into(),
                    runs: Vec::new(),
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "npm run lint".into(),
                    source: "package.json scripts.lint".into(),
                    runs: Vec::new(),
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "npx tsc -p .".into(),
                    source: ".github/deckhand.yml commands.typecheck".into(),
                    runs: Vec::new(),
                },
            ]
        );
        let disabled = detect(dir.path()).with_overrides(&Overrides {
            lint: Some(String::new()),
            setup: Some("make deps".into()),
            ..Overrides::default()
        });
        assert_eq!(
            disabled.setup,
            vec![Setup::new(
                "make deps",
                ".github/deckhand.yml commands.setup"
            )]
        );
        assert!(disabled.checks_of(CheckKind::Lint).next().is_none());
        assert_eq!(commands(&disabled, CheckKind::Test), vec!["npm test"]);
        assert!(serde_yaml::from_str::<Overrides>("tests: x\n").is_err());
    }

    #[test]
    fn ci_tox_and_make_calls_become_what_they_run() {
        let dir = repo(&[
            (
                ".github/workflows/ci.yml",
                "on: [push, pull_request]\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pip install tox\n      - run: tox -e lint\n      - run: make test\n",
            ),
            (
                "tox.ini",
                "[tox]\nenvlist = py311, lint\n[testenv]\ncommands = pytest {posargs}\n[testenv:lint]\nskip_install = true\ndeps = ruff\ncommands = ruff check .\n",
            ),
            ("Makefile", "build:\n\tcc -o runner runner.c\ntest: build\n\t@./runner\nlint:\n\truff check .\n"),
            ("pyproject.toml", "[project]\nname = \"x\"\n"),
        ]);
        let env = detect(dir.path());
        let by = ".github/workflows/ci.yml job lint";
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "make test".into(),
                    source: by.into(),
                    runs: vec!["cc -o runner runner.c".into(), "./runner".into()],
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "ruff check --no-fix .".into(),
                    source: format!("tox.ini [testenv:lint], run by {by} as `tox -e lint`"),
                    runs: Vec::new(),
                },
            ]
        );
        assert_eq!(
            env.setup,
            vec![
                Setup::new(VENV_SETUP, VENV_SOURCE),
                // The CI's own install replaces the guessed one.
                Setup::new("pip install tox", by),
                Setup::new(
                    "python3 -m pip install ruff",
                    format!("tox.ini [testenv:lint] deps, run by {by}")
                ),
            ]
        );
    }

    #[test]
    fn tools_setup_installs_are_pinned_where_the_repository_pins_them() {
        let dir = repo(&[
            (
                ".github/workflows/ci.yml",
                "on: [pull_request]\njobs:\n  check:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pip install -e .\n      - uses: astral-sh/ruff-action@v1\n      - run: ruff check .\n      - run: flake8 src\n      - run: mypy\n      - run: black --check .\n",
            ),
            ("pyproject.toml", "[project]\nname = \"x\"\n[tool.mypy]\nfiles = [\"src\"]\n"),
            // Not run by the CI, but the version the team uses.
            (
                ".pre-commit-config.yaml",
                "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.4.4\n    hooks:\n      - id: ruff\n",
            ),
            (
                "uv.lock",
                "version = 1\n\n[[package]]\nname = \"mypy\"\nversion = \"1.11.2\"\nsource = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\nname = \"x\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n",
            ),
            ("requirements/lint.txt", "# linters\nflake8==7.1.0 \\\n    --hash=sha256:abc\nblack\n"),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            env.setup,
            vec![
                Setup::new(VENV_SETUP, VENV_SOURCE),
                Setup::new("pip install -e .", ".github/workflows/ci.yml job check"),
                Setup::new(
                    "python3 -m pip install ruff==0.4.4 flake8==7.1.0 black mypy==1.11.2",
                    "Deckhand: checks need ruff, flake8, black, mypy (not in the project's dependencies); versions from .pre-commit-config.yaml, requirements/lint.txt, uv.lock"
                ),
            ]
        );
    }

    #[test]
    fn legacy_tox_ini_in_pyproject_is_read_like_tox_ini() {
        let ini = "[tox]\nenvlist = py311, lint\n[testenv]\ndeps = pytest\ncommands = pytest -q {posargs}\n[testenv:lint]\nskip_install = true\ndeps = ruff==0.4.4\ncommands = ruff check src\n";
        let dir = repo(&[
            (
                ".github/workflows/ci.yml",
                "on: [pull_request]\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: tox -e lint\n",
            ),
            (
                "pyproject.toml",
                &format!("[project]\nname = \"x\"\n\n[tool.tox]\nlegacy_tox_ini = \"\"\"\n{ini}\"\"\"\n"),
            ),
        ]);
        let env = detect(dir.path());
        let by = ".github/workflows/ci.yml job lint";
        let file = "pyproject.toml [tool.tox] legacy_tox_ini";
        assert_eq!(
            env.checks,
            vec![Check {
                kind: CheckKind::Lint,
                command: "ruff check --no-fix src".into(),
                source: format!("{file} [testenv:lint], run by {by} as `tox -e lint`"),
                runs: Vec::new(),
            }]
        );
        assert_eq!(
            env.setup,
            vec![
                Setup::new(VENV_SETUP, VENV_SOURCE),
                Setup::new("python3 -m pip install -e .", "pyproject.toml"),
                Setup::new(
                    "python3 -m pip install ruff==0.4.4",
                    format!("{file} [testenv:lint] deps, run by {by}")
                ),
            ]
        );
        // A tox.ini wins over pyproject.toml, as in tox.
        std::fs::write(
            dir.path().join("tox.ini"),
            ini.replace("ruff check src", "ruff check lib"),
        )
        .unwrap();
        assert_eq!(
            commands(&detect(dir.path()), CheckKind::Lint),
            vec!["ruff check --no-fix lib"]
        );
    }

    #[test]
    fn without_ci_the_default_nox_sessions_are_the_checks() {
        let dir = repo(&[
            ("pyproject.toml", "[project]\nname = \"x\"\n[tool.pytest.ini_options]\n"),
            (
                "noxfile.py",
                "import nox\n\n@nox.session\ndef tests(session):\n    session.install(\"pytest\")\n    session.run(\"pytest\", \"-q\", *session.posargs)\n\n@nox.session(name=\"type-check\")\ndef types(session):\n    session.run(\"mypy\", \"src\")\n",
            ),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "pytest -q".into(),
                    source: "noxfile.py session tests".into(),
                    runs: Vec::new(),
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "mypy src".into(),
                    source: "noxfile.py session type-check".into(),
                    runs: Vec::new(),
                },
            ]
        );
        assert_eq!(
            setups(&env),
            vec![
                VENV_SETUP,
                "python3 -m pip install -e .",
                "python3 -m pip install pytest",
                "python3 -m pip install mypy",
            ]
        );
    }
}
