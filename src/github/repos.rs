//! The REST resources campaigns read and write: org repository listings, file contents, code search, pull and commit state, tracking issues.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::client::{encode, repo_path, GitHub, GitHubError, Issue, RepoRef};
use super::http::Verb;

/// Items per page (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Pages followed for one org listing (100,000 repositories).
const MAX_PAGES: usize = 1000;

/// What a repository's metadata says about it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RepoMeta {
    pub full_name: String,
    #[serde(default)]
    pub default_branch: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub disabled: bool,
    /// Kilobytes, as GitHub counts them.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub pushed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub topics: Vec<String>,
}

/// One page of code search results.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CodeSearchPage {
    pub total_count: u64,
    pub incomplete_results: bool,
    pub items: Vec<CodeHit>,
}

/// A file that matched a code search.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CodeHit {
    pub path: String,
    pub repository: HitRepo,
}

/// The repository of a code search hit (only its name is trusted).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HitRepo {
    pub full_name: String,
}

/// A pull request's lifecycle fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullState {
    pub number: u64,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    pub head: PullHead,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullHead {
    pub sha: String,
}

/// The combined commit status: `success`, `failure`, `pending` (or `error`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CombinedStatus {
    pub state: String,
    #[serde(default)]
    pub total_count: u64,
}

#[derive(Deserialize)]
struct Contents {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(rename = "type")]
    kind: String,
}

impl GitHub {
    /// Every repository of an organization (every page, 100 a page).
    pub async fn org_repos(&self, org: &str) -> Result<Vec<RepoMeta>, GitHubError> {
        let mut target = format!("/orgs/{}/repos?per_page={PER_PAGE}", encode(org));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next): (Vec<RepoMeta>, _) = self.get_page(&target).await?;
            all.extend(page);
            match next {
                Some(next) if next != target => target = next,
                _ => return Ok(all),
            }
        }
        tracing::warn!(org, pages = MAX_PAGES, "stopped following GitHub's pages");
        Ok(all)
    }

    /// One repository's metadata.
    pub async fn repo_meta(&self, r: &RepoRef) -> Result<RepoMeta, GitHubError> {
        self.get(&repo_path(r, "")).await
    }

    /// A file's text on the default branch; `None` when there is no such
    /// file (or it is a directory, or not UTF-8).
    pub async fn file_text(&self, r: &RepoRef, path: &str) -> Result<Option<String>, GitHubError> {
        let encoded: Vec<String> = path.split('/').map(encode).collect();
        let target = repo_path(r, &format!("/contents/{}", encoded.join("/")));
        let contents: Contents = match self.get(&target).await {
            Err(e) if e.status() == Some(404) => return Ok(None),
            other => other?,
        };
        if contents.kind != "file" || contents.encoding.as_deref() != Some("base64") {
            return Ok(None);
        }
        let text: String = contents
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| GitHubError::Decode {
                path: target.clone(),
                detail: format!("content is not base64: {e}"),
            })?;
        Ok(String::from_utf8(bytes).ok())
    }

    /// One page (1-based, 100 hits) of a code search.
    pub async fn search_code(&self, q: &str, page: u32) -> Result<CodeSearchPage, GitHubError> {
        self.get(&format!(
            "/search/code?q={}&per_page={PER_PAGE}&page={page}",
            encode(q)
        ))
        .await
    }

    /// A pull request's state, merge time and head commit.
    pub async fn pull_state(&self, r: &RepoRef, number: u64) -> Result<PullState, GitHubError> {
        self.get(&repo_path(r, &format!("/pulls/{number}"))).await
    }

    /// The combined status of a commit's checks.
    pub async fn combined_status(
        &self,
        r: &RepoRef,
        sha: &str,
    ) -> Result<CombinedStatus, GitHubError> {
        self.get(&repo_path(r, &format!("/commits/{}/status", encode(sha))))
            .await
    }

    /// Opens an issue (the campaign's tracking issue).
    pub async fn create_issue(
        &self,
        r: &RepoRef,
        title: &str,
        body: &str,
    ) -> Result<Issue, GitHubError> {
        let exists = || async move {
            let open: Vec<Issue> = self
                .get_all(&repo_path(r, "/issues?state=open&per_page=100"))
                .await?;
            Ok(open
                .into_iter()
                .find(|i| i.title == title && !i.is_pull_request))
        };
        self.create(
            &repo_path(r, "/issues"),
            &serde_json::json!({ "title": title, "body": body }),
            exists,
        )
        .await
    }

    /// Replaces an issue's body.
    pub async fn update_issue_body(
        &self,
        r: &RepoRef,
        number: u64,
        body: &str,
    ) -> Result<Issue, GitHubError> {
        self.send(
            Verb::Patch,
            &repo_path(r, &format!("/issues/{number}")),
            &serde_json::json!({ "body": body }),
        )
        .await
    }
}
