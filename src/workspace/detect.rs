//! Environment detection: which setup, test, lint and type-check commands a
//! repository uses.
//!
//! Every source (package.json, Python project files, Cargo.toml, go.mod,
//! Makefile, devfile.yaml, Dockerfile) contributes what it knows; a repo can
//! have several. Entry points the repository declares itself (Makefile
//! targets, devfile commands) win over the ecosystem defaults for the same
//! kind of check. `.github/deckhand.yml` `commands:` overrides everything.
//!
//! Makefile targets: `test` → test, `lint` → lint, `typecheck`/`type-check`
//! → type check, and `check` → test only when there is no `test` target
//! (GNU's convention: `make check` runs the test suite).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

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
}

/// What the repository needs: setup commands, checks, and what was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub setup: Vec<String>,
    /// Ordered tests first, then lint, then type checks.
    pub checks: Vec<Check>,
    /// Human-readable, e.g. `Node.js (npm, package-lock.json)`, `Dockerfile`.
    pub detected: Vec<String>,
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
            self.setup = non_empty(setup).into_iter().collect();
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

/// What one source found; entry points override ecosystem defaults.
#[derive(Default)]
struct Found {
    setup: Vec<String>,
    ecosystem: Vec<Check>,
    entry_points: Vec<Check>,
    detected: Vec<String>,
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
}

impl Check {
    fn new(kind: CheckKind, command: impl Into<String>, source: impl Into<String>) -> Check {
        Check {
            kind,
            command: command.into(),
            source: source.into(),
        }
    }
}

/// Looks at the repository root and says how to set it up and verify it.
pub fn detect(root: &Path) -> Environment {
    let mut found = Found::default();
    dockerfile(root, &mut found);
    devfile(root, &mut found);
    node(root, &mut found);
    python(root, &mut found);
    rust(root, &mut found);
    go(root, &mut found);
    makefile(root, &mut found);

    let overridden: Vec<CheckKind> = found.entry_points.iter().map(|c| c.kind).collect();
    let mut checks: Vec<Check> = found
        .ecosystem
        .into_iter()
        .filter(|c| !overridden.contains(&c.kind))
        .collect();
    checks.extend(found.entry_points);
    sort_checks(&mut checks);
    let mut seen = BTreeSet::new();
    let setup = found
        .setup
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect();
    Environment {
        setup,
        checks,
        detected: found.detected,
    }
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

fn dockerfile(root: &Path, found: &mut Found) {
    if root.join("Dockerfile").is_file() {
        found.detected.push("Dockerfile".to_string());
    }
}

#[derive(Deserialize)]
struct Devfile {
    #[serde(default)]
    commands: Vec<DevfileCommand>,
}

#[derive(Deserialize)]
struct DevfileCommand {
    id: Option<String>,
    exec: Option<DevfileExec>,
}

#[derive(Deserialize)]
struct DevfileExec {
    #[serde(rename = "commandLine")]
    command_line: Option<String>,
    group: Option<DevfileGroup>,
}

#[derive(Deserialize)]
struct DevfileGroup {
    kind: Option<String>,
}

fn devfile(root: &Path, found: &mut Found) {
    let Some((name, text)) = ["devfile.yaml", ".devfile.yaml"]
        .into_iter()
        .find_map(|n| read(root, n).map(|t| (n, t)))
    else {
        return;
    };
    found.detected.push(name.to_string());
    let parsed: Devfile = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(file = name, error = %e, "devfile is not valid YAML; ignoring its commands");
            return;
        }
    };
    for command in parsed.commands {
        let Some(exec) = command.exec else { continue };
        let Some(line) = exec.command_line.as_deref().and_then(non_empty) else {
            continue;
        };
        let source = format!(
            "{name} command {}",
            command.id.as_deref().unwrap_or("(unnamed)")
        );
        match exec.group.and_then(|g| g.kind).as_deref() {
            Some("test") => found.entry_point(CheckKind::Test, line, source),
            Some("build") => found.setup.push(line),
            _ => {}
        }
    }
}

const NPM_PLACEHOLDER: &str = "no test specified";

fn node(root: &Path, found: &mut Found) {
    let Some(text) = read(root, "package.json") else {
        return;
    };
    let (pm, lockfile) = if exists(root, "pnpm-lock.yaml") {
        ("pnpm", Some("pnpm-lock.yaml"))
    } else if exists(root, "yarn.lock") {
        ("yarn", Some("yarn.lock"))
    } else if exists(root, "package-lock.json") {
        ("npm", Some("package-lock.json"))
    } else {
        ("npm", None)
    };
    found.detected.push(format!(
        "Node.js ({pm}, {})",
        lockfile.unwrap_or("no lockfile")
    ));
    let manifest: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(file = "package.json", error = %e, "package.json is not valid JSON");
            return;
        }
    };
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
        found.setup.push(
            match (pm, lockfile) {
                ("pnpm", _) => "pnpm install --frozen-lockfile",
                ("yarn", _) => "yarn install --frozen-lockfile",
                (_, Some(_)) => "npm ci",
                _ => "npm install",
            }
            .to_string(),
        );
    }
    let script = |name: &str| {
        manifest
            .get("scripts")
            .and_then(|s| s.get(name))
            .and_then(|s| s.as_str())
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    if script("test").is_some_and(|s| !s.contains(NPM_PLACEHOLDER)) {
        found.check(
            CheckKind::Test,
            format!("{pm} test"),
            "package.json scripts.test",
        );
    }
    if script("lint").is_some() {
        found.check(
            CheckKind::Lint,
            format!("{pm} run lint"),
            "package.json scripts.lint",
        );
    }
    if let Some(name) = ["typecheck", "type-check", "tsc"]
        .into_iter()
        .find(|n| script(n).is_some())
    {
        found.check(
            CheckKind::Typecheck,
            format!("{pm} run {name}"),
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

/// A dependency specifier's distribution name, normalised (`Pytest>=7` →
/// `pytest`).
fn requirement_name(spec: &str) -> Option<String> {
    let name: String = spec
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace('_', "-"))
}

/// The entries of a requirements file (comments and blank lines dropped).
fn requirement_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whether an INI-style file has a `[section]` header.
fn ini_has_section(text: &str, section: &str) -> bool {
    let header = format!("[{section}]");
    text.lines().any(|l| l.trim() == header)
}

/// What pyproject.toml says that detection cares about.
#[derive(Default)]
struct Pyproject {
    tools: Vec<String>,
    runtime_deps: bool,
    extras: Vec<String>,
    dep_names: Vec<String>,
}

fn parse_pyproject(text: &str) -> Pyproject {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(file = "pyproject.toml", error = %e, "pyproject.toml is not valid TOML");
            return Pyproject::default();
        }
    };
    let mut out = Pyproject::default();
    let tool = table.get("tool").and_then(|t| t.as_table());
    if let Some(tool) = tool {
        out.tools = tool.keys().cloned().collect();
        if tool
            .get("pytest")
            .and_then(|p| p.get("ini_options"))
            .is_some()
        {
            out.tools.push("pytest.ini_options".to_string());
        }
    }
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let project = table.get("project");
    let runtime = strings(project.and_then(|p| p.get("dependencies")));
    out.runtime_deps = !runtime.is_empty();
    out.dep_names
        .extend(runtime.iter().filter_map(|s| requirement_name(s)));
    if let Some(optional) = project
        .and_then(|p| p.get("optional-dependencies"))
        .and_then(|o| o.as_table())
    {
        for (extra, list) in optional {
            out.dep_names.extend(
                strings(Some(list))
                    .iter()
                    .filter_map(|s| requirement_name(s)),
            );
            if matches!(extra.as_str(), "dev" | "test" | "tests") {
                out.extras.push(extra.clone());
            }
        }
    }
    if let Some(groups) = table.get("dependency-groups").and_then(|g| g.as_table()) {
        for list in groups.values() {
            out.dep_names.extend(
                strings(Some(list))
                    .iter()
                    .filter_map(|s| requirement_name(s)),
            );
        }
    }
    if let Some(poetry) = tool.and_then(|t| t.get("poetry")) {
        let mut names = |deps: Option<&toml::Value>| {
            if let Some(deps) = deps.and_then(|d| d.as_table()) {
                out.dep_names.extend(
                    deps.keys()
                        .filter(|k| k.as_str() != "python")
                        .map(|k| k.to_ascii_lowercase()),
                );
            }
        };
        names(poetry.get("dependencies"));
        names(poetry.get("dev-dependencies"));
        if let Some(groups) = poetry.get("group").and_then(|g| g.as_table()) {
            for group in groups.values() {
                names(group.get("dependencies"));
            }
        }
        let poetry_runtime = poetry
            .get("dependencies")
            .and_then(|d| d.as_table())
            .is_some_and(|d| d.keys().any(|k| k != "python"));
        out.runtime_deps |= poetry_runtime;
    }
    out
}

fn python(root: &Path, found: &mut Found) {
    let markers: Vec<&str> = [
        "pyproject.toml",
        "requirements.txt",
        "setup.cfg",
        "setup.py",
    ]
    .into_iter()
    .filter(|m| exists(root, m))
    .collect();
    if markers.is_empty() {
        return;
    }
    found
        .detected
        .push(format!("Python ({})", markers.join(", ")));

    let pyproject = read(root, "pyproject.toml")
        .map(|t| parse_pyproject(&t))
        .unwrap_or_default();
    let setup_cfg = read(root, "setup.cfg").unwrap_or_default();
    let tox_ini = read(root, "tox.ini").unwrap_or_default();
    let requirements = read(root, "requirements.txt").unwrap_or_default();
    let mut dep_names = pyproject.dep_names.clone();
    for file in [
        "requirements.txt",
        "requirements-dev.txt",
        "requirements_dev.txt",
        "dev-requirements.txt",
        "requirements-test.txt",
    ] {
        if let Some(text) = read(root, file) {
            dep_names.extend(
                requirement_lines(&text)
                    .into_iter()
                    .filter_map(requirement_name),
            );
        }
    }
    // setup.cfg's install_requires / extras_require and setup.py list
    // requirements inline; a word match is enough for tool detection.
    let setup_py = read(root, "setup.py").unwrap_or_default();
    let mentions = |tool: &str| {
        dep_names.iter().any(|d| d == tool)
            || setup_cfg
                .lines()
                .chain(setup_py.lines())
                .any(|l| l.trim().trim_matches(['"', '\'', ',']).starts_with(tool))
    };
    let has_tool = |name: &str| pyproject.tools.iter().any(|t| t == name);

    if !requirement_lines(&requirements).is_empty() {
        found
            .setup
            .push("python3 -m pip install -r requirements.txt".to_string());
    }
    if pyproject.runtime_deps || !pyproject.extras.is_empty() {
        let target = if pyproject.extras.is_empty() {
            ".".to_string()
        } else {
            format!("'.[{}]'", pyproject.extras.join(","))
        };
        found
            .setup
            .push(format!("python3 -m pip install -e {target}"));
    }

    let pytest_source = if has_tool("pytest.ini_options") {
        Some("pyproject.toml [tool.pytest.ini_options]")
    } else if exists(root, "pytest.ini") {
        Some("pytest.ini")
    } else if exists(root, "conftest.py") || exists(root, "tests/conftest.py") {
        Some("conftest.py")
    } else if ini_has_section(&setup_cfg, "tool:pytest") {
        Some("setup.cfg [tool:pytest]")
    } else if ini_has_section(&tox_ini, "pytest") {
        Some("tox.ini [pytest]")
    } else if mentions("pytest") {
        Some("pytest in the dependencies")
    } else {
        None
    };
    match pytest_source {
        Some(source) => found.check(CheckKind::Test, "python3 -m pytest", source),
        None if root.join("tests").is_dir() => {
            let command = if exists(root, "tests/__init__.py") {
                "python3 -m unittest discover -s tests -t ."
            } else {
                "python3 -m unittest discover -s tests"
            };
            found.check(
                CheckKind::Test,
                command,
                "Python tests/ directory (unittest)",
            );
        }
        None => found.check(
            CheckKind::Test,
            "python3 -m unittest discover",
            "Python project (unittest)",
        ),
    }

    let ruff_source = if has_tool("ruff") {
        Some("pyproject.toml [tool.ruff]")
    } else if exists(root, "ruff.toml") || exists(root, ".ruff.toml") {
        Some("ruff.toml")
    } else if mentions("ruff") {
        Some("ruff in the dependencies")
    } else {
        None
    };
    let flake8_source = if exists(root, ".flake8") {
        Some(".flake8")
    } else if ini_has_section(&setup_cfg, "flake8") {
        Some("setup.cfg [flake8]")
    } else if ini_has_section(&tox_ini, "flake8") {
        Some("tox.ini [flake8]")
    } else {
        None
    };
    if let Some(source) = ruff_source {
        found.check(CheckKind::Lint, "ruff check .", source);
    } else if let Some(source) = flake8_source {
        found.check(CheckKind::Lint, "flake8", source);
    }

    let mypy_source = if has_tool("mypy") {
        Some("pyproject.toml [tool.mypy]")
    } else if exists(root, "mypy.ini") || exists(root, ".mypy.ini") {
        Some("mypy.ini")
    } else if ini_has_section(&setup_cfg, "mypy") {
        Some("setup.cfg [mypy]")
    } else {
        None
    };
    if let Some(source) = mypy_source {
        found.check(CheckKind::Typecheck, "mypy .", source);
    }
}

fn rust(root: &Path, found: &mut Found) {
    if !exists(root, "Cargo.toml") {
        return;
    }
    found.detected.push("Rust (Cargo.toml)".to_string());
    found.check(CheckKind::Test, "cargo test", "Cargo.toml");
    found.check(
        CheckKind::Lint,
        "cargo clippy --all-targets -- -D warnings",
        "Cargo.toml",
    );
}

fn go(root: &Path, found: &mut Found) {
    if !exists(root, "go.mod") {
        return;
    }
    found.detected.push("Go (go.mod)".to_string());
    found.check(CheckKind::Test, "go test ./...", "go.mod");
    found.check(CheckKind::Lint, "go vet ./...", "go.mod");
}

/// Target names defined in a Makefile (pattern rules and variables left out).
fn make_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((names, rest)) = line.split_once(':') else {
            continue;
        };
        if rest.starts_with('=') || names.contains(['=', '%', '$']) {
            continue;
        }
        targets.extend(names.split_whitespace().map(str::to_string));
    }
    targets
}

fn makefile(root: &Path, found: &mut Found) {
    let Some((name, text)) = ["GNUmakefile", "Makefile", "makefile"]
        .into_iter()
        .find_map(|n| read(root, n).map(|t| (n, t)))
    else {
        return;
    };
    found.detected.push(name.to_string());
    let targets = make_targets(&text);
    let has = |t: &str| targets.iter().any(|x| x == t);
    let mut add = |kind: CheckKind, target: &str| {
        found.entry_point(
            kind,
            format!("make {target}"),
            format!("{name} target {target}"),
        );
    };
    if has("test") {
        add(CheckKind::Test, "test");
    } else if has("check") {
        add(CheckKind::Test, "check");
    }
    if has("lint") {
        add(CheckKind::Lint, "lint");
    }
    if let Some(t) = ["typecheck", "type-check"].into_iter().find(|t| has(t)) {
        add(CheckKind::Typecheck, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo as repo;

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
                }],
                detected: vec!["Node.js (npm, no lockfile)".into()],
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
            assert_eq!(env.setup, vec![setup.to_string()], "{lock}");
            assert_eq!(commands(&env, CheckKind::Test), vec![test], "{lock}");
            assert_eq!(commands(&env, CheckKind::Lint), vec![lint], "{lock}");
            let pm = test.split(' ').next().unwrap();
            assert_eq!(
                commands(&env, CheckKind::Typecheck),
                vec![format!("{pm} run type-check")]
            );
        }
        let dir = repo(&[("package.json", manifest)]);
        assert_eq!(detect(dir.path()).setup, vec!["npm install"]);
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
        assert_eq!(env.setup, vec!["python3 -m pip install -e '.[dev]'"]);
        assert_eq!(
            env.checks,
            vec![
                Check {
                    kind: CheckKind::Test,
                    command: "python3 -m pytest".into(),
                    source: "pyproject.toml [tool.pytest.ini_options]".into()
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "ruff check .".into(),
                    source: "pyproject.toml [tool.ruff]".into()
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "mypy .".into(),
                    source: "pyproject.toml [tool.mypy]".into()
                },
            ]
        );
        assert_eq!(env.detected, vec!["Python (pyproject.toml)"]);
    }

    #[test]
    fn python_requirements_with_pytest_and_flake8() {
        let dir = repo(&[
            ("requirements.txt", "# pinned\nflask==3.0\nPytest>=7\n"),
            ("setup.cfg", "[flake8]\nmax-line-length = 100\n[mypy]\n"),
        ]);
        let env = detect(dir.path());
        assert_eq!(
            env.setup,
            vec!["python3 -m pip install -r requirements.txt"]
        );
        assert_eq!(commands(&env, CheckKind::Test), vec!["python3 -m pytest"]);
        assert_eq!(commands(&env, CheckKind::Lint), vec!["flake8"]);
        assert_eq!(commands(&env, CheckKind::Typecheck), vec!["mypy ."]);
    }

    #[test]
    fn python_without_pytest_uses_unittest() {
        let dir = repo(&[
            ("requirements.txt", "# nothing yet\n"),
            ("tests/test_a.py", ""),
        ]);
        let env = detect(dir.path());
        assert!(env.setup.is_empty());
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
            vec!["cargo test", "go test ./..."]
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
                    source: "Makefile target test".into()
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "make lint".into(),
                    source: "Makefile target lint".into()
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "make type-check".into(),
                    source: "Makefile target type-check".into()
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
        assert_eq!(env.setup, vec!["npm install"]);
        assert_eq!(
            env.checks,
            vec![Check {
                kind: CheckKind::Test,
                command: "npm run test:ci".into(),
                source: "devfile.yaml command run-tests".into()
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
                    source: ".github/deckhand.yml commands.test".into()
                },
                Check {
                    kind: CheckKind::Lint,
                    command: "npm run lint".into(),
                    source: "package.json scripts.lint".into()
                },
                Check {
                    kind: CheckKind::Typecheck,
                    command: "npx tsc -p .".into(),
                    source: ".github/deckhand.yml commands.typecheck".into()
                },
            ]
        );
        let disabled = detect(dir.path()).with_overrides(&Overrides {
            lint: Some(String::new()),
            setup: Some("make deps".into()),
            ..Overrides::default()
        });
        assert_eq!(disabled.setup, vec!["make deps"]);
        assert!(disabled.checks_of(CheckKind::Lint).next().is_none());
        assert_eq!(commands(&disabled, CheckKind::Test), vec!["npm test"]);
        assert!(serde_yaml::from_str::<Overrides>("tests: x\n").is_err());
    }
}
