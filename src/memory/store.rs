//! The memory branch as a store: snapshots to read, and changes that land as one commit each without losing anyone's write.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use git2::{ErrorCode, Oid, Repository, Signature};
use rand::Rng;

use super::{tree, validate_path, MemoryError, README};
use crate::git::remote::{fetch_branch, push_branch, Remote};
use crate::git::{ctx, GitError, LocalRepo};

/// Attempts of a `write` that keeps losing the race to other writers.
const MAX_WRITE_ATTEMPTS: u32 = 5;
/// Attempts of an `update`: every round at least one writer wins, so this
/// is enough for a few dozen writers of the same branch at once.
const MAX_UPDATE_ATTEMPTS: u32 = 30;
/// First backoff after losing a race; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Where the memory branch lives.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A repository on this machine (bare or not): objects are written into
    /// it and the branch is moved with a compare-and-swap of the ref.
    Local(PathBuf),
    /// A hosted repository, read and written through a private bare clone
    /// at `cache`; pushes are fast-forward only.
    Remote { remote: Remote, cache: PathBuf },
}

/// Who a change is committed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// One commit's worth of change: path → `Some(content)` to write, `None`
/// to delete, and the message that says who changed what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub files: Vec<(String, Option<String>)>,
    pub message: String,
}

/// The memory branch as last fetched.
pub struct MemoryStore {
    repo: LocalRepo,
    origin: Origin,
    branch: String,
    tip: Option<Oid>,
}

/// A read-only view of one commit of the branch (what an `update` closure sees).
pub struct Snapshot<'a> {
    store: &'a MemoryStore,
}

/// What one attempt at publishing a commit found.
enum Published {
    Done,
    Moved(String),
}

impl Snapshot<'_> {
    pub fn read(&self, path: &str) -> Result<Option<String>, MemoryError> {
        self.store.read(path)
    }

    pub fn list(&self, dir: &str) -> Result<Vec<String>, MemoryError> {
        self.store.list(dir)
    }

    pub fn tip(&self) -> Option<String> {
        self.store.tip()
    }
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
        Self::open_origin(
            Origin::Remote {
                remote,
                cache: cache_dir.to_path_buf(),
            },
            branch,
        )
    }

    /// The branch of a repository on this machine, read and written in place.
    pub fn open_local(path: &Path, branch: &str) -> Result<MemoryStore, MemoryError> {
        Self::open_origin(Origin::Local(path.to_path_buf()), branch)
    }

    pub fn open_origin(origin: Origin, branch: &str) -> Result<MemoryStore, MemoryError> {
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(MemoryError::InvalidBranch(branch.to_string()));
        }
        let git_err = |source| MemoryError::Git {
            branch: branch.to_string(),
            source,
        };
        let repo = match &origin {
            Origin::Local(path) => LocalRepo::open(path).map_err(git_err)?,
            Origin::Remote { cache, .. } => {
                std::fs::create_dir_all(cache).map_err(|source| MemoryError::Io {
                    context: format!("create {}", cache.display()),
                    source,
                })?;
                if Repository::open_bare(cache).is_err() {
                    Repository::init_bare(cache)
                        .map_err(ctx(format!("init {}", cache.display())))
                        .map_err(git_err)?;
                }
                LocalRepo::open(cache).map_err(git_err)?
            }
        };
        let mut store = MemoryStore {
            repo,
            origin,
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

    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The git repository holding the branch's objects (for tree ids).
    pub fn raw(&self) -> &Repository {
        self.repo.raw()
    }

    /// A view of the last fetched commit.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot { store: self }
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

    fn refname(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// The root tree of the last fetched commit.
    pub fn tip_tree(&self) -> Result<Option<git2::Tree<'_>>, MemoryError> {
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
        self.tip = match &self.origin {
            Origin::Remote { remote, .. } => {
                let tip =
                    fetch_branch(&self.repo, remote, &self.branch).map_err(|e| self.err(e))?;
                tip.map(|t| Oid::from_str(&t))
                    .transpose()
                    .map_err(self.git("parse the fetched tip"))?
            }
            Origin::Local(_) => match self.repo.raw().find_reference(&self.refname()) {
                Ok(r) => r.target(),
                Err(e) if e.code() == ErrorCode::NotFound => None,
                Err(e) => return Err(self.git("read the memory branch")(e)),
            },
        };
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

    /// The tree at `dir` of the last fetched tip, when it is a directory.
    pub fn dir_tree(&self, dir: &str) -> Result<Option<git2::Tree<'_>>, MemoryError> {
        let dir = dir.trim_end_matches('/');
        if !dir.is_empty() {
            validate_path(dir)?;
        }
        let Some(root) = self.tip_tree()? else {
            return Ok(None);
        };
        if dir.is_empty() {
            return Ok(Some(root));
        }
        Ok(root
            .get_path(Path::new(dir))
            .ok()
            .and_then(|entry| self.repo.raw().find_tree(entry.id()).ok()))
    }

    /// The id of the tree at `dir` of the last fetched tip, when it is a
    /// directory, without reading that tree.
    pub fn dir_tree_id(&self, dir: &str) -> Result<Option<Oid>, MemoryError> {
        validate_path(dir)?;
        let Some(root) = self.tip_tree()? else {
            return Ok(None);
        };
        Ok(root
            .get_path(Path::new(dir))
            .ok()
            .filter(|entry| entry.kind() == Some(git2::ObjectType::Tree))
            .map(|entry| entry.id()))
    }

    /// Paths of all files under `dir` (recursively; `""` for the whole
    /// branch), sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, MemoryError> {
        let Some(tree) = self.dir_tree(dir)? else {
            return Ok(Vec::new());
        };
        let dir = dir.trim_end_matches('/');
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
    /// publishes it. When another writer got there first, re-fetches and
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
            match self.publish(commit)? {
                Published::Done => return Ok(()),
                Published::Moved(reason) => {
                    tracing::info!(branch = %self.branch, attempt, %reason, "memory branch moved; re-fetching and re-applying");
                    std::thread::sleep(backoff(attempt));
                    self.refresh()?;
                }
            }
        }
        Err(MemoryError::Contended {
            branch: self.branch.clone(),
            attempts: MAX_WRITE_ATTEMPTS,
        })
    }

    /// Runs `change` against a freshly fetched snapshot and publishes what
    /// it returns as one commit; when another writer moved the branch
    /// first, waits a jittered, growing while and runs `change` again on
    /// the new snapshot, so nothing anyone wrote is lost and history stays
    /// linear. `Ok(None)` from `change`, or a change that leaves the tree as
    /// it is, commits nothing. Git work runs on the blocking pool. Returns
    /// the new tip when something was committed.
    pub async fn update<F>(
        &mut self,
        author: Author,
        change: F,
    ) -> Result<Option<String>, MemoryError>
    where
        F: Fn(&Snapshot<'_>) -> Result<Option<Change>, MemoryError> + Send + Sync + 'static,
    {
        let change = Arc::new(change);
        for attempt in 1..=MAX_UPDATE_ATTEMPTS {
            let (origin, branch, author, change) = (
                self.origin.clone(),
                self.branch.clone(),
                author.clone(),
                Arc::clone(&change),
            );
            let outcome = tokio::task::spawn_blocking(move || {
                let mut store = MemoryStore::open_origin(origin, &branch)?;
                let result = store.attempt(&author, change.as_ref())?;
                Ok::<_, MemoryError>((store.tip, result))
            })
            .await
            .map_err(|e| MemoryError::Join(e.to_string()))??;
            match outcome {
                (tip, Attempt::Committed(id)) => {
                    self.tip = tip;
                    return Ok(Some(id.to_string()));
                }
                (tip, Attempt::Unchanged) => {
                    self.tip = tip;
                    return Ok(None);
                }
                (_, Attempt::Moved(reason)) => {
                    tracing::info!(branch = %self.branch, attempt, %reason, "memory branch moved; re-running the change on the new snapshot");
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Err(MemoryError::Contended {
            branch: self.branch.clone(),
            attempts: MAX_UPDATE_ATTEMPTS,
        })
    }

    /// One round of `update`: the change on this snapshot, committed and published.
    fn attempt<F>(&mut self, author: &Author, change: &F) -> Result<Attempt, MemoryError>
    where
        F: Fn(&Snapshot<'_>) -> Result<Option<Change>, MemoryError>,
    {
        let Some(change) = change(&self.snapshot())? else {
            return Ok(Attempt::Unchanged);
        };
        for (path, _) in &change.files {
            validate_path(path)?;
        }
        let Some(commit) = self.commit(
            &change.files,
            &change.message,
            (&author.name, &author.email),
        )?
        else {
            return Ok(Attempt::Unchanged);
        };
        Ok(match self.publish(commit)? {
            Published::Done => Attempt::Committed(commit),
            Published::Moved(reason) => Attempt::Moved(reason),
        })
    }

    /// Makes `commit` (a child of the last fetched tip) the branch's tip
    /// where the branch lives, unless someone else moved it first.
    fn publish(&mut self, commit: Oid) -> Result<Published, MemoryError> {
        let raw = self.repo.raw();
        let name = self.refname();
        match &self.origin {
            Origin::Local(_) => {
                // Compared under the ref's lock; the zero id means "must not
                // exist yet" (a plain create checks before locking, so two
                // creators could both win).
                let expected = self.tip.unwrap_or_else(Oid::zero);
                let moved = raw.reference_matching(&name, commit, true, expected, "memory update");
                match moved {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.code(),
                            ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
                        ) =>
                    {
                        return Ok(Published::Moved(e.message().to_string()));
                    }
                    Err(e) => return Err(self.git("move the memory branch")(e)),
                }
            }
            Origin::Remote { remote, .. } => {
                raw.reference(&name, commit, true, "memory write")
                    .map_err(self.git("update the memory branch"))?;
                match push_branch(&self.repo, remote, &self.branch) {
                    Ok(()) => {}
                    Err(GitError::RemoteBranchMoved { reason, .. }) => {
                        self.reset_local_branch()?;
                        return Ok(Published::Moved(reason));
                    }
                    Err(e) => {
                        // The local branch must not keep a commit the remote never got.
                        self.reset_local_branch()?;
                        return Err(self.err(e));
                    }
                }
            }
        }
        self.tip = Some(commit);
        tracing::info!(branch = %self.branch, sha = %commit, "memory written");
        Ok(Published::Done)
    }

    /// Commits `changes` on the last fetched tip (an orphan with a README
    /// when the branch does not exist yet); no ref moves. `None` when the
    /// tree would not change.
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
        Ok(Some(id))
    }

    /// Points the local branch back at the last fetched tip (or removes it).
    fn reset_local_branch(&self) -> Result<(), MemoryError> {
        let raw = self.repo.raw();
        let name = self.refname();
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

/// What one round of `update` did.
enum Attempt {
    Committed(Oid),
    Unchanged,
    Moved(String),
}

/// How long to wait after losing the `attempt`-th race: half of an
/// exponentially growing window, plus a random part of the other half.
fn backoff(attempt: u32) -> Duration {
    let window = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    let half = window / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author() -> Author {
        Author {
            name: "Tester".into(),
            email: "tester@example.com".into(),
        }
    }

    fn bare() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.git");
        Repository::init_bare(&path).unwrap();
        (dir, path)
    }

    fn history(path: &Path, branch: &str) -> Vec<(usize, String)> {
        let repo = Repository::open(path).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_ref(&format!("refs/heads/{branch}")).unwrap();
        walk.map(|id| {
            let c = repo.find_commit(id.unwrap()).unwrap();
            (c.parent_count(), c.summary().unwrap().to_string())
        })
        .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_of_one_file_lose_nothing() {
        let (_dir, path) = bare();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let mut store = MemoryStore::open_local(&path, "mem").unwrap();
                store
                    .update(author(), move |snap| {
                        let old = snap.read("counter")?.unwrap_or_default();
                        Ok(Some(Change {
                            files: vec![("counter".into(), Some(format!("{old}{i},")))],
                            message: format!("add {i}"),
                        }))
                    })
                    .await
                    .unwrap()
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let store = MemoryStore::open_local(&path, "mem").unwrap();
        let mut seen: Vec<u32> = store
            .read("counter")
            .unwrap()
            .unwrap()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        let log = history(&path, "mem");
        assert_eq!(log.len(), 8);
        assert_eq!(log.iter().filter(|(parents, _)| *parents > 1).count(), 0);
        assert_eq!(log.last().unwrap().0, 0, "the first commit is an orphan");
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_commits_nothing() {
        let (_dir, path) = bare();
        let mut store = MemoryStore::open_local(&path, "mem").unwrap();
        let first = store
            .update(author(), |_| {
                Ok(Some(Change {
                    files: vec![("a".into(), Some("x".into()))],
                    message: "a".into(),
                }))
            })
            .await
            .unwrap();
        assert!(first.is_some());
        assert_eq!(store.tip(), first);
        let again = store
            .update(author(), |_| {
                Ok(Some(Change {
                    files: vec![("a".into(), Some("x".into()))],
                    message: "a again".into(),
                }))
            })
            .await
            .unwrap();
        assert_eq!(again, None);
        let refused = store
            .update(author(), |_| {
                Err(MemoryError::Rejected("no such rule".into()))
            })
            .await;
        assert!(matches!(refused, Err(MemoryError::Rejected(m)) if m == "no such rule"));
        assert_eq!(history(&path, "mem").len(), 1);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) <= FIRST_BACKOFF * 2);
        assert!(backoff(30) <= MAX_BACKOFF && backoff(30) >= MAX_BACKOFF / 2);
    }
}
