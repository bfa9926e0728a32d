//! Before the first model call: can the command user reach the worktree
//! and run the repository's toolchain? Says which path and which user when
//! not, instead of letting every command fail with `Permission denied`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::sandbox::user::CommandUser;

/// Why the command user cannot work in the worktree.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("the command user `{user}` (uid {uid}) cannot enter {path} (mode {mode:04o}, owner uid {owner}), so no command can run in the task's worktree under it; make it traversable (e.g. `chmod o+x {path}`), put the repository elsewhere, or set another `command_user`")]
    Enter {
        user: String,
        uid: u32,
        path: String,
        mode: u32,
        owner: u32,
    },
    #[error("the command user `{user}` (uid {uid}) cannot execute {path} (mode {mode:04o}, owner uid {owner}), needed for `{command}`; make it executable for that user or set another `command_user`")]
    Execute {
        user: String,
        uid: u32,
        path: String,
        mode: u32,
        owner: u32,
        command: String,
    },
}

/// The supplementary groups of `user` from `/etc/group`.
fn groups_of(user: &CommandUser) -> Vec<u32> {
    let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (_, _, gid, members) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            members
                .split(',')
                .any(|m| m.trim() == user.name)
                .then(|| gid.parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether `user` has permission `bit` (1 = execute/search) on a file with
/// `meta`, by the owner, group and other bits.
fn allowed(meta: &std::fs::Metadata, user: &CommandUser, groups: &[u32], bit: u32) -> bool {
    if user.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    if meta.uid() == user.uid {
        return mode & (bit << 6) != 0;
    }
    if meta.gid() == user.gid || groups.contains(&meta.gid()) {
        return mode & (bit << 3) != 0;
    }
    mode & bit != 0
}

/// Every directory from `/` down to `dir` must be enterable by `user`.
pub fn check_reach(dir: &Path, user: &CommandUser) -> Result<(), PreflightError> {
    let groups = groups_of(user);
    for ancestor in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        if meta.is_dir() && !allowed(&meta, user, &groups, 1) {
            return Err(PreflightError::Enter {
                user: user.name.clone(),
                uid: user.uid,
                path: ancestor.display().to_string(),
                mode: meta.mode() & 0o7777,
                owner: meta.uid(),
            });
        }
    }
    Ok(())
}

/// The program a check command starts (its first word), found on `path`.
fn resolve(command: &str, path: &str) -> Option<PathBuf> {
    let program = command.split_whitespace().next()?;
    if program.contains('/') {
        return None; // relative to the worktree, which the user will own
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The programs the checks start must be executable by `user`.
pub fn check_toolchain(
    commands: &[String],
    path: &str,
    user: &CommandUser,
) -> Result<(), PreflightError> {
    let groups = groups_of(user);
    for command in commands {
        let Some(program) = resolve(command, path) else {
            continue;
        };
        if let Some(dir) = program.parent() {
            check_reach(dir, user)?;
        }
        let Ok(meta) = std::fs::metadata(&program) else {
            continue;
        };
        if !allowed(&meta, user, &groups, 1) {
            return Err(PreflightError::Execute {
                user: user.name.clone(),
                uid: user.uid,
                path: program.display().to_string(),
                mode: meta.mode() & 0o7777,
                owner: meta.uid(),
                command: command.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn stranger() -> CommandUser {
        CommandUser {
            name: "stranger-no-such-user".into(),
            uid: 4_000_000_001,
            gid: 4_000_000_001,
            home: "/nonexistent".into(),
        }
    }

    #[test]
    fn a_closed_parent_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("closed");
        let inner = closed.join("repo/.git/deckhand/dh-1");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_reach(&inner, &stranger()).unwrap_err().to_string();
        assert!(err.contains(&closed.display().to_string()), "{err}");
        assert!(err.contains("stranger-no-such-user"), "{err}");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
        check_reach(&inner, &stranger()).unwrap();
    }

    #[test]
    fn a_toolchain_the_user_cannot_execute_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let tool = dir.path().join("npm");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().display().to_string();
        let err = check_toolchain(&["npm test".into()], &path, &stranger())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&tool.display().to_string()) && err.contains("`npm test`"),
            "{err}"
        );
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_toolchain(&["npm test".into()], &path, &stranger()).unwrap();
    }
}
