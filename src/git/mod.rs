//! Local git work with git2: the task's worktree and branch, commits, and
//! the diff of what a task changed. The user's own branch and work tree are
//! never touched.

pub mod guard;
pub mod protect;
pub mod remote;
pub mod tls;

use std::path::{Path, PathBuf};

use git2::{BranchType, DiffOptions, IndexAddOption, Repository, Signature, WorktreeAddOptions};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not a git repository: {message}")]
    NotARepo { path: String, message: String },
    #[error("{path}: the repository has no commits yet; commit something first")]
    NoCommits { path: String },
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "authentication to {url} failed: the token is missing, wrong or lacks access ({message})"
    )]
    Auth { url: String, message: String },
    #[error("{context} ({url}): {message}")]
    Network {
        context: String,
        url: String,
        message: String,
    },
    #[error("the remote branch {branch} moved (someone else pushed to it); Deckhand does not overwrite a branch it did not create: fetch it and re-apply the change ({reason})")]
    RemoteBranchMoved { branch: String, reason: String },
    #[error("the remote rejected the push of {branch}: {reason}")]
    PushRejected { branch: String, reason: String },
}

pub(crate) fn ctx(context: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Git { context, source }
}

/// The user's repository.
pub struct LocalRepo {
    repo: Repository,
    workdir: PathBuf,
}

impl LocalRepo {
    pub fn open(dir: &Path) -> Result<LocalRepo, GitError> {
        let repo = Repository::open(dir).map_err(|e| GitError::NotARepo {
            path: dir.display().to_string(),
            message: e.message().to_string(),
        })?;
        let workdir = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.to_path_buf());
        Ok(LocalRepo { repo, workdir })
    }

    /// The underlying git2 repository (remotes, the memory store's trees).
    pub fn raw(&self) -> &Repository {
        &self.repo
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// `.git/deckhand/<id>/`: the task's state, PR text and worktree.
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.repo.commondir().join("deckhand").join(id)
    }

    /// The repository's own git dir (shared by its worktrees).
    pub fn common_dir(&self) -> &Path {
        self.repo.commondir()
    }

    /// The commit a revision (branch, tag, sha) points at.
    pub fn resolve_commit(&self, rev: &str) -> Result<String, GitError> {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id().to_string())
            .map_err(ctx(format!("find {rev}")))
    }

    /// The newest commit both revisions descend from: what a branch's
    /// changes are measured against (its base branch may have moved on).
    pub fn merge_base(&self, a: &str, b: &str) -> Result<String, GitError> {
        let oid = |rev: &str| {
            self.repo
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map(|c| c.id())
                .map_err(ctx(format!("find {rev}")))
        };
        let (a, b) = (oid(a)?, oid(b)?);
        self.repo
            .merge_base(a, b)
            .map(|o| o.to_string())
            .map_err(ctx(format!("find the merge-base of {a} and {b}")))
    }

    /// Whether the work tree has changes git would commit (ignored files
    /// aside).
    pub fn has_uncommitted_changes(&self) -> bool {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).include_ignored(false);
        self.repo
            .statuses(Some(&mut opts))
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    }

    pub fn branch_exists(&self, name: &str) -> bool {
        self.repo.find_branch(name, BranchType::Local).is_ok()
    }

    /// A name for the repo: `owner/name` from the `origin` remote when it
    /// has one, else the directory name.
    pub fn display_name(&self) -> String {
        if let Some(url) = self
            .repo
            .find_remote("origin")
            .ok()
            .and_then(|r| r.url().map(str::to_string))
        {
            let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
            let parts: Vec<&str> = trimmed.rsplit(['/', ':']).take(2).collect();
            if parts.len() == 2 && !parts[0].is_empty() && !parts[1].is_empty() {
                return format!("{}/{}", parts[1], parts[0]);
            }
        }
        self.workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into())
    }

    /// Creates branch `branch` at HEAD and checks it out in a new worktree
    /// at `path`. Returns the base commit id.
    pub fn add_worktree(&self, name: &str, branch: &str, path: &Path) -> Result<String, GitError> {
        self.add_worktree_from(name, branch, path, None)
    }

    /// Like [`LocalRepo::add_worktree`], starting from `start` (a local
    /// branch name or a commit) instead of HEAD.
    pub fn add_worktree_from(
        &self,
        name: &str,
        branch: &str,
        path: &Path,
        start: Option<&str>,
    ) -> Result<String, GitError> {
        let base = self.create_branch(branch, start)?;
        self.attach_worktree(name, branch, path)?;
        Ok(base)
    }

    /// Creates branch `branch` at `start` (a branch name or commit; HEAD
    /// when `None`) without checking it out. Returns the commit id.
    pub fn create_branch(&self, branch: &str, start: Option<&str>) -> Result<String, GitError> {
        let no_commits = || GitError::NoCommits {
            path: self.workdir.display().to_string(),
        };
        let commit = match start {
            Some(start) => self
                .repo
                .revparse_single(start)
                .and_then(|o| o.peel_to_commit())
                .map_err(ctx(format!("find start point {start}")))?,
            None => self
                .repo
                .head()
                .map_err(|_| no_commits())?
                .peel_to_commit()
                .map_err(|_| no_commits())?,
        };
        self.repo
            .branch(branch, &commit, false)
            .map_err(ctx(format!("create branch {branch}")))?;
        Ok(commit.id().to_string())
    }

    /// Checks out the existing branch `branch` in a new worktree at `path`
    /// (a task resumed after its worktree was removed, or in a new job).
    pub fn attach_worktree(&self, name: &str, branch: &str, path: &Path) -> Result<(), GitError> {
        let reference = self
            .repo
            .find_branch(branch, BranchType::Local)
            .map_err(ctx(format!("find branch {branch}")))?
            .into_reference();
        // A stale entry from an earlier job blocks a new one of that name.
        self.prune_worktree_entry(name)?;
        self.check_out_worktree(name, &reference, path)
    }

    /// Removes the worktree's files and its administrative entry; the branch
    /// stays.
    pub fn remove_worktree(&self, name: &str, path: &Path) -> Result<(), GitError> {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|source| GitError::Io {
                context: format!("remove {}", path.display()),
                source,
            })?;
        }
        self.prune_worktree_entry(name)
    }

    /// Checks `reference` out in a new worktree `name` at `path`, creating
    /// the parent directories.
    fn check_out_worktree(
        &self,
        name: &str,
        reference: &git2::Reference<'_>,
        path: &Path,
    ) -> Result<(), GitError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GitError::Io {
                context: format!("create {}", parent.display()),
                source,
            })?;
        }
        let mut opts = WorktreeAddOptions::new();
        opts.reference(Some(reference));
        self.repo
            .worktree(name, path, Some(&opts))
            .map_err(ctx(format!("add worktree {}", path.display())))?;
        // In the form the guard checks, so only a command's change warns.
        guard::settle(path)
    }

    /// Drops the administrative entry of worktree `name` (and its files),
    /// if there is one.
    fn prune_worktree_entry(&self, name: &str) -> Result<(), GitError> {
        if let Ok(wt) = self.repo.find_worktree(name) {
            // The entry only: its `gitdir` file is the command user's to
            // write, so the working tree it names is never deleted from
            // here (remove_worktree removes Deckhand's own path).
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(true).locked(true).working_tree(false);
            wt.prune(Some(&mut opts))
                .map_err(ctx(format!("prune worktree {name}")))?;
        }
        Ok(())
    }
}

/// One file a task changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileChange {
    pub path: String,
    /// `added`, `modified`, `deleted`, `renamed`.
    pub status: String,
    pub insertions: usize,
    pub deletions: usize,
}

/// Makes git2 read no configuration of the user's or the machine's
/// (global, XDG, system): Deckhand's git is its own, whatever a command
/// writes into `$HOME/.gitconfig`. Call once, before any repository is
/// opened: it also initialises libgit2 with the CA bundle deferred to the
/// first network operation (`tls`).
pub fn isolate_config() -> Result<(), GitError> {
    tls::init_lazily();
    for level in [
        git2::ConfigLevel::System,
        git2::ConfigLevel::XDG,
        git2::ConfigLevel::Global,
        git2::ConfigLevel::ProgramData,
    ] {
        // SAFETY: called at start-up, before any other thread uses libgit2.
        unsafe { git2::opts::set_search_path(level, "") }
            .map_err(ctx("clear git's configuration search path"))?;
    }
    Ok(())
}

/// Commits everything in the task's worktree (honouring .gitignore) on its
/// branch `branch`. Returns the new commit id, or `None` when nothing changed.
pub fn commit_all(
    worktree: &Path,
    branch: &str,
    author: (&str, &str),
    message: &str,
) -> Result<Option<String>, GitError> {
    commit_all_except(worktree, branch, author, message, &[])
}

/// The files [`commit_all`] would stage: changed, new (not ignored, not
/// build by-products) or deleted, relative to the worktree.
pub fn pending_paths(worktree: &Path, branch: &str) -> Result<Vec<String>, GitError> {
    let repo = guard::open_worktree(worktree, Some(branch))?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(ctx("read status"))?;
    let mut paths = Vec::new();
    for entry in statuses.iter() {
        let Some(path) = entry.path() else { continue };
        let new = entry.status().contains(git2::Status::WT_NEW);
        if new && is_build_artifact(Path::new(path)) {
            continue;
        }
        paths.push(path.to_string());
    }
    Ok(paths)
}

/// A path relative to the worktree and HEAD's content of it (`None`: not in HEAD).
pub type PathAtHead = (String, Option<Vec<u8>>);

/// Files under `prefix` (a folder, relative) that differ from HEAD in the
/// worktree, each with HEAD's content.
pub fn changed_under(worktree: &Path, prefix: &str) -> Result<Vec<PathAtHead>, GitError> {
    let repo = guard::open_worktree(worktree, None)?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(true)
        .pathspec(prefix);
    let statuses = repo.statuses(Some(&mut opts)).map_err(ctx("read status"))?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(ctx("read HEAD"))?;
    let mut out = Vec::new();
    for entry in statuses.iter() {
        let Some(path) = entry.path() else { continue };
        if !path.starts_with(prefix) {
            continue;
        }
        let content = head
            .get_path(Path::new(path))
            .ok()
            .and_then(|e| repo.find_blob(e.id()).ok())
            .map(|b| b.content().to_vec());
        out.push((path.to_string(), content));
    }
    Ok(out)
}

/// [`commit_all`], keeping the files `held` out of the commit: they stay
/// in the worktree as they are, unstaged.
pub fn commit_all_except(
    worktree: &Path,
    branch: &str,
    author: (&str, &str),
    message: &str,
    held: &[String],
) -> Result<Option<String>, GitError> {
    let repo = guard::open_worktree(worktree, Some(branch))?;
    let mut index = repo.index().map_err(ctx("read index"))?;
    // New files under build and cache folders are the checks' by-products,
    // not the change, even where .gitignore forgot them.
    let tracked: std::collections::HashSet<Vec<u8>> = index.iter().map(|e| e.path).collect();
    let is_held = |path: &Path| {
        let p = path.to_string_lossy();
        held.iter().any(|h| *h == p)
    };
    let mut skip_artifacts = |path: &Path, _: &[u8]| -> i32 {
        let new = !tracked.contains(path.to_string_lossy().as_bytes());
        i32::from((new && is_build_artifact(path)) || is_held(path))
    };
    index
        .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut skip_artifacts))
        .map_err(ctx("stage changes"))?;
    let mut skip_held = |path: &Path, _: &[u8]| -> i32 { i32::from(is_held(path)) };
    index
        .update_all(["*"], Some(&mut skip_held))
        .map_err(ctx("stage deletions"))?;
    index.write().map_err(ctx("write index"))?;
    let parent = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(ctx("read HEAD"))?;
    if !held.is_empty() {
        // Whatever the index held of them before: back to HEAD's.
        repo.reset_default(Some(parent.as_object()), held.iter())
            .map_err(ctx("unstage held files"))?;
        index = repo.index().map_err(ctx("read index"))?;
    }
    let tree_id = index.write_tree().map_err(ctx("write tree"))?;
    if parent.tree_id() == tree_id {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).map_err(ctx("find tree"))?;
    let sig = Signature::now(author.0, author.1).map_err(ctx("author signature"))?;
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        .map_err(ctx("commit"))?;
    Ok(Some(id.to_string()))
}

/// Folders that hold what builds and test runs leave behind.
const ARTIFACT_DIRS: &[&str] = &[
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nyc_output",
    "coverage",
];

/// Whether `path` (relative) lies in a build or cache folder: one of
/// [`ARTIFACT_DIRS`] anywhere, or `target/` at the top (Cargo's).
fn is_build_artifact(path: &Path) -> bool {
    let mut parts = path.components().map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next();
    if first.as_deref() == Some("target") {
        return true;
    }
    first
        .into_iter()
        .chain(parts)
        .any(|p| ARTIFACT_DIRS.contains(&p.as_ref()))
        || path.extension().is_some_and(|e| e == "pyc")
}

/// What changed between `base` and the worktree's HEAD, file by file, and
/// the unified diff text.
pub fn diff_since(worktree: &Path, base: &str) -> Result<(Vec<FileChange>, String), GitError> {
    let repo = guard::open_worktree(worktree, None)?;
    let base_tree = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_tree())
        .map_err(ctx(format!("find base {base}")))?;
    let head_tree = repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(ctx("read HEAD"))?;
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    let mut diff = repo
        .diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut opts))
        .map_err(ctx("diff"))?;
    diff.find_similar(None).map_err(ctx("find renames"))?;
    let mut changes = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let status = match delta.status() {
            git2::Delta::Added => "added",
            git2::Delta::Deleted => "deleted",
            git2::Delta::Renamed => "renamed",
            _ => "modified",
        };
        let (insertions, deletions) = git2::Patch::from_diff(&diff, i)
            .ok()
            .flatten()
            .and_then(|p| p.line_stats().ok())
            .map(|(_, a, d)| (a, d))
            .unwrap_or((0, 0));
        changes.push(FileChange {
            path,
            status: status.to_string(),
            insertions,
            deletions,
        });
    }
    let mut text = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        let origin = line.origin();
        if matches!(origin, '+' | '-' | ' ') {
            text.push(origin);
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .map_err(ctx("print diff"))?;
    Ok((changes, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@e"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }

    #[test]
    fn worktree_branch_commit_and_diff() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-qm", "init"]);

        let repo = LocalRepo::open(dir.path()).unwrap();
        let wt = repo.task_dir("dh-1").join("worktree");
        let base = repo.add_worktree("dh-1", "deckhand/dh-1", &wt).unwrap();
        std::fs::write(wt.join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(wt.join("b.txt"), "new\n").unwrap();
        std::fs::create_dir_all(wt.join("__pycache__")).unwrap();
        std::fs::write(wt.join("__pycache__/a.cpython-311.pyc"), "bytecode").unwrap();
        std::fs::create_dir_all(wt.join("target/debug")).unwrap();
        std::fs::write(wt.join("target/debug/app"), "binary").unwrap();
        let id = commit_all(&wt, "deckhand/dh-1", ("Deckhand", "d@e"), "change").unwrap();
        assert!(id.is_some());
        assert_eq!(
            commit_all(&wt, "deckhand/dh-1", ("Deckhand", "d@e"), "again").unwrap(),
            None
        );
        let (changes, text) = diff_since(&wt, &base).unwrap();
        assert_eq!(
            changes.len(),
            2,
            "build by-products are not committed: {changes:?}"
        );
        assert_eq!(changes[0].path, "a.txt");
        assert_eq!((changes[0].insertions, changes[0].deletions), (1, 0));
        assert_eq!(changes[1].status, "added");
        assert!(text.contains("+two"));

        repo.remove_worktree("dh-1", &wt).unwrap();
        assert!(!wt.exists());
        assert!(repo.branch_exists("deckhand/dh-1"));
        // The user's tree is untouched.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "one\n"
        );
        assert!(!dir.path().join("b.txt").exists());
    }
}
