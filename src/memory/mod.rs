//! The memory branch: learned rules and task checkpoints, one file per item, on a branch of a config repo, written concurrently-safe.

pub mod bm25;
mod cache;
pub mod catalog;
pub mod edits;
pub mod guard;
pub mod recall;
pub mod rules;
mod store;
mod tree;
pub mod usage;

pub use store::{Author, Change, MemoryStore, Origin, Snapshot};

use crate::git::GitError;

/// Default name of the memory branch.
pub const DEFAULT_BRANCH: &str = "deckhand/memory";
/// The README the branch is created with.
const README: &str =
    "# Deckhand memory\n\nWritten by Deckhand: learned rules (`rules/<id>.md`), their use \
(`usage/<task>.json`) and task checkpoints (`tasks/<owner>/<repo>/<id>/state.json`), one file per item. \
This branch has no common history with the code; \
do not merge it.\n";

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("memory branch {branch}: {source}")]
    Git {
        branch: String,
        #[source]
        source: GitError,
    },
    #[error("invalid memory path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("invalid memory branch name {0:?}")]
    InvalidBranch(String),
    #[error("memory branch {branch}: {path} is not UTF-8 text")]
    NotText { branch: String, path: String },
    #[error(
        "memory branch {branch}: other writers kept moving it; gave up after {attempts} attempts"
    )]
    Contended { branch: String, attempts: u32 },
    /// The change itself refused (a missing rule, a rule that fails the check).
    #[error("{0}")]
    Rejected(String),
    #[error("memory update task failed: {0}")]
    Join(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where a task's checkpoint lives on the memory branch:
/// `tasks/<owner>/<repo>/<id>/state.json`, so that tasks of different
/// repositories sharing one memory branch never share a key. `repo` is
/// `owner/name`.
pub fn checkpoint_path(repo: &str, task_id: &str) -> String {
    format!("tasks/{repo}/{task_id}/state.json")
}

/// Checks that `path` is a plain relative path inside the branch.
pub fn validate_path(path: &str) -> Result<(), MemoryError> {
    let invalid = |reason| {
        Err(MemoryError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("empty");
    }
    if path.starts_with('/') {
        return invalid("absolute");
    }
    if path.contains(['\\', '\0']) {
        return invalid("contains a backslash or NUL");
    }
    for part in path.split('/') {
        match part {
            "" => return invalid("empty component"),
            "." | ".." => return invalid("`.` or `..` component"),
            p if p.eq_ignore_ascii_case(".git") => return invalid("`.git` component"),
            _ => {}
        }
    }
    Ok(())
}
