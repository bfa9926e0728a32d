//! Python lockfiles (`uv.lock`, `poetry.lock`, `pdm.lock`): the version of
//! each package they lock, and requirements pinned to it.

use std::collections::BTreeMap;
use std::path::Path;

use super::read;

/// Lockfiles whose `[[package]]` tables give each package's version, in
/// the order they are read.
const LOCKFILES: [&str; 3] = ["uv.lock", "poetry.lock", "pdm.lock"];

/// The versions a repository's lockfiles lock, by normalised name.
#[derive(Debug, Default)]
pub(super) struct Locked {
    /// Name → (lockfile, versions it locks: more than one where the lock
    /// resolves differently per Python version or platform).
    packages: BTreeMap<String, (String, Vec<String>)>,
}

/// A distribution name normalised the way PyPI compares them (PEP 503):
/// `Typing_Extensions` and `typing.extensions` are `typing-extensions`.
pub(super) fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

impl Locked {
    /// Every lockfile at the root of `root`; one that is not valid TOML is
    /// skipped with a warning. The first lockfile to lock a name wins.
    pub(super) fn read(root: &Path) -> Locked {
        let mut locked = Locked::default();
        for file in LOCKFILES {
            if let Some(text) = read(root, file) {
                locked.add(file, &text);
            }
        }
        locked
    }

    fn add(&mut self, file: &str, text: &str) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(file, error = %e, "lockfile is not valid TOML; its versions are not used");
                return;
            }
        };
        let packages = table.get("package").and_then(|p| p.as_array());
        for package in packages.into_iter().flatten() {
            let field = |k: &str| package.get(k).and_then(|v| v.as_str());
            let (Some(name), Some(version)) = (field("name"), field("version")) else {
                continue;
            };
            let (from, versions) = self
                .packages
                .entry(normalise(name))
                .or_insert_with(|| (file.to_string(), Vec::new()));
            if from == file && !versions.iter().any(|v| v == version) {
                versions.push(version.to_string());
            }
        }
    }

    /// Each package the lock has one version of, as a pip specifier
    /// (`ruff==0.6.9`), with its lockfile.
    pub(super) fn specifiers(&self) -> Vec<(String, String)> {
        self.packages
            .iter()
            .filter_map(|(name, (file, versions))| match versions.as_slice() {
                [version] => Some((format!("{name}=={version}"), file.clone())),
                _ => None,
            })
            .collect()
    }

    /// `requirement` pinned to the one version the lockfile locks for it,
    /// keeping its extras and environment marker (`pytest[cov]>=8 ;
    /// python_version >= "3.9"` → `pytest[cov]==8.3.3; python_version >=
    /// "3.9"`), with the lockfile's name. `None` where nothing locks it,
    /// the lock has several versions of it, or the requirement is a URL or
    /// path.
    pub(super) fn pin(&self, requirement: &str) -> Option<(String, &str)> {
        let (spec, marker) = match requirement.split_once(';') {
            Some((spec, marker)) => (spec.trim(), Some(marker.trim())),
            None => (requirement.trim(), None),
        };
        if spec.contains('@') || spec.contains("://") {
            return None;
        }
        let name_end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..name_end];
        if name.is_empty() {
            return None;
        }
        let rest = spec[name_end..].trim_start();
        let extras = match rest.strip_prefix('[') {
            Some(inner) => format!("[{}]", inner.split(']').next()?.trim()),
            None => String::new(),
        };
        let (file, versions) = self.packages.get(&normalise(name))?;
        let [version] = versions.as_slice() else {
            return None;
        };
        let pinned = match marker {
            Some(m) if !m.is_empty() => format!("{name}{extras}=={version}; {m}"),
            _ => format!("{name}{extras}=={version}"),
        };
        Some((pinned, file))
    }
}

/// A `uv.lock` locking `packages` (name, version) from the package index.
#[cfg(test)]
pub(super) fn uv_lock(packages: &[(&str, &str)]) -> String {
    let mut out = "version = 1\nrequires-python = \">=3.9\"\n".to_string();
    for (name, version) in packages {
        out.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo;

    #[test]
    fn pins_keep_extras_and_markers_and_skip_what_is_ambiguous_or_unlocked() {
        let lock = uv_lock(&[
            ("pytest", "8.3.3"),
            ("typing-extensions", "4.12.2"),
            // Resolved once per Python version.
            ("numpy", "2.0.2"),
            ("numpy", "2.2.0"),
        ]);
        let dir = temp_repo(&[("uv.lock", lock.as_str())]);
        let locked = Locked::read(dir.path());
        assert_eq!(
            locked.pin("pytest>=8"),
            Some(("pytest==8.3.3".to_string(), "uv.lock"))
        );
        assert_eq!(
            locked.pin("pytest[cov] >=8 ; python_version >= '3.9'"),
            Some((
                "pytest[cov]==8.3.3; python_version >= '3.9'".to_string(),
                "uv.lock"
            ))
        );
        // Names compare normalised.
        assert_eq!(
            locked.pin("Typing_Extensions"),
            Some(("Typing_Extensions==4.12.2".to_string(), "uv.lock"))
        );
        // Two versions, one per Python: which one is the resolver's to say.
        assert_eq!(locked.pin("numpy"), None);
        assert!(!locked
            .specifiers()
            .iter()
            .any(|(s, _)| s.starts_with("numpy")));
        assert_eq!(locked.pin("ruff"), None);
        assert_eq!(
            locked.pin("mylib @ https://example.invalid/mylib.zip"),
            None
        );
    }

    #[test]
    fn poetry_and_pdm_locks_are_read_and_the_first_lockfile_wins() {
        let dir = temp_repo(&[
            (
                "poetry.lock",
                "[[package]]\nname = \"ruff\"\nversion = \"0.6.9\"\ndescription = \"\"\noptional = false\n\n[[package]]\nname = \"mypy\"\nversion = \"1.11.2\"\n\n[metadata]\nlock-version = \"2.0\"\n",
            ),
            (
                "pdm.lock",
                "[metadata]\ngroups = [\"default\", \"lint\"]\n\n[[package]]\nname = \"ruff\"\nversion = \"0.5.0\"\n\n[[package]]\nname = \"black\"\nversion = \"24.8.0\"\n",
            ),
        ]);
        let locked = Locked::read(dir.path());
        assert_eq!(
            locked.pin("ruff"),
            Some(("ruff==0.6.9".to_string(), "poetry.lock"))
        );
        assert_eq!(
            locked.pin("black>=24"),
            Some(("black==24.8.0".to_string(), "pdm.lock"))
        );
    }

    #[test]
    fn a_lockfile_that_is_not_toml_locks_nothing() {
        let dir = temp_repo(&[("uv.lock", "[[package]\nname = ")]);
        assert_eq!(Locked::read(dir.path()).pin("pytest"), None);
        assert!(Locked::read(dir.path()).specifiers().is_empty());
    }
}
