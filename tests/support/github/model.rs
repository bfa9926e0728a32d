//! The test GitHub server's state and its rendering into GitHub's JSON shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::git_http::CommitInfo;

/// The login the token acts as (like `GITHUB_TOKEN` inside Actions).
pub const TOKEN_LOGIN: &str = "github-actions[bot]";
const TOKEN_USER_ID: u64 = 41_898_282;

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `{url}{suffix}` links of a repository object.
const REPO_API_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
    ("hooks_url", "/hooks"),
];

/// A stored issue or pull request (they share the number sequence, like GitHub).
#[derive(Debug, Clone)]
pub struct IssueRec {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub labels: Vec<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub pull: Option<PullRec>,
}

/// The pull-request half of an [`IssueRec`].
#[derive(Debug, Clone)]
pub struct PullRec {
    pub id: u64,
    pub head_owner: String,
    pub head: String,
    pub base: String,
    pub head_sha: String,
    pub base_sha: String,
    pub draft: bool,
    pub maintainer_can_modify: bool,
    /// When it was merged (closed without merging: `None`).
    pub merged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct CommentRec {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct LabelRec {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReactionRec {
    pub id: u64,
    pub comment: u64,
    pub user: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ReviewRec {
    pub id: u64,
    pub pull: u64,
    pub user: String,
    pub state: String,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ReviewCommentRec {
    pub id: u64,
    pub pull: u64,
    pub review_id: Option<u64>,
    pub in_reply_to: Option<u64>,
    pub user: String,
    pub path: String,
    pub line: u64,
    pub body: String,
    pub commit_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RunRec {
    pub id: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Everything known about one repository.
#[derive(Debug, Default)]
pub struct RepoRec {
    pub id: u64,
    pub next_number: u64,
    pub issues: BTreeMap<u64, IssueRec>,
    pub comments: Vec<CommentRec>,
    pub labels: Vec<LabelRec>,
    pub reactions: Vec<ReactionRec>,
    pub reviews: Vec<ReviewRec>,
    pub review_comments: Vec<ReviewCommentRec>,
    pub runs: Vec<RunRec>,
    pub permissions: BTreeMap<String, String>,
    /// The bare git repository, when the test added one.
    pub git: Option<PathBuf>,
    /// Files of the default branch for repositories without git (path → text).
    pub files: BTreeMap<String, String>,
    pub archived: bool,
    pub fork: bool,
    /// Kilobytes.
    pub size_kb: Option<u64>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub topics: Vec<String>,
}

/// Code search's own behaviour: its rate limit and when results come back incomplete.
#[derive(Debug, Clone)]
pub struct CodeSearch {
    /// Requests per minute window (GitHub: 10 for authenticated code search).
    pub per_minute: usize,
    /// When the search requests of the current window were made (epoch seconds).
    pub recent: Vec<i64>,
    /// A query matching more files than this times out: `incomplete_results`
    /// with only that many.
    pub incomplete_over: Option<usize>,
}

/// A dispatch the server received (workflow or repository dispatch).
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub owner: String,
    pub repo: String,
    /// The workflow id or file name for a workflow dispatch; `None` for a repository dispatch.
    pub workflow: Option<String>,
    /// The request body as sent.
    pub body: Value,
}

/// A reply posted to a pull-request review comment.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewCommentReply {
    pub owner: String,
    pub repo: String,
    pub pull: u64,
    pub in_reply_to: u64,
    pub id: u64,
    pub user: String,
    pub body: String,
}

/// One recorded HTTP request (REST or git) and the answer it got.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent (e.g. `/repos/o/r/issues?state=open`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether it reached the API host (`false`: the git/web host).
    pub api: bool,
    pub status: u16,
    pub response_body: Vec<u8>,
}

impl RecordedRequest {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the next API request to a given method and path meets instead of
/// (or after) its normal handling.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// GitHub answers this status (e.g. 502) with its error body.
    Status(u16),
    /// The connection is closed before the request is handled.
    Drop,
    /// The request is handled (a POST creates its object), then the
    /// connection is closed: the answer is lost.
    LoseAnswer,
    /// GitHub's secondary rate limit: a 403 saying so, with `retry-after`
    /// when given (GitHub often sends none).
    SecondaryLimit { retry_after: Option<u64> },
    /// The primary limit is used up: `status` (403 or 429) with
    /// `x-ratelimit-remaining: 0` and the reset `reset_in` seconds away.
    Exhausted { status: u16, reset_in: i64 },
}

/// Requests (`method`, `path`) held until `left` more have arrived: then
/// all of them go on together.
#[derive(Debug)]
pub struct Hold {
    pub method: String,
    pub path: String,
    pub left: usize,
    pub barrier: std::sync::Arc<tokio::sync::Barrier>,
}

/// A request (`method`, `path`) held until another request arrives: one
/// with `until_method`, a path starting with `until_path` and a body
/// containing `until_body`; or until `timeout` passes (`timed_out` says so).
#[derive(Debug)]
pub struct Wait {
    pub method: String,
    pub path: String,
    pub until_method: String,
    pub until_path: String,
    pub until_body: String,
    pub timeout: std::time::Duration,
    pub release: std::sync::Arc<tokio::sync::Notify>,
    pub timed_out: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The whole server state behind one mutex.
#[derive(Debug)]
pub struct State {
    pub token: String,
    pub api: String,
    pub web: String,
    pub git_root: PathBuf,
    pub next_id: u64,
    pub users: BTreeMap<String, u64>,
    pub repos: BTreeMap<(String, String), RepoRec>,
    pub requests: Vec<RecordedRequest>,
    pub dispatches: Vec<Dispatch>,
    pub cancelled_runs: Vec<u64>,
    /// Commit statuses: (owner, repo, sha) → the states reported, in order.
    pub statuses: BTreeMap<(String, String, String), Vec<String>>,
    pub replies: Vec<ReviewCommentReply>,
    /// Faults waiting for the next matching API request: (method, path, fault).
    pub faults: Vec<(String, String, Fault)>,
    /// Requests held until enough of them arrived (see [`Hold`]).
    pub holds: Vec<Hold>,
    /// Requests held until another one arrives (see [`Wait`]).
    pub waits: Vec<Wait>,
    /// Whom API writes act as (default [`TOKEN_LOGIN`]).
    pub token_login: String,
    /// Whether the token is a user's (PAT: `GET /user` answers) rather than an installation's.
    pub token_is_user: bool,
    pub code_search: CodeSearch,
    /// Edits made to an issue's body right after its next GET: (owner, repo, number, from, to).
    pub edits_after_read: Vec<(String, String, u64, String, String)>,
}

impl State {
    pub fn new(token: &str, api: String, web: String, git_root: PathBuf) -> Self {
        State {
            token: token.to_string(),
            api,
            web,
            git_root,
            next_id: 1000,
            users: BTreeMap::new(),
            repos: BTreeMap::new(),
            requests: Vec::new(),
            dispatches: Vec::new(),
            cancelled_runs: Vec::new(),
            statuses: BTreeMap::new(),
            replies: Vec::new(),
            faults: Vec::new(),
            holds: Vec::new(),
            waits: Vec::new(),
            token_login: TOKEN_LOGIN.to_string(),
            token_is_user: false,
            code_search: CodeSearch {
                per_minute: 10,
                recent: Vec::new(),
                incomplete_over: None,
            },
            edits_after_read: Vec::new(),
        }
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The repository, if a test set it up.
    pub fn repo(&self, owner: &str, name: &str) -> Option<&RepoRec> {
        self.repos.get(&(owner.to_string(), name.to_string()))
    }

    /// The repository, mutably, if a test set it up.
    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut RepoRec> {
        self.repos.get_mut(&(owner.to_string(), name.to_string()))
    }

    /// The repository, created on first use by test setup calls.
    pub fn repo_entry(&mut self, owner: &str, name: &str) -> &mut RepoRec {
        let key = (owner.to_string(), name.to_string());
        if !self.repos.contains_key(&key) {
            let id = self.fresh_id();
            self.repos.insert(
                key.clone(),
                RepoRec {
                    id,
                    next_number: 1,
                    ..RepoRec::default()
                },
            );
        }
        self.repos.entry(key).or_default()
    }

    fn user_id(&self, login: &str) -> u64 {
        if login == TOKEN_LOGIN {
            return TOKEN_USER_ID;
        }
        self.users.get(login).copied().unwrap_or_else(|| {
            // Stable for logins never registered (e.g. repository owners).
            login
                .bytes()
                .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b))
                % 90_000_000
                + 1_000_000
        })
    }

    /// Registers a login so it gets a small sequential id.
    pub fn touch_user(&mut self, login: &str) {
        if login != TOKEN_LOGIN && !self.users.contains_key(login) {
            let id = 500 + self.users.len() as u64;
            self.users.insert(login.to_string(), id);
        }
    }

    pub fn user_json(&self, login: &str) -> Value {
        let api = &self.api;
        let id = self.user_id(login);
        let bot = login.ends_with("[bot]");
        let html = if bot {
            format!("{}/apps/{}", self.web, login.trim_end_matches("[bot]"))
        } else {
            format!("{}/{login}", self.web)
        };
        let u = format!(
            "{api}/users/{}",
            login.replace('[', "%5B").replace(']', "%5D")
        );
        json!({
            "login": login,
            "id": id,
            "node_id": node_id(if bot { "BOT" } else { "U" }, id),
            "avatar_url": format!("{}/avatars/u/{id}?v=4", self.web),
            "gravatar_id": "",
            "url": u,
            "html_url": html,
            "followers_url": format!("{u}/followers"),
            "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"),
            "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"),
            "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": if bot { "Bot" } else { "User" },
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    pub fn repo_json(&self, owner: &str, name: &str) -> Value {
        let rec = self.repo(owner, name);
        let id = rec.map_or(0, |r| r.id);
        let open = rec.map_or(0, |r| {
            r.issues.values().filter(|i| i.state == "open").count()
        });
        let r = format!("{}/repos/{owner}/{name}", self.api);
        let html = format!("{}/{owner}/{name}", self.web);
        let host = self.web.split("://").nth(1).unwrap_or_default();
        let now = timestamp(&Utc::now());
        let pushed = rec
            .and_then(|r| r.pushed_at)
            .map_or_else(|| now.clone(), |t| timestamp(&t));
        let (archived, fork) = rec.map_or((false, false), |r| (r.archived, r.fork));
        let size = rec.and_then(|r| r.size_kb).unwrap_or(1);
        let topics = rec.map(|r| r.topics.clone()).unwrap_or_default();
        let mut v = json!({
            "id": id,
            "node_id": node_id("R_", id),
            "name": name,
            "full_name": format!("{owner}/{name}"),
            "private": false,
            "owner": self.user_json(owner),
            "html_url": html,
            "description": format!("Test repository {owner}/{name}"),
            "fork": fork,
            "url": r,
            "git_url": format!("git://{host}/{owner}/{name}.git"),
            "ssh_url": format!("git@{host}:{owner}/{name}.git"),
        });
        let more = json!({
            "clone_url": format!("{html}.git"),
            "mirror_url": null,
            "svn_url": html,
            "homepage": null,
            "language": null,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": size,
            "default_branch": "main",
            "open_issues_count": open,
            "open_issues": open,
            "is_template": false,
            "topics": topics,
            "has_issues": true,
            "has_projects": true,
            "has_wiki": false,
            "has_pages": false,
            "has_downloads": true,
            "has_discussions": false,
            "archived": archived,
            "disabled": false,
            "visibility": "public",
            "pushed_at": pushed,
            "created_at": now,
            "updated_at": now,
            "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
            "allow_forking": true,
            "web_commit_signoff_required": false,
            "license": null,
            "network_count": 0,
            "subscribers_count": 0,
        });
        merge(&mut v, more);
        for (key, suffix) in REPO_API_URLS {
            v[*key] = Value::String(format!("{r}{suffix}"));
        }
        v
    }

    pub fn label_json(&self, owner: &str, repo: &str, label: &LabelRec) -> Value {
        json!({
            "id": label.id,
            "node_id": node_id("LA_", label.id),
            "url": format!("{}/repos/{owner}/{repo}/labels/{}", self.api, encode(&label.name)),
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": false,
        })
    }

    /// The labels of an issue, as full label objects (repo labels are created on demand).
    pub fn issue_labels_json(&self, owner: &str, repo: &str, names: &[String]) -> Vec<Value> {
        let Some(rec) = self.repo(owner, repo) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| rec.labels.iter().find(|l| &l.name == n))
            .map(|l| self.label_json(owner, repo, l))
            .collect()
    }

    pub fn issue_json(&self, owner: &str, repo: &str, issue: &IssueRec) -> Value {
        let r = format!("{}/repos/{owner}/{repo}", self.api);
        let i = format!("{r}/issues/{}", issue.number);
        let kind = if issue.pull.is_some() {
            "pull"
        } else {
            "issues"
        };
        let html = format!("{}/{owner}/{repo}/{kind}/{}", self.web, issue.number);
        let comments = self.repo(owner, repo).map_or(0, |rec| {
            rec.comments
                .iter()
                .filter(|c| c.issue == issue.number)
                .count()
        });
        let mut v = json!({
            "id": issue.id,
            "node_id": node_id(if issue.pull.is_some() { "PR_" } else { "I_" }, issue.id),
            "url": i,
            "repository_url": r,
            "labels_url": format!("{i}/labels{{/name}}"),
            "comments_url": format!("{i}/comments"),
            "events_url": format!("{i}/events"),
            "timeline_url": format!("{i}/timeline"),
            "html_url": html,
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.user_json(&issue.user),
            "labels": self.issue_labels_json(owner, repo, &issue.labels),
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "locked": false,
            "active_lock_reason": null,
            "comments": comments,
            "closed_at": issue.closed_at.as_ref().map(timestamp),
            "created_at": timestamp(&issue.created_at),
            "updated_at": timestamp(&issue.updated_at),
            "author_association": self.association(owner, repo, &issue.user),
            "reactions": reactions_summary(&format!("{i}/reactions"), &[]),
        });
        if let Some(pull) = &issue.pull {
            v["draft"] = json!(pull.draft);
            v["pull_request"] = json!({
                "url": format!("{r}/pulls/{}", issue.number),
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
                "merged_at": pull.merged_at.as_ref().map(timestamp),
            });
        }
        v
    }

    /// `OWNER`, `COLLABORATOR` or `NONE`, from the permission table.
    fn association(&self, owner: &str, repo: &str, user: &str) -> &'static str {
        if user == owner {
            return "OWNER";
        }
        let perm = self.repo(owner, repo).and_then(|r| r.permissions.get(user));
        match perm.map(String::as_str) {
            Some("admin" | "maintain" | "write" | "triage") => "COLLABORATOR",
            Some("read") => "CONTRIBUTOR",
            _ => "NONE",
        }
    }

    pub fn comment_json(&self, owner: &str, repo: &str, c: &CommentRec) -> Value {
        let r = format!("{}/repos/{owner}/{repo}", self.api);
        let reactions: Vec<&ReactionRec> = self
            .repo(owner, repo)
            .map(|rec| rec.reactions.iter().filter(|x| x.comment == c.id).collect())
            .unwrap_or_default();
        let is_pull = self
            .repo(owner, repo)
            .and_then(|rec| rec.issues.get(&c.issue))
            .is_some_and(|i| i.pull.is_some());
        let kind = if is_pull { "pull" } else { "issues" };
        json!({
            "id": c.id,
            "node_id": node_id("IC_", c.id),
            "url": format!("{r}/issues/comments/{}", c.id),
            "html_url": format!("{}/{owner}/{repo}/{kind}/{}#issuecomment-{}", self.web, c.issue, c.id),
            "body": c.body,
            "user": self.user_json(&c.user),
            "created_at": timestamp(&c.created_at),
            "updated_at": timestamp(&c.updated_at),
            "issue_url": format!("{r}/issues/{}", c.issue),
            "author_association": self.association(owner, repo, &c.user),
            "performed_via_github_app": null,
            "reactions": reactions_summary(&format!("{r}/issues/comments/{}/reactions", c.id), &reactions),
        })
    }

    pub fn reaction_json(&self, r: &ReactionRec) -> Value {
        json!({
            "id": r.id,
            "node_id": node_id("REA_", r.id),
            "user": self.user_json(&r.user),
            "content": r.content,
            "created_at": timestamp(&r.created_at),
        })
    }

    fn branch_json(
        &self,
        owner: &str,
        repo: &str,
        label_owner: &str,
        branch: &str,
        sha: &str,
    ) -> Value {
        json!({
            "label": format!("{label_owner}:{branch}"),
            "ref": branch,
            "sha": sha,
            "user": self.user_json(label_owner),
            "repo": self.repo_json(owner, repo),
        })
    }

    pub fn pull_json(&self, owner: &str, repo: &str, issue: &IssueRec, pull: &PullRec) -> Value {
        let r = format!("{}/repos/{owner}/{repo}", self.api);
        let p = format!("{r}/pulls/{}", issue.number);
        let i = format!("{r}/issues/{}", issue.number);
        let html = format!("{}/{owner}/{repo}/pull/{}", self.web, issue.number);
        let rec = self.repo(owner, repo);
        let comments = rec.map_or(0, |rec| {
            rec.comments
                .iter()
                .filter(|c| c.issue == issue.number)
                .count()
        });
        let review_comments = rec.map_or(0, |rec| {
            rec.review_comments
                .iter()
                .filter(|c| c.pull == issue.number)
                .count()
        });
        let link = |href: String| json!({ "href": href });
        let links = json!({
            "self": link(p.clone()),
            "html": link(html.clone()),
            "issue": link(i.clone()),
            "comments": link(format!("{i}/comments")),
            "review_comments": link(format!("{p}/comments")),
            "review_comment": link(format!("{r}/pulls/comments{{/number}}")),
            "commits": link(format!("{p}/commits")),
            "statuses": link(format!("{r}/statuses/{}", pull.head_sha)),
        });
        let mut v = json!({
            "url": p,
            "id": pull.id,
            "node_id": node_id("PR_kw", pull.id),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": i,
            "commits_url": format!("{p}/commits"),
            "review_comments_url": format!("{p}/comments"),
            "review_comment_url": format!("{r}/pulls/comments{{/number}}"),
            "comments_url": format!("{i}/comments"),
            "statuses_url": format!("{r}/statuses/{}", pull.head_sha),
            "number": issue.number,
            "state": issue.state,
            "locked": false,
            "title": issue.title,
            "user": self.user_json(&issue.user),
            "body": issue.body,
            "labels": self.issue_labels_json(owner, repo, &issue.labels),
            "milestone": null,
            "active_lock_reason": null,
            "created_at": timestamp(&issue.created_at),
            "updated_at": timestamp(&issue.updated_at),
            "closed_at": issue.closed_at.as_ref().map(timestamp),
            "merged_at": pull.merged_at.as_ref().map(timestamp),
            "merge_commit_sha": null,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
        });
        let more = json!({
            "head": self.branch_json(owner, repo, &pull.head_owner, &pull.head, &pull.head_sha),
            "base": self.branch_json(owner, repo, owner, &pull.base, &pull.base_sha),
            "_links": links,
            "author_association": self.association(owner, repo, &issue.user),
            "auto_merge": null,
            "draft": pull.draft,
            "merged": pull.merged_at.is_some(),
            "mergeable": true,
            "rebaseable": true,
            "mergeable_state": "clean",
            "merged_by": null,
            "comments": comments,
            "review_comments": review_comments,
            "maintainer_can_modify": pull.maintainer_can_modify,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        });
        merge(&mut v, more);
        v
    }

    pub fn review_json(&self, owner: &str, repo: &str, r: &ReviewRec) -> Value {
        let html = format!(
            "{}/{owner}/{repo}/pull/{}#pullrequestreview-{}",
            self.web, r.pull, r.id
        );
        let pr = format!("{}/repos/{owner}/{repo}/pulls/{}", self.api, r.pull);
        json!({
            "id": r.id,
            "node_id": node_id("PRR_", r.id),
            "user": self.user_json(&r.user),
            "body": r.body,
            "state": r.state,
            "html_url": html,
            "pull_request_url": pr,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
            "submitted_at": timestamp(&r.submitted_at),
            "commit_id": r.commit_id,
            "author_association": self.association(owner, repo, &r.user),
        })
    }

    pub fn review_comment_json(&self, owner: &str, repo: &str, c: &ReviewCommentRec) -> Value {
        let r = format!("{}/repos/{owner}/{repo}", self.api);
        let url = format!("{r}/pulls/comments/{}", c.id);
        let html = format!(
            "{}/{owner}/{repo}/pull/{}#discussion_r{}",
            self.web, c.pull, c.id
        );
        let pr = format!("{r}/pulls/{}", c.pull);
        let mut v = json!({
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PRRC_", c.id),
            "diff_hunk": format!("@@ -{0},1 +{0},1 @@", c.line),
            "path": c.path,
            "position": 1,
            "original_position": 1,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": self.user_json(&c.user),
            "body": c.body,
            "created_at": timestamp(&c.created_at),
            "updated_at": timestamp(&c.created_at),
            "html_url": html,
            "pull_request_url": pr,
            "author_association": self.association(owner, repo, &c.user),
            "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr}},
            "line": c.line,
            "original_line": c.line,
            "side": "RIGHT",
            "subject_type": "line",
            "reactions": reactions_summary(&format!("{url}/reactions"), &[]),
        });
        if let Some(parent) = c.in_reply_to {
            v["in_reply_to_id"] = json!(parent);
        }
        v
    }

    pub fn run_json(&self, owner: &str, repo: &str, run: &RunRec, head: &CommitInfo) -> Value {
        let head_sha = head.sha.as_str();
        let r = format!("{}/repos/{owner}/{repo}", self.api);
        let u = format!("{r}/actions/runs/{}", run.id);
        json!({
            "id": run.id,
            "name": "Deckhand",
            "node_id": node_id("WFR_", run.id),
            "head_branch": "main",
            "head_sha": head_sha,
            "path": ".github/workflows/deckhand.yml",
            "display_title": "Deckhand",
            "run_number": run.id % 1000,
            "run_attempt": 1,
            "event": "issue_comment",
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": 161_335,
            "url": u,
            "html_url": format!("{}/{owner}/{repo}/actions/runs/{}", self.web, run.id),
            "pull_requests": [],
            "created_at": timestamp(&run.created_at),
            "updated_at": timestamp(&run.created_at),
            "run_started_at": timestamp(&run.created_at),
            "actor": self.user_json(owner),
            "triggering_actor": self.user_json(owner),
            "jobs_url": format!("{u}/jobs"),
            "logs_url": format!("{u}/logs"),
            "check_suite_url": format!("{r}/check-suites/{}", run.id + 1),
            "artifacts_url": format!("{u}/artifacts"),
            "cancel_url": format!("{u}/cancel"),
            "rerun_url": format!("{u}/rerun"),
            "workflow_url": format!("{r}/actions/workflows/161335"),
            "head_commit": {
                "id": head.sha,
                "tree_id": head.tree,
                "message": head.message,
                "timestamp": head.time,
                "author": {"name": head.author.0, "email": head.author.1},
                "committer": {"name": head.committer.0, "email": head.committer.1},
            },
            "repository": self.repo_json(owner, repo),
            "head_repository": self.repo_json(owner, repo),
        })
    }

    /// A GitHub error body: `{"message", "documentation_url", "status"}`.
    pub fn error_json(message: &str, status: u16) -> Value {
        json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        })
    }
}

fn reactions_summary(url: &str, reactions: &[&ReactionRec]) -> Value {
    let count = |c: &str| reactions.iter().filter(|r| r.content == c).count();
    json!({
        "url": url,
        "total_count": reactions.len(),
        "+1": count("+1"),
        "-1": count("-1"),
        "laugh": count("laugh"),
        "hooray": count("hooray"),
        "confused": count("confused"),
        "heart": count("heart"),
        "rocket": count("rocket"),
        "eyes": count("eyes"),
    })
}

/// Adds the fields of `more` to the object `v` (json! objects this large exceed the macro recursion limit).
fn merge(v: &mut Value, more: Value) {
    if let (Value::Object(v), Value::Object(more)) = (v, more) {
        v.extend(more);
    }
}

/// A GitHub-looking global node id.
pub fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}kwDO{id:08X}")
}

/// Percent-encodes one path segment.
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}
