//! The REST API of the test GitHub server: routing and handlers over [`State`].

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::git_http;
use super::model::{
    encode, CommentRec, Dispatch, IssueRec, LabelRec, PullRec, ReactionRec, ReviewCommentRec,
    ReviewCommentReply, RunRec, State, TOKEN_LOGIN,
};

/// An answer: status, extra headers and an optional JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Some(body),
    }
}

fn empty(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: None,
    }
}

fn error(status: u16, message: &str) -> Reply {
    reply(status, State::error_json(message, status))
}

fn not_found() -> Reply {
    error(404, "Not Found")
}

/// GitHub's 422 shape with one entry in `errors`.
fn validation(resource: &str, field: Option<&str>, code: &str, message: Option<&str>) -> Reply {
    let mut e = json!({ "resource": resource, "code": code });
    if let Some(f) = field {
        e["field"] = json!(f);
    }
    if let Some(m) = message {
        e["message"] = json!(m);
    }
    let mut body = State::error_json("Validation Failed", 422);
    body["errors"] = json!([e]);
    reply(422, body)
}

/// GitHub's 422 for a comment body over 65,536 characters.
fn too_long(text: &str) -> Result<(), Reply> {
    if text.chars().count() > 65_536 {
        return Err(validation(
            "IssueComment",
            Some("body"),
            "custom",
            Some("body is too long (maximum is 65536 characters)"),
        ));
    }
    Ok(())
}

/// `body[field]` as a non-empty string, or GitHub's 422 `missing_field` for `resource`.
fn required_str<'a>(body: &'a Value, resource: &str, field: &str) -> Result<&'a str, Reply> {
    body[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| validation(resource, Some(field), "missing_field", None))
}

/// Decoded `?a=b&c=d` pairs (`+` means space, as in forms).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One request as the handlers see it.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<Value, Reply> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(self.body).map_err(|_| error(400, "Problems parsing JSON"))
    }

    fn since(&self) -> Result<Option<DateTime<Utc>>, Reply> {
        self.param("since")
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| validation("Issue", Some("since"), "invalid", None))
            })
            .transpose()
    }

    /// Applies `per_page`/`page` and adds GitHub's `Link` header.
    fn page(&self, api: &str, items: Vec<Value>) -> Reply {
        let per_page = self
            .param("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = self
            .param("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let chunk: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let mut r = reply(200, Value::Array(chunk));
        if last > 1 {
            let url = |p: usize| {
                let mut q: Vec<String> = self
                    .query
                    .iter()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect();
                q.push(format!("page={p}"));
                format!("<{api}{}?{}>", self.path, q.join("&"))
            };
            let mut links = Vec::new();
            if page < last {
                links.push(format!("{}; rel=\"next\"", url(page + 1)));
                links.push(format!("{}; rel=\"last\"", url(last)));
            }
            if page > 1 {
                links.push(format!("{}; rel=\"first\"", url(1)));
                links.push(format!("{}; rel=\"prev\"", url(page - 1)));
            }
            r.headers.push(("link".into(), links.join(", ")));
        }
        r
    }
}

/// Routes one authenticated REST request. Like GitHub, `POST` also works
/// where only `PATCH` is defined (octocrab updates comments that way).
pub fn handle(st: &mut State, call: &Call) -> Reply {
    let answer = route(st, call).or_else(|| {
        (call.method == "POST")
            .then(|| {
                let patch = Call {
                    method: "PATCH",
                    path: call.path,
                    query: call.query.clone(),
                    body: call.body,
                };
                route(st, &patch)
            })
            .flatten()
    });
    match answer {
        Some(Ok(r) | Err(r)) => r,
        None => not_found(),
    }
}

/// `None` when no route matches the method and path.
fn route(st: &mut State, call: &Call) -> Option<Result<Reply, Reply>> {
    let segments: Vec<String> = call.path.trim_matches('/').split('/').map(decode).collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let r = match (call.method, s.as_slice()) {
        ("GET", ["rate_limit"]) => Ok(rate_limit()),
        ("GET", ["user"]) => Ok(token_user(st)),
        ("GET", ["search", "issues"]) => search_issues(st, call),
        ("GET", ["search", "code"]) => search_code(st, call),
        ("GET", ["repos", o, r, "commits", sha, "status"]) => combined_status(st, o, r, sha),
        ("GET", ["orgs" | "users", owner, "repos"]) => Ok(owner_repos(st, call, owner)),
        ("GET", ["repos", o, r]) => known(st, o, r).map(|()| reply(200, st.repo_json(o, r))),
        ("GET", ["repos", o, r, "issues"]) => list_issues(st, call, o, r),
        ("POST", ["repos", o, r, "issues"]) => create_issue(st, call, o, r),
        ("GET" | "PATCH" | "DELETE", ["repos", o, r, "issues", "comments", id]) => {
            comment(st, call, o, r, id)
        }
        ("GET" | "POST", ["repos", o, r, "issues", "comments", id, "reactions"]) => {
            reactions(st, call, o, r, id)
        }
        ("GET" | "PATCH", ["repos", o, r, "issues", n]) => issue(st, call, o, r, n),
        ("GET" | "POST", ["repos", o, r, "issues", n, "comments"]) => {
            issue_comments(st, call, o, r, n)
        }
        ("GET" | "POST" | "PUT" | "DELETE", ["repos", o, r, "issues", n, "labels"]) => {
            issue_labels(st, call, o, r, n)
        }
        ("DELETE", ["repos", o, r, "issues", n, "labels", name]) => remove_label(st, o, r, n, name),
        ("GET" | "POST", ["repos", o, r, "labels"]) => repo_labels(st, call, o, r),
        ("GET", ["repos", o, r, "pulls"]) => list_pulls(st, call, o, r),
        ("POST", ["repos", o, r, "pulls"]) => create_pull(st, call, o, r),
        ("GET" | "PATCH", ["repos", o, r, "pulls", n]) => pull(st, call, o, r, n),
        ("GET", ["repos", o, r, "pulls", n, "reviews"]) => reviews(st, call, o, r, n),
        ("GET", ["repos", o, r, "pulls", n, "comments"]) => review_comments(st, call, o, r, n),
        ("POST", ["repos", o, r, "pulls", n, "comments", id, "replies"]) => {
            reply_to_review_comment(st, call, o, r, n, id)
        }
        ("GET", ["repos", o, r, "collaborators", user, "permission"]) => permission(st, o, r, user),
        ("GET", ["repos", o, r, "contents", path @ ..]) => {
            contents(st, call, o, r, &path.join("/"))
        }
        ("GET", ["repos", o, r, "git", "ref", name @ ..]) => get_ref(st, o, r, &name.join("/")),
        ("POST", ["repos", o, r, "git", "refs"]) => create_ref(st, call, o, r),
        ("PATCH", ["repos", o, r, "git", "refs", name @ ..]) => {
            update_ref(st, call, o, r, &name.join("/"))
        }
        ("POST", ["repos", o, r, "actions", "workflows", id, "dispatches"]) => {
            workflow_dispatch(st, call, o, r, id)
        }
        ("GET", ["repos", o, r, "actions", "runs"]) => list_runs(st, call, o, r),
        ("GET", ["repos", o, r, "actions", "runs", id]) => get_run(st, o, r, id),
        ("POST", ["repos", o, r, "actions", "runs", id, "cancel"]) => cancel_run(st, o, r, id),
        ("POST", ["repos", o, r, "dispatches"]) => repository_dispatch(st, call, o, r),
        _ => return None,
    };
    Some(r)
}

/// `Ok` when the repository exists (was set up by the test), else GitHub's 404.
fn known(st: &State, owner: &str, repo: &str) -> Result<(), Reply> {
    if st.repo(owner, repo).is_some() {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn number(n: &str) -> Result<u64, Reply> {
    n.parse().map_err(|_| not_found())
}

fn rate_limit() -> Reply {
    let reset = Utc::now().timestamp() + 3600;
    let bucket =
        |limit: u64| json!({"limit": limit, "used": 1, "remaining": limit - 1, "reset": reset});
    reply(
        200,
        json!({
            "resources": {
                "core": bucket(5000),
                "search": bucket(30),
                "code_search": bucket(10),
                "graphql": bucket(5000),
            },
            "rate": bucket(5000),
        }),
    )
}

fn owner_repos(st: &State, call: &Call, owner: &str) -> Reply {
    let items = st
        .repos
        .keys()
        .filter(|(o, _)| o == owner)
        .map(|(o, r)| st.repo_json(o, r))
        .collect();
    call.page(&st.api, items)
}

/// Splits a search query into qualifiers (`repo:o/r`) and free text.
fn search_terms(q: &str) -> (Vec<(String, String)>, String) {
    let mut qualifiers = Vec::new();
    let mut words = Vec::new();
    for word in q.split_whitespace() {
        match word.split_once(':') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphabetic()) => {
                qualifiers.push((k.to_lowercase(), v.trim_matches('"').to_string()))
            }
            _ => words.push(word.trim_matches('"')),
        }
    }
    (qualifiers, words.join(" ").to_lowercase())
}

fn repo_matches(qualifiers: &[(String, String)], owner: &str, repo: &str) -> bool {
    qualifiers.iter().all(|(k, v)| match k.as_str() {
        "repo" => *v == format!("{owner}/{repo}"),
        "org" | "user" => v == owner,
        _ => true,
    })
}

fn search_issues(st: &State, call: &Call) -> Result<Reply, Reply> {
    let q = call
        .param("q")
        .ok_or_else(|| validation("Search", Some("q"), "missing", None))?;
    let (qualifiers, text) = search_terms(q);
    let mut items = Vec::new();
    for ((owner, repo), rec) in &st.repos {
        if !repo_matches(&qualifiers, owner, repo) {
            continue;
        }
        for issue in rec.issues.values() {
            let fits = qualifiers
                .iter()
                .all(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("is" | "type", "issue") => issue.pull.is_none(),
                    ("is" | "type", "pr") => issue.pull.is_some(),
                    ("is" | "state", "open") => issue.state == "open",
                    ("is" | "state", "closed") => issue.state == "closed",
                    ("label", l) => issue.labels.iter().any(|x| x == l),
                    ("author", a) => issue.user == a,
                    _ => true,
                });
            let haystack = format!(
                "{}\n{}",
                issue.title,
                issue.body.as_deref().unwrap_or_default()
            );
            if fits && haystack.to_lowercase().contains(&text) {
                let mut v = st.issue_json(owner, repo, issue);
                v["score"] = json!(1.0);
                items.push(v);
            }
        }
    }
    Ok(reply(
        200,
        json!({"total_count": items.len(), "incomplete_results": false, "items": items, "search_type": "lexical"}),
    ))
}

/// A size qualifier (`size:100..200`, `size:>=5`, `size:<5`, `size:7`) as an inclusive range.
fn size_range(v: &str) -> Option<(u64, u64)> {
    if let Some((lo, hi)) = v.split_once("..") {
        return Some((lo.parse().ok()?, hi.parse().ok()?));
    }
    if let Some(n) = v.strip_prefix(">=") {
        return Some((n.parse().ok()?, u64::MAX));
    }
    if let Some(n) = v.strip_prefix("<=") {
        return Some((0, n.parse().ok()?));
    }
    if let Some(n) = v.strip_prefix('>') {
        return Some((n.parse::<u64>().ok()? + 1, u64::MAX));
    }
    if let Some(n) = v.strip_prefix('<') {
        return Some((0, n.parse::<u64>().ok()?.checked_sub(1)?));
    }
    let n = v.parse().ok()?;
    Some((n, n))
}

/// Code search's own limit: `per_minute` requests in a window that resets a
/// minute after its first request, then a 403 with the `code_search`
/// resource exhausted until the reset.
fn code_search_limited(st: &mut State) -> Option<Reply> {
    let now = Utc::now().timestamp();
    if st.code_search.recent.first().is_some_and(|t| now - t >= 60) {
        st.code_search.recent.clear();
    }
    if st.code_search.recent.len() >= st.code_search.per_minute {
        let reset = st.code_search.recent.first().copied().unwrap_or(now) + 60;
        let mut r = error(403, "API rate limit exceeded for user ID 1.");
        r.headers.extend([
            (
                "x-ratelimit-limit".to_string(),
                st.code_search.per_minute.to_string(),
            ),
            ("x-ratelimit-remaining".to_string(), "0".to_string()),
            ("x-ratelimit-reset".to_string(), reset.to_string()),
            (
                "x-ratelimit-resource".to_string(),
                "code_search".to_string(),
            ),
        ]);
        return Some(r);
    }
    st.code_search.recent.push(now);
    None
}

fn search_code(st: &mut State, call: &Call) -> Result<Reply, Reply> {
    if let Some(limited) = code_search_limited(st) {
        return Err(limited);
    }
    let q = call
        .param("q")
        .ok_or_else(|| validation("Search", Some("q"), "missing", None))?;
    let (qualifiers, text) = search_terms(q);
    if text.is_empty() {
        return Err(validation(
            "Search",
            Some("q"),
            "invalid",
            Some("Must include at least one search term"),
        ));
    }
    let file_fits = |path: &str, size: u64| {
        let name = path.rsplit('/').next().unwrap_or(path);
        qualifiers.iter().all(|(k, v)| match k.as_str() {
            "filename" => name == v,
            "path" => path.starts_with(v.trim_start_matches('/')),
            "extension" => name.rsplit_once('.').is_some_and(|(_, e)| e == v),
            "size" => size_range(v).is_some_and(|(lo, hi)| (lo..=hi).contains(&size)),
            _ => true,
        })
    };
    let mut items = Vec::new();
    for ((owner, repo), rec) in &st.repos {
        if !repo_matches(&qualifiers, owner, repo) {
            continue;
        }
        let mut found: Vec<(String, String)> = Vec::new();
        if let Some(bare) = rec.git.as_deref() {
            // Like GitHub: the default branch only; no match is not an error.
            let hits = git_http::git(bare, &["grep", "-l", "-i", "-F", "-e", &text, "HEAD", "--"])
                .unwrap_or_default();
            for line in hits.lines() {
                let path = line.strip_prefix("HEAD:").unwrap_or(line).to_string();
                let size = git_http::git(bare, &["cat-file", "-s", &format!("HEAD:{path}")])
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                if !file_fits(&path, size) {
                    continue;
                }
                let sha = git_http::git(bare, &["rev-parse", &format!("HEAD:{path}")])
                    .unwrap_or_default();
                found.push((path, sha.trim().to_string()));
            }
        }
        for (path, content) in &rec.files {
            if content.to_lowercase().contains(&text) && file_fits(path, content.len() as u64) {
                found.push((path.clone(), fake_sha(content)));
            }
        }
        for (path, sha) in found {
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            items.push(json!({
                "name": name,
                "path": path,
                "sha": sha,
                "url": format!("{}/repos/{owner}/{repo}/contents/{path}?ref=main", st.api),
                "git_url": format!("{}/repos/{owner}/{repo}/git/blobs/{sha}", st.api),
                "html_url": format!("{}/{owner}/{repo}/blob/main/{path}", st.web),
                "repository": st.repo_json(owner, repo),
                "score": 1.0,
            }));
        }
    }
    let mut incomplete = false;
    if let Some(max) = st.code_search.incomplete_over {
        if items.len() > max {
            items.truncate(max);
            incomplete = true;
        }
    }
    let total = items.len();
    // GitHub pages through at most the first 1,000 results.
    let per_page = call
        .param("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = call
        .param("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    if (page - 1) * per_page >= 1000 && total > 0 {
        return Err(validation(
            "Search",
            None,
            "invalid",
            Some("Only the first 1000 search results are available"),
        ));
    }
    let chunk: Vec<Value> = items
        .into_iter()
        .take(1000)
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Ok(reply(
        200,
        json!({"total_count": total, "incomplete_results": incomplete, "items": chunk}),
    ))
}

/// A stable 40-hex stand-in for a blob id of an in-memory file.
fn fake_sha(content: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for salt in 0u8..3 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, content).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out[..40].to_string()
}

fn list_issues(st: &State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let since = call.since()?;
    let state = call.param("state").unwrap_or("open");
    let labels: Vec<&str> = call
        .param("labels")
        .map(|l| l.split(',').filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let mut issues: Vec<&IssueRec> = rec
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
        .filter(|i| call.param("creator").is_none_or(|c| c == i.user))
        .filter(|i| since.is_none_or(|s| i.updated_at >= s))
        .collect();
    issues.sort_by_key(|i| std::cmp::Reverse(i.number));
    if call.param("direction") == Some("asc") {
        issues.reverse();
    }
    let items = issues
        .iter()
        .map(|i| st.issue_json(owner, repo, i))
        .collect();
    Ok(call.page(&st.api, items))
}

/// Label names from a body: `["a"]`, `{"labels": ["a"]}`, `[{"name": "a"}]`, `{"labels": [{"name": "a"}]}` or `"a"`.
fn label_names(v: &Value) -> Vec<String> {
    let list = match v {
        Value::Object(m) => m.get("labels").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let name = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("name").and_then(Value::as_str).map(String::from),
        _ => None,
    };
    match &list {
        Value::Array(items) => items.iter().filter_map(name).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Makes sure repo labels exist for `names` (GitHub creates them on demand).
fn ensure_labels(st: &mut State, owner: &str, repo: &str, names: &[String]) {
    for name in names {
        let exists = st
            .repo(owner, repo)
            .is_some_and(|r| r.labels.iter().any(|l| &l.name == name));
        if !exists {
            let id = st.fresh_id();
            st.repo_entry(owner, repo).labels.push(LabelRec {
                id,
                name: name.clone(),
                color: "ededed".into(),
                description: None,
            });
        }
    }
}

/// What an issue or pull request is opened with.
pub struct NewIssue<'a> {
    pub title: &'a str,
    pub body: Option<&'a str>,
    pub user: &'a str,
    pub labels: &'a [String],
}

/// Stores a new issue (or, with `pull`, a pull request) and returns its number.
pub fn insert_issue(
    st: &mut State,
    owner: &str,
    repo: &str,
    new: &NewIssue,
    pull: Option<PullRec>,
) -> u64 {
    let NewIssue {
        title,
        body,
        user,
        labels,
    } = *new;
    st.touch_user(user);
    ensure_labels(st, owner, repo, labels);
    let id = st.fresh_id();
    let now = Utc::now();
    let rec = st.repo_entry(owner, repo);
    let number = rec.next_number;
    rec.next_number += 1;
    rec.issues.insert(
        number,
        IssueRec {
            id,
            number,
            title: title.to_string(),
            body: body.map(String::from),
            user: user.to_string(),
            labels: labels.to_vec(),
            state: "open".into(),
            state_reason: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
            pull,
        },
    );
    number
}

/// Stores a new issue comment and returns its id.
pub fn insert_comment(
    st: &mut State,
    owner: &str,
    repo: &str,
    issue: u64,
    user: &str,
    body: &str,
) -> u64 {
    st.touch_user(user);
    let id = st.fresh_id();
    let now = Utc::now();
    let rec = st.repo_entry(owner, repo);
    rec.comments.push(CommentRec {
        id,
        issue,
        user: user.to_string(),
        body: body.to_string(),
        created_at: now,
        updated_at: now,
    });
    if let Some(i) = rec.issues.get_mut(&issue) {
        i.updated_at = now;
    }
    id
}

fn create_issue(st: &mut State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let body = call.json()?;
    let title = match &body["title"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(validation("Issue", Some("title"), "missing_field", None)),
    };
    let labels = label_names(&body);
    let me = st.token_login.clone();
    let new = NewIssue {
        title: &title,
        body: body["body"].as_str(),
        user: &me,
        labels: &labels,
    };
    let number = insert_issue(st, owner, repo, &new, None);
    let issue = &st.repos[&(owner.to_string(), repo.to_string())].issues[&number];
    let mut r = reply(201, st.issue_json(owner, repo, issue));
    r.headers.push((
        "location".into(),
        format!("{}/repos/{owner}/{repo}/issues/{number}", st.api),
    ));
    Ok(r)
}

fn issue_mut<'a>(
    st: &'a mut State,
    owner: &str,
    repo: &str,
    n: u64,
) -> Result<&'a mut IssueRec, Reply> {
    st.repo_mut(owner, repo)
        .and_then(|r| r.issues.get_mut(&n))
        .ok_or_else(not_found)
}

/// Applies `title`, `body`, `state`, `state_reason` from a PATCH body.
fn patch_issue(issue: &mut IssueRec, body: &Value) -> Result<(), Reply> {
    if let Some(t) = body["title"].as_str() {
        issue.title = t.to_string();
    }
    if body.get("body").is_some() {
        issue.body = body["body"].as_str().map(String::from);
    }
    if let Some(s) = body["state"].as_str() {
        let now = Utc::now();
        match s {
            "open" => {
                issue.state = "open".into();
                issue.closed_at = None;
                issue.state_reason = (issue.state_reason.is_some()).then(|| "reopened".into());
            }
            "closed" => {
                if issue.state != "closed" {
                    issue.closed_at = Some(now);
                }
                issue.state = "closed".into();
                issue.state_reason = Some(
                    body["state_reason"]
                        .as_str()
                        .unwrap_or("completed")
                        .to_string(),
                );
            }
            _ => return Err(validation("Issue", Some("state"), "invalid", None)),
        }
    }
    issue.updated_at = Utc::now();
    Ok(())
}

fn issue(st: &mut State, call: &Call, owner: &str, repo: &str, n: &str) -> Result<Reply, Reply> {
    let n = number(n)?;
    issue_mut(st, owner, repo, n)?;
    if call.method == "PATCH" {
        let body = call.json()?;
        let labels = body.get("labels").map(|_| label_names(&body));
        if let Some(l) = &labels {
            ensure_labels(st, owner, repo, l);
        }
        let issue = issue_mut(st, owner, repo, n)?;
        patch_issue(issue, &body)?;
        if let Some(l) = labels {
            issue.labels = l;
        }
    }
    let issue = issue_mut(st, owner, repo, n)?.clone();
    let answer = reply(200, st.issue_json(owner, repo, &issue));
    if call.method == "GET" {
        // Someone edits the issue right after this read (a tick during a render).
        let at = st
            .edits_after_read
            .iter()
            .position(|(o, r, m, _, _)| o == owner && r == repo && *m == n);
        if let Some(i) = at {
            let (_, _, _, from, to) = st.edits_after_read.remove(i);
            let issue = issue_mut(st, owner, repo, n)?;
            issue.body = issue.body.as_ref().map(|b| b.replace(&from, &to));
            issue.updated_at = Utc::now();
        }
    }
    Ok(answer)
}

fn issue_comments(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
    n: &str,
) -> Result<Reply, Reply> {
    let n = number(n)?;
    issue_mut(st, owner, repo, n)?;
    if call.method == "POST" {
        let body = call.json()?;
        let text = body["body"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| validation("IssueComment", Some("body"), "missing_field", None))?;
        too_long(text)?;
        let me = st.token_login.clone();
        let id = insert_comment(st, owner, repo, n, &me, text);
        let rec = &st.repos[&(owner.to_string(), repo.to_string())];
        let c = rec
            .comments
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(not_found)?;
        let mut r = reply(201, st.comment_json(owner, repo, c));
        r.headers.push((
            "location".into(),
            format!("{}/repos/{owner}/{repo}/issues/comments/{id}", st.api),
        ));
        return Ok(r);
    }
    let since = call.since()?;
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let items = rec
        .comments
        .iter()
        .filter(|c| c.issue == n && since.is_none_or(|s| c.updated_at >= s))
        .map(|c| st.comment_json(owner, repo, c))
        .collect();
    Ok(call.page(&st.api, items))
}

fn comment(st: &mut State, call: &Call, owner: &str, repo: &str, id: &str) -> Result<Reply, Reply> {
    let id = number(id)?;
    let rec = st.repo_mut(owner, repo).ok_or_else(not_found)?;
    let pos = rec
        .comments
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(not_found)?;
    match call.method {
        "DELETE" => {
            rec.comments.remove(pos);
            return Ok(empty(204));
        }
        "PATCH" => {
            let body = call.json()?;
            let text = body["body"]
                .as_str()
                .ok_or_else(|| validation("IssueComment", Some("body"), "missing_field", None))?;
            too_long(text)?;
            rec.comments[pos].body = text.to_string();
            rec.comments[pos].updated_at = Utc::now();
        }
        _ => {}
    }
    let c = rec.comments[pos].clone();
    Ok(reply(200, st.comment_json(owner, repo, &c)))
}

const REACTIONS: &[&str] = &[
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

fn reactions(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
    id: &str,
) -> Result<Reply, Reply> {
    let id = number(id)?;
    let rec = st.repo(owner, repo).ok_or_else(not_found)?;
    if !rec.comments.iter().any(|c| c.id == id) {
        return Err(not_found());
    }
    if call.method == "GET" {
        let items = rec
            .reactions
            .iter()
            .filter(|r| r.comment == id && call.param("content").is_none_or(|c| c == r.content))
            .map(|r| st.reaction_json(r))
            .collect();
        return Ok(call.page(&st.api, items));
    }
    let body = call.json()?;
    let content = body["content"]
        .as_str()
        .filter(|c| REACTIONS.contains(c))
        .ok_or_else(|| validation("Reaction", Some("content"), "invalid", None))?
        .to_string();
    if let Some(existing) = rec
        .reactions
        .iter()
        .find(|r| r.comment == id && r.user == st.token_login && r.content == content)
    {
        return Ok(reply(200, st.reaction_json(existing)));
    }
    let rid = st.fresh_id();
    let reaction = ReactionRec {
        id: rid,
        comment: id,
        user: st.token_login.clone(),
        content,
        created_at: Utc::now(),
    };
    let json = st.reaction_json(&reaction);
    st.repo_entry(owner, repo).reactions.push(reaction);
    Ok(reply(201, json))
}

fn issue_labels(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
    n: &str,
) -> Result<Reply, Reply> {
    let n = number(n)?;
    issue_mut(st, owner, repo, n)?;
    match call.method {
        "POST" | "PUT" => {
            let names = label_names(&call.json()?);
            ensure_labels(st, owner, repo, &names);
            let issue = issue_mut(st, owner, repo, n)?;
            if call.method == "PUT" {
                issue.labels.clear();
            }
            for name in names {
                if !issue.labels.contains(&name) {
                    issue.labels.push(name);
                }
            }
            issue.updated_at = Utc::now();
        }
        "DELETE" => {
            let issue = issue_mut(st, owner, repo, n)?;
            issue.labels.clear();
            issue.updated_at = Utc::now();
            return Ok(empty(204));
        }
        _ => {}
    }
    let names = issue_mut(st, owner, repo, n)?.labels.clone();
    Ok(reply(
        200,
        Value::Array(st.issue_labels_json(owner, repo, &names)),
    ))
}

fn remove_label(
    st: &mut State,
    owner: &str,
    repo: &str,
    n: &str,
    name: &str,
) -> Result<Reply, Reply> {
    let issue = issue_mut(st, owner, repo, number(n)?)?;
    let pos = issue
        .labels
        .iter()
        .position(|l| l == name)
        .ok_or_else(|| error(404, "Label does not exist"))?;
    issue.labels.remove(pos);
    issue.updated_at = Utc::now();
    let names = issue.labels.clone();
    Ok(reply(
        200,
        Value::Array(st.issue_labels_json(owner, repo, &names)),
    ))
}

fn repo_labels(st: &mut State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    if call.method == "POST" {
        let body = call.json()?;
        let name = body["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| validation("Label", Some("name"), "missing_field", None))?
            .to_string();
        if st.repos[&(owner.to_string(), repo.to_string())]
            .labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(&name))
        {
            return Err(validation("Label", Some("name"), "already_exists", None));
        }
        let label = LabelRec {
            id: st.fresh_id(),
            name,
            color: body["color"]
                .as_str()
                .unwrap_or("ededed")
                .trim_start_matches('#')
                .to_string(),
            description: body["description"].as_str().map(String::from),
        };
        let json = st.label_json(owner, repo, &label);
        st.repo_entry(owner, repo).labels.push(label);
        return Ok(reply(201, json));
    }
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let items = rec
        .labels
        .iter()
        .map(|l| st.label_json(owner, repo, l))
        .collect();
    Ok(call.page(&st.api, items))
}

/// The bare repository of a known repo, if the test added one.
fn bare(st: &State, owner: &str, repo: &str) -> Option<std::path::PathBuf> {
    st.repo(owner, repo).and_then(|r| r.git.clone())
}

fn branch_sha(st: &State, owner: &str, repo: &str, branch: &str) -> Option<String> {
    bare(st, owner, repo).and_then(|b| git_http::rev_parse(&b, &format!("refs/heads/{branch}")))
}

/// Stores a pull request; `Err` carries GitHub's 422 answers.
pub fn open_pull(
    st: &mut State,
    owner: &str,
    repo: &str,
    new: &NewIssue,
    head: &str,
    base: &str,
    draft: bool,
) -> Result<u64, Reply> {
    known(st, owner, repo)?;
    let (head_owner, head_branch) = head.split_once(':').unwrap_or((owner, head));
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let duplicate = rec.issues.values().any(|i| {
        i.state == "open"
            && i.pull.as_ref().is_some_and(|p| {
                p.head == head_branch && p.head_owner == head_owner && p.base == base
            })
    });
    if duplicate {
        let message = format!("A pull request already exists for {head_owner}:{head_branch}.");
        return Err(validation("PullRequest", None, "custom", Some(&message)));
    }
    let zero = "0".repeat(40);
    let (head_sha, base_sha) = if rec.git.is_some() {
        let head_sha = branch_sha(st, owner, repo, head_branch)
            .ok_or_else(|| validation("PullRequest", Some("head"), "invalid", None))?;
        let base_sha = branch_sha(st, owner, repo, base)
            .ok_or_else(|| validation("PullRequest", Some("base"), "invalid", None))?;
        if head_sha == base_sha {
            let message = format!("No commits between {base} and {head_branch}");
            return Err(validation("PullRequest", None, "custom", Some(&message)));
        }
        (head_sha, base_sha)
    } else {
        (zero.clone(), zero)
    };
    let pull = PullRec {
        id: st.fresh_id(),
        head_owner: head_owner.to_string(),
        head: head_branch.to_string(),
        base: base.to_string(),
        head_sha,
        base_sha,
        draft,
        maintainer_can_modify: false,
        merged_at: None,
    };
    Ok(insert_issue(st, owner, repo, new, Some(pull)))
}

fn pull_reply(st: &State, owner: &str, repo: &str, n: u64, status: u16) -> Result<Reply, Reply> {
    let issue = st
        .repo(owner, repo)
        .and_then(|r| r.issues.get(&n))
        .ok_or_else(not_found)?;
    let pull = issue.pull.as_ref().ok_or_else(not_found)?;
    Ok(reply(status, st.pull_json(owner, repo, issue, pull)))
}

fn create_pull(st: &mut State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    let body = call.json()?;
    let field = |name: &str| required_str(&body, "PullRequest", name);
    let (head, base) = (field("head")?, field("base")?);
    let title = field("title")?;
    let draft = body["draft"].as_bool().unwrap_or(false);
    let me = st.token_login.clone();
    let new = NewIssue {
        title,
        body: body["body"].as_str(),
        user: &me,
        labels: &[],
    };
    let n = open_pull(st, owner, repo, &new, head, base, draft)?;
    if let Some(m) = body["maintainer_can_modify"].as_bool() {
        if let Some(p) = issue_mut(st, owner, repo, n)?.pull.as_mut() {
            p.maintainer_can_modify = m;
        }
    }
    let mut r = pull_reply(st, owner, repo, n, 201)?;
    r.headers.push((
        "location".into(),
        format!("{}/repos/{owner}/{repo}/pulls/{n}", st.api),
    ));
    Ok(r)
}

fn list_pulls(st: &State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let state = call.param("state").unwrap_or("open");
    let head = call
        .param("head")
        .map(|h| h.split_once(':').unwrap_or((owner, h)));
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let items = rec
        .issues
        .values()
        .rev()
        .filter(|i| state == "all" || i.state == state)
        .filter_map(|i| i.pull.as_ref().map(|p| (i, p)))
        .filter(|(_, p)| head.is_none_or(|(o, b)| p.head_owner == o && p.head == b))
        .filter(|(_, p)| call.param("base").is_none_or(|b| p.base == b))
        .map(|(i, p)| st.pull_json(owner, repo, i, p))
        .collect();
    Ok(call.page(&st.api, items))
}

fn pull(st: &mut State, call: &Call, owner: &str, repo: &str, n: &str) -> Result<Reply, Reply> {
    let n = number(n)?;
    if call.method == "PATCH" {
        let body = call.json()?;
        let issue = issue_mut(st, owner, repo, n)?;
        if issue.pull.is_none() {
            return Err(not_found());
        }
        patch_issue(issue, &body)?;
        if let (Some(b), Some(p)) = (body["base"].as_str(), issue.pull.as_mut()) {
            p.base = b.to_string();
        }
        if let (Some(m), Some(p)) = (body["maintainer_can_modify"].as_bool(), issue.pull.as_mut()) {
            p.maintainer_can_modify = m;
        }
    }
    pull_reply(st, owner, repo, n, 200)
}

fn reviews(st: &State, call: &Call, owner: &str, repo: &str, n: &str) -> Result<Reply, Reply> {
    let n = number(n)?;
    pull_reply(st, owner, repo, n, 200)?;
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let items = rec
        .reviews
        .iter()
        .filter(|r| r.pull == n)
        .map(|r| st.review_json(owner, repo, r))
        .collect();
    Ok(call.page(&st.api, items))
}

fn review_comments(
    st: &State,
    call: &Call,
    owner: &str,
    repo: &str,
    n: &str,
) -> Result<Reply, Reply> {
    let n = number(n)?;
    pull_reply(st, owner, repo, n, 200)?;
    let since = call.since()?;
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let items = rec
        .review_comments
        .iter()
        .filter(|c| c.pull == n && since.is_none_or(|s| c.created_at >= s))
        .map(|c| st.review_comment_json(owner, repo, c))
        .collect();
    Ok(call.page(&st.api, items))
}

fn reply_to_review_comment(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
    n: &str,
    id: &str,
) -> Result<Reply, Reply> {
    let (n, id) = (number(n)?, number(id)?);
    let body = call.json()?;
    let text = body["body"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            validation(
                "PullRequestReviewComment",
                Some("body"),
                "missing_field",
                None,
            )
        })?
        .to_string();
    let parent = st
        .repo(owner, repo)
        .and_then(|r| r.review_comments.iter().find(|c| c.id == id && c.pull == n))
        .cloned()
        .ok_or_else(not_found)?;
    let new_id = st.fresh_id();
    let c = ReviewCommentRec {
        id: new_id,
        pull: n,
        review_id: Some(st.fresh_id()),
        in_reply_to: Some(parent.in_reply_to.unwrap_or(parent.id)),
        user: st.token_login.clone(),
        path: parent.path.clone(),
        line: parent.line,
        body: text.clone(),
        commit_id: parent.commit_id.clone(),
        created_at: Utc::now(),
    };
    let json = st.review_comment_json(owner, repo, &c);
    st.repo_entry(owner, repo).review_comments.push(c);
    st.replies.push(ReviewCommentReply {
        owner: owner.into(),
        repo: repo.into(),
        pull: n,
        in_reply_to: id,
        id: new_id,
        user: st.token_login.clone(),
        body: text,
    });
    Ok(reply(201, json))
}

fn permission(st: &State, owner: &str, repo: &str, user: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let role = st.repos[&(owner.to_string(), repo.to_string())]
        .permissions
        .get(user)
        .ok_or_else(|| error(404, &format!("{user} is not a user")))?;
    // GitHub folds roles into the legacy levels in `permission`; `role_name` keeps the role.
    let permission = match role.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let mut user_json = st.user_json(user);
    // What each role may do, as GitHub reports it on the collaborator.
    let may = |roles: &[&str]| roles.contains(&role.as_str());
    user_json["permissions"] = json!({
        "admin": may(&["admin"]),
        "maintain": may(&["admin", "maintain"]),
        "push": may(&["admin", "maintain", "write"]),
        "triage": may(&["admin", "maintain", "write", "triage"]),
        "pull": may(&["admin", "maintain", "write", "triage", "read"]),
    });
    user_json["role_name"] = json!(role);
    Ok(reply(
        200,
        json!({"permission": permission, "role_name": role, "user": user_json}),
    ))
}

fn contents(st: &State, call: &Call, owner: &str, repo: &str, path: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    if let Some(rec) = st.repo(owner, repo).filter(|r| r.git.is_none()) {
        return memory_file(st, owner, repo, path, rec.files.get(path));
    }
    let bare = bare(st, owner, repo).ok_or_else(not_found)?;
    let rev = call.param("ref").unwrap_or("HEAD");
    let object = format!("{rev}:{path}");
    let kind = git_http::git(&bare, &["cat-file", "-t", &object]).map_err(|_| not_found())?;
    let sha = git_http::git(&bare, &["rev-parse", &object])
        .map_err(|_| not_found())?
        .trim()
        .to_string();
    let r = format!("{}/repos/{owner}/{repo}", st.api);
    let entry = |path: &str, kind: &str, sha: &str, size: u64| {
        let url = format!("{r}/contents/{path}?ref={rev}");
        let tree_or_blob = if kind == "dir" { "tree" } else { "blob" };
        let git = format!(
            "{r}/git/{}s/{sha}",
            if kind == "dir" { "tree" } else { "blob" }
        );
        let html = format!("{}/{owner}/{repo}/{tree_or_blob}/{rev}/{path}", st.web);
        let download =
            (kind == "file").then(|| format!("{}/{owner}/{repo}/raw/{rev}/{path}", st.web));
        json!({
            "type": kind,
            "size": size,
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": download,
            "_links": {"self": url, "git": git, "html": html},
        })
    };
    match kind.trim() {
        "blob" => {
            let blob = git_http::git_bytes(&bare, &["cat-file", "blob", &sha])
                .map_err(|e| error(500, &e))?;
            let mut v = entry(path, "file", &sha, blob.len() as u64);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
            // GitHub wraps the base64 text at 60 columns.
            let wrapped: Vec<String> = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            v["content"] = json!(wrapped.join("\n") + "\n");
            v["encoding"] = json!("base64");
            Ok(reply(200, v))
        }
        "tree" => {
            let listing =
                git_http::git(&bare, &["ls-tree", "-l", &object]).map_err(|_| not_found())?;
            let items = listing
                .lines()
                .filter_map(|line| {
                    let (meta, name) = line.split_once('\t')?;
                    let mut parts = meta.split_whitespace();
                    let (mode, kind, sha, size) =
                        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                    let kind = match (mode, kind) {
                        ("120000", _) => "symlink",
                        (_, "tree") => "dir",
                        (_, "commit") => "submodule",
                        _ => "file",
                    };
                    let child = if path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{path}/{name}")
                    };
                    Some(entry(&child, kind, sha, size.parse().unwrap_or(0)))
                })
                .collect();
            Ok(reply(200, Value::Array(items)))
        }
        _ => Err(not_found()),
    }
}

/// A file of a repository without git, as the contents API answers it.
fn memory_file(
    st: &State,
    owner: &str,
    repo: &str,
    path: &str,
    content: Option<&String>,
) -> Result<Reply, Reply> {
    let content = content.ok_or_else(not_found)?;
    let sha = fake_sha(content);
    let r = format!("{}/repos/{owner}/{repo}", st.api);
    let url = format!("{r}/contents/{path}?ref=main");
    let git = format!("{r}/git/blobs/{sha}");
    let html = format!("{}/{owner}/{repo}/blob/main/{path}", st.web);
    let encoded = base64::engine::general_purpose::STANDARD.encode(content.as_bytes());
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(reply(
        200,
        json!({
            "type": "file",
            "encoding": "base64",
            "size": content.len(),
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "content": wrapped.join("\n") + "\n",
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": format!("{}/{owner}/{repo}/raw/main/{path}", st.web),
            "_links": {"self": url, "git": git, "html": html},
        }),
    ))
}

/// The combined status of a commit: `success` with no statuses (nothing reported).
fn combined_status(st: &State, owner: &str, repo: &str, sha: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let r = format!("{}/repos/{owner}/{repo}", st.api);
    let reported = st
        .statuses
        .get(&(owner.to_string(), repo.to_string(), sha.to_string()))
        .cloned()
        .unwrap_or_default();
    // As GitHub combines them: any failure or error fails; all success
    // succeeds; otherwise (none at all too) pending.
    let state = if reported.iter().any(|s| s == "failure" || s == "error") {
        "failure"
    } else if !reported.is_empty() && reported.iter().all(|s| s == "success") {
        "success"
    } else {
        "pending"
    };
    let statuses: Vec<Value> = reported
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "url": format!("{r}/statuses/{sha}"),
                "avatar_url": null,
                "id": i + 1,
                "node_id": super::model::node_id("SC_", i as u64 + 1),
                "state": s,
                "description": null,
                "target_url": null,
                "context": format!("ci/{}", i + 1),
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            })
        })
        .collect();
    Ok(reply(
        200,
        json!({
            "state": state,
            "statuses": statuses,
            "sha": sha,
            "total_count": reported.len(),
            "repository": st.repo_json(owner, repo),
            "commit_url": format!("{r}/commits/{sha}"),
            "url": format!("{r}/commits/{sha}/status"),
        }),
    ))
}

fn ref_json(st: &State, owner: &str, repo: &str, name: &str, sha: &str) -> Value {
    let r = format!("{}/repos/{owner}/{repo}", st.api);
    json!({
        "ref": name,
        "node_id": super::model::node_id("REF_", u64::from_str_radix(&sha[..8.min(sha.len())], 16).unwrap_or(0)),
        "url": format!("{r}/git/{name}"),
        "object": {"type": "commit", "sha": sha, "url": format!("{r}/git/commits/{sha}")},
    })
}

fn get_ref(st: &State, owner: &str, repo: &str, name: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let bare = bare(st, owner, repo).ok_or_else(not_found)?;
    let full = format!("refs/{name}");
    let sha = git_http::rev_parse(&bare, &full).ok_or_else(not_found)?;
    Ok(reply(200, ref_json(st, owner, repo, &full, &sha)))
}

fn create_ref(st: &State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let bare = bare(st, owner, repo).ok_or_else(not_found)?;
    let body = call.json()?;
    let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
        return Err(validation("Reference", Some("ref"), "missing_field", None));
    };
    if !name.starts_with("refs/") || name.matches('/').count() < 2 {
        return Err(validation(
            "Reference",
            Some("ref"),
            "invalid",
            Some("ref must start with 'refs' and have at least two slashes."),
        ));
    }
    if git_http::rev_parse(&bare, name).is_some() {
        return Err(validation(
            "Reference",
            Some("ref"),
            "already_exists",
            Some("Reference already exists"),
        ));
    }
    let sha = git_http::rev_parse(&bare, sha).ok_or_else(|| {
        validation(
            "Reference",
            Some("sha"),
            "invalid",
            Some("Object does not exist"),
        )
    })?;
    git_http::git(&bare, &["update-ref", name, &sha, ""]).map_err(|e| error(500, &e))?;
    let mut r = reply(201, ref_json(st, owner, repo, name, &sha));
    r.headers.push((
        "location".into(),
        format!("{}/repos/{owner}/{repo}/git/{name}", st.api),
    ));
    Ok(r)
}

fn update_ref(
    st: &State,
    call: &Call,
    owner: &str,
    repo: &str,
    name: &str,
) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let bare = bare(st, owner, repo).ok_or_else(not_found)?;
    let body = call.json()?;
    let full = format!("refs/{name}");
    let old = git_http::rev_parse(&bare, &full).ok_or_else(|| {
        validation(
            "Reference",
            Some("ref"),
            "invalid",
            Some("Reference does not exist"),
        )
    })?;
    let new = body["sha"]
        .as_str()
        .and_then(|s| git_http::rev_parse(&bare, s))
        .ok_or_else(|| {
            validation(
                "Reference",
                Some("sha"),
                "invalid",
                Some("Object does not exist"),
            )
        })?;
    let force = body["force"].as_bool().unwrap_or(false);
    let fast_forward = git_http::git(&bare, &["merge-base", "--is-ancestor", &old, &new]).is_ok();
    if !force && !fast_forward {
        return Err(validation(
            "Reference",
            Some("sha"),
            "custom",
            Some("Update is not a fast forward"),
        ));
    }
    git_http::git(&bare, &["update-ref", &full, &new, &old]).map_err(|e| error(500, &e))?;
    Ok(reply(200, ref_json(st, owner, repo, &full, &new)))
}

/// Stores a workflow run and returns nothing; the test reads it back through the API.
pub fn insert_run(st: &mut State, owner: &str, repo: &str, id: u64, status: &str) {
    let conclusion = (status == "completed").then(|| "success".to_string());
    let runs = &mut st.repo_entry(owner, repo).runs;
    runs.retain(|r| r.id != id);
    runs.push(RunRec {
        id,
        status: status.to_string(),
        conclusion,
        created_at: Utc::now(),
    });
}

fn workflow_dispatch(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
    workflow: &str,
) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let body = call.json()?;
    required_str(&body, "WorkflowDispatch", "ref")?;
    st.dispatches.push(Dispatch {
        owner: owner.into(),
        repo: repo.into(),
        workflow: Some(workflow.into()),
        body: body.clone(),
    });
    if body["return_run_details"].as_bool() == Some(true) {
        let id = st.fresh_id();
        insert_run(st, owner, repo, id, "queued");
        return Ok(reply(
            200,
            json!({
                "workflow_run_id": id,
                "run_url": format!("{}/repos/{owner}/{repo}/actions/runs/{id}", st.api),
                "html_url": format!("{}/{owner}/{repo}/actions/runs/{id}", st.web),
            }),
        ));
    }
    Ok(empty(204))
}

fn repository_dispatch(
    st: &mut State,
    call: &Call,
    owner: &str,
    repo: &str,
) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let body = call.json()?;
    required_str(&body, "RepositoryDispatch", "event_type")?;
    st.dispatches.push(Dispatch {
        owner: owner.into(),
        repo: repo.into(),
        workflow: None,
        body,
    });
    Ok(empty(204))
}

fn list_runs(st: &State, call: &Call, owner: &str, repo: &str) -> Result<Reply, Reply> {
    known(st, owner, repo)?;
    let head = bare(st, owner, repo)
        .and_then(|b| git_http::commit_info(&b, "refs/heads/main"))
        .unwrap_or_else(git_http::CommitInfo::placeholder);
    let rec = &st.repos[&(owner.to_string(), repo.to_string())];
    let runs: Vec<Value> = rec
        .runs
        .iter()
        .rev()
        .filter(|r| {
            call.param("status")
                .is_none_or(|s| r.status == s || r.conclusion.as_deref() == Some(s))
        })
        .map(|r| st.run_json(owner, repo, r, &head))
        .collect();
    let total = runs.len();
    let mut page = call.page(&st.api, runs);
    let items = page.body.take().unwrap_or(Value::Array(Vec::new()));
    page.body = Some(json!({"total_count": total, "workflow_runs": items}));
    Ok(page)
}

/// `GET /user`: the token's account for a user's token; installation tokens
/// (`GITHUB_TOKEN`, app tokens) get GitHub's 403.
fn token_user(st: &State) -> Reply {
    if st.token_is_user {
        reply(200, st.user_json(&st.token_login))
    } else {
        error(403, "Resource not accessible by integration")
    }
}

fn get_run(st: &State, owner: &str, repo: &str, id: &str) -> Result<Reply, Reply> {
    let id = number(id)?;
    let head = bare(st, owner, repo)
        .and_then(|b| git_http::commit_info(&b, "refs/heads/main"))
        .unwrap_or_else(git_http::CommitInfo::placeholder);
    let run = st
        .repo(owner, repo)
        .and_then(|r| r.runs.iter().find(|r| r.id == id))
        .ok_or_else(not_found)?;
    Ok(reply(200, st.run_json(owner, repo, run, &head)))
}

fn cancel_run(st: &mut State, owner: &str, repo: &str, id: &str) -> Result<Reply, Reply> {
    let id = number(id)?;
    let run = st
        .repo_mut(owner, repo)
        .and_then(|r| r.runs.iter_mut().find(|r| r.id == id))
        .ok_or_else(not_found)?;
    if run.status == "completed" {
        return Err(error(
            409,
            "Cannot cancel a workflow run that is completed.",
        ));
    }
    run.status = "completed".into();
    run.conclusion = Some("cancelled".into());
    st.cancelled_runs.push(id);
    Ok(reply(202, json!({})))
}

/// Adds a review on a pull request (test setup) and returns its id.
pub fn insert_review(
    st: &mut State,
    owner: &str,
    repo: &str,
    pull: u64,
    user: &str,
    state: &str,
    body: &str,
) -> u64 {
    st.touch_user(user);
    let id = st.fresh_id();
    let commit_id = head_sha_of(st, owner, repo, pull);
    st.repo_entry(owner, repo)
        .reviews
        .push(super::model::ReviewRec {
            id,
            pull,
            user: user.into(),
            state: state.into(),
            body: body.into(),
            commit_id,
            submitted_at: Utc::now(),
        });
    id
}

/// Adds a review comment on a line of a pull request (test setup) and returns its id.
#[allow(clippy::too_many_arguments)]
pub fn insert_review_comment(
    st: &mut State,
    owner: &str,
    repo: &str,
    pull: u64,
    user: &str,
    path: &str,
    line: u64,
    body: &str,
) -> u64 {
    st.touch_user(user);
    let id = st.fresh_id();
    let commit_id = head_sha_of(st, owner, repo, pull);
    st.repo_entry(owner, repo)
        .review_comments
        .push(ReviewCommentRec {
            id,
            pull,
            review_id: None,
            in_reply_to: None,
            user: user.into(),
            path: path.into(),
            line,
            body: body.into(),
            commit_id,
            created_at: Utc::now(),
        });
    id
}

fn head_sha_of(st: &State, owner: &str, repo: &str, pull: u64) -> String {
    st.repo(owner, repo)
        .and_then(|r| r.issues.get(&pull))
        .and_then(|i| i.pull.as_ref())
        .map_or_else(|| "0".repeat(40), |p| p.head_sha.clone())
}
