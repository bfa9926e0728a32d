//! The host launcher: runs shell commands as the command user in their own
//! process group, with the allowlisted environment, resource limits and
//! Landlock rules applied just before `exec`; a timeout and the end of a
//! command kill everything it started; output is capped.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::confine::Confinement;
use super::launcher::{CommandOutput, Launcher};
use super::limits::Limits;
use super::tracker;

/// How long to keep reading after the command and its leftovers are gone.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes of output kept in memory for one command; the rest is counted.
const MAX_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// Runs commands in one directory with one environment and one policy.
#[derive(Debug, Clone)]
pub struct HostLauncher {
    cwd: PathBuf,
    env: Vec<(String, String)>,
    /// Run as this uid/gid (Deckhand as root hands commands to an
    /// unprivileged account).
    user: Option<(u32, u32)>,
    limits: Option<Limits>,
    confinement: Option<Arc<Confinement>>,
}

impl HostLauncher {
    /// `env` is the complete environment the commands see.
    pub fn new(cwd: &Path, env: Vec<(String, String)>) -> Self {
        tracker::become_subreaper();
        HostLauncher {
            cwd: cwd.to_path_buf(),
            env,
            user: None,
            limits: None,
            confinement: None,
        }
    }

    /// Commands run as `uid`/`gid`.
    pub fn as_user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Commands start with these resource limits.
    pub fn limited(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Commands are confined by these Landlock rules.
    pub fn confined(mut self, confinement: Confinement) -> Self {
        self.confinement = Some(Arc::new(confinement));
        self
    }

    fn shell() -> &'static str {
        if Path::new("/bin/bash").exists() {
            "/bin/bash"
        } else {
            "/bin/sh"
        }
    }
}

fn next_marker() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[async_trait::async_trait]
impl Launcher for HostLauncher {
    fn cwd(&self) -> &Path {
        &self.cwd
    }

    async fn run(&self, command: &str, timeout: Duration) -> std::io::Result<CommandOutput> {
        let started = Instant::now();
        let marker = next_marker();
        let (reader, writer) = std::io::pipe()?;
        let writer_err = writer.try_clone()?;
        let mut cmd = tokio::process::Command::new(Self::shell());
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(tracker::RUN_MARKER, &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::from(OwnedFd::from(writer)))
            .stderr(Stdio::from(OwnedFd::from(writer_err)))
            .process_group(0)
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        // Everything the child needs is prepared here: between fork and
        // exec it only makes system calls.
        // SAFETY: getuid cannot fail.
        let uid = self.user.map_or_else(|| unsafe { libc::getuid() }, |u| u.0);
        let limits = self.limits.map(|l| l.prepare(uid));
        let ruleset = match &self.confinement {
            Some(c) => Some(c.ruleset().map_err(std::io::Error::other)?),
            None => None,
        };
        let ruleset = Mutex::new(ruleset);
        // On a closed network no UDP either (DNS goes through the proxy).
        let seccomp = self
            .confinement
            .as_ref()
            .filter(|c| c.connect_port.is_some())
            .and_then(|_| super::seccomp::Filter::no_udp());
        // SAFETY: the hook calls setrlimit, prctl and landlock_restrict_self
        // only; nothing in it allocates unless it fails.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(limits) = &limits {
                    limits.apply()?;
                }
                let taken = match ruleset.lock() {
                    Ok(mut slot) => slot.take(),
                    Err(_) => return Err(std::io::Error::other("ruleset lock poisoned")),
                };
                if let Some(ruleset) = taken {
                    ruleset.restrict_self().map_err(std::io::Error::other)?;
                }
                if let Some(filter) = &seccomp {
                    filter.install()?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        // The parent's copies of the write end went into `cmd`; drop it so
        // EOF arrives when the last child closes its copy.
        drop(cmd);
        let pgid = child.id().map(|id| id as i32);
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;

        let mut kept: Vec<u8> = Vec::new();
        let mut dropped = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + timeout;
        let mut status = None;
        let mut timed_out = false;
        let mut eof = false;

        // Read until the command exits or the deadline passes.
        while status.is_none() && !timed_out {
            tokio::select! {
                read = pipe.read(&mut buf), if !eof => match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => keep(&mut kept, &mut dropped, &buf[..n]),
                },
                waited = child.wait() => status = Some(waited?),
                _ = tokio::time::sleep_until(deadline) => timed_out = true,
            }
        }
        // Nothing the command started outlives it: its group, then anything
        // that left the group (setsid, double forks) by its marker.
        kill_group(pgid);
        if timed_out {
            status = Some(child.wait().await?);
        }
        let swept = tracker::kill_run(&marker).await;
        if swept > 0 {
            tracing::debug!("killed {swept} process(es) left running by `{command}`");
        }
        let drain_deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while !eof {
            tokio::select! {
                read = pipe.read(&mut buf) => match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => keep(&mut kept, &mut dropped, &buf[..n]),
                },
                _ = tokio::time::sleep_until(drain_deadline) => break,
            }
        }
        let exit_code = if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        };
        Ok(CommandOutput {
            command: command.to_string(),
            exit_code,
            timed_out,
            output: String::from_utf8_lossy(&kept).into_owned(),
            dropped_bytes: dropped,
            duration: started.elapsed(),
        })
    }

    async fn stop_all(&self) -> usize {
        tracker::kill_all().await
    }
}

fn keep(kept: &mut Vec<u8>, dropped: &mut usize, bytes: &[u8]) {
    let room = MAX_KEPT_BYTES.saturating_sub(kept.len());
    let take = room.min(bytes.len());
    kept.extend_from_slice(&bytes[..take]);
    *dropped += bytes.len() - take;
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        // SAFETY: killpg only sends a signal; a stale id fails with ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher() -> (tempfile::TempDir, HostLauncher) {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        let r = HostLauncher::new(dir.path(), vec![("PATH".into(), path)]);
        (dir, r)
    }

    #[tokio::test]
    async fn returns_exit_code_and_interleaved_output() {
        let (_d, r) = launcher();
        let out = r
            .run("echo out; echo err >&2; exit 3", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.output, "out\nerr\n");
        assert!(!out.timed_out);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let (d, r) = launcher();
        let out = r
            .run(
                "(sleep 30; touch late) & sleep 30",
                Duration::from_millis(300),
            )
            .await
            .unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, None);
        assert!(out.duration < Duration::from_secs(5));
        assert!(!d.path().join("late").exists());
    }

    #[tokio::test]
    async fn processes_that_leave_the_session_are_killed_with_their_command() {
        let (d, r) = launcher();
        let out = r
            .run(
                "echo hi; setsid sh -c 'echo $$ > pid; sleep 30' > /dev/null 2>&1 & while [ ! -s pid ]; do :; done; exit 0",
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(0));
        assert!(out.output.starts_with("hi"));
        assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
        let pid = std::fs::read_to_string(d.path().join("pid")).unwrap();
        let alive = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .map(|s| !s.contains(") Z"))
            .unwrap_or(false);
        assert!(!alive, "the setsid process {pid} survived its command");
    }

    #[tokio::test]
    async fn environment_is_only_what_was_given() {
        let d = tempfile::tempdir().unwrap();
        let r = HostLauncher::new(d.path(), vec![("ONLY".into(), "me".into())]);
        let out = r.run("env", Duration::from_secs(10)).await.unwrap();
        assert!(out.output.contains("ONLY=me"));
        assert!(!out.output.contains("HOME="));
    }

    #[tokio::test]
    async fn landlock_keeps_writes_inside_the_allowed_directories() {
        if !super::super::confine::Support::probe().filesystem() {
            eprintln!("LANDLOCK MISSING: this kernel has no Landlock; confinement not tested here");
            return;
        }
        let (d, r) = launcher();
        let outside = tempfile::tempdir().unwrap();
        let r = r.confined(Confinement {
            read: vec![
                "/usr".into(),
                "/bin".into(),
                "/lib".into(),
                "/lib64".into(),
                "/etc".into(),
            ],
            write: vec![d.path().to_path_buf(), "/dev".into()],
            connect_port: None,
        });
        let cmd = format!(
            "echo in > inside; echo out > {}/outside; cat {}/outside",
            outside.path().display(),
            outside.path().display()
        );
        let out = r.run(&cmd, Duration::from_secs(10)).await.unwrap();
        assert!(d.path().join("inside").exists(), "{}", out.output);
        assert!(!outside.path().join("outside").exists(), "{}", out.output);
        assert!(out.output.contains("Permission denied"), "{}", out.output);
    }
}
