//! Git and memory-branch work (clone, fetch, push and their backoff) run on
//! the blocking pool, so the async workers keep progress updates moving.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::git::remote::{self, Remote};
use crate::git::{GitError, LocalRepo};
use crate::memory::MemoryStore;

/// Runs `work` on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("git work stopped before it finished")?
}

/// Fetches `branch` into the clone at `dir`; its tip, if the remote has it.
pub async fn fetch(dir: PathBuf, remote: Remote, branch: String) -> anyhow::Result<Option<String>> {
    blocking(move || {
        Ok(remote::fetch_branch(
            &LocalRepo::open(&dir)?,
            &remote,
            &branch,
        )?)
    })
    .await
}

/// Pushes `branch` of the clone at `dir` (fast-forward only).
pub async fn push(dir: PathBuf, remote: Remote, branch: String) -> Result<(), PushError> {
    tokio::task::spawn_blocking(move || {
        remote::push_branch(&LocalRepo::open(&dir)?, &remote, &branch)
    })
    .await
    .map_err(|e| PushError::Stopped(e.to_string()))?
    .map_err(PushError::Git)
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("the push stopped before it finished: {0}")]
    Stopped(String),
}

/// Where the memory branch lives.
#[derive(Clone)]
pub struct MemoryAt {
    /// `owner/name` of the config repository (for messages).
    pub repo: String,
    pub remote: Remote,
    pub branch: String,
    pub cache: PathBuf,
}

impl MemoryAt {
    /// Opens (fetches) the store on the blocking pool, for the changes of
    /// `memory::edits`, which run their own git work off the async workers.
    pub async fn open(&self) -> anyhow::Result<MemoryStore> {
        let at = self.clone();
        blocking(move || Ok(MemoryStore::open(at.remote, &at.branch, &at.cache)?)).await
    }

    /// Opens the store and runs `work` on it, off the async workers.
    pub async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut MemoryStore) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let at = self.clone();
        blocking(move || {
            let mut store = MemoryStore::open(at.remote, &at.branch, &at.cache)?;
            work(&mut store)
        })
        .await
    }
}
