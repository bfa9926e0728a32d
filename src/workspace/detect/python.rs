//! Python projects: the install into Deckhand's virtual environment (the
//! project itself with its test extras and `[dependency-groups]`, every
//! requirements file), and pytest or unittest, ruff or flake8, mypy.

use std::collections::BTreeSet;
use std::path::Path;

use super::pylock::Locked;
use super::{exists, read, CheckKind, Found};

/// Extras installed with the project: the ones tests and checks use.
const EXTRAS: [&str; 7] = ["dev", "test", "tests", "testing", "lint", "typing", "check"];

/// The entries of a requirements file (comments and blank lines dropped).
pub(super) fn requirement_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A dependency specifier's distribution name, normalised (`Pytest>=7` →
/// `pytest`).
pub(super) fn requirement_name(spec: &str) -> Option<String> {
    let name: String = spec
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace('_', "-"))
}

/// Whether an INI-style file has a `[section]` header.
fn ini_has_section(text: &str, section: &str) -> bool {
    ini_section(text, section).is_some()
}

/// The lines of an INI `[section]`, when it is there.
fn ini_section<'a>(text: &'a str, section: &str) -> Option<Vec<&'a str>> {
    let header = format!("[{section}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.trim_start().starts_with('['))
            .collect(),
    )
}

/// Single-quotes `word` for the shell.
pub(super) fn quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ':'))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// What pyproject.toml says that detection cares about.
#[derive(Default)]
struct Pyproject {
    tools: Vec<String>,
    /// A `[project]`, `[build-system]` or `[tool.poetry]` table: installable.
    installable: bool,
    extras: Vec<String>,
    /// The requirements of those extras.
    extra_requirements: Vec<String>,
    /// The dependency groups installed, and their requirements.
    groups: Vec<String>,
    group_requirements: Vec<String>,
    dep_names: Vec<String>,
    mypy_files: bool,
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A `[dependency-groups]` group's requirements, `include-group`s resolved.
fn group_requirements(
    groups: &toml::Table,
    name: &str,
    seen: &mut BTreeSet<String>,
) -> Vec<String> {
    if !seen.insert(name.to_string()) {
        return Vec::new();
    }
    let Some(list) = groups.get(name).and_then(|l| l.as_array()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list {
        if let Some(req) = item.as_str() {
            out.push(req.to_string());
        } else if let Some(inc) = item.get("include-group").and_then(|g| g.as_str()) {
            out.extend(group_requirements(groups, inc, seen));
        }
    }
    out
}

fn parse_pyproject(text: &str, notes: &mut Vec<String>) -> Pyproject {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(file = "pyproject.toml", error = %e, "pyproject.toml is not valid TOML");
            notes.push(format!("pyproject.toml is not valid TOML: {}", e.message()));
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
        out.mypy_files = tool.get("mypy").and_then(|m| m.get("files")).is_some();
    }
    let project = table.get("project");
    out.installable = project.is_some()
        || table.get("build-system").is_some()
        || tool.is_some_and(|t| t.contains_key("poetry"));
    let names = |list: &[String]| -> Vec<String> {
        list.iter().filter_map(|s| requirement_name(s)).collect()
    };
    out.dep_names
        .extend(names(&strings(project.and_then(|p| p.get("dependencies")))));
    if let Some(optional) = project
        .and_then(|p| p.get("optional-dependencies"))
        .and_then(|o| o.as_table())
    {
        for (extra, list) in optional {
            if EXTRAS.contains(&extra.as_str()) {
                out.extras.push(extra.clone());
                let reqs = strings(Some(list));
                out.dep_names.extend(names(&reqs));
                for r in reqs {
                    if !out.extra_requirements.contains(&r) {
                        out.extra_requirements.push(r);
                    }
                }
            }
        }
    }
    if let Some(groups) = table.get("dependency-groups").and_then(|g| g.as_table()) {
        let mut seen = BTreeSet::new();
        for name in groups.keys().filter(|n| !n.contains("doc")) {
            let reqs = group_requirements(groups, name, &mut seen);
            out.groups.push(name.clone());
            out.dep_names.extend(names(&reqs));
            for r in reqs {
                if !out.group_requirements.contains(&r) {
                    out.group_requirements.push(r);
                }
            }
        }
    }
    if let Some(poetry) = tool.and_then(|t| t.get("poetry")) {
        let mut add = |deps: Option<&toml::Value>| {
            if let Some(deps) = deps.and_then(|d| d.as_table()) {
                out.dep_names.extend(
                    deps.keys()
                        .filter(|k| k.as_str() != "python")
                        .map(|k| k.to_ascii_lowercase()),
                );
            }
        };
        add(poetry.get("dependencies"));
        add(poetry.get("dev-dependencies"));
        if let Some(groups) = poetry.get("group").and_then(|g| g.as_table()) {
            for group in groups.values() {
                add(group.get("dependencies"));
            }
        }
    }
    out
}

/// Where [`Found::python_deps`](super::Found) says a package comes from
/// when the project's own metadata lists it.
pub(super) const PROJECT: &str = ".";

/// Versions the repository pins, as pip specifiers with where each comes
/// from: its lockfile's packages (`ruff==0.6.9`), then the entries of its
/// requirement files that carry a version (`ruff==0.4.4`, `mypy>=1,<2`).
pub(super) fn pinned(root: &Path) -> Vec<(String, String)> {
    let mut out = Locked::read(root).specifiers();
    for file in requirement_files(root) {
        let Some(text) = read(root, &file) else {
            continue;
        };
        for line in requirement_lines(&text) {
            let spec = line.split_whitespace().next().unwrap_or_default();
            let versioned = spec.contains(['=', '<', '>', '~']) && !spec.starts_with('-');
            if versioned && requirement_name(spec).is_some() {
                out.push((spec.to_string(), file.clone()));
            }
        }
    }
    out
}

/// Requirement files, `requirements.txt` first: `requirements*.txt`,
/// `*-requirements.txt`, `requirements/*.txt` (documentation ones left out).
fn requirement_files(root: &Path) -> Vec<String> {
    let list = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|e| {
                e.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut files: Vec<String> = list(root)
        .into_iter()
        .filter(|n| n.ends_with(".txt") && n.contains("requirements"))
        .collect();
    files.extend(
        list(&root.join("requirements"))
            .into_iter()
            .filter(|n| n.ends_with(".txt"))
            .map(|n| format!("requirements/{n}")),
    );
    files.retain(|f| !f.contains("doc"));
    files.sort_by_key(|f| (f != "requirements.txt", f.clone()));
    files
}

/// What `pip install -e .` installs besides the project: the dependency
/// groups' requirements, each pinned to the version the lockfile locks
/// (as `uv sync` or `poetry install` would install it), and the locked
/// version of each requirement of the installed extras. Returns them with
/// the lockfiles the versions came from.
fn pinned_requirements(root: &Path, pyproject: &Pyproject) -> (Vec<String>, Vec<String>) {
    let locked = Locked::read(root);
    let mut lockfiles: Vec<String> = Vec::new();
    let mut from = |file: &str| {
        if !lockfiles.iter().any(|f| f == file) {
            lockfiles.push(file.to_string());
        }
    };
    let mut out: Vec<String> = Vec::new();
    for r in &pyproject.group_requirements {
        let spec = match locked.pin(r) {
            Some((pinned, file)) => {
                from(file);
                pinned
            }
            None => r.clone(),
        };
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    let named = |name: &str, list: &[String]| {
        list.iter()
            .any(|r| requirement_name(r).as_deref() == Some(name))
    };
    for r in &pyproject.extra_requirements {
        let Some(name) = requirement_name(r) else {
            continue;
        };
        if named(&name, &pyproject.group_requirements) {
            continue;
        }
        if let Some((pinned, file)) = locked.pin(r) {
            from(file);
            if !out.contains(&pinned) {
                out.push(pinned);
            }
        }
    }
    (out, lockfiles)
}

pub(super) fn detect(root: &Path, found: &mut Found) {
    let req_files = requirement_files(root);
    let mut markers: Vec<&str> = ["pyproject.toml", "setup.cfg", "setup.py"]
        .into_iter()
        .filter(|m| exists(root, m))
        .collect();
    if let Some(first) = req_files.first() {
        markers.push(first);
    }
    if markers.is_empty() {
        return;
    }
    found
        .detected
        .push(format!("Python ({})", markers.join(", ")));
    found.venv = true;

    let pyproject = read(root, "pyproject.toml")
        .map(|t| parse_pyproject(&t, &mut found.notes))
        .unwrap_or_default();
    let setup_cfg = read(root, "setup.cfg").unwrap_or_default();
    let tox_ini = read(root, "tox.ini").unwrap_or_default();
    let setup_py = read(root, "setup.py").unwrap_or_default();
    let mut dep_names = pyproject.dep_names.clone();
    for file in &req_files {
        let Some(text) = read(root, file) else {
            continue;
        };
        let lines = requirement_lines(&text);
        if lines.is_empty() {
            continue;
        }
        let names: Vec<String> = lines.iter().filter_map(|l| requirement_name(l)).collect();
        found
            .python_deps
            .extend(names.iter().map(|n| (n.clone(), file.clone())));
        dep_names.extend(names);
        found.setup(format!("python3 -m pip install -r {file}"), file.clone());
    }
    // setup.cfg's install_requires / extras_require and setup.py list
    // requirements inline; a word match is enough for tool detection.
    let mentions = |tool: &str| {
        dep_names.iter().any(|d| d == tool)
            || setup_cfg
                .lines()
                .chain(setup_py.lines())
                .any(|l| l.trim().trim_matches(['"', '\'', ',']).starts_with(tool))
    };
    let has_tool = |name: &str| pyproject.tools.iter().any(|t| t == name);

    if pyproject.installable || exists(root, "setup.py") || ini_has_section(&setup_cfg, "metadata")
    {
        let target = if pyproject.extras.is_empty() {
            ".".to_string()
        } else {
            quote(&format!(".[{}]", pyproject.extras.join(",")))
        };
        let mut command = format!("python3 -m pip install -e {target}");
        let mut source = if exists(root, "pyproject.toml") {
            "pyproject.toml"
        } else {
            "setup.py"
        }
        .to_string();
        let (requirements, lockfiles) = pinned_requirements(root, &pyproject);
        for r in &requirements {
            command.push(' ');
            command.push_str(&quote(r));
        }
        if !pyproject.groups.is_empty() {
            source.push_str(&format!(
                " [dependency-groups] {}",
                pyproject.groups.join(", ")
            ));
        }
        if !lockfiles.is_empty() {
            source.push_str(&format!("; versions from {}", lockfiles.join(", ")));
        }
        found.setup(command, source);
    }
    found.python_deps.extend(
        pyproject
            .dep_names
            .iter()
            .map(|n| (n.clone(), PROJECT.to_string())),
    );

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
        found.check(CheckKind::Lint, "ruff check --no-fix .", source);
    } else if let Some(source) = flake8_source {
        found.check(CheckKind::Lint, "flake8", source);
    }

    let ini_files = |text: &str, section: &str| {
        ini_section(text, section).is_some_and(|lines| {
            lines
                .iter()
                .any(|l| l.split('=').next().is_some_and(|k| k.trim() == "files"))
        })
    };
    let mypy_ini = read(root, "mypy.ini").or_else(|| read(root, ".mypy.ini"));
    let (mypy_source, files) = if has_tool("mypy") {
        (Some("pyproject.toml [tool.mypy]"), pyproject.mypy_files)
    } else if let Some(text) = &mypy_ini {
        (Some("mypy.ini"), ini_files(text, "mypy"))
    } else if ini_has_section(&setup_cfg, "mypy") {
        (Some("setup.cfg [mypy]"), ini_files(&setup_cfg, "mypy"))
    } else {
        (None, false)
    };
    found.mypy_files = files;
    if let Some(source) = mypy_source {
        // `files` configured: mypy checks exactly those.
        let command = if files { "mypy" } else { "mypy ." };
        found.check(CheckKind::Typecheck, command, source);
    }
}

#[cfg(test)]
mod tests {
    use super::super::pylock::uv_lock;
    use super::super::{detect as detect_all, Check, Environment, Setup, VENV_SETUP};
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
    fn src_layout_with_dependency_groups_and_mypy_files() {
        let dir = temp_repo(&[
            (
                "pyproject.toml",
                r#"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "tomlkit-lite"
dependencies = []
[project.optional-dependencies]
fast = ["orjson"]
[dependency-groups]
test = ["pytest>=8", "tomli; python_version < '3.11'"]
typing = ["mypy==1.10.0", {include-group = "test"}]
docs = ["sphinx"]
[tool.mypy]
files = ["src"]
strict = true
[tool.ruff]
fix = true
"#,
            ),
            ("src/tomlkit_lite/__init__.py", ""),
            ("tests/test_parse.py", ""),
            ("requirements/lint.txt", "ruff==0.4.4\n"),
            ("requirements-docs.txt", "sphinx\n"),
        ]);
        assert_eq!(
            detect_all(dir.path()),
            Environment {
                setup: vec![
                    Setup::new(VENV_SETUP, "Deckhand (a virtual environment for the checks)"),
                    Setup::new("python3 -m pip install -r requirements/lint.txt", "requirements/lint.txt"),
                    Setup::new(
                        "python3 -m pip install -e . 'pytest>=8' 'tomli; python_version < '\\''3.11'\\''' mypy==1.10.0",
                        "pyproject.toml [dependency-groups] test, typing",
                    ),
                ],
                checks: vec![
                    check(CheckKind::Test, "python3 -m pytest", "pytest in the dependencies"),
                    check(CheckKind::Lint, "ruff check --no-fix .", "pyproject.toml [tool.ruff]"),
                    check(CheckKind::Typecheck, "mypy", "pyproject.toml [tool.mypy]"),
                ],
                detected: vec!["Python (pyproject.toml, requirements/lint.txt)".into()],
                notes: vec![],
                venv: true,
            }
        );
    }

    #[test]
    fn dependency_group_and_extra_tools_are_pinned_from_uv_lock() {
        let lock = uv_lock(&[
            ("pytest", "8.3.3"),
            ("tomli", "2.0.1"),
            ("ruff", "0.6.9"),
            ("coverage", "7.6.1"),
        ]);
        let dir = temp_repo(&[
            (
                "pyproject.toml",
                r#"
[project]
name = "limiter"
[project.optional-dependencies]
dev = ["ruff>=0.5", "coverage[toml]", "pytest"]
[dependency-groups]
test = ["pytest>=8", "tomli; python_version < '3.11'", "hypothesis"]
"#,
            ),
            ("uv.lock", lock.as_str()),
        ]);
        let env = detect_all(dir.path());
        assert_eq!(
            env.setup,
            vec![
                Setup::new(VENV_SETUP, "Deckhand (a virtual environment for the checks)"),
                Setup::new(
                    // Groups pinned where locked (hypothesis is not); the
                    // extras' locked versions added; pytest once.
                    "python3 -m pip install -e '.[dev]' pytest==8.3.3 'tomli==2.0.1; python_version < '\\''3.11'\\''' hypothesis ruff==0.6.9 'coverage[toml]==7.6.1'",
                    "pyproject.toml [dependency-groups] test; versions from uv.lock",
                ),
            ]
        );
        assert!(env
            .checks
            .iter()
            .any(|c| c.command == "ruff check --no-fix ."));
    }

    #[test]
    fn extras_are_pinned_from_poetry_lock_and_nothing_is_pinned_without_a_lockfile() {
        let pyproject = "[project]\nname = \"limiter\"\n[project.optional-dependencies]\ntest = [\"pytest>=7\"]\n";
        let locked = temp_repo(&[
            ("pyproject.toml", pyproject),
            (
                "poetry.lock",
                "[[package]]\nname = \"pytest\"\nversion = \"7.4.4\"\noptional = false\n\n[metadata]\nlock-version = \"2.0\"\n",
            ),
        ]);
        assert_eq!(
            detect_all(locked.path()).setup[1],
            Setup::new(
                "python3 -m pip install -e '.[test]' pytest==7.4.4",
                "pyproject.toml; versions from poetry.lock"
            )
        );
        let unlocked = temp_repo(&[("pyproject.toml", pyproject)]);
        assert_eq!(
            detect_all(unlocked.path()).setup[1],
            Setup::new("python3 -m pip install -e '.[test]'", "pyproject.toml")
        );
    }

    #[test]
    fn requirements_with_pytest_and_flake8_and_missing_tools_installed() {
        let dir = temp_repo(&[
            ("requirements.txt", "# pinned\nflask==3.0\nPytest>=7\n"),
            (
                "setup.cfg",
                "[flake8]\nmax-line-length = 100\n[mypy]\nfiles = app\n",
            ),
        ]);
        let env = detect_all(dir.path());
        assert_eq!(
            env.setup,
            vec![
                Setup::new(
                    VENV_SETUP,
                    "Deckhand (a virtual environment for the checks)"
                ),
                Setup::new(
                    "python3 -m pip install -r requirements.txt",
                    "requirements.txt"
                ),
                Setup::new(
                    "python3 -m pip install flake8 mypy",
                    "Deckhand: checks need flake8, mypy (not in the project's dependencies)"
                ),
            ]
        );
        assert_eq!(
            env.checks,
            vec![
                check(
                    CheckKind::Test,
                    "python3 -m pytest",
                    "pytest in the dependencies"
                ),
                check(CheckKind::Lint, "flake8", "setup.cfg [flake8]"),
                check(CheckKind::Typecheck, "mypy", "setup.cfg [mypy]"),
            ]
        );
    }
}
