//! Resource limits for commands (processes, file size, memory), set in the
//! child just before `exec`.

use std::path::Path;

/// The limits one command starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Processes the command may add to those its user already runs.
    pub processes: u64,
    /// Largest file a command may write.
    pub file_bytes: u64,
    /// Largest data segment (heap) of one process.
    pub data_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            processes: 1024,
            file_bytes: 4 << 30,
            data_bytes: 16 << 30,
        }
    }
}

/// `RLIMIT_NPROC` counts every process of the user: the numbers for one
/// command, worked out in the parent (no allocation after `fork`).
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    nproc: libc::rlim_t,
    fsize: libc::rlim_t,
    data: libc::rlim_t,
}

impl Limits {
    /// `uid` is the user the command runs as.
    pub fn prepare(&self, uid: u32) -> Prepared {
        let running = processes_of(uid, Path::new("/proc"));
        Prepared {
            nproc: (running + self.processes) as libc::rlim_t,
            fsize: self.file_bytes as libc::rlim_t,
            data: self.data_bytes as libc::rlim_t,
        }
    }
}

impl Prepared {
    /// Lowers the limits of the calling process; only async-signal-safe
    /// calls (it runs between `fork` and `exec`).
    pub fn apply(&self) -> std::io::Result<()> {
        for (resource, value) in [
            (libc::RLIMIT_NPROC, self.nproc),
            (libc::RLIMIT_FSIZE, self.fsize),
            (libc::RLIMIT_DATA, self.data),
            (libc::RLIMIT_CORE, 0),
        ] {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: setrlimit reads the struct and changes only this
            // process's limits.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// How many processes `uid` runs now (its real uid, as the kernel counts).
fn processes_of(uid: u32, proc_dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next())
                .and_then(|real| real.parse::<u32>().ok())
                == Some(uid)
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_users_processes() {
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        assert!(processes_of(me, Path::new("/proc")) >= 1);
        let p = Limits::default().prepare(me);
        assert!(p.nproc > 1024);
    }
}
