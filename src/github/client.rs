//! Typed GitHub REST client (on octocrab) for exactly the calls `deckhand action` makes.
//!
//! Requests go through octocrab's raw `_get`/`_post`/`_patch` with absolute
//! URLs built from `GITHUB_API_URL`, so api.github.com, GitHub Enterprise
//! Server (`https://HOST/api/v3`) and plain-HTTP test servers all work the
//! same way. Answers are parsed into the small structs below, which hold only
//! the fields Deckhand uses. The token never appears in errors or logs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use octocrab::Octocrab;
use reqwest::header::{HeaderName, ACCEPT};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};

/// Items per page for list calls (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Upper bound on pages followed for one list, against a server that never stops.
const MAX_PAGES: usize = 1000;
/// How often a rate-limited request is retried after waiting.
const RATE_LIMIT_RETRIES: u32 = 2;
/// Longer waits than this are not worth blocking a job for: the error is returned instead.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Wait after a 429 that names no time (GitHub's advice for secondary limits).
const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Everything that can go wrong talking to GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// GitHub answered with a non-success status; `message` is GitHub's own.
    #[error("GitHub {method} {path} answered {status}: {message}{}", status_hint(*status))]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The request did not get an answer (connection, TLS, timeout, body read).
    #[error("GitHub {method} {path} failed: {detail}")]
    Transport {
        method: &'static str,
        path: String,
        detail: String,
    },
    /// The answer was not the JSON we expected.
    #[error("cannot decode GitHub's answer to {path}: {detail}")]
    Decode { path: String, detail: String },
    /// Not an `owner/name` repository reference.
    #[error("invalid repository {0:?}: expected owner/name")]
    InvalidRepo(String),
    /// `GITHUB_API_URL` is not an http(s) URL.
    #[error("invalid GitHub API URL {url:?}: {detail}")]
    InvalidApiUrl { url: String, detail: String },
    /// The token cannot be sent in an HTTP header.
    #[error("invalid GitHub token: {0}")]
    InvalidToken(&'static str),
    /// The HTTP client could not be built (e.g. no CA certificates).
    #[error("cannot set up the GitHub client: {0}")]
    Client(String),
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 => " (the token was rejected: check that it is valid and not expired)",
        403 => " (the token lacks a permission, or a rate limit was hit)",
        _ => "",
    }
}

impl GitHubError {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A repository as `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl FromStr for RepoRef {
    type Err = GitHubError;

    fn from_str(s: &str) -> Result<RepoRef, GitHubError> {
        let valid = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.trim().split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(RepoRef {
                owner: owner.to_string(),
                name: name.to_string(),
            }),
            _ => Err(GitHubError::InvalidRepo(s.to_string())),
        }
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A user's role on a repository, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    None,
}

impl Permission {
    /// Whether the role may push (admin, maintain, write): who may trigger Deckhand.
    pub fn can_write(self) -> bool {
        matches!(
            self,
            Permission::Admin | Permission::Maintain | Permission::Write
        )
    }

    /// A role or legacy permission name; `None` for names GitHub may add (custom roles).
    fn from_name(name: &str) -> Option<Permission> {
        Some(match name {
            "admin" => Permission::Admin,
            "maintain" => Permission::Maintain,
            "write" => Permission::Write,
            "triage" => Permission::Triage,
            "read" => Permission::Read,
            "none" => Permission::None,
            _ => return None,
        })
    }
}

/// A user or bot account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl User {
    /// Whether the account is a bot (GitHub App or `[bot]` account).
    pub fn is_bot(&self) -> bool {
        self.kind == "Bot"
    }
}

impl Default for User {
    /// GitHub's stand-in for deleted accounts (answers carry `user: null` for them).
    fn default() -> User {
        User {
            login: "ghost".to_string(),
            kind: "User".to_string(),
        }
    }
}

/// The repository fields Deckhand uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub full_name: String,
    pub default_branch: String,
    #[serde(default)]
    pub private: bool,
    pub html_url: String,
}

/// An issue, or the issue side of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: User,
    #[serde(default, deserialize_with = "label_names")]
    pub labels: Vec<String>,
    pub html_url: String,
    #[serde(default, rename = "pull_request", deserialize_with = "present")]
    pub is_pull_request: bool,
}

/// A comment on an issue or on a pull request's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub body: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: User,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawPull")]
pub struct Pull {
    pub number: u64,
    pub html_url: String,
    pub title: String,
    pub body: Option<String>,
    pub draft: bool,
    /// The head branch name (without `owner:`).
    pub head_ref: String,
    /// `owner/name` of the head repository; `None` when a fork was deleted.
    pub head_repo_full_name: Option<String>,
    pub base_ref: String,
    pub user: User,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    html_url: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    draft: bool,
    head: RawBranch,
    base: RawBranch,
    #[serde(default, deserialize_with = "null_as_default")]
    user: User,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repo: Option<RawRepoName>,
}

#[derive(Deserialize)]
struct RawRepoName {
    full_name: String,
}

impl From<RawPull> for Pull {
    fn from(raw: RawPull) -> Pull {
        Pull {
            number: raw.number,
            html_url: raw.html_url,
            title: raw.title,
            body: raw.body,
            draft: raw.draft,
            head_ref: raw.head.git_ref,
            head_repo_full_name: raw.head.repo.map(|r| r.full_name),
            base_ref: raw.base.git_ref,
            user: raw.user,
        }
    }
}

/// A review comment on a line of a pull request's diff.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReviewComment {
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub body: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: User,
    pub path: String,
    /// `None` for comments on a whole file or on an outdated diff.
    #[serde(default)]
    pub line: Option<u64>,
    pub html_url: String,
    #[serde(default)]
    pub in_reply_to_id: Option<u64>,
}

/// What `create_pull` sends.
#[derive(Debug, Clone, Serialize)]
pub struct NewPull<'a> {
    pub title: &'a str,
    /// The branch with the changes (`branch` or `owner:branch`).
    pub head: &'a str,
    /// The branch to merge into.
    pub base: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// `null` (e.g. a deleted user) becomes the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Whether a field is present and not `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Option::<IgnoredAny>::deserialize(d).map(|v| v.is_some())
}

/// Label names from label objects (or plain names).
fn label_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Label {
        Name(String),
        Object { name: String },
    }
    let labels: Option<Vec<Label>> = Option::deserialize(d)?;
    Ok(labels
        .unwrap_or_default()
        .into_iter()
        .map(|l| match l {
            Label::Name(name) | Label::Object { name } => name,
        })
        .collect())
}

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
        }
    }
}

/// A successful answer.
struct Answer {
    /// The `rel="next"` page, if any.
    next: Option<String>,
    body: String,
}

/// The GitHub REST client; cheap to clone.
#[derive(Clone)]
pub struct GitHub {
    octo: Octocrab,
    /// `GITHUB_API_URL` without a trailing slash.
    base: Arc<str>,
    /// Kept only to scrub it from anything GitHub echoes back.
    token: Arc<str>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for the API at `api_url` (`GITHUB_API_URL`) authenticating with `token`.
    /// Must be called inside a Tokio runtime (octocrab spawns a task there).
    pub fn new(api_url: &str, token: &str) -> Result<GitHub, GitHubError> {
        let base = api_base(api_url)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(GitHubError::InvalidToken("the token is empty"));
        }
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(GitHubError::InvalidToken(
                "the token contains characters other than visible ASCII",
            ));
        }
        // octocrab spawns its request buffer on the current runtime and panics without one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(GitHubError::Client(
                "the client must be created inside a Tokio runtime".to_string(),
            ));
        }
        let octo = Octocrab::builder()
            .personal_token(token.to_string())
            .add_header(ACCEPT, "application/vnd.github+json".to_string())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_string(),
            )
            .set_connect_timeout(Some(Duration::from_secs(30)))
            .set_read_timeout(Some(Duration::from_secs(120)))
            .base_uri(base.as_str())
            .map_err(|e| GitHubError::InvalidApiUrl {
                url: api_url.to_string(),
                detail: error_chain(&e),
            })?
            .build()
            .map_err(|e| GitHubError::Client(error_chain(&e)))?;
        Ok(GitHub {
            octo,
            base: base.into(),
            token: token.into(),
        })
    }

    /// The repository's default branch, name, visibility and page.
    pub async fn repository(&self, r: &RepoRef) -> Result<Repository, GitHubError> {
        self.get(&repo_path(r, "")).await
    }

    /// One issue (or the issue side of a pull request).
    pub async fn issue(&self, r: &RepoRef, number: u64) -> Result<Issue, GitHubError> {
        self.get(&repo_path(r, &format!("/issues/{number}"))).await
    }

    /// All comments on an issue or pull request (every page), optionally only
    /// those updated at or after `since`; oldest first.
    pub async fn comments(
        &self,
        r: &RepoRef,
        issue: u64,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Comment>, GitHubError> {
        let mut path = repo_path(r, &format!("/issues/{issue}/comments?per_page={PER_PAGE}"));
        if let Some(since) = since {
            let since = since.to_rfc3339_opts(SecondsFormat::Secs, true);
            path.push_str(&format!("&since={}", encode(&since)));
        }
        self.get_all(&path).await
    }

    /// Posts a comment on an issue or pull request.
    pub async fn create_comment(
        &self,
        r: &RepoRef,
        issue: u64,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        let path = repo_path(r, &format!("/issues/{issue}/comments"));
        self.send(Verb::Post, &path, &serde_json::json!({ "body": body }))
            .await
    }

    /// Replaces the text of an issue comment.
    pub async fn update_comment(
        &self,
        r: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        let path = repo_path(r, &format!("/issues/comments/{comment_id}"));
        self.send(Verb::Patch, &path, &serde_json::json!({ "body": body }))
            .await
    }

    /// Reacts to an issue comment (`eyes`, `+1`, `rocket`, …).
    pub async fn add_reaction(
        &self,
        r: &RepoRef,
        comment_id: u64,
        content: &str,
    ) -> Result<(), GitHubError> {
        let path = repo_path(r, &format!("/issues/comments/{comment_id}/reactions"));
        self.send_ignoring_answer(
            Verb::Post,
            &path,
            &serde_json::json!({ "content": content }),
        )
        .await
    }

    /// Adds labels to an issue or pull request (creating missing repository labels).
    pub async fn add_labels(
        &self,
        r: &RepoRef,
        issue: u64,
        labels: &[&str],
    ) -> Result<(), GitHubError> {
        let path = repo_path(r, &format!("/issues/{issue}/labels"));
        self.send_ignoring_answer(Verb::Post, &path, &serde_json::json!({ "labels": labels }))
            .await
    }

    /// `user`'s role on the repository; someone who is not a collaborator has `Permission::None`.
    pub async fn permission(&self, r: &RepoRef, user: &str) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            role_name: Option<String>,
            #[serde(default)]
            permission: Option<String>,
        }
        let path = repo_path(r, &format!("/collaborators/{}/permission", encode(user)));
        let answer: Answer = match self.get(&path).await {
            Err(e) if e.status() == Some(404) => return Ok(Permission::None),
            other => other?,
        };
        // `role_name` keeps maintain/triage (and custom roles); `permission` folds them.
        let role = answer.role_name.as_deref().and_then(Permission::from_name);
        let legacy = answer.permission.as_deref().and_then(Permission::from_name);
        Ok(role.or(legacy).unwrap_or(Permission::None))
    }

    /// The open pull request from `branch` of this repository, if there is one.
    pub async fn pull_for_branch(
        &self,
        r: &RepoRef,
        branch: &str,
    ) -> Result<Option<Pull>, GitHubError> {
        let head = format!("{}:{branch}", r.owner);
        let path = repo_path(r, &format!("/pulls?state=open&head={}", encode(&head)));
        let pulls: Vec<Pull> = self.get(&path).await?;
        Ok(pulls.into_iter().next())
    }

    /// Opens a pull request.
    pub async fn create_pull(&self, r: &RepoRef, new: &NewPull<'_>) -> Result<Pull, GitHubError> {
        self.send(Verb::Post, &repo_path(r, "/pulls"), new).await
    }

    /// Changes a pull request's title and/or body (a `None` is left as it is).
    pub async fn update_pull(
        &self,
        r: &RepoRef,
        number: u64,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Pull, GitHubError> {
        #[derive(Serialize)]
        struct Change<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            title: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a str>,
        }
        let path = repo_path(r, &format!("/pulls/{number}"));
        self.send(Verb::Patch, &path, &Change { title, body }).await
    }

    /// One pull request.
    pub async fn pull(&self, r: &RepoRef, number: u64) -> Result<Pull, GitHubError> {
        self.get(&repo_path(r, &format!("/pulls/{number}"))).await
    }

    /// All review comments on a pull request (every page), oldest first.
    pub async fn review_comments(
        &self,
        r: &RepoRef,
        pull: u64,
    ) -> Result<Vec<ReviewComment>, GitHubError> {
        let path = repo_path(r, &format!("/pulls/{pull}/comments?per_page={PER_PAGE}"));
        self.get_all(&path).await
    }

    /// Replies in the thread of a review comment.
    pub async fn reply_to_review_comment(
        &self,
        r: &RepoRef,
        pull: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<ReviewComment, GitHubError> {
        let path = repo_path(r, &format!("/pulls/{pull}/comments/{comment_id}/replies"));
        self.send(Verb::Post, &path, &serde_json::json!({ "body": body }))
            .await
    }

    /// Starts a `workflow_dispatch` run of `workflow` (file name or id) on `git_ref`.
    pub async fn dispatch_workflow(
        &self,
        r: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), GitHubError> {
        let path = repo_path(
            r,
            &format!("/actions/workflows/{}/dispatches", encode(workflow)),
        );
        let body = serde_json::json!({ "ref": git_ref, "inputs": inputs });
        self.send_ignoring_answer(Verb::Post, &path, &body).await
    }

    /// Cancels a workflow run.
    pub async fn cancel_run(&self, r: &RepoRef, run_id: u64) -> Result<(), GitHubError> {
        let path = repo_path(r, &format!("/actions/runs/{run_id}/cancel"));
        self.request(Verb::Post, &path, None::<&()>).await.map(drop)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        let answer = self.request(Verb::Get, path, None::<&()>).await?;
        decode(path, &answer.body)
    }

    async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        path: &str,
        body: &B,
    ) -> Result<T, GitHubError> {
        let answer = self.request(verb, path, Some(body)).await?;
        decode(path, &answer.body)
    }

    async fn send_ignoring_answer<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        path: &str,
        body: &B,
    ) -> Result<(), GitHubError> {
        self.request(verb, path, Some(body)).await.map(drop)
    }

    /// Every item of a list, following `Link: rel="next"`.
    async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        let mut target = path.to_string();
        for _ in 0..MAX_PAGES {
            let answer = self.request(Verb::Get, &target, None::<&()>).await?;
            let page: Vec<T> = decode(&self.display_path(&target), &answer.body)?;
            items.extend(page);
            match answer.next {
                Some(next) if next != target => target = next,
                _ => return Ok(items),
            }
        }
        tracing::warn!(path, pages = MAX_PAGES, "stopped following GitHub's pages");
        Ok(items)
    }

    /// Sends one request (a path under the API base, or an absolute URL from a `Link`
    /// header); waits and retries when rate-limited; non-2xx answers become errors.
    async fn request<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        target: &str,
        body: Option<&B>,
    ) -> Result<Answer, GitHubError> {
        let url = self.url(target);
        let path = self.display_path(target);
        let method = verb.as_str();
        let transport = |e: octocrab::Error| GitHubError::Transport {
            method,
            path: path.clone(),
            detail: self.redact(&error_chain(&e)),
        };
        let mut retries = 0;
        loop {
            tracing::debug!(method, path, "GitHub request");
            let sent = match verb {
                Verb::Get => self.octo._get(url.as_str()).await,
                Verb::Post => self.octo._post(url.as_str(), body).await,
                Verb::Patch => self.octo._patch(url.as_str(), body).await,
            };
            let response = sent.map_err(transport)?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let wait = rate_limit_wait(
                status,
                header("retry-after").as_deref(),
                header("x-ratelimit-remaining").as_deref(),
                header("x-ratelimit-reset").as_deref(),
                Utc::now().timestamp(),
            );
            let next = header("link").as_deref().and_then(next_link);
            let text = self
                .octo
                .body_to_string(response)
                .await
                .map_err(transport)?;
            if (200..300).contains(&status) {
                return Ok(Answer { next, body: text });
            }
            match wait {
                Some(wait) if wait <= MAX_RATE_LIMIT_WAIT && retries < RATE_LIMIT_RETRIES => {
                    retries += 1;
                    tracing::warn!(
                        method,
                        path,
                        status,
                        wait_seconds = wait.as_secs(),
                        "GitHub rate limit; waiting before retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(GitHubError::Http {
                        method,
                        path,
                        status,
                        message: self.redact(&error_message(&text)),
                    })
                }
            }
        }
    }

    /// The absolute URL of a path under the API base (absolute URLs pass through).
    fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base)
        }
    }

    /// A target as shown in errors and logs: relative to the API base when under it.
    fn display_path(&self, target: &str) -> String {
        target
            .strip_prefix(&*self.base)
            .unwrap_or(target)
            .to_string()
    }

    fn redact(&self, text: &str) -> String {
        text.replace(&*self.token, "***")
    }
}

/// `GITHUB_API_URL` checked (http or https, with a host) and without a trailing slash.
fn api_base(api_url: &str) -> Result<String, GitHubError> {
    let invalid = |detail: &str| GitHubError::InvalidApiUrl {
        url: api_url.to_string(),
        detail: detail.to_string(),
    };
    let trimmed = api_url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| invalid("expected an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    if trimmed.contains(['?', '#']) || trimmed.chars().any(char::is_whitespace) {
        return Err(invalid(
            "the URL must not contain a query, fragment or spaces",
        ));
    }
    Ok(trimmed.to_string())
}

/// `/repos/{owner}/{name}{rest}`.
fn repo_path(r: &RepoRef, rest: &str) -> String {
    format!("/repos/{}/{}{rest}", encode(&r.owner), encode(&r.name))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for path
/// segments and query values).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .strip_prefix("rel=")
                .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// How long to wait before retrying a rate-limited answer (403/429), per
/// `retry-after` or an exhausted `x-ratelimit-remaining` with its reset time;
/// `None` when the answer is not a rate limit.
fn rate_limit_wait(
    status: u16,
    retry_after: Option<&str>,
    remaining: Option<&str>,
    reset: Option<&str>,
    now: i64,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(seconds) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    if remaining.map(str::trim) == Some("0") {
        if let Some(reset) = reset.and_then(|v| v.trim().parse::<i64>().ok()) {
            let seconds = u64::try_from(reset.saturating_sub(now)).unwrap_or(0);
            return Some(Duration::from_secs(seconds.saturating_add(1)));
        }
    }
    (status == 429).then_some(SECONDARY_RATE_LIMIT_WAIT)
}

/// GitHub's `message` plus the details of its `errors` list (422s put the
/// useful part there); the start of the raw text when it is not GitHub's JSON.
fn error_message(text: &str) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(text) else {
        let raw: String = text.trim().chars().take(300).collect();
        return if raw.is_empty() {
            "(empty answer)".to_string()
        } else {
            raw
        };
    };
    let details: Vec<String> = parsed
        .errors
        .iter()
        .filter_map(|e| match e {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => {
                let field = |k: &str| o.get(k).and_then(serde_json::Value::as_str);
                field("message").map(str::to_string).or_else(|| {
                    let code = field("code")?;
                    Some(match (field("resource"), field("field")) {
                        (Some(res), Some(f)) => format!("{res}.{f} {code}"),
                        (None, Some(f)) => format!("{f} {code}"),
                        _ => code.to_string(),
                    })
                })
            }
            _ => None,
        })
        .collect();
    let message = parsed.message.unwrap_or_default();
    match (message.is_empty(), details.is_empty()) {
        (true, true) => "(no message)".to_string(),
        (false, true) => message,
        (true, false) => details.join("; "),
        (false, false) => format!("{message}: {}", details.join("; ")),
    }
}

fn decode<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, GitHubError> {
    serde_json::from_str(text).map_err(|e| GitHubError::Decode {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// An error and its sources on one line (octocrab's own text appends a backtrace: dropped).
fn error_chain(e: &dyn std::error::Error) -> String {
    let first_line = |e: &dyn std::error::Error| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let mut out = first_line(e);
    let mut source = e.source();
    while let Some(s) = source {
        let line = first_line(s);
        if !line.is_empty() && !out.contains(&line) {
            out.push_str(": ");
            out.push_str(&line);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ref_parses_and_displays() {
        let r: RepoRef = "acme/user-service".parse().unwrap();
        assert_eq!(r.owner, "acme");
        assert_eq!(r.name, "user-service");
        assert_eq!(r.to_string(), "acme/user-service");
        for bad in ["acme", "/x", "acme/", "a/b/c", "a b/c", "acme/..", ""] {
            let err = bad.parse::<RepoRef>().unwrap_err();
            assert!(err.to_string().contains("expected owner/name"), "{err}");
        }
    }

    #[test]
    fn api_base_keeps_enterprise_prefix_and_plain_http() {
        assert_eq!(
            api_base("https://api.github.com").unwrap(),
            "https://api.github.com"
        );
        assert_eq!(
            api_base("https://ghe.example.com/api/v3/").unwrap(),
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(
            api_base("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(api_base("ftp://x").is_err());
        assert!(api_base("https://").is_err());
        assert!(api_base("api.github.com").is_err());
    }

    #[tokio::test]
    async fn urls_join_base_and_path() {
        let gh = GitHub::new("https://ghe.example.com/api/v3/", "t0ken").unwrap();
        let r: RepoRef = "acme/app".parse().unwrap();
        let path = repo_path(&r, "/issues/7");
        assert_eq!(
            gh.url(&path),
            "https://ghe.example.com/api/v3/repos/acme/app/issues/7"
        );
        let next = "https://ghe.example.com/api/v3/repos/acme/app/issues/7/comments?page=2";
        assert_eq!(gh.url(next), next);
        assert_eq!(
            gh.display_path(next),
            "/repos/acme/app/issues/7/comments?page=2"
        );
        assert!(!format!("{gh:?}").contains("t0ken"));
    }

    #[test]
    fn encode_escapes_reserved_characters() {
        assert_eq!(encode("acme:feat/x y"), "acme%3Afeat%2Fx%20y");
        assert_eq!(encode("bot[bot]"), "bot%5Bbot%5D");
        assert_eq!(encode("ci.yml"), "ci.yml");
    }

    #[test]
    fn next_link_finds_rel_next() {
        let link = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let last = r#"<https://api.github.com/x?page=1>; rel="first", <https://api.github.com/x?page=4>; rel="prev""#;
        assert_eq!(next_link(last), None);
    }

    #[test]
    fn rate_limit_waits() {
        let now = 1_000;
        assert_eq!(rate_limit_wait(404, Some("5"), None, None, now), None);
        assert_eq!(
            rate_limit_wait(403, Some("5"), None, None, now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            rate_limit_wait(403, None, Some("0"), Some("1010"), now),
            Some(Duration::from_secs(11))
        );
        // A plain 403 is a permission problem, not a rate limit.
        assert_eq!(
            rate_limit_wait(403, None, Some("4999"), Some("1010"), now),
            None
        );
        assert_eq!(
            rate_limit_wait(429, None, None, None, now),
            Some(SECONDARY_RATE_LIMIT_WAIT)
        );
    }

    #[test]
    fn error_message_includes_validation_details() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for a:b."}]}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed: A pull request already exists for a:b."
        );
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"}]}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed: PullRequest.head invalid"
        );
        assert_eq!(error_message(r#"{"message":"Not Found"}"#), "Not Found");
        assert_eq!(error_message("<html>oops"), "<html>oops");
        assert_eq!(error_message(""), "(empty answer)");
    }

    #[test]
    fn new_outside_a_runtime_is_an_error() {
        let err = GitHub::new("https://api.github.com", "t").unwrap_err();
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn token_is_checked() {
        assert!(matches!(
            GitHub::new("https://api.github.com", "  "),
            Err(GitHubError::InvalidToken(_))
        ));
        assert!(matches!(
            GitHub::new("https://api.github.com", "a\u{7}b"),
            Err(GitHubError::InvalidToken(_))
        ));
        assert!(GitHub::new("https://api.github.com", "ghs_abc\n").is_ok());
    }

    #[test]
    fn models_tolerate_missing_and_null_fields() {
        let issue: Issue = serde_json::from_str(
            r#"{"number":3,"title":"t","user":null,"html_url":"h","labels":[{"name":"bug","color":"f00"}],"pull_request":{"url":"u"}}"#,
        )
        .unwrap();
        assert_eq!(issue.user.login, "ghost");
        assert_eq!(issue.labels, vec!["bug"]);
        assert!(issue.is_pull_request);
        assert_eq!(issue.body, None);
        let pull: Pull = serde_json::from_str(
            r#"{"number":1,"html_url":"h","title":"t","body":null,"draft":null,"head":{"ref":"f","repo":null},"base":{"ref":"main","repo":{"full_name":"a/b"}},"user":{"login":"x","type":"Bot"}}"#,
        )
        .unwrap();
        assert_eq!(pull.head_repo_full_name, None);
        assert_eq!(pull.base_ref, "main");
        assert!(pull.user.is_bot());
        assert!(!pull.draft);
    }

    #[test]
    fn permission_levels() {
        assert!(Permission::Admin.can_write());
        assert!(Permission::Maintain.can_write());
        assert!(Permission::Write.can_write());
        assert!(!Permission::Triage.can_write());
        assert!(!Permission::Read.can_write());
        assert!(!Permission::None.can_write());
    }
}
