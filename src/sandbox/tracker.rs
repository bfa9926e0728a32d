//! Tracking of everything commands started: Deckhand becomes a child
//! subreaper, so processes that leave their group or session (`setsid`,
//! `nohup … &`) stay its descendants and can be found and killed.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

/// The variable each run's processes inherit, naming the run.
pub const RUN_MARKER: &str = "DECKHAND_RUN";

/// Makes this process the reaper of orphaned descendants (once).
pub fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer argument.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if rc != 0 {
            tracing::warn!(
                "cannot become a child subreaper ({}): background processes that leave their session may outlive their command",
                std::io::Error::last_os_error()
            );
        }
    });
}

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: i32,
    ppid: i32,
    zombie: bool,
}

fn read_proc(proc_dir: &Path, pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(proc_dir.join(pid.to_string()).join("stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        zombie: state == "Z" || state == "X",
    })
}

/// Every descendant of `root`.
fn descendants(proc_dir: &Path, root: i32) -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    let all: Vec<Proc> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| read_proc(proc_dir, pid))
        .collect();
    let mut out: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            if !out.iter().any(|o| o.pid == p.pid) {
                out.push(*p);
                frontier.push(p.pid);
            }
        }
    }
    out
}

fn has_marker(pid: i32, marker: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{RUN_MARKER}={marker}");
    environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes())
}

fn own_pid() -> i32 {
    std::process::id() as i32
}

/// Kills descendants chosen by `pick` until none is left; reaps those that
/// became this process's children. Returns how many it killed.
async fn sweep(pick: impl Fn(&Proc) -> bool) -> usize {
    let me = own_pid();
    let mut killed: Vec<i32> = Vec::new();
    for round in 0..200 {
        let found: Vec<Proc> = descendants(Path::new("/proc"), me)
            .into_iter()
            .filter(|p| killed.contains(&p.pid) || pick(p))
            .collect();
        let mut alive = false;
        let mut reaped = false;
        for p in &found {
            if p.zombie {
                if p.ppid == me && killed.contains(&p.pid) {
                    reaped = true;
                    // SAFETY: reaps one exited child that no one else waits on
                    // (it was adopted, or killed here after its run ended).
                    unsafe {
                        libc::waitpid(p.pid, std::ptr::null_mut(), libc::WNOHANG);
                    }
                }
                continue;
            }
            alive = true;
            // SAFETY: kill only sends a signal; a stale pid fails with ESRCH.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
            if !killed.contains(&p.pid) {
                killed.push(p.pid);
            }
        }
        if !alive && !reaped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(if round < 10 { 5 } else { 25 })).await;
    }
    killed.len()
}

/// Kills every process of one run (by its marker) that outlived it.
pub async fn kill_run(marker: &str) -> usize {
    sweep(|p| !p.zombie && has_marker(p.pid, marker)).await
}

/// Kills every process this one started that is still there.
pub async fn kill_all() -> usize {
    sweep(|_| true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_and_its_children() {
        let me = read_proc(Path::new("/proc"), own_pid()).unwrap();
        assert!(!me.zombie);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(Path::new("/proc"), own_pid());
        assert!(found.iter().any(|p| p.pid == child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
