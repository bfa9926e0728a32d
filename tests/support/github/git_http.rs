//! Git for the test GitHub server: bare repositories and smart HTTP through the real `git http-backend` CGI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tokio::io::AsyncWriteExt;

/// Environment variables that would point git at some other repository.
const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
];

/// Runs `git -C dir args…` with no system or global configuration and no
/// prompts; stdout on success, the command and its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_bytes(dir, args).map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// Like [`git`], with stdout as raw bytes (for blobs).
pub fn git_bytes(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for var in GIT_LOCATION_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "git -C {} {}: {}",
            dir.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Where a repository lives under the server's git root.
pub fn bare_path(root: &Path, owner: &str, name: &str) -> PathBuf {
    root.join(owner).join(format!("{name}.git"))
}

/// Creates `{root}/{owner}/{name}.git` and pushes every branch of `source` into it.
pub fn create_bare(root: &Path, owner: &str, name: &str, source: &Path) -> Result<PathBuf, String> {
    let bare = bare_path(root, owner, name);
    std::fs::create_dir_all(&bare).map_err(|e| format!("mkdir {}: {e}", bare.display()))?;
    let bare_str = bare.to_string_lossy().into_owned();
    git(
        &bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    )?;
    git(&bare, &["config", "http.receivepack", "true"])?;
    git(
        source,
        &["push", "--quiet", &bare_str, "refs/heads/*:refs/heads/*"],
    )?;
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
    Ok(bare)
}

/// A bare repository `{owner}/{name}.git` with no commits and no refs at
/// all (what `POST /user/repos` without `auto_init` leaves).
pub fn create_empty_bare(root: &Path, owner: &str, name: &str) -> Result<PathBuf, String> {
    let bare = bare_path(root, owner, name);
    std::fs::create_dir_all(&bare).map_err(|e| format!("mkdir {}: {e}", bare.display()))?;
    git(
        &bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    )?;
    git(&bare, &["config", "http.receivepack", "true"])?;
    Ok(bare)
}

/// The commit a revision names, if it exists.
pub fn rev_parse(bare: &Path, rev: &str) -> Option<String> {
    git(
        bare,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
}

/// `(sha, subject)` of every commit reachable from `branch`, newest first.
pub fn commits(bare: &Path, branch: &str) -> Vec<(String, String)> {
    git(
        bare,
        &[
            "log",
            "--format=%H %s",
            &format!("refs/heads/{branch}"),
            "--",
        ],
    )
    .map(|out| {
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sha, msg)| (sha.to_string(), msg.to_string()))
            .collect()
    })
    .unwrap_or_default()
}

/// What a workflow run's `head_commit` tells about a commit.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub author: (String, String),
    pub committer: (String, String),
    /// Committer date, strict ISO 8601.
    pub time: String,
    pub message: String,
}

impl CommitInfo {
    /// Stands in when the repository has no git data.
    pub fn placeholder() -> CommitInfo {
        let who = ("Test".to_string(), "test@example.com".to_string());
        CommitInfo {
            sha: "0".repeat(40),
            tree: "0".repeat(40),
            author: who.clone(),
            committer: who,
            time: "2024-01-01T00:00:00Z".into(),
            message: "Test commit".into(),
        }
    }
}

/// The commit `rev` names, with its tree, people, date and full message.
pub fn commit_info(bare: &Path, rev: &str) -> Option<CommitInfo> {
    let out = git(
        bare,
        &[
            "log",
            "-1",
            "--format=%H%n%T%n%an%n%ae%n%cn%n%ce%n%cI%n%B",
            rev,
            "--",
        ],
    )
    .ok()?;
    let mut lines = out.splitn(8, '\n');
    let mut next = || lines.next().map(String::from);
    Some(CommitInfo {
        sha: next()?,
        tree: next()?,
        author: (next()?, next()?),
        committer: (next()?, next()?),
        time: next()?,
        message: next()?.trim_end().to_string(),
    })
}

fn exec_path() -> Result<&'static PathBuf, String> {
    static EXEC_PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    EXEC_PATH
        .get_or_init(|| git(Path::new("."), &["--exec-path"]).map(|s| PathBuf::from(s.trim())))
        .as_ref()
        .map_err(Clone::clone)
}

/// One CGI exchange with `git http-backend`.
pub struct CgiRequest<'a> {
    pub root: &'a Path,
    pub path_info: &'a str,
    pub method: &'a str,
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub git_protocol: Option<&'a str>,
    pub remote_user: &'a str,
    pub body: &'a [u8],
}

/// The parsed CGI answer: status, headers and body.
pub struct CgiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Runs `git http-backend` for one request and parses its CGI output.
pub async fn run_cgi(req: CgiRequest<'_>) -> Result<CgiResponse, String> {
    let backend = exec_path()?.join("git-http-backend");
    let mut cmd = tokio::process::Command::new(&backend);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", req.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", req.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", req.path_info)
        .env("REQUEST_METHOD", req.method)
        .env("QUERY_STRING", req.query)
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("REMOTE_USER", req.remote_user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1");
    if let Some(ct) = req.content_type {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(ce) = req.content_encoding {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    if let Some(p) = req.git_protocol {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", backend.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin for git http-backend")?;
    let body = req.body.to_vec();
    let writer = tokio::spawn(async move {
        // The backend may stop reading early (e.g. on errors); that is not our failure.
        let _ = stdin.write_all(&body).await;
        drop(stdin);
    });
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("git http-backend failed: {e}"))?;
    let _ = writer.await;
    parse_cgi(&out.stdout).ok_or_else(|| {
        format!(
            "git http-backend gave no CGI header block (stderr: {})",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Splits CGI output into status (from `Status:`, default 200), headers and body.
fn parse_cgi(out: &[u8]) -> Option<CgiResponse> {
    let (head_len, sep_len) = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))?;
    let head = String::from_utf8_lossy(&out[..head_len]);
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v.split_whitespace().next()?.parse().ok()?;
        } else {
            headers.push((k.trim().to_string(), v.to_string()));
        }
    }
    Some(CgiResponse {
        status,
        headers,
        body: out[head_len + sep_len..].to_vec(),
    })
}
