//! Opens files beneath the workspace root so that nothing redirects a read
//! or write: every step is `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! from the root's descriptor, files with more than one hard link are
//! refused, and ownership is given with `fchown` on the opened descriptor.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

/// Why a confined open was refused. The messages are for the model.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error("`{path}` goes through a symbolic link or leaves the repository; Deckhand does not follow it")]
    Redirected { path: String },
    #[error("`{path}` has {links} hard links; a file that is also linked elsewhere is not read or written")]
    HardLinked { path: String, links: u64 },
    #[error("`{path}` is not a regular file")]
    NotRegular { path: String },
    #[error("`{path}` is a directory")]
    Directory { path: String },
    #[error("`{path}` does not exist")]
    NotFound { path: String },
    #[error("`{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `struct open_how` of linux/openat2.h.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// `openat2` relative to `dir`, never leaving it and never following a link.
fn openat2(dir: &OwnedFd, rel: &Path, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let name = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
        mode: u64::from(mode),
        resolve: RESOLVE,
    };
    loop {
        // SAFETY: `name` is a NUL-terminated string and `how` a properly laid
        // out `open_how` that both outlive the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel just returned this descriptor to us.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The workspace root as a directory descriptor.
fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `rel` as plain components (no `.`/`..`/absolute parts).
fn plain(rel: &Path, shown: &str) -> Result<(), ConfinedError> {
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ConfinedError::Redirected {
            path: shown.to_string(),
        });
    }
    Ok(())
}

fn classify(shown: &str, e: std::io::Error) -> ConfinedError {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => ConfinedError::Redirected {
            path: shown.to_string(),
        },
        Some(libc::ENOENT) => ConfinedError::NotFound {
            path: shown.to_string(),
        },
        Some(libc::EISDIR) => ConfinedError::Directory {
            path: shown.to_string(),
        },
        _ => ConfinedError::Io {
            path: shown.to_string(),
            source: e,
        },
    }
}

/// Refuses anything but a regular file with exactly one link.
fn check_single_file(meta: &std::fs::Metadata, shown: &str) -> Result<(), ConfinedError> {
    if meta.is_dir() {
        return Err(ConfinedError::Directory {
            path: shown.to_string(),
        });
    }
    if !meta.is_file() {
        return Err(ConfinedError::NotRegular {
            path: shown.to_string(),
        });
    }
    if meta.nlink() > 1 {
        return Err(ConfinedError::HardLinked {
            path: shown.to_string(),
            links: meta.nlink(),
        });
    }
    Ok(())
}

/// Opens `rel` (relative to `root`) for reading: a regular file with one
/// link, reached without any symlink. Returns the file and its size.
pub fn open_read(root: &Path, rel: &Path, shown: &str) -> Result<(File, u64), ConfinedError> {
    plain(rel, shown)?;
    let io = |e| classify(shown, e);
    let dir = open_root(root).map_err(io)?;
    let fd = openat2(&dir, rel, libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(io)?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(io)?;
    check_single_file(&meta, shown)?;
    Ok((file, meta.len()))
}

/// What a confined write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Overwrote,
}

/// Writes `content` as the whole of `rel` beneath `root`, creating missing
/// parent directories. Nothing on the way may be a symlink; an existing file
/// must have one link. New directories and the file are given to `owner`
/// through their descriptors.
pub fn write(
    root: &Path,
    rel: &Path,
    shown: &str,
    content: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<Written, ConfinedError> {
    write_file(root, rel, shown, content, None, owner)
}

/// [`write`], and the file's permission bits set to `mode`.
pub fn write_mode(
    root: &Path,
    rel: &Path,
    shown: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Written, ConfinedError> {
    write_file(root, rel, shown, content, Some(mode), owner)
}

fn write_file(
    root: &Path,
    rel: &Path,
    shown: &str,
    content: &[u8],
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
) -> Result<Written, ConfinedError> {
    plain(rel, shown)?;
    let io = |e| classify(shown, e);
    let mut dir = open_root(root).map_err(io)?;
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    let Some((name, parents)) = parts.split_last() else {
        return Err(ConfinedError::Redirected {
            path: shown.to_string(),
        });
    };
    for part in parents {
        dir = open_or_make_dir(&dir, Path::new(part), owner).map_err(io)?;
    }
    let name = Path::new(name);
    let (fd, written) = match openat2(
        &dir,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        0o644,
    ) {
        Ok(fd) => (fd, Written::Created),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => (
            openat2(&dir, name, libc::O_WRONLY | libc::O_NONBLOCK, 0).map_err(io)?,
            Written::Overwrote,
        ),
        Err(e) => return Err(io(e)),
    };
    let mut file = File::from(fd);
    let meta = file.metadata().map_err(io)?;
    check_single_file(&meta, shown)?;
    file.set_len(0).map_err(io)?;
    file.write_all(content).map_err(io)?;
    give(&file, &meta, owner).map_err(io)?;
    if let Some(mode) = mode.filter(|m| meta.mode() & 0o7777 != *m) {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    Ok(written)
}

/// Removes the file `rel` beneath `root` (a symlink is removed itself,
/// never followed); a missing file is not an error.
pub fn remove(root: &Path, rel: &Path, shown: &str) -> Result<(), ConfinedError> {
    plain(rel, shown)?;
    let io = |e| classify(shown, e);
    let mut dir = open_root(root).map_err(io)?;
    let Some(name) = rel.file_name() else {
        return Err(ConfinedError::NotRegular {
            path: shown.to_string(),
        });
    };
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        match openat2(&dir, parent, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(d) => dir = d,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(io(e)),
        }
    }
    let c = CString::new(name.as_bytes()).map_err(|_| ConfinedError::NotRegular {
        path: shown.to_string(),
    })?;
    // SAFETY: `dir` is an open directory and `c` is NUL-terminated.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(io(e));
        }
    }
    Ok(())
}

/// Opens directory `name` in `dir`, creating it (and giving it to `owner`)
/// when missing.
fn open_or_make_dir(
    dir: &OwnedFd,
    name: &Path,
    owner: Option<(u32, u32)>,
) -> std::io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    match openat2(dir, name, flags, 0) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let c = CString::new(name.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
            // SAFETY: `c` is NUL-terminated; `dir` is an open descriptor.
            let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
            }
            let fd = openat2(dir, name, flags, 0)?;
            let file = File::from(fd);
            let meta = file.metadata()?;
            give(&file, &meta, owner)?;
            Ok(OwnedFd::from(file))
        }
        // O_NOFOLLOW on a symlink where a directory was expected.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) && is_symlink(dir, name) => {
            Err(std::io::Error::from_raw_os_error(libc::ELOOP))
        }
        other => other,
    }
}

/// Whether `name` in `dir` is a symlink (not following it).
fn is_symlink(dir: &OwnedFd, name: &Path) -> bool {
    let Ok(c) = CString::new(name.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated, `st` is writable, `dir` is open.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFLNK
}

/// `fchown` of an open file to `owner`, when it is not theirs yet.
fn give(file: &File, meta: &std::fs::Metadata, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    match owner {
        Some((uid, gid)) if meta.uid() != uid || meta.gid() != gid => {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "root only\n").unwrap();
        (dir, root, outside)
    }

    #[test]
    fn writes_and_reads_plain_files_creating_parents() {
        let (_d, root, _) = setup();
        let rel = Path::new("src/new/a.txt");
        assert_eq!(
            write(&root, rel, "a", b"one\n", None).unwrap(),
            Written::Created
        );
        assert_eq!(
            write(&root, rel, "a", b"two\n", None).unwrap(),
            Written::Overwrote
        );
        let (file, size) = open_read(&root, rel, "a").unwrap();
        assert_eq!(size, 4);
        assert_eq!(std::io::read_to_string(file).unwrap(), "two\n");
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_is_not_followed() {
        // The check in `Workspace::resolve` saw a directory; by the time of
        // the write it is a symlink to a directory outside.
        let (_d, root, outside) = setup();
        std::fs::remove_dir(root.join("src")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("src")).unwrap();
        let err = write(&root, Path::new("src/secret"), "src/secret", b"pwned", None).unwrap_err();
        assert!(matches!(err, ConfinedError::Redirected { .. }), "{err}");
        let err = open_read(&root, Path::new("src/secret"), "src/secret").unwrap_err();
        assert!(matches!(err, ConfinedError::Redirected { .. }), "{err}");
        std::os::unix::fs::symlink(outside.join("secret"), root.join("file")).unwrap();
        let err = write(&root, Path::new("file"), "file", b"pwned", None).unwrap_err();
        assert!(matches!(err, ConfinedError::Redirected { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "root only\n"
        );
    }

    #[test]
    fn hard_links_are_neither_read_nor_written() {
        let (_d, root, outside) = setup();
        std::fs::hard_link(outside.join("secret"), root.join("src/link")).unwrap();
        let err = write(&root, Path::new("src/link"), "src/link", b"pwned", None).unwrap_err();
        assert!(
            matches!(err, ConfinedError::HardLinked { links: 2, .. }),
            "{err}"
        );
        let err = open_read(&root, Path::new("src/link"), "src/link").unwrap_err();
        assert!(matches!(err, ConfinedError::HardLinked { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "root only\n"
        );
    }

    #[test]
    fn parent_escapes_are_refused() {
        let (_d, root, _) = setup();
        let err = write(&root, Path::new("../outside/x"), "x", b"", None).unwrap_err();
        assert!(matches!(err, ConfinedError::Redirected { .. }), "{err}");
    }
}
