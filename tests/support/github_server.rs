//! A test GitHub: REST API and git smart HTTP on 127.0.0.1, with state that tests set up and inspect.
//!
//! ```text
//! let gh = GithubServer::start("T");             // own thread + tokio runtime; stops on drop
//! gh.api_url()      -> GITHUB_API_URL   (its own port, like api.github.com)
//! gh.server_url()   -> GITHUB_SERVER_URL (git + html_url; clone URL = {server_url}/{owner}/{repo}.git)
//! gh.clone_url(owner, repo)
//!
//! setup:   set_permission(owner, repo, user, "admin"|"maintain"|"write"|"triage"|"read"|"none")
//!          add_repo(owner, name, source_dir)           bare repo with every branch of source_dir (HEAD main)
//!          add_empty_repo(owner, name)                  bare repo with no commits and no refs
//!          add_issue(owner, repo, title, body, user, &[labels]) -> number
//!          add_comment(owner, repo, issue, user, body) -> comment id
//!          add_pull(owner, repo, title, body, user, head, base) -> number (shared with issues)
//!          add_review(owner, repo, pull, user, state, body) -> review id
//!          add_review_comment(owner, repo, pull, user, path, line, body) -> comment id
//!          add_run(owner, repo, run_id, status), end_run(owner, repo, run_id, conclusion)
//!          finish_pull(owner, repo, n, merged): merged or closed; set_commit_status(owner, repo, sha, state)
//!          set_token_user(login): the token is that user's PAT (writes act as it; `GET /user` answers)
//!          add_files(owner, name, &[(path, text)]): default-branch files of a repository without git
//!          set_repo_meta(owner, name, archived, fork, size_kb, pushed_at)
//!          set_code_search_incomplete_over(n): bigger result sets come back incomplete
//!          edit_issue_after_next_read(owner, repo, n, from, to): a concurrent edit of an issue body
//! limits:  code search allows 10 requests a minute window (then 403, `x-ratelimit-resource: code_search`);
//!          set_code_search_per_minute(n)
//!          set_app_bot(login): the token is a GitHub App's (writes act as its bot; `GET /user` is 403)
//! holds:   hold_together(method, path, n): the next n matching requests (API or git) each wait
//!          until all n have arrived, then go on together (two jobs meet at one point)
//!          hold_until(method, path, (method, path prefix, body text), timeout): the next matching
//!          request waits for that other request (or the timeout; the returned flag says which)
//! faults:  inject(method, path, Fault): the next matching API request gets a 5xx, a dropped
//!          connection, a lost answer (handled, then dropped), a secondary limit or an exhausted limit
//! readers: issues(), comments(owner, repo, issue), pulls(owner, repo), labels_of(owner, repo, issue),
//!          reactions(owner, repo, comment_id), review_comment_replies(), dispatches(), cancelled_runs(),
//!          requests(), requests_mentioning(needle), history_contains(owner, name, needle),
//!          repo_path(owner, name), branch_head(owner, name, branch), commits(owner, name, branch)
//! checks:  check_requests_against_openapi(), check_responses_against_openapi()
//! helpers: openapi::spec() (find/resolve/validate_request/validate_response),
//!          git_http::git(dir, args) (git with no global config and no prompts)
//! ```
//!
//! Any of the setup calls makes the repository exist; the API answers 404 for
//! others. Routes outside the OpenAPI subset that are served anyway:
//! `DELETE …/issues/{n}/labels/{name}`, `PATCH …/git/refs/{ref}`, `GET /users/{u}/repos`,
//! `GET /user` (403 for installation tokens, as on GitHub), `GET …/actions/runs/{id}`;
//! `POST` works wherever `PATCH` does (as on GitHub; octocrab relies on it).
//!
//! REST requests need `Authorization: token T` or `Bearer T`; git requests
//! need HTTP Basic with the token as password (or the same header).
//! Writes through the API act as [`TOKEN_LOGIN`]. Every request is recorded
//! with its answer. JSON bodies follow `../shared/fixtures/github-rest-openapi-subset.json`
//! ([`openapi`] validates them).

#[path = "github/git_http.rs"]
pub mod git_http;
#[path = "github/model.rs"]
mod model;
#[path = "github/openapi.rs"]
pub mod openapi;
#[path = "github/rest.rs"]
mod rest;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;

use model::State;
pub use model::{Dispatch, Fault, RecordedRequest, ReviewCommentReply, TOKEN_LOGIN};

/// An issue or pull request as stored by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub owner: String,
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    pub is_pull_request: bool,
}

/// An issue (or PR conversation) comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub body: String,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    /// The head branch (without `owner:`).
    pub head: String,
    pub base: String,
    pub state: String,
    pub draft: bool,
    pub labels: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running server; dropping it stops it and deletes its repositories.
pub struct GithubServer {
    state: Shared,
    api_url: String,
    server_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _root: tempfile::TempDir,
}

fn bind() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("cannot make the listener non-blocking: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("listener has no address: {e}"));
    (listener, format!("http://{addr}"))
}

impl GithubServer {
    /// Starts the server; API requests must carry `token`.
    pub fn start(token: &str) -> GithubServer {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a tempdir: {e}"));
        let git_root = root.path().join("git");
        std::fs::create_dir_all(&git_root)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", git_root.display()));
        let (api_listener, api_url) = bind();
        let (web_listener, server_url) = bind();
        let state: Shared = Arc::new(Mutex::new(State::new(
            token,
            api_url.clone(),
            server_url.clone(),
            git_root,
        )));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot build the server runtime: {e}"));
            runtime.block_on(async move {
                let api = tokio::net::TcpListener::from_std(api_listener)
                    .unwrap_or_else(|e| panic!("api listener: {e}"));
                let web = tokio::net::TcpListener::from_std(web_listener)
                    .unwrap_or_else(|e| panic!("web listener: {e}"));
                let router = |is_api: bool| {
                    axum::Router::new()
                        .fallback(handle)
                        .with_state((shared.clone(), is_api))
                };
                tokio::select! {
                    r = axum::serve(api, router(true)) => r.unwrap_or_else(|e| panic!("api server: {e}")),
                    r = axum::serve(web, router(false)) => r.unwrap_or_else(|e| panic!("web server: {e}")),
                    _ = rx => {}
                }
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        });
        GithubServer {
            state,
            api_url,
            server_url,
            shutdown: Some(tx),
            thread: Some(thread),
            _root: root,
        }
    }

    /// What `GITHUB_API_URL` should be.
    pub fn api_url(&self) -> String {
        self.api_url.clone()
    }

    /// What `GITHUB_SERVER_URL` should be (git and web pages).
    pub fn server_url(&self) -> String {
        self.server_url.clone()
    }

    /// `{server_url}/{owner}/{repo}.git`.
    pub fn clone_url(&self, owner: &str, repo: &str) -> String {
        format!("{}/{owner}/{repo}.git", self.server_url)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sets `user`'s role on the repository (`admin`, `maintain`, `write`, `triage`, `read`, `none`).
    pub fn set_permission(&self, owner: &str, repo: &str, user: &str, permission: &str) {
        let mut st = self.state();
        st.touch_user(user);
        st.repo_entry(owner, repo)
            .permissions
            .insert(user.to_string(), permission.to_string());
    }

    /// Creates a bare repository `{owner}/{name}.git` holding every branch of the git repo at `source_dir`.
    pub fn add_repo(&self, owner: &str, name: &str, source_dir: &Path) {
        let mut st = self.state();
        let bare = git_http::create_bare(&st.git_root, owner, name, source_dir)
            .unwrap_or_else(|e| panic!("add_repo {owner}/{name}: {e}"));
        st.repo_entry(owner, name).git = Some(bare);
    }

    /// Creates an empty bare repository `{owner}/{name}.git`: no commits, no refs.
    pub fn add_empty_repo(&self, owner: &str, name: &str) {
        let mut st = self.state();
        let bare = git_http::create_empty_bare(&st.git_root, owner, name)
            .unwrap_or_else(|e| panic!("add_empty_repo {owner}/{name}: {e}"));
        st.repo_entry(owner, name).git = Some(bare);
    }

    /// Gives a repository without git these default-branch files (contents
    /// API and code search serve them).
    pub fn add_files(&self, owner: &str, name: &str, files: &[(&str, &str)]) {
        let mut st = self.state();
        let rec = st.repo_entry(owner, name);
        for (path, text) in files {
            rec.files.insert(path.to_string(), text.to_string());
        }
    }

    /// Sets the repository's metadata: archived, a fork, size (KB), last push.
    pub fn set_repo_meta(
        &self,
        owner: &str,
        name: &str,
        archived: bool,
        fork: bool,
        size_kb: u64,
        pushed_at: chrono::DateTime<chrono::Utc>,
    ) {
        let mut st = self.state();
        let rec = st.repo_entry(owner, name);
        rec.archived = archived;
        rec.fork = fork;
        rec.size_kb = Some(size_kb);
        rec.pushed_at = Some(pushed_at);
    }

    /// Code search answers `incomplete_results: true` (and only `max` hits)
    /// for a query matching more than `max` files.
    pub fn set_code_search_incomplete_over(&self, max: usize) {
        self.state().code_search.incomplete_over = Some(max);
    }

    /// Code search's limit per rolling minute (GitHub's: 10).
    pub fn set_code_search_per_minute(&self, n: usize) {
        self.state().code_search.per_minute = n;
    }

    /// Right after the next GET of the issue, replaces `from` with `to` in its body.
    pub fn edit_issue_after_next_read(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        from: &str,
        to: &str,
    ) {
        self.state().edits_after_read.push((
            owner.to_string(),
            repo.to_string(),
            number,
            from.to_string(),
            to.to_string(),
        ));
    }

    /// Replaces `from` with `to` in an issue's body now (someone ticking a box); panics when absent.
    pub fn edit_issue_body(&self, owner: &str, repo: &str, number: u64, from: &str, to: &str) {
        let mut st = self.state();
        let issue = st
            .repo_mut(owner, repo)
            .and_then(|r| r.issues.get_mut(&number))
            .unwrap_or_else(|| panic!("no issue {owner}/{repo}#{number}"));
        let body = issue.body.clone().unwrap_or_default();
        assert!(
            body.contains(from),
            "{from:?} is not in {owner}/{repo}#{number}: {body}"
        );
        issue.body = Some(body.replace(from, to));
    }

    /// The body of an issue.
    pub fn issue_body(&self, owner: &str, repo: &str, number: u64) -> Option<String> {
        let st = self.state();
        st.repo(owner, repo)?.issues.get(&number)?.body.clone()
    }

    /// Opens an issue by `user`; returns its number.
    pub fn add_issue(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        body: &str,
        user: &str,
        labels: &[&str],
    ) -> u64 {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let new = rest::NewIssue {
            title,
            body: Some(body),
            user,
            labels: &labels,
        };
        rest::insert_issue(&mut self.state(), owner, repo, &new, None)
    }

    /// Adds a comment by `user` on an issue or pull request; returns its id.
    pub fn add_comment(&self, owner: &str, repo: &str, issue: u64, user: &str, body: &str) -> u64 {
        rest::insert_comment(&mut self.state(), owner, repo, issue, user, body)
    }

    /// Opens a pull request by `user` from `head` into `base` (both must exist when the repo has git).
    #[allow(clippy::too_many_arguments)]
    pub fn add_pull(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        body: &str,
        user: &str,
        head: &str,
        base: &str,
    ) -> u64 {
        let mut st = self.state();
        st.touch_user(user);
        let new = rest::NewIssue {
            title,
            body: Some(body),
            user,
            labels: &[],
        };
        rest::open_pull(&mut st, owner, repo, &new, head, base, false)
            .unwrap_or_else(|e| panic!("add_pull {owner}/{repo} {head}->{base}: {:?}", e.body))
    }

    /// Merges (`merged`) or closes a pull request, as its author's
    /// reviewers would on GitHub.
    pub fn finish_pull(&self, owner: &str, repo: &str, number: u64, merged: bool) {
        let mut st = self.state();
        let issue = st
            .repo_mut(owner, repo)
            .and_then(|r| r.issues.get_mut(&number))
            .unwrap_or_else(|| panic!("finish_pull: no #{number} in {owner}/{repo}"));
        let now = chrono::Utc::now();
        issue.state = "closed".into();
        issue.closed_at = Some(now);
        issue.updated_at = now;
        if let Some(pull) = issue.pull.as_mut() {
            pull.merged_at = merged.then_some(now);
        }
    }

    /// Reports a commit status (`success`, `failure`, `error`, `pending`) on `sha`.
    pub fn set_commit_status(&self, owner: &str, repo: &str, sha: &str, state: &str) {
        self.state()
            .statuses
            .entry((owner.to_string(), repo.to_string(), sha.to_string()))
            .or_default()
            .push(state.to_string());
    }

    /// Adds a review (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`) on a pull request; returns its id.
    pub fn add_review(
        &self,
        owner: &str,
        repo: &str,
        pull: u64,
        user: &str,
        state: &str,
        body: &str,
    ) -> u64 {
        rest::insert_review(&mut self.state(), owner, repo, pull, user, state, body)
    }

    /// Adds a review comment on `path`:`line` of a pull request; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_review_comment(
        &self,
        owner: &str,
        repo: &str,
        pull: u64,
        user: &str,
        path: &str,
        line: u64,
        body: &str,
    ) -> u64 {
        rest::insert_review_comment(&mut self.state(), owner, repo, pull, user, path, line, body)
    }

    /// Adds a workflow run (`queued`, `in_progress`, `completed`, …).
    pub fn add_run(&self, owner: &str, repo: &str, run_id: u64, status: &str) {
        rest::insert_run(&mut self.state(), owner, repo, run_id, status);
    }

    /// Ends a workflow run with `conclusion` (`failure`, `cancelled`, `timed_out`, …).
    pub fn end_run(&self, owner: &str, repo: &str, run_id: u64, conclusion: &str) {
        let mut st = self.state();
        let runs = &mut st.repo_entry(owner, repo).runs;
        let run = runs
            .iter_mut()
            .find(|r| r.id == run_id)
            .unwrap_or_else(|| panic!("no run {run_id}"));
        run.status = "completed".into();
        run.conclusion = Some(conclusion.into());
    }

    /// Makes the token a personal access token of `login` (a `User`): API
    /// writes act as it and `GET /user` answers with it.
    pub fn set_token_user(&self, login: &str) {
        let mut st = self.state();
        st.touch_user(login);
        st.token_login = login.to_string();
        st.token_is_user = true;
    }

    /// The token is a GitHub App's installation token: writes act as its
    /// bot `login` (`…[bot]`), and `GET /user` answers 403 as for any
    /// installation token.
    pub fn set_app_bot(&self, login: &str) {
        let mut st = self.state();
        st.touch_user(login);
        st.token_login = login.to_string();
        st.token_is_user = false;
    }

    /// The next `n` requests with `method` and `path` (no query) wait for
    /// one another: none is handled before all have arrived.
    pub fn hold_together(&self, method: &str, path: &str, n: usize) {
        self.state().holds.push(model::Hold {
            method: method.to_string(),
            path: path.to_string(),
            left: n,
            barrier: Arc::new(tokio::sync::Barrier::new(n)),
        });
    }

    /// The next request with `method` and `path` (API or git) waits until a
    /// request `until` = (method, path prefix, body text) arrives, or
    /// `timeout` passes; the flag returned says whether it timed out.
    pub fn hold_until(
        &self,
        method: &str,
        path: &str,
        until: (&str, &str, &str),
        timeout: std::time::Duration,
    ) -> Arc<std::sync::atomic::AtomicBool> {
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.state().waits.push(model::Wait {
            method: method.to_string(),
            path: path.to_string(),
            until_method: until.0.to_string(),
            until_path: until.1.to_string(),
            until_body: until.2.to_string(),
            timeout,
            release: Arc::new(tokio::sync::Notify::new()),
            timed_out: timed_out.clone(),
        });
        timed_out
    }

    /// The next API request with `method` and `path` (no query) meets `fault`.
    pub fn inject(&self, method: &str, path: &str, fault: Fault) {
        self.state()
            .faults
            .push((method.to_string(), path.to_string(), fault));
    }

    /// Every issue and pull request of every repository.
    pub fn issues(&self) -> Vec<Issue> {
        let st = self.state();
        st.repos
            .iter()
            .flat_map(|((owner, repo), rec)| {
                rec.issues.values().map(move |i| Issue {
                    owner: owner.clone(),
                    repo: repo.clone(),
                    number: i.number,
                    title: i.title.clone(),
                    body: i.body.clone(),
                    user: i.user.clone(),
                    labels: i.labels.clone(),
                    state: i.state.clone(),
                    is_pull_request: i.pull.is_some(),
                })
            })
            .collect()
    }

    /// The comments on one issue or pull request, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, issue: u64) -> Vec<Comment> {
        let st = self.state();
        st.repo(owner, repo)
            .map(|rec| {
                rec.comments
                    .iter()
                    .filter(|c| c.issue == issue)
                    .map(|c| Comment {
                        id: c.id,
                        issue: c.issue,
                        user: c.user.clone(),
                        body: c.body.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pull requests of a repository, by number.
    pub fn pulls(&self, owner: &str, repo: &str) -> Vec<Pull> {
        let st = self.state();
        st.repo(owner, repo)
            .map(|rec| {
                rec.issues
                    .values()
                    .filter_map(|i| {
                        i.pull.as_ref().map(|p| Pull {
                            number: i.number,
                            title: i.title.clone(),
                            body: i.body.clone(),
                            user: i.user.clone(),
                            head: p.head.clone(),
                            base: p.base.clone(),
                            state: i.state.clone(),
                            draft: p.draft,
                            labels: i.labels.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The label names on an issue or pull request.
    pub fn labels_of(&self, owner: &str, repo: &str, issue: u64) -> Vec<String> {
        let st = self.state();
        st.repo(owner, repo)
            .and_then(|rec| rec.issues.get(&issue))
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    /// The reaction contents (`eyes`, `+1`, …) on an issue comment.
    pub fn reactions(&self, owner: &str, repo: &str, comment_id: u64) -> Vec<String> {
        let st = self.state();
        st.repo(owner, repo)
            .map(|rec| {
                rec.reactions
                    .iter()
                    .filter(|r| r.comment == comment_id)
                    .map(|r| r.content.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replies posted to review comments, in order.
    pub fn review_comment_replies(&self) -> Vec<ReviewCommentReply> {
        self.state().replies.clone()
    }

    /// Workflow and repository dispatches, in order.
    pub fn dispatches(&self) -> Vec<Dispatch> {
        self.state().dispatches.clone()
    }

    /// Ids of the runs cancelled through the API, in order.
    pub fn cancelled_runs(&self) -> Vec<u64> {
        self.state().cancelled_runs.clone()
    }

    /// Every request received (REST and git), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// The bare repository on disk.
    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        git_http::bare_path(&self.state().git_root, owner, name)
    }

    /// The commit a branch points at, if the branch exists.
    pub fn branch_head(&self, owner: &str, name: &str, branch: &str) -> Option<String> {
        git_http::rev_parse(
            &self.repo_path(owner, name),
            &format!("refs/heads/{branch}"),
        )
    }

    /// `(sha, subject)` of the commits on a branch, newest first.
    pub fn commits(&self, owner: &str, name: &str, branch: &str) -> Vec<(String, String)> {
        git_http::commits(&self.repo_path(owner, name), branch)
    }

    /// Recorded requests whose path, headers (Basic credentials decoded) or body
    /// contain `needle` (git pack data is compressed: use
    /// [`GithubServer::history_contains`] for pushed content).
    pub fn requests_mentioning(&self, needle: &str) -> Vec<RecordedRequest> {
        let contains = |hay: &[u8]| {
            !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
        };
        self.requests()
            .into_iter()
            .filter(|r| {
                contains(r.path.as_bytes())
                    || r.headers.iter().any(|(k, v)| {
                        contains(k.as_bytes())
                            || contains(v.as_bytes())
                            || token_in(v).is_some_and(|t| contains(t.as_bytes()))
                    })
                    || contains(&r.body)
            })
            .collect()
    }

    /// Whether any commit on any ref of the repository added, removed or mentions `needle`
    /// in its changes or message (how a test proves a secret was never pushed).
    pub fn history_contains(&self, owner: &str, name: &str, needle: &str) -> bool {
        let bare = self.repo_path(owner, name);
        let log = |args: &[&str]| {
            git_http::git(&bare, args)
                .unwrap_or_else(|e| panic!("history_contains {owner}/{name}: {e}"))
        };
        // Attached form: a needle may start with `-`. Messages are searched here, not with
        // `--grep`: git quotes a fixed string for PCRE as `\Q…\E`, which a needle holding
        // `\E` breaks.
        let pickaxe = format!("-S{needle}");
        !log(&["log", "--all", "--format=%H", &pickaxe, "--text"])
            .trim()
            .is_empty()
            || log(&["log", "--all", "--format=%B"]).contains(needle)
    }

    /// Validates every recorded API request body that the OpenAPI subset describes.
    pub fn check_requests_against_openapi(&self) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .requests()
            .iter()
            .filter(|r| r.api)
            .filter_map(|r| {
                openapi::spec()
                    .validate_request(&r.method, &r.path, &r.body)
                    .err()
            })
            .flatten()
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates every recorded API answer whose operation and status the OpenAPI subset documents.
    pub fn check_responses_against_openapi(&self) -> Result<(), Vec<String>> {
        let spec = openapi::spec();
        let errors: Vec<String> = self
            .requests()
            .iter()
            .filter(|r| r.api)
            .filter(|r| {
                spec.resolve(&r.method, &r.path)
                    .is_some_and(|op| spec.statuses(op).contains(&r.status.to_string()))
            })
            .filter_map(|r| {
                spec.validate_response(&r.method, &r.path, r.status, &r.response_body)
                    .err()
            })
            .flatten()
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Drop for GithubServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been printed; do not double-panic in drop.
            let _ = thread.join();
        }
    }
}

/// The token in an `Authorization` value: `token T`, `Bearer T` or `Basic base64(user:T)`.
fn token_in(authorization: &str) -> Option<String> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => Some(rest.to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':')
                .map(|(_, password)| password.to_string())
        }
        _ => None,
    }
}

fn presented_token(headers: &HeaderMap) -> Option<String> {
    token_in(headers.get("authorization")?.to_str().ok()?)
}

/// One answer before it becomes an HTTP response.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn handle(
    axum::extract::State((state, is_api)): axum::extract::State<(Shared, bool)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec());
    let method = parts.method.to_string();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let held = {
        let mut st = lock(&state);
        match st
            .holds
            .iter()
            .position(|h| h.method == method && h.path == parts.uri.path())
        {
            Some(i) => {
                st.holds[i].left -= 1;
                let barrier = st.holds[i].barrier.clone();
                if st.holds[i].left == 0 {
                    st.holds.remove(i);
                }
                Some(barrier)
            }
            None => None,
        }
    };
    if let Some(barrier) = held {
        barrier.wait().await;
    }
    let waiting = {
        let st = lock(&state);
        let text = body
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        for w in &st.waits {
            if w.until_method == method
                && parts.uri.path().starts_with(&w.until_path)
                && text.contains(&w.until_body)
            {
                w.release.notify_one();
            }
        }
        st.waits
            .iter()
            .find(|w| w.method == method && w.path == parts.uri.path())
            .map(|w| (w.release.clone(), w.timeout, w.timed_out.clone()))
    };
    if let Some((release, timeout, timed_out)) = waiting {
        if tokio::time::timeout(timeout, release.notified())
            .await
            .is_err()
        {
            timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        lock(&state)
            .waits
            .retain(|w| !Arc::ptr_eq(&w.release, &release));
    }
    let fault = if is_api {
        let mut st = lock(&state);
        let at = st
            .faults
            .iter()
            .position(|(m, p, _)| *m == method && p == parts.uri.path());
        at.map(|i| st.faults.remove(i).2)
    } else {
        None
    };
    let answer = match (&body, &fault) {
        (Ok(_), Some(Fault::Drop)) => Answer {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
        },
        (Ok(_), Some(Fault::Status(status))) => json_answer(
            *status,
            Some(&State::error_json("Server Error", *status)),
            Vec::new(),
        ),
        (Ok(_), Some(Fault::SecondaryLimit { retry_after })) => json_answer(
            403,
            Some(&serde_json::json!({
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0400:3C1A:1F2E3D:4B5C6D:65F0A1B2.",
            })),
            retry_after
                .map(|s| vec![("retry-after".to_string(), s.to_string())])
                .unwrap_or_default(),
        ),
        (Ok(_), Some(Fault::Exhausted { status, reset_in })) => exhausted(*status, *reset_in),
        (Err(e), _) => Answer {
            status: 400,
            headers: Vec::new(),
            body: format!("cannot read the request body: {e}").into_bytes(),
        },
        (Ok(bytes), _) if is_api => {
            api(&state, &method, &parts.uri, &parts.headers, bytes.clone()).await
        }
        (Ok(bytes), _) => git(&state, &method, &parts.uri, &parts.headers, bytes).await,
    };
    let dropped = matches!(fault, Some(Fault::Drop | Fault::LoseAnswer));
    lock(&state).requests.push(RecordedRequest {
        method,
        path,
        headers,
        body: body.unwrap_or_default(),
        api: is_api,
        status: answer.status,
        response_body: answer.body.clone(),
    });
    if dropped {
        // The body fails before its first byte: hyper closes the connection.
        let lost = futures_util::stream::once(async {
            Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
        });
        return Response::new(Body::from_stream(lost));
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The primary rate limit used up (`API rate limit exceeded`), as GitHub answers it.
fn exhausted(status: u16, reset_in: i64) -> Answer {
    let reset = chrono::Utc::now().timestamp() + reset_in;
    let body = serde_json::json!({
        "message": "API rate limit exceeded for installation ID 1234567.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        "status": status.to_string(),
    });
    Answer {
        status,
        headers: vec![
            ("x-ratelimit-limit".into(), "5000".into()),
            ("x-ratelimit-remaining".into(), "0".into()),
            ("x-ratelimit-used".into(), "5000".into()),
            ("x-ratelimit-reset".into(), reset.to_string()),
            ("x-ratelimit-resource".into(), "core".into()),
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

fn json_answer(
    status: u16,
    body: Option<&serde_json::Value>,
    mut headers: Vec<(String, String)>,
) -> Answer {
    let reset = chrono::Utc::now().timestamp() + 3600;
    headers.extend([
        (
            "x-github-api-version-selected".to_string(),
            "2022-11-28".to_string(),
        ),
        ("x-ratelimit-limit".to_string(), "5000".to_string()),
        ("x-ratelimit-remaining".to_string(), "4999".to_string()),
        ("x-ratelimit-used".to_string(), "1".to_string()),
        ("x-ratelimit-reset".to_string(), reset.to_string()),
        ("x-ratelimit-resource".to_string(), "core".to_string()),
    ]);
    let body = match body {
        Some(v) => {
            headers.push((
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ));
            serde_json::to_vec(v).unwrap_or_default()
        }
        None => Vec::new(),
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn api(
    state: &Shared,
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Answer {
    let expected = lock(state).token.clone();
    match presented_token(headers) {
        None => {
            return json_answer(
                401,
                Some(&State::error_json("Requires authentication", 401)),
                Vec::new(),
            )
        }
        Some(t) if t != expected => {
            return json_answer(
                401,
                Some(&State::error_json("Bad credentials", 401)),
                Vec::new(),
            )
        }
        Some(_) => {}
    }
    let state = state.clone();
    let method = method.to_string();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let joined = tokio::task::spawn_blocking(move || {
        let call = rest::Call {
            method: &method,
            path: &path,
            query: rest::parse_query(&query),
            body: &body,
        };
        rest::handle(&mut lock(&state), &call)
    })
    .await;
    match joined {
        Ok(reply) => json_answer(reply.status, reply.body.as_ref(), reply.headers),
        Err(e) => json_answer(
            500,
            Some(&State::error_json(&format!("handler failed: {e}"), 500)),
            Vec::new(),
        ),
    }
}

fn text_answer(status: u16, text: &str, mut headers: Vec<(String, String)>) -> Answer {
    headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
    Answer {
        status,
        headers,
        body: text.as_bytes().to_vec(),
    }
}

async fn git(
    state: &Shared,
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let (expected, root) = {
        let st = lock(state);
        (st.token.clone(), st.git_root.clone())
    };
    if presented_token(headers).as_deref() != Some(expected.as_str()) {
        let challenge = vec![(
            "www-authenticate".to_string(),
            "Basic realm=\"GitHub\"".to_string(),
        )];
        return text_answer(401, "Invalid username or token.\n", challenge);
    }
    let path = uri.path();
    // `/{owner}/{repo}.git/{service path}` for a repository the test added.
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    let (Some(owner), Some(repo_git), Some(_)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return text_answer(404, "Not Found\n", Vec::new());
    };
    let Some(repo) = repo_git.strip_suffix(".git") else {
        return text_answer(404, "Not Found\n", Vec::new());
    };
    let has_git = lock(state)
        .repo(owner, repo)
        .is_some_and(|r| r.git.is_some());
    if !has_git {
        return text_answer(404, "Repository not found.\n", Vec::new());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let result = git_http::run_cgi(git_http::CgiRequest {
        root: &root,
        path_info: path,
        method,
        query: uri.query().unwrap_or_default(),
        content_type: header("content-type"),
        content_encoding: header("content-encoding"),
        git_protocol: header("git-protocol"),
        remote_user: "x-access-token",
        body,
    })
    .await;
    match result {
        Ok(cgi) => Answer {
            status: cgi.status,
            headers: cgi.headers,
            body: cgi.body,
        },
        Err(e) => text_answer(500, &format!("{e}\n"), Vec::new()),
    }
}
