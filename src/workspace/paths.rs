//! Path confinement: turns a path the model gave into a path inside the
//! workspace, refusing `..` escapes, absolute paths and symlinks that lead
//! outside.

use std::path::{Component, Path, PathBuf};

/// Why a path was refused. Every variant is for the model: it can retry
/// with a path inside the workspace.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("`{0}` is an absolute path; use a path relative to the repository root")]
    Absolute(String),
    #[error("`{0}` leads outside the repository")]
    Escapes(String),
    #[error("`{path}` goes through a symlink that points outside the repository")]
    SymlinkOutside { path: String },
    #[error("`{path}`: {message}")]
    Io { path: String, message: String },
}

/// The confined checkout. `root` is canonical (no symlinks, absolute).
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    /// Files Deckhand creates are given to this uid/gid (the unprivileged
    /// command user), so the repository's own commands can change them.
    owner: Option<(u32, u32)>,
}

impl Workspace {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(Workspace {
            root: root.canonicalize()?,
            owner: None,
        })
    }

    /// A workspace at `dir/name`, which need not exist yet (it is being
    /// checked out); `dir` must.
    pub fn planned(dir: &Path, name: &str) -> std::io::Result<Self> {
        Ok(Workspace {
            root: dir.canonicalize()?.join(name),
            owner: None,
        })
    }

    /// The same workspace, giving what Deckhand writes to `uid`/`gid`.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }

    /// Who new files and folders are given to, if anyone.
    pub fn owner(&self) -> Option<(u32, u32)> {
        self.owner
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path for `path` (relative to the root), which may not
    /// exist yet. Every existing ancestor is resolved through symlinks and
    /// must stay inside the root.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, PathError> {
        let given = Path::new(path);
        if given.is_absolute() || path.starts_with('~') {
            return Err(PathError::Absolute(path.to_string()));
        }
        let mut lexical = self.root.clone();
        for component in given.components() {
            match component {
                Component::Normal(part) => lexical.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !lexical.pop() || !lexical.starts_with(&self.root) {
                        return Err(PathError::Escapes(path.to_string()));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Absolute(path.to_string()))
                }
            }
        }
        if !lexical.starts_with(&self.root) {
            return Err(PathError::Escapes(path.to_string()));
        }
        // Resolve the longest existing ancestor through symlinks.
        let mut existing = lexical.as_path();
        let mut missing: Vec<&std::ffi::OsStr> = Vec::new();
        loop {
            if existing.symlink_metadata().is_ok() {
                break;
            }
            match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    missing.push(name);
                    existing = parent;
                }
                _ => return Err(PathError::Escapes(path.to_string())),
            }
        }
        let mut real = match existing.canonicalize() {
            Ok(real) => real,
            // A dangling symlink: where it points is unknown, refuse it.
            Err(_)
                if existing
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                return Err(PathError::SymlinkOutside {
                    path: path.to_string(),
                })
            }
            Err(e) => {
                return Err(PathError::Io {
                    path: path.to_string(),
                    message: e.to_string(),
                })
            }
        };
        if !real.starts_with(&self.root) {
            return Err(PathError::SymlinkOutside {
                path: path.to_string(),
            });
        }
        for name in missing.into_iter().rev() {
            real.push(name);
        }
        Ok(real)
    }

    /// `abs` shown relative to the root, with `/` separators.
    pub fn relative(&self, abs: &Path) -> String {
        let rel = abs.strip_prefix(&self.root).unwrap_or(abs);
        let s = rel.to_string_lossy().replace('\\', "/");
        if s.is_empty() {
            ".".to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo/src")).unwrap();
        std::fs::write(dir.path().join("repo/src/a.js"), "x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        let ws = Workspace::open(&dir.path().join("repo")).unwrap();
        (dir, ws)
    }

    #[test]
    fn resolves_inside_paths_existing_or_not() {
        let (_d, ws) = ws();
        assert_eq!(ws.resolve("src/a.js").unwrap(), ws.root().join("src/a.js"));
        assert_eq!(
            ws.resolve("./src/../src/new/b.js").unwrap(),
            ws.root().join("src/new/b.js")
        );
        assert_eq!(ws.resolve(".").unwrap(), ws.root());
    }

    #[test]
    fn refuses_parent_escapes_and_absolute_paths() {
        let (_d, ws) = ws();
        assert_eq!(
            ws.resolve("../secret.txt"),
            Err(PathError::Escapes("../secret.txt".into()))
        );
        assert_eq!(
            ws.resolve("src/../../secret.txt"),
            Err(PathError::Escapes("src/../../secret.txt".into()))
        );
        assert_eq!(
            ws.resolve("/etc/passwd"),
            Err(PathError::Absolute("/etc/passwd".into()))
        );
    }

    #[test]
    fn refuses_symlinks_that_lead_outside() {
        let (d, ws) = ws();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), ws.root().join("link")).unwrap();
        std::os::unix::fs::symlink(d.path(), ws.root().join("up")).unwrap();
        std::os::unix::fs::symlink(ws.root().join("src"), ws.root().join("inner")).unwrap();
        assert!(matches!(
            ws.resolve("link"),
            Err(PathError::SymlinkOutside { .. })
        ));
        assert!(matches!(
            ws.resolve("up/new.txt"),
            Err(PathError::SymlinkOutside { .. })
        ));
        assert_eq!(
            ws.resolve("inner/a.js").unwrap(),
            ws.root().join("src/a.js")
        );
    }
}
