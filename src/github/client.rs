//! Typed GitHub REST client (on octocrab) for exactly the calls `deckhand action` makes.
//!
//! Requests go through octocrab's raw `_get`/`_post`/`_patch` with absolute
//! URLs built from `GITHUB_API_URL`, so api.github.com, GitHub Enterprise
//! Server (`https://HOST/api/v3`) and plain-HTTP test servers all work the
//! same way. Answers are parsed into the small structs below, which hold only
//! the fields Deckhand uses. The token never appears in errors or logs.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use reqwest::header::{HeaderName, ACCEPT};

pub use super::http::GitHubError;
use super::http::{error_chain, Http, Policy, Retry, Verb};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};

/// Items per page for list calls (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Upper bound on pages followed for one list, against a server that never stops.
const MAX_PAGES: usize = 1000;

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

    /// The role's name as GitHub spells it (`role_name`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Maintain => "maintain",
            Permission::Write => "write",
            Permission::Triage => "triage",
            Permission::Read => "read",
            Permission::None => "none",
        }
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

/// A workflow run's state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Run {
    pub id: u64,
    /// `queued`, `in_progress`, `waiting`, `pending`, `requested` or `completed`.
    pub status: String,
    /// Set once completed: `success`, `failure`, `cancelled`, `timed_out`, …
    #[serde(default)]
    pub conclusion: Option<String>,
}

impl Run {
    /// Whether the run has ended (whatever its conclusion).
    pub fn is_over(&self) -> bool {
        self.status == "completed"
    }
}

/// Whether a body GitHub stored is the text that was sent (GitHub keeps
/// line endings as `\r\n` only when sent that way; trailing space may go).
fn same_text(stored: &str, sent: &str) -> bool {
    stored.replace("\r\n", "\n").trim_end() == sent.replace("\r\n", "\n").trim_end()
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

/// The GitHub REST client; cheap to clone.
#[derive(Clone)]
pub struct GitHub {
    http: Http,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("base", &self.http.base())
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
            // Deckhand's own policy (`http`) retries; octocrab's would resend creates.
            .add_retry_config(RetryConfig::None)
            .base_uri(base.as_str())
            .map_err(|e| GitHubError::InvalidApiUrl {
                url: api_url.to_string(),
                detail: error_chain(&e),
            })?
            .build()
            .map_err(|e| GitHubError::Client(error_chain(&e)))?;
        Ok(GitHub {
            http: Http::new(octo, base, token),
        })
    }

    /// The same client, masking every secret of `redactor` in what it sends.
    pub fn with_redactor(mut self, redactor: crate::sandbox::Redactor) -> GitHub {
        self.http.redactor = redactor;
        self
    }

    /// The same client with another retry policy (tests: no real waits).
    pub fn with_policy(mut self, policy: Policy) -> GitHub {
        self.http.policy = policy;
        self
    }

    /// Requests sent so far by this client and its clones.
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// The retry and rate-limit policy (its sleeper paces callers too).
    pub fn policy(&self) -> &Policy {
        &self.http.policy
    }

    /// A GET whose answer carries a `Link` page: the decoded body and the next page.
    pub(super) async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, Option<String>), GitHubError> {
        let answer = self
            .http
            .request(Verb::Get, path, None::<&()>, Retry::Idempotent)
            .await?;
        Ok((
            decode(&self.http.display_path(path), &answer.body)?,
            answer.next,
        ))
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
        let since = Utc::now() - chrono::Duration::seconds(5);
        let exists = || async move {
            let found = self.comments(r, issue, Some(since)).await?;
            Ok(found.into_iter().rev().find(|c| same_text(&c.body, body)))
        };
        self.create(&path, &serde_json::json!({ "body": body }), exists)
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
            Retry::Idempotent,
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
        self.send_ignoring_answer(
            Verb::Post,
            &path,
            &serde_json::json!({ "labels": labels }),
            Retry::Idempotent,
        )
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
        let branch = new.head.rsplit(':').next().unwrap_or(new.head);
        let exists = || self.pull_for_branch(r, branch);
        self.create(&repo_path(r, "/pulls"), new, exists).await
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
        let exists = || async move {
            let found = self.review_comments(r, pull).await?;
            Ok(found
                .into_iter()
                .rev()
                .find(|c| c.in_reply_to_id == Some(comment_id) && same_text(&c.body, body)))
        };
        self.create(&path, &serde_json::json!({ "body": body }), exists)
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
        // A lost answer may hide a started run: never sent twice.
        self.send_ignoring_answer(Verb::Post, &path, &body, Retry::Once)
            .await
    }

    /// Cancels a workflow run.
    pub async fn cancel_run(&self, r: &RepoRef, run_id: u64) -> Result<(), GitHubError> {
        let path = repo_path(r, &format!("/actions/runs/{run_id}/cancel"));
        self.http
            .request(Verb::Post, &path, None::<&()>, Retry::Idempotent)
            .await
            .map(drop)
    }

    /// One workflow run: whether it is still going.
    pub async fn run(&self, r: &RepoRef, run_id: u64) -> Result<Run, GitHubError> {
        self.get(&repo_path(r, &format!("/actions/runs/{run_id}")))
            .await
    }

    /// The account the token acts as (`GET /user`); `None` when the token
    /// cannot say (an installation token, such as `GITHUB_TOKEN`, gets 403).
    pub async fn token_user(&self) -> Result<Option<User>, GitHubError> {
        match self.get::<User>("/user").await {
            Ok(user) => Ok(Some(user)),
            Err(e) if matches!(e.status(), Some(401 | 403 | 404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        let answer = self
            .http
            .request(Verb::Get, path, None::<&()>, Retry::Idempotent)
            .await?;
        decode(path, &answer.body)
    }

    /// An idempotent change (PATCH, labels, reactions): retried freely.
    pub(super) async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        path: &str,
        body: &B,
    ) -> Result<T, GitHubError> {
        let answer = self
            .http
            .request(verb, path, Some(body), Retry::Idempotent)
            .await?;
        decode(path, &answer.body)
    }

    async fn send_ignoring_answer<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        path: &str,
        body: &B,
        retry: Retry,
    ) -> Result<(), GitHubError> {
        self.http
            .request(verb, path, Some(body), retry)
            .await
            .map(drop)
    }

    /// POSTs something that creates an object. When the answer is lost (no
    /// answer, or a 5xx), `exists` looks for the object first: found, it is
    /// the answer; not found, the request is sent again after a backoff.
    pub(super) async fn create<T, B, F, Fut>(
        &self,
        path: &str,
        body: &B,
        exists: F,
    ) -> Result<T, GitHubError>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, GitHubError>>,
    {
        let policy = &self.http.policy;
        let mut failures = 0;
        loop {
            match self
                .http
                .request(Verb::Post, path, Some(body), Retry::Once)
                .await
            {
                Ok(answer) => return decode(path, &answer.body),
                Err(e) if e.is_transient() => {
                    if let Some(found) = exists().await? {
                        tracing::info!(path, "the lost create had arrived; not sending it again");
                        return Ok(found);
                    }
                    failures += 1;
                    if failures >= policy.attempts {
                        return Err(e);
                    }
                    tracing::warn!(path, "GitHub create failed ({e}); not created, retrying");
                    policy.sleep(policy.backoff(failures - 1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every item of a list, following `Link: rel="next"`.
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        let mut target = path.to_string();
        for _ in 0..MAX_PAGES {
            let answer = self
                .http
                .request(Verb::Get, &target, None::<&()>, Retry::Idempotent)
                .await?;
            let page: Vec<T> = decode(&self.http.display_path(&target), &answer.body)?;
            items.extend(page);
            match answer.next {
                Some(next) if next != target => target = next,
                _ => return Ok(items),
            }
        }
        tracing::warn!(path, pages = MAX_PAGES, "stopped following GitHub's pages");
        Ok(items)
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
pub(super) fn repo_path(r: &RepoRef, rest: &str) -> String {
    format!("/repos/{}/{}{rest}", encode(&r.owner), encode(&r.name))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for path
/// segments and query values).
pub(super) fn encode(s: &str) -> String {
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

fn decode<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, GitHubError> {
    serde_json::from_str(text).map_err(|e| GitHubError::Decode {
        path: path.to_string(),
        detail: e.to_string(),
    })
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
            gh.http.url(&path),
            "https://ghe.example.com/api/v3/repos/acme/app/issues/7"
        );
        let next = "https://ghe.example.com/api/v3/repos/acme/app/issues/7/comments?page=2";
        assert_eq!(gh.http.url(next), next);
        assert_eq!(
            gh.http.display_path(next),
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
