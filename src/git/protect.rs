//! Keeps the user's own git dir as it was: the configuration and hooks of
//! the repository a task works in are recorded before the task and put back
//! after it, so a command cannot leave `core.fsmonitor`, `core.hooksPath` or
//! a hook behind for the user's next `git status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::GitError;

/// Files of the git dir that make git run programs.
const WATCHED_FILES: &[&str] = &["config", "config.worktree"];
const HOOKS_DIR: &str = "hooks";

/// The recorded state; [`GitDirSnapshot::restore`] puts it back.
#[derive(Debug)]
pub struct GitDirSnapshot {
    git_dir: PathBuf,
    /// Path (relative to the git dir) → content and mode; `None` when absent.
    files: BTreeMap<PathBuf, Option<(Vec<u8>, u32)>>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> GitError {
    move |source| GitError::Io { context, source }
}

fn read(path: &Path) -> Result<Option<(Vec<u8>, u32)>, GitError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("read {}", path.display()))(e)),
        Ok(m) if m.is_file() => Ok(Some((
            std::fs::read(path).map_err(io(format!("read {}", path.display())))?,
            m.permissions().mode() & 0o7777,
        ))),
        // A symlink or folder where a file belongs is recorded as a marker
        // that never equals a file, so it is replaced on restore.
        Ok(_) => Ok(Some((Vec::new(), u32::MAX))),
    }
}

fn hook_paths(git_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(git_dir.join(HOOKS_DIR))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| Path::new(HOOKS_DIR).join(e.file_name()))
                .collect()
        })
        .unwrap_or_default()
}

impl GitDirSnapshot {
    /// Records the configuration files and hooks of `git_dir`.
    pub fn take(git_dir: &Path) -> Result<GitDirSnapshot, GitError> {
        let mut files = BTreeMap::new();
        let paths = WATCHED_FILES
            .iter()
            .map(PathBuf::from)
            .chain(hook_paths(git_dir));
        for rel in paths {
            files.insert(rel.clone(), read(&git_dir.join(&rel))?);
        }
        Ok(GitDirSnapshot {
            git_dir: git_dir.to_path_buf(),
            files,
        })
    }

    /// Puts every recorded file back and removes hooks that were added.
    /// Returns the paths that had been changed.
    pub fn restore(&self) -> Result<Vec<String>, GitError> {
        use std::os::unix::fs::PermissionsExt;
        let mut changed = Vec::new();
        let mut paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        paths.extend(
            hook_paths(&self.git_dir)
                .into_iter()
                .filter(|p| !self.files.contains_key(p)),
        );
        for rel in paths {
            let path = self.git_dir.join(&rel);
            let want = self.files.get(&rel).cloned().flatten();
            let have = read(&path)?;
            if have == want {
                continue;
            }
            changed.push(rel.display().to_string());
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(_) => Ok(()),
            }
            .map_err(io(format!("remove {}", path.display())))?;
            if let Some((content, mode)) = want {
                std::fs::write(&path, content)
                    .map_err(io(format!("restore {}", path.display())))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(io(format!("restore {}", path.display())))?;
            }
        }
        if !changed.is_empty() {
            tracing::warn!(git_dir = %self.git_dir.display(), ?changed, "a command changed the repository's git configuration or hooks; restored");
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_hooks_come_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path();
        std::fs::create_dir_all(git.join("hooks")).unwrap();
        std::fs::write(git.join("config"), "[core]\n\tbare = false\n").unwrap();
        std::fs::write(git.join("hooks/pre-commit.sample"), "#!/bin/sh\n").unwrap();
        let snap = GitDirSnapshot::take(git).unwrap();
        std::fs::write(git.join("config"), "[core]\n\tfsmonitor = touch pwned\n").unwrap();
        std::fs::write(git.join("hooks/post-commit"), "#!/bin/sh\ntouch pwned\n").unwrap();
        std::fs::write(git.join("config.worktree"), "[core]\n\thooksPath = /x\n").unwrap();
        let changed = snap.restore().unwrap();
        assert_eq!(changed, ["config", "config.worktree", "hooks/post-commit"]);
        assert_eq!(
            std::fs::read_to_string(git.join("config")).unwrap(),
            "[core]\n\tbare = false\n"
        );
        assert!(!git.join("hooks/post-commit").exists());
        assert!(!git.join("config.worktree").exists());
        assert!(git.join("hooks/pre-commit.sample").exists());
        assert!(snap.restore().unwrap().is_empty());
    }
}
