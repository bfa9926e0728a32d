//! The work tree and index as they are now, so verify can say which
//! command changed them, and as they were, so what a check wrote can be
//! put back.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use git2::{Repository, Status, StatusOptions};

use super::confined;

/// The most bytes of changed and untracked files kept to put back.
const KEPT_BYTES: u64 = 64 << 20;

/// Why the tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("not a git repository: {0}")]
    NotGit(git2::Error),
    #[error("cannot read the tree: {0}")]
    Git(#[from] git2::Error),
}

/// Why one path could not be put back.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{path}: its content before the command was not kept (the changed files were larger than {} MiB)", KEPT_BYTES >> 20)]
    NotKept { path: String },
    #[error("{path}: a symbolic link or submodule is not put back")]
    NotAFile { path: String },
    #[error("{path}: {source}")]
    Git { path: String, source: git2::Error },
    #[error(transparent)]
    Confined(#[from] confined::ConfinedError),
    #[error("the index: {0}")]
    Index(std::io::Error),
}

/// Every changed or untracked (not ignored) file with its content's hash,
/// and every index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    files: BTreeMap<String, Option<git2::Oid>>,
    index: BTreeMap<String, (git2::Oid, u32)>,
}

/// Reads the state of the repository that contains `root`.
pub fn snapshot(root: &Path) -> Result<TreeState, TreeError> {
    let repo = Repository::discover(root).map_err(TreeError::NotGit)?;
    state(&repo)
}

fn state(repo: &Repository) -> Result<TreeState, TreeError> {
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .update_index(false);
    let mut files = BTreeMap::new();
    for entry in repo.statuses(Some(&mut opts))?.iter() {
        let Some(path) = entry.path() else { continue };
        let full = workdir.join(path);
        let hash = if entry.status().contains(Status::WT_DELETED) || !full.is_file() {
            None
        } else {
            git2::Oid::hash_file(git2::ObjectType::Blob, &full).ok()
        };
        files.insert(path.to_string(), hash);
    }
    let mut index = BTreeMap::new();
    for e in repo.index()?.iter() {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        index.insert(path, (e.id, e.mode));
    }
    Ok(TreeState { files, index })
}

/// A file's content and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    content: Vec<u8>,
    mode: u32,
}

/// The tree as it was, with what it takes to put it back: the content of
/// every changed and untracked file (up to [`KEPT_BYTES`]), the index file
/// as it was; unchanged files come back from the index's blobs.
#[derive(Debug, Clone)]
pub struct Saved {
    pub state: TreeState,
    workdir: PathBuf,
    index_file: PathBuf,
    index_bytes: Option<Vec<u8>>,
    index_owner: Option<(u32, u32)>,
    kept: BTreeMap<String, Kept>,
}

/// What [`restore`] put back, and what it could not.
#[derive(Debug, Default)]
pub struct Restored {
    pub restored: Vec<String>,
    pub failed: Vec<RestoreError>,
}

/// Reads the state of the repository that contains `root`, keeping what
/// [`restore`] needs.
pub fn save(root: &Path) -> Result<Saved, TreeError> {
    let repo = Repository::discover(root).map_err(TreeError::NotGit)?;
    let state = state(&repo)?;
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    let mut kept = BTreeMap::new();
    let mut budget = KEPT_BYTES;
    for (path, hash) in &state.files {
        if hash.is_none() {
            continue;
        }
        let Ok((file, len)) = confined::open_read(&workdir, Path::new(path), path) else {
            continue;
        };
        if len > budget {
            continue;
        }
        let mode = file.metadata().map(|m| m.mode() & 0o7777).unwrap_or(0o644);
        let mut content = Vec::new();
        // Never past the budget, even when the file grows meanwhile.
        let read =
            std::io::Read::read_to_end(&mut std::io::Read::take(file, budget + 1), &mut content);
        if read.is_ok() && content.len() as u64 <= budget {
            budget -= content.len() as u64;
            kept.insert(path.clone(), Kept { content, mode });
        }
    }
    let index_file = repo.path().join("index");
    let index_bytes = std::fs::read(&index_file).ok();
    let index_owner = std::fs::metadata(&index_file)
        .ok()
        .map(|m| (m.uid(), m.gid()));
    Ok(Saved {
        state,
        workdir,
        index_file,
        index_bytes,
        index_owner,
        kept,
    })
}

/// Puts the paths of `changed` (as [`changed`] names them) back as they
/// were in `saved`: files rewritten or removed beneath the work tree
/// without following links, the index file written back whole.
pub fn restore(saved: &Saved, changed: &[String]) -> Restored {
    let mut out = Restored::default();
    let repo = match Repository::open(&saved.workdir) {
        Ok(r) => r,
        Err(e) => {
            out.failed.push(RestoreError::Git {
                path: saved.workdir.display().to_string(),
                source: e,
            });
            return out;
        }
    };
    let mut index = false;
    for path in changed {
        if path.starts_with("index: ") {
            index = true;
            continue;
        }
        match restore_file(saved, &repo, path) {
            Ok(()) => out.restored.push(path.clone()),
            Err(e) => out.failed.push(e),
        }
    }
    if index {
        match restore_index(saved) {
            Ok(()) => out.restored.push("index".into()),
            Err(e) => out.failed.push(e),
        }
    }
    out
}

fn restore_file(saved: &Saved, repo: &Repository, path: &str) -> Result<(), RestoreError> {
    let rel = Path::new(path);
    let put = |content: &[u8], mode: u32| -> Result<(), RestoreError> {
        let owner = std::fs::metadata(&saved.workdir)
            .ok()
            .map(|m| (m.uid(), m.gid()));
        match confined::write_mode(&saved.workdir, rel, path, content, mode, owner) {
            // The command left a link (or a hard link) where the file was:
            // the link goes, never followed.
            Err(confined::ConfinedError::Redirected { .. })
            | Err(confined::ConfinedError::HardLinked { .. }) => {
                confined::remove(&saved.workdir, rel, path)?;
                confined::write_mode(&saved.workdir, rel, path, content, mode, owner)?;
            }
            written => {
                written?;
            }
        }
        Ok(())
    };
    match saved.state.files.get(path) {
        // Changed or untracked before the command: its kept content.
        Some(Some(_)) => match saved.kept.get(path) {
            Some(k) => put(&k.content, k.mode),
            None => Err(RestoreError::NotKept { path: path.into() }),
        },
        // Deleted before the command.
        Some(None) => Ok(confined::remove(&saved.workdir, rel, path)?),
        // Unchanged before the command: the index's blob.
        None => match saved.state.index.get(path) {
            Some((oid, mode)) if mode & 0o170000 == 0o100000 => {
                let blob = repo.find_blob(*oid).map_err(|e| RestoreError::Git {
                    path: path.into(),
                    source: e,
                })?;
                let bits = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                put(blob.content(), bits)
            }
            Some(_) => Err(RestoreError::NotAFile { path: path.into() }),
            // Not there before the command.
            None => Ok(confined::remove(&saved.workdir, rel, path)?),
        },
    }
}

/// Writes the index file back as it was, the way git writes it: a new
/// `index.lock` (never an existing file or link) renamed over it.
fn restore_index(saved: &Saved) -> Result<(), RestoreError> {
    let lock = saved.index_file.with_extension("lock");
    let Some(bytes) = &saved.index_bytes else {
        return std::fs::remove_file(&saved.index_file).map_err(RestoreError::Index);
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&lock)
        .map_err(RestoreError::Index)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| give(&file, saved.index_owner))
        .and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&lock, &saved.index_file)) {
        let _ = std::fs::remove_file(&lock);
        return Err(RestoreError::Index(e));
    }
    Ok(())
}

/// Gives `file` to `owner` when someone else owns it.
fn give(file: &std::fs::File, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let meta = file.metadata()?;
    match owner {
        Some((uid, gid)) if (meta.uid(), meta.gid()) != (uid, gid) => {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))
        }
        _ => Ok(()),
    }
}

/// Paths that differ between two states (`index: path` for the index).
pub fn changed(before: &TreeState, after: &TreeState) -> Vec<String> {
    let mut out = Vec::new();
    for (path, hash) in &after.files {
        if before.files.get(path) != Some(hash) {
            out.push(path.clone());
        }
    }
    for path in before.files.keys() {
        if !after.files.contains_key(path) {
            out.push(path.clone());
        }
    }
    for (path, entry) in &after.index {
        if before.index.get(path) != Some(entry) {
            out.push(format!("index: {path}"));
        }
    }
    for path in before.index.keys() {
        if !after.index.contains_key(path) {
            out.push(format!("index: {path}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn edits_new_files_and_index_changes_are_seen() {
        let dir = crate::workspace::testing::temp_repo(&[
            ("a.py", "x = 1\n"),
            ("b.py", "y = 2\n"),
            (".gitignore", "cache/\n"),
        ]);
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-qm", "init"]);
        // A change that was there before verify is not the command's.
        std::fs::write(dir.path().join("b.py"), "y = 3\n").unwrap();
        let before = snapshot(dir.path()).unwrap();
        assert_eq!(
            changed(&before, &snapshot(dir.path()).unwrap()),
            Vec::<String>::new()
        );
        std::fs::write(dir.path().join("a.py"), "x = 2\n").unwrap();
        std::fs::write(dir.path().join("b.py"), "y = 4\n").unwrap();
        std::fs::create_dir(dir.path().join("cache")).unwrap();
        std::fs::write(dir.path().join("cache/x"), "").unwrap();
        std::fs::write(dir.path().join("new.txt"), "").unwrap();
        git(dir.path(), &["add", "new.txt"]);
        assert_eq!(
            changed(&before, &snapshot(dir.path()).unwrap()),
            vec!["a.py", "b.py", "index: new.txt", "new.txt"]
        );
        let plain = tempfile::tempdir().unwrap();
        assert!(matches!(snapshot(plain.path()), Err(TreeError::NotGit(_))));
    }

    /// Every file beneath `dir` but `.git`, with its content and mode.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if p.ends_with(".git") {
                    continue;
                } else if meta.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().display().to_string();
                    let content = if meta.is_symlink() {
                        b"-> link".to_vec()
                    } else {
                        std::fs::read(&p).unwrap()
                    };
                    out.push((rel, content, meta.mode() & 0o777));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn what_a_command_wrote_is_put_back_as_it_was() {
        use std::os::unix::fs::PermissionsExt;
        let dir = crate::workspace::testing::temp_repo(&[
            ("a.py", "x = 1\n"),
            ("run.sh", "echo hi\n"),
            ("gone.txt", "deleted before\n"),
            ("dirty.py", "committed\n"),
            ("staged.py", "committed\n"),
        ]);
        let root = dir.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        git(root, &["init", "-q"]);
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "init"]);
        // The user's own changes before verify.
        std::fs::write(root.join("dirty.py"), "not committed\n").unwrap();
        std::fs::write(root.join("staged.py"), "staged\n").unwrap();
        git(root, &["add", "staged.py"]);
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::write(root.join("notes.txt"), "untracked\n").unwrap();
        let files_before = files(root);
        let index_before = std::fs::read(root.join(".git/index")).unwrap();
        let saved = save(root).unwrap();

        // A command rewrites, deletes, creates, stages, and swaps a file
        // for a link that leads outside.
        std::fs::write(root.join("a.py"), "x = 2\n").unwrap();
        std::fs::write(root.join("dirty.py"), "formatted\n").unwrap();
        std::fs::remove_file(root.join("run.sh")).unwrap();
        std::fs::remove_file(root.join("notes.txt")).unwrap();
        std::fs::write(root.join("gone.txt"), "back again\n").unwrap();
        std::fs::create_dir(root.join("out")).unwrap();
        std::fs::write(root.join("out/new.txt"), "new\n").unwrap();
        std::fs::remove_file(root.join("staged.py")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("target"), root.join("staged.py")).unwrap();
        git(root, &["add", "a.py"]);
        let wrote = changed(&saved.state, &snapshot(root).unwrap());
        assert_eq!(
            wrote,
            vec![
                "a.py",
                "dirty.py",
                "gone.txt",
                "index: a.py",
                "notes.txt",
                "out/new.txt",
                "run.sh",
                "staged.py"
            ]
        );

        let done = restore(&saved, &wrote);
        assert!(done.failed.is_empty(), "{:?}", done.failed);
        assert_eq!(
            done.restored,
            vec![
                "a.py",
                "dirty.py",
                "gone.txt",
                "notes.txt",
                "out/new.txt",
                "run.sh",
                "staged.py",
                "index"
            ]
        );
        assert_eq!(
            changed(&saved.state, &snapshot(root).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(files(root), files_before);
        assert_eq!(
            std::fs::read(root.join(".git/index")).unwrap(),
            index_before
        );
        assert!(!outside.path().join("target").exists());
        assert!(!root.join(".git/index.lock").exists());
    }
}
