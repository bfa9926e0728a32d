//! The unprivileged account agent commands run as when Deckhand itself runs
//! as root (the Docker action): commands must not reach the Docker socket
//! or change the runner, so they get an ordinary user, and the task's
//! worktree is handed to that user.

use std::path::{Path, PathBuf};

/// The account commands run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("command user `{0}` does not exist on this machine (see /etc/passwd)")]
    Unknown(String),
    #[error("cannot hand {path} to `{user}`: {source}")]
    Chown {
        path: String,
        user: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Looks `name` up in `/etc/passwd`.
pub fn lookup(name: &str) -> Option<CommandUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    parse_passwd(&passwd, name)
}

fn parse_passwd(passwd: &str, name: &str) -> Option<CommandUser> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[0] != name {
            return None;
        }
        Some(CommandUser {
            name: name.to_string(),
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: PathBuf::from(fields[5]),
        })
    })
}

/// The user to run commands as: the configured one, else `deckhand` when
/// this process is root and that account exists; `None` runs commands as
/// this process's own user.
pub fn choose(
    configured: Option<&str>,
    default_when_root: bool,
) -> Result<Option<CommandUser>, UserError> {
    match configured {
        Some(name) => lookup(name)
            .map(Some)
            .ok_or_else(|| UserError::Unknown(name.to_string())),
        None if default_when_root && is_root() => Ok(lookup("deckhand")),
        None => Ok(None),
    }
}

/// Gives every file under `root` (symlinks themselves, not their targets)
/// to `user`.
pub fn hand_over(root: &Path, user: &CommandUser) -> Result<(), UserError> {
    let err = |path: &Path, source| UserError::Chown {
        path: path.display().to_string(),
        user: user.name.clone(),
        source,
    };
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid))
            .map_err(|e| err(&path, e))?;
        let meta = std::fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| err(&path, e))? {
                stack.push(entry.map_err(|e| err(&path, e))?.path());
            }
        }
    }
    Ok(())
}

/// A home directory the user can write: theirs when it exists, else
/// `fallback` (created and handed over).
pub fn writable_home(user: &CommandUser, fallback: &Path) -> Result<PathBuf, UserError> {
    if user.home.is_dir() {
        return Ok(user.home.clone());
    }
    std::fs::create_dir_all(fallback).map_err(|source| UserError::Chown {
        path: fallback.display().to_string(),
        user: user.name.clone(),
        source,
    })?;
    hand_over(fallback, user)?;
    Ok(fallback.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\ndeckhand:x:1001:1001::/home/deckhand:/bin/sh\n";
        assert_eq!(
            parse_passwd(passwd, "deckhand"),
            Some(CommandUser {
                name: "deckhand".into(),
                uid: 1001,
                gid: 1001,
                home: "/home/deckhand".into()
            })
        );
        assert_eq!(parse_passwd(passwd, "nobody"), None);
    }

    #[test]
    fn unknown_configured_user_is_an_error() {
        let err = choose(Some("no-such-user-here"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no-such-user-here"), "{err}");
        assert_eq!(choose(None, false).unwrap(), None);
    }
}
