//! The memory branch: learnings and task checkpoints, one file per item, on a branch of a config repo, written concurrently-safe.

mod tree;

use std::path::Path;

use git2::{Oid, Repository, Signature};

use crate::git::remote::{fetch_branch, push_branch, Remote};
use crate::git::{ctx, GitError, LocalRepo};

/// Default name of the memory branch.
pub const DEFAULT_BRANCH: &str = "deckhand/memory";
/// Attempts of a write that keeps losing the race to other writers.
const MAX_WRITE_ATTEMPTS: u32 = 5;
/// The README the branch is created with.
const README: &str =
    "# Deckhand memory\n\nWritten by Deckhand: learned rules and task checkpoints \
(`tasks/<owner>/<repo>/<id>/state.json`), one file per item. This branch has no common history with the code; \
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
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The memory branch as last fetched, kept in a private bare repository.
pub struct MemoryStore {
    repo: LocalRepo,
    remote: Remote,
    branch: String,
    tip: Option<Oid>,
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

impl MemoryStore {
    /// Works in a private bare clone at `cache_dir` (e.g.
    /// `$RUNNER_TEMP/deckhand-memory`), created when missing, and fetches
    /// the branch. The branch itself is created on the first write when the
    /// remote has none.
    pub fn open(
        remote: Remote,
        branch: &str,
        cache_dir: &Path,
    ) -> Result<MemoryStore, MemoryError> {
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(MemoryError::InvalidBranch(branch.to_string()));
        }
        std::fs::create_dir_all(cache_dir).map_err(|source| MemoryError::Io {
            context: format!("create {}", cache_dir.display()),
            source,
        })?;
        let git_err = |source| MemoryError::Git {
            branch: branch.to_string(),
            source,
        };
        if Repository::open_bare(cache_dir).is_err() {
            Repository::init_bare(cache_dir)
                .map_err(ctx(format!("init {}", cache_dir.display())))
                .map_err(git_err)?;
        }
        let repo = LocalRepo::open(cache_dir).map_err(git_err)?;
        let mut store = MemoryStore {
            repo,
            remote,
            branch: branch.to_string(),
            tip: None,
        };
        store.refresh()?;
        Ok(store)
    }

    /// The branch's commit as last fetched; `None` before it exists.
    pub fn tip(&self) -> Option<String> {
        self.tip.map(|t| t.to_string())
    }

    fn err(&self, source: GitError) -> MemoryError {
        MemoryError::Git {
            branch: self.branch.clone(),
            source,
        }
    }

    fn git(&self, context: impl Into<String>) -> impl FnOnce(git2::Error) -> MemoryError + '_ {
        let context = context.into();
        move |e| self.err(ctx(context)(e))
    }

    fn tip_tree(&self) -> Result<Option<git2::Tree<'_>>, MemoryError> {
        let Some(tip) = self.tip else {
            return Ok(None);
        };
        self.repo
            .raw()
            .find_commit(tip)
            .and_then(|c| c.tree())
            .map(Some)
            .map_err(self.git("read the memory tree"))
    }

    /// Fetches the branch's current tip.
    pub fn refresh(&mut self) -> Result<(), MemoryError> {
        let tip = fetch_branch(&self.repo, &self.remote, &self.branch).map_err(|e| self.err(e))?;
        self.tip = tip
            .map(|t| Oid::from_str(&t))
            .transpose()
            .map_err(self.git("parse the fetched tip"))?;
        Ok(())
    }

    /// A file's content at the last fetched tip.
    pub fn read(&self, path: &str) -> Result<Option<String>, MemoryError> {
        validate_path(path)?;
        let Some(tree) = self.tip_tree()? else {
            return Ok(None);
        };
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let Ok(blob) = self.repo.raw().find_blob(entry.id()) else {
            return Ok(None); // a directory
        };
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| MemoryError::NotText {
                branch: self.branch.clone(),
                path: path.to_string(),
            })
    }

    /// Paths of all files under `dir` (recursively; `""` for the whole
    /// branch), sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, MemoryError> {
        let dir = dir.trim_end_matches('/');
        if !dir.is_empty() {
            validate_path(dir)?;
        }
        let Some(root) = self.tip_tree()? else {
            return Ok(Vec::new());
        };
        let tree = if dir.is_empty() {
            root
        } else {
            match root.get_path(Path::new(dir)) {
                Ok(entry) => match self.repo.raw().find_tree(entry.id()) {
                    Ok(tree) => tree,
                    Err(_) => return Ok(Vec::new()), // a file, not a directory
                },
                Err(_) => return Ok(Vec::new()),
            }
        };
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                if let Some(name) = entry.name() {
                    paths.push(format!("{prefix}{parent}{name}"));
                }
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(self.git("list the memory tree"))?;
        paths.sort();
        Ok(paths)
    }

    /// Applies `changes` (path → `Some(content)` to write, `None` to
    /// delete) as one commit with `message` on top of the remote tip and
    /// pushes it. When another writer got there first, re-fetches and
    /// re-applies (up to 5 attempts). Nothing is committed when the changes
    /// leave the tree as it is.
    pub fn write(
        &mut self,
        changes: &[(String, Option<String>)],
        message: &str,
        author: (&str, &str),
    ) -> Result<(), MemoryError> {
        for (path, _) in changes {
            validate_path(path)?;
        }
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let Some(commit) = self.commit(changes, message, author)? else {
                tracing::debug!(branch = %self.branch, "memory write changes nothing");
                return Ok(());
            };
            match push_branch(&self.repo, &self.remote, &self.branch) {
                Ok(()) => {
                    self.tip = Some(commit);
                    tracing::info!(branch = %self.branch, sha = %commit, "memory written");
                    return Ok(());
                }
                Err(GitError::RemoteBranchMoved { reason, .. }) => {
                    tracing::info!(branch = %self.branch, attempt, %reason, "memory branch moved; re-fetching and re-applying");
                    self.refresh()?;
                }
                Err(e) => {
                    // The local branch must not keep a commit the remote never got.
                    self.reset_local_branch()?;
                    return Err(self.err(e));
                }
            }
        }
        self.reset_local_branch()?;
        Err(MemoryError::Contended {
            branch: self.branch.clone(),
            attempts: MAX_WRITE_ATTEMPTS,
        })
    }

    /// Commits `changes` on the last fetched tip (an orphan with a README
    /// when the branch does not exist yet) and points the local branch at
    /// it. `None` when the tree would not change.
    fn commit(
        &self,
        changes: &[(String, Option<String>)],
        message: &str,
        author: (&str, &str),
    ) -> Result<Option<Oid>, MemoryError> {
        let raw = self.repo.raw();
        let base = self.tip_tree()?;
        let mut edits: Vec<(&str, Option<&[u8]>)> = Vec::new();
        if base.is_none() && !changes.iter().any(|(p, _)| p == "README.md") {
            edits.push(("README.md", Some(README.as_bytes())));
        }
        edits.extend(
            changes
                .iter()
                .map(|(path, content)| (path.as_str(), content.as_deref().map(str::as_bytes))),
        );
        let tree_id =
            tree::apply(raw, base.as_ref(), &edits).map_err(self.git("build the memory tree"))?;
        if base.as_ref().map(|t| t.id()) == Some(tree_id) {
            return Ok(None);
        }
        let tree = raw
            .find_tree(tree_id)
            .map_err(self.git("find the memory tree"))?;
        let sig = Signature::now(author.0, author.1).map_err(self.git("author signature"))?;
        let parent = self
            .tip
            .map(|t| raw.find_commit(t))
            .transpose()
            .map_err(self.git("find the memory tip"))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = raw
            .commit(None, &sig, &sig, message, &tree, &parents)
            .map_err(self.git("commit to memory"))?;
        raw.reference(
            &format!("refs/heads/{}", self.branch),
            id,
            true,
            "memory write",
        )
        .map_err(self.git("update the memory branch"))?;
        Ok(Some(id))
    }

    /// Points the local branch back at the last fetched tip (or removes it).
    fn reset_local_branch(&self) -> Result<(), MemoryError> {
        let raw = self.repo.raw();
        let name = format!("refs/heads/{}", self.branch);
        match self.tip {
            Some(tip) => raw
                .reference(&name, tip, true, "memory reset")
                .map(|_| ())
                .map_err(self.git("reset the memory branch")),
            None => match raw.find_reference(&name) {
                Ok(mut r) => r.delete().map_err(self.git("delete the memory branch")),
                Err(_) => Ok(()),
            },
        }
    }
}
