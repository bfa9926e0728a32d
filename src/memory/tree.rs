//! Editing git trees in memory (no working tree, no index): write or delete files at nested paths.

use git2::{FileMode, Oid, Repository, Tree};

/// Applies `edits` (path → `Some(bytes)` to write, `None` to delete) to
/// `base` (or an empty tree) and returns the new root tree. Directories
/// left empty disappear; deleting a missing path is a no-op. Paths must
/// already be validated.
pub(super) fn apply(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    edits: &[(&str, Option<&[u8]>)],
) -> Result<Oid, git2::Error> {
    let mut root = base.map(Tree::id);
    for (path, content) in edits {
        let blob = content.map(|bytes| repo.blob(bytes)).transpose()?;
        let parts: Vec<&str> = path.split('/').collect();
        let current = root.map(|id| repo.find_tree(id)).transpose()?;
        root = update(repo, current.as_ref(), &parts, blob)?;
    }
    match root {
        Some(id) => Ok(id),
        None => repo.treebuilder(None)?.write(),
    }
}

/// Sets `parts` in `tree` to `blob` (or removes it); `None` when the tree
/// ends up empty.
fn update(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    parts: &[&str],
    blob: Option<Oid>,
) -> Result<Option<Oid>, git2::Error> {
    let Some((name, rest)) = parts.split_first() else {
        return Ok(tree.map(Tree::id));
    };
    let mut builder = repo.treebuilder(tree)?;
    if rest.is_empty() {
        match blob {
            Some(id) => {
                builder.insert(name, id, FileMode::Blob.into())?;
            }
            None => {
                if builder.get(name)?.is_some() {
                    builder.remove(name)?;
                }
            }
        }
    } else {
        let child = match builder.get(name)? {
            Some(entry) if entry.kind() == Some(git2::ObjectType::Tree) => {
                Some(repo.find_tree(entry.id())?)
            }
            _ => None, // missing, or a file that becomes a directory
        };
        if child.is_none() && blob.is_none() {
            return Ok(tree.map(Tree::id));
        }
        match update(repo, child.as_ref(), rest, blob)? {
            Some(id) => {
                builder.insert(name, id, FileMode::Tree.into())?;
            }
            None => {
                if builder.get(name)?.is_some() {
                    builder.remove(name)?;
                }
            }
        }
    }
    if builder.is_empty() {
        Ok(None)
    } else {
        builder.write().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(repo: &Repository, id: Oid) -> Vec<(String, String)> {
        let tree = repo.find_tree(id).unwrap();
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if let Ok(blob) = repo.find_blob(e.id()) {
                out.push((
                    format!("{dir}{}", e.name().unwrap()),
                    String::from_utf8_lossy(blob.content()).into_owned(),
                ));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    #[test]
    fn nested_writes_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let one = apply(
            &repo,
            None,
            &[
                ("a/b/c.txt", Some(b"c".as_slice())),
                ("a/d.txt", Some(b"d".as_slice())),
                ("top", Some(b"t".as_slice())),
            ],
        )
        .unwrap();
        assert_eq!(files(&repo, one).len(), 3);
        let base = repo.find_tree(one).unwrap();
        let two = apply(
            &repo,
            Some(&base),
            &[
                ("a/b/c.txt", None),
                ("missing/x", None),
                ("a/d.txt", Some(b"D".as_slice())),
            ],
        )
        .unwrap();
        assert_eq!(
            files(&repo, two),
            vec![("a/d.txt".into(), "D".into()), ("top".into(), "t".into())]
        );
        let empty = apply(
            &repo,
            Some(&repo.find_tree(two).unwrap()),
            &[("a/d.txt", None), ("top", None)],
        )
        .unwrap();
        assert!(repo.find_tree(empty).unwrap().is_empty());
    }
}
