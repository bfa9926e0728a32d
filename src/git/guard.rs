//! Opens a task's worktree without trusting the bookkeeping the command
//! user can write: the worktree's `.git` file and the `gitdir`, `commondir`
//! and `HEAD` of `.git/worktrees/<id>/` are checked against where Deckhand
//! put the worktree, and restored (with a warning) when a command changed
//! them; `settle` writes them in that form when the worktree is made.

use std::path::{Path, PathBuf};

use git2::Repository;

use super::{ctx, GitError};

/// Where Deckhand keeps a task's worktree: `<common git dir>/deckhand/<id>/worktree`.
struct Layout {
    worktree: PathBuf,
    common: PathBuf,
    admin: PathBuf,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> GitError {
    move |source| GitError::Io { context, source }
}

fn layout(worktree: &Path) -> Result<Layout, GitError> {
    let worktree = worktree
        .canonicalize()
        .map_err(io(format!("open worktree {}", worktree.display())))?;
    let not_ours = || GitError::Io {
        context: format!(
            "{} is not a worktree Deckhand made (<git dir>/deckhand/<id>/worktree)",
            worktree.display()
        ),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    };
    let task_dir = worktree.parent().ok_or_else(not_ours)?;
    let id = task_dir.file_name().ok_or_else(not_ours)?;
    let deckhand = task_dir.parent().ok_or_else(not_ours)?;
    if deckhand.file_name().is_none_or(|n| n != "deckhand") {
        return Err(not_ours());
    }
    let common = deckhand.parent().ok_or_else(not_ours)?.to_path_buf();
    let admin = common.join("worktrees").join(id);
    Ok(Layout {
        worktree,
        common,
        admin,
    })
}

/// Writes the worktree's bookkeeping as [`open_worktree`] expects it, right
/// after Deckhand made the worktree and before any command runs: libgit2
/// writes its own forms (`gitdir: <admin>/` with a trailing slash, an
/// absolute `commondir`), which would otherwise count as changed at the
/// first check. Not a worktree in Deckhand's layout: left alone.
pub(super) fn settle(worktree: &Path) -> Result<(), GitError> {
    let Ok(l) = layout(worktree) else {
        return Ok(());
    };
    for (path, content) in expected(&l) {
        write_fresh(&path, &content)?;
    }
    Ok(())
}

/// The bookkeeping files (HEAD aside) and what each must hold.
fn expected(l: &Layout) -> [(PathBuf, String); 3] {
    [
        (
            l.worktree.join(".git"),
            format!("gitdir: {}\n", l.admin.display()),
        ),
        (
            l.admin.join("gitdir"),
            format!("{}\n", l.worktree.join(".git").display()),
        ),
        (l.admin.join("commondir"), "../..\n".to_string()),
    ]
}

/// Whether `path` is a regular file holding exactly `content`.
fn intact(path: &Path, content: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
        && std::fs::read_to_string(path).is_ok_and(|c| c == content)
}

/// Replaces whatever is at `path` (a symlink is removed, not followed) with
/// a regular file holding `content`.
fn write_fresh(path: &Path, content: &str) -> Result<(), GitError> {
    if intact(path, content) {
        return Ok(());
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
    .map_err(io(format!("remove {}", path.display())))?;
    std::fs::write(path, content).map_err(io(format!("restore {}", path.display())))
}

/// Makes `path` a regular file holding exactly `content` (not following a
/// symlink put in its place). Whether it had to be restored.
fn restore(path: &Path, content: &str) -> Result<bool, GitError> {
    if intact(path, content) {
        return Ok(false);
    }
    write_fresh(path, content)?;
    tracing::warn!(path = %path.display(), "git bookkeeping was changed by a command; restored");
    Ok(true)
}

/// The task's worktree repository, its bookkeeping checked (and restored)
/// first, and checked again once opened: its work tree and common git dir
/// are Deckhand's and, when `branch` is given, HEAD is that branch.
pub fn open_worktree(worktree: &Path, branch: Option<&str>) -> Result<Repository, GitError> {
    let l = layout(worktree)?;
    if !l.admin.is_dir() {
        return Err(GitError::Io {
            context: format!("the worktree's git dir {} is missing", l.admin.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    for (path, content) in expected(&l) {
        restore(&path, &content)?;
    }
    if let Some(branch) = branch {
        restore(
            &l.admin.join("HEAD"),
            &format!("ref: refs/heads/{branch}\n"),
        )?;
    }
    let repo = Repository::open(&l.admin).map_err(ctx("open worktree"))?;
    let same = |a: Option<&Path>, b: &Path| {
        a.and_then(|a| a.canonicalize().ok())
            .is_some_and(|a| b.canonicalize().is_ok_and(|b| a == b))
    };
    if !same(repo.workdir(), &l.worktree) || !same(Some(repo.commondir()), &l.common) {
        return Err(GitError::Io {
            context: format!(
                "the worktree {} does not belong to {}",
                l.worktree.display(),
                l.common.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        });
    }
    if let Some(branch) = branch {
        let head = repo
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().map(str::to_string));
        if head.as_deref() != Some(&format!("refs/heads/{branch}")) {
            return Err(GitError::Io {
                context: format!("the worktree's HEAD is not {branch}"),
                source: std::io::Error::from(std::io::ErrorKind::InvalidData),
            });
        }
    }
    Ok(repo)
}
