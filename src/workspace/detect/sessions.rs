//! Python task runners' environments (tox envs, nox sessions) as the
//! commands they run, so verify runs those commands itself in its virtual
//! environment and the report shows them.

use std::path::Path;

use super::classify::{classify, program, Role};
use super::{nox, tox, CheckKind};

/// One tox env or nox session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    pub name: String,
    /// `tox.ini [testenv:lint]`, `noxfile.py session lint`,
    /// `pyproject.toml [tool.tox] legacy_tox_ini [testenv:lint]`.
    pub source: String,
    /// pip arguments it installs (`pytest`, `-r requirements.txt`, `-e .[test]`).
    pub install: Vec<String>,
    pub commands: Vec<String>,
    /// Commands left out and why.
    pub notes: Vec<String>,
}

/// The runner's environments and which of them run by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Runner {
    pub sessions: Vec<Session>,
    pub default: Vec<String>,
}

impl Runner {
    fn get(&self, name: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.name == name)
    }
}

/// tox and nox, as the repository defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Runners {
    pub tox: Option<Runner>,
    pub nox: Option<Runner>,
}

pub(super) fn read(root: &Path) -> Runners {
    Runners {
        tox: match super::read(root, "tox.ini") {
            Some(text) => Some(tox::parse("tox.ini", &text)),
            None => super::read(root, "pyproject.toml")
                .and_then(|t| tox::legacy_ini(&t))
                .map(|ini| tox::parse(tox::PYPROJECT_INI, &ini)),
        },
        nox: super::read(root, "noxfile.py").map(|t| nox::parse(&t)),
    }
}

/// The sessions a command line runs: `tox -e a,b`, `nox -s a`, `tox` (its
/// envlist), `nox` (its default sessions). `None` when it is neither, or
/// names nothing the repository defines.
pub(super) fn selected<'a>(runners: &'a Runners, command: &str) -> Option<Vec<&'a Session>> {
    let words = program(command);
    let (runner, flags): (&Runner, &[&str]) = match words.first().copied()? {
        "tox" => (runners.tox.as_ref()?, &["-e", "--env"]),
        "nox" => (runners.nox.as_ref()?, &["-s", "--session", "--sessions"]),
        _ => return None,
    };
    let mut names: Vec<String> = Vec::new();
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if flags.contains(w) {
            names.extend(it.next()?.split(',').map(str::to_string));
        } else if let Some((flag, value)) = w.split_once('=') {
            if flags.contains(&flag) {
                names.extend(value.split(',').map(str::to_string));
            }
        } else if *w == "run" || w.starts_with('-') {
            continue;
        } else {
            // Positional arguments (nox's `-- args`, tox's `run`): unknown.
            return None;
        }
    }
    if names.is_empty() {
        names = runner.default.clone();
    }
    names
        .iter()
        .map(|n| runner.get(n.trim()))
        .collect::<Option<Vec<_>>>()
        .filter(|s| !s.is_empty())
}

/// What a session's command is for: its own kind when it is a check,
/// else the session's (by name; a test runner's sessions test).
pub(super) fn kind_of(command: &str, session: &str) -> Option<CheckKind> {
    match classify(command) {
        Role::Check(kind) => Some(kind),
        Role::Setup(_) | Role::Privileged | Role::PreCommit => None,
        Role::Other => Some(super::classify::kind_of_name(session).unwrap_or(CheckKind::Test)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str) -> Session {
        Session {
            name: name.into(),
            source: format!("tox.ini [testenv:{name}]"),
            install: Vec::new(),
            commands: vec![format!("run {name}")],
            notes: Vec::new(),
        }
    }

    #[test]
    fn commands_select_sessions() {
        let runners = Runners {
            tox: Some(Runner {
                sessions: vec![session("py"), session("lint"), session("type")],
                default: vec!["py".into(), "lint".into()],
            }),
            nox: None,
        };
        let names = |c: &str| {
            selected(&runners, c).map(|s| s.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(
            names("tox -e lint,type"),
            Some(vec!["lint".into(), "type".into()])
        );
        assert_eq!(names("python -m tox -e type"), Some(vec!["type".into()]));
        assert_eq!(names("tox"), Some(vec!["py".into(), "lint".into()]));
        assert_eq!(names("tox run --env=lint"), Some(vec!["lint".into()]));
        assert_eq!(names("tox -e docs"), None);
        assert_eq!(names("nox -s tests"), None);
        assert_eq!(names("pytest"), None);
        assert_eq!(
            kind_of("ruff check --no-fix .", "lint"),
            Some(CheckKind::Lint)
        );
        assert_eq!(
            kind_of("coverage run -m pytest", "py"),
            Some(CheckKind::Test)
        );
        assert_eq!(
            kind_of("python scripts/check_types.py", "typing"),
            Some(CheckKind::Typecheck)
        );
        assert_eq!(kind_of("pip install -e .", "py"), None);
    }
}
