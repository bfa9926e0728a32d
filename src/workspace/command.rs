//! Runs shell commands in the workspace: own process group, timeout that
//! kills the whole group, stdout and stderr interleaved in one pipe, a drain
//! timeout so a grandchild holding the pipe open cannot hang the agent, and
//! an environment built only from what the caller allows.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// How long to keep reading after the command itself has exited.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes of output kept in memory for one command; the rest is counted.
const MAX_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub command: String,
    /// `None` when the command was killed (timeout or signal).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// stdout and stderr, interleaved as written.
    pub output: String,
    /// Bytes produced beyond what was kept.
    pub dropped_bytes: usize,
    pub duration: Duration,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs commands in one directory with one environment.
#[derive(Debug, Clone)]
pub struct CommandRunner {
    cwd: PathBuf,
    env: Vec<(String, String)>,
    /// Run as this uid/gid (Deckhand as root hands commands to an
    /// unprivileged account).
    user: Option<(u32, u32)>,
}

impl CommandRunner {
    /// `env` is the complete environment the commands see.
    pub fn new(cwd: &Path, env: Vec<(String, String)>) -> Self {
        CommandRunner {
            cwd: cwd.to_path_buf(),
            env,
            user: None,
        }
    }

    /// The same runner, running commands as `uid`/`gid`.
    pub fn as_user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Runs `command` with `bash -c` (or `sh -c` where bash is missing).
    pub async fn run(&self, command: &str, timeout: Duration) -> std::io::Result<CommandOutput> {
        let started = Instant::now();
        let (reader, writer) = std::io::pipe()?;
        let writer_err = writer.try_clone()?;
        let shell = if Path::new("/bin/bash").exists() {
            "/bin/bash"
        } else {
            "/bin/sh"
        };
        let mut cmd = tokio::process::Command::new(shell);
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(OwnedFd::from(writer)))
            .stderr(Stdio::from(OwnedFd::from(writer_err)))
            .process_group(0)
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
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
        if timed_out {
            kill_group(pgid);
            status = Some(child.wait().await?);
        }
        // Drain what is left, but never wait on a grandchild forever.
        let drain_deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while !eof {
            tokio::select! {
                read = pipe.read(&mut buf) => match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => keep(&mut kept, &mut dropped, &buf[..n]),
                },
                _ = tokio::time::sleep_until(drain_deadline) => {
                    kill_group(pgid);
                    break;
                }
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

/// Cuts `text` for the model: keeps the first and last lines within
/// `max_lines` and `max_bytes`, with a marker saying how much was left out.
pub fn cap_head_tail(text: &str, max_lines: usize, max_bytes: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max_lines && text.len() <= max_bytes {
        return text.to_string();
    }
    let head_budget = max_bytes / 2;
    let tail_budget = max_bytes - head_budget;
    let half = max_lines / 2;
    let mut head = Vec::new();
    let mut used = 0;
    for line in lines.iter().take(half) {
        let line = clip(line, head_budget);
        if used + line.len() + 1 > head_budget {
            break;
        }
        used += line.len() + 1;
        head.push(line);
    }
    let mut tail = Vec::new();
    used = 0;
    for line in lines.iter().skip(head.len()).rev().take(max_lines - half) {
        let line = clip(line, tail_budget);
        if used + line.len() + 1 > tail_budget {
            break;
        }
        used += line.len() + 1;
        tail.push(line);
    }
    tail.reverse();
    let omitted = lines.len() - head.len() - tail.len();
    format!(
        "{}\n[… {omitted} lines left out …]\n{}",
        head.join("\n"),
        tail.join("\n")
    )
}

fn clip(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner() -> (tempfile::TempDir, CommandRunner) {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        let r = CommandRunner::new(dir.path(), vec![("PATH".into(), path)]);
        (dir, r)
    }

    #[tokio::test]
    async fn returns_exit_code_and_interleaved_output() {
        let (_d, r) = runner();
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
        let (d, r) = runner();
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
    async fn grandchild_holding_the_pipe_does_not_hang() {
        let (_d, r) = runner();
        let out = r
            .run(
                "echo hi; (setsid sleep 30 &) ; exit 0",
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(0));
        assert!(out.output.starts_with("hi"));
        assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
    }

    #[tokio::test]
    async fn environment_is_only_what_was_given() {
        let (d, _) = runner();
        let r = CommandRunner::new(d.path(), vec![("ONLY".into(), "me".into())]);
        let out = r.run("env", Duration::from_secs(10)).await.unwrap();
        assert!(out.output.contains("ONLY=me"));
        assert!(!out.output.contains("HOME="));
    }

    #[test]
    fn cap_keeps_head_and_tail_with_marker() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let capped = cap_head_tail(&text, 10, 10_000);
        assert!(capped.starts_with("line 1\nline 2\n"));
        assert!(capped.contains("[… 90 lines left out …]"));
        assert!(capped.ends_with("line 100"));
        assert_eq!(cap_head_tail("short\n", 10, 100), "short\n");
    }
}
