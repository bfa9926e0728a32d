//! The work tree and index as they are now, so verify can say which
//! command changed them (it restores nothing).

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Repository, Status, StatusOptions};

/// Why the tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("not a git repository: {0}")]
    NotGit(git2::Error),
    #[error("cannot read the tree: {0}")]
    Git(#[from] git2::Error),
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
}
