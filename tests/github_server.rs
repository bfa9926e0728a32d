//! Tests of the test GitHub server: every endpoint round-trips and answers in GitHub's OpenAPI shapes.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::github_server::{git_http, openapi, GithubServer, TOKEN_LOGIN};

const TOKEN: &str = "ghs_test_token_123";

/// A REST client for one server that checks every answer against the OpenAPI subset.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(gh: &GithubServer) -> Api {
        Api {
            base: gh.api_url(),
            client: reqwest::Client::new(),
        }
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("bad method {method}: {e}"));
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "deckhand-tests");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{path}: reading the body: {e}"))
            .to_vec();
        (status, headers, bytes)
    }

    /// Calls with the token; the answer must be documented and fit its schema.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        if let Some(b) = &body {
            let checked = openapi::spec()
                .validate_request(method, path, b.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("request body invalid: {e:#?}"));
            assert!(
                checked,
                "{method} {path}: the OpenAPI subset documents no request body"
            );
        }
        self.send(method, path, body).await
    }

    /// `GET` with the token; the answer must be documented and fit its schema.
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    /// Calls with the token without checking the request body; the answer must be documented and fit.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, bytes) = self
            .raw(method, path, body, Some(&format!("token {TOKEN}")))
            .await;
        if let Err(errors) = openapi::spec().validate_response(method, path, status, &bytes) {
            panic!("{method} {path} -> {status}: {errors:#?}");
        }
        (status, json_answer(method, path, &bytes))
    }

    /// Calls an endpoint the OpenAPI subset does not describe (still must answer JSON or nothing).
    async fn call_undocumented(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        assert!(
            openapi::spec().find(method, path).is_none(),
            "{method} {path} is documented; use call()"
        );
        let (status, _, bytes) = self
            .raw(method, path, body, Some(&format!("Bearer {TOKEN}")))
            .await;
        (status, json_answer(method, path, &bytes))
    }
}

/// An answer's JSON; an empty body is `null`.
fn json_answer(method: &str, path: &str, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: answer is not JSON: {e}"))
    }
}

/// Runs git as a test user would (identity set, no global config, no prompts).
fn run_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-c", "user.name=Test", "-c", "user.email=test@example.com"];
    all.extend_from_slice(args);
    git_http::git(dir, &all)
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    run_git(dir, args).unwrap_or_else(|e| panic!("{e}"))
}

/// A local repo with `main` (README.md, src/lib.rs) and a `feature` branch one commit ahead.
fn source_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let p = dir.path();
    git_ok(p, &["init", "--quiet", "--initial-branch=main"]);
    let write = |path: &str, text: &str| {
        let path = p.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(p))
            .and_then(|()| std::fs::write(&path, text))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    };
    write("README.md", "# Widget\nThe widget frobnicates.\n");
    write("src/lib.rs", "pub fn frobnicate() -> u32 { 42 }\n");
    git_ok(p, &["add", "."]);
    git_ok(p, &["commit", "--quiet", "-m", "Initial commit"]);
    git_ok(p, &["checkout", "--quiet", "-b", "feature"]);
    write("src/lib.rs", "pub fn frobnicate() -> u32 { 43 }\n");
    git_ok(p, &["commit", "--quiet", "-am", "Frobnicate harder"]);
    git_ok(p, &["checkout", "--quiet", "main"]);
    dir
}

fn started() -> (GithubServer, tempfile::TempDir) {
    let gh = GithubServer::start(TOKEN);
    let src = source_repo();
    gh.add_repo("acme", "widget", src.path());
    (gh, src)
}

#[tokio::test]
async fn issues_comments_labels_and_reactions_round_trip() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    let n = gh.add_issue(
        "acme",
        "widget",
        "Crash on start",
        "It crashes.",
        "alice",
        &["bug"],
    );
    gh.set_permission("acme", "widget", "alice", "write");

    let (s, issue) = api.get(&format!("/repos/acme/widget/issues/{n}")).await;
    assert_eq!(s, 200);
    assert_eq!(issue["title"], "Crash on start");
    assert_eq!(issue["user"]["login"], "alice");
    assert_eq!(issue["user"]["type"], "User");
    assert_eq!(issue["labels"][0]["name"], "bug");
    assert_eq!(issue["author_association"], "COLLABORATOR");
    assert!(issue["html_url"]
        .as_str()
        .unwrap()
        .starts_with(&gh.server_url()));
    assert!(issue["url"].as_str().unwrap().starts_with(&gh.api_url()));

    let (s, created) = api
        .call(
            "POST",
            "/repos/acme/widget/issues",
            Some(json!({"title": "Follow-up", "body": "More", "labels": ["deckhand"]})),
        )
        .await;
    assert_eq!(s, 201);
    let m = created["number"].as_u64().unwrap();
    assert_eq!(m, n + 1);
    assert_eq!(created["user"]["login"], TOKEN_LOGIN);
    assert_eq!(created["user"]["type"], "Bot");

    let (s, list) = api
        .get("/repos/acme/widget/issues?state=open&labels=bug")
        .await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = api.get("/repos/acme/widget/issues?per_page=1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (s, updated) = api
        .call(
            "PATCH",
            &format!("/repos/acme/widget/issues/{m}"),
            Some(json!({"title": "Follow-up (renamed)", "state": "closed", "labels": ["wontfix"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(updated["state"], "closed");
    assert_eq!(updated["state_reason"], "completed");
    assert!(updated["closed_at"].is_string());
    assert_eq!(gh.labels_of("acme", "widget", m), vec!["wontfix"]);
    let (_, closed) = api.get("/repos/acme/widget/issues?state=closed").await;
    assert_eq!(closed.as_array().unwrap().len(), 1);

    // Comments: seeded, created, listed with `since`, fetched, edited, deleted.
    let first = gh.add_comment("acme", "widget", n, "alice", "/deckhand fix it");
    let (s, c) = api
        .call(
            "POST",
            &format!("/repos/acme/widget/issues/{n}/comments"),
            Some(json!({"body": "On it"})),
        )
        .await;
    assert_eq!(s, 201);
    let mine = c["id"].as_u64().unwrap();
    let (_, all) = api
        .get(&format!("/repos/acme/widget/issues/{n}/comments"))
        .await;
    let bodies: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["/deckhand fix it", "On it"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, none) = api
        .get(&format!(
            "/repos/acme/widget/issues/{n}/comments?since={future}"
        ))
        .await;
    assert_eq!(none, json!([]));
    let (_, got) = api
        .get(&format!("/repos/acme/widget/issues/comments/{first}"))
        .await;
    assert_eq!(got["user"]["login"], "alice");
    let (s, edited) = api
        .call(
            "PATCH",
            &format!("/repos/acme/widget/issues/comments/{mine}"),
            Some(json!({"body": "Done"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(edited["body"], "Done");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/repos/acme/widget/issues/comments/{mine}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let left: Vec<String> = gh
        .comments("acme", "widget", n)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(left, ["/deckhand fix it"]);
    let (s, _) = api
        .get(&format!("/repos/acme/widget/issues/comments/{mine}"))
        .await;
    assert_eq!(s, 404);

    // Reactions.
    let path = format!("/repos/acme/widget/issues/comments/{first}/reactions");
    let (s, r) = api
        .call("POST", &path, Some(json!({"content": "eyes"})))
        .await;
    assert_eq!(s, 201);
    assert_eq!(r["content"], "eyes");
    let (s, _) = api
        .call("POST", &path, Some(json!({"content": "eyes"})))
        .await;
    assert_eq!(s, 200, "the same reaction twice is not created again");
    let (_, listed) = api.get(&path).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(gh.reactions("acme", "widget", first), ["eyes"]);
    let (s, _) = api
        .send("POST", &path, Some(json!({"content": "thumbs"})))
        .await;
    assert_eq!(s, 422);

    // Labels on issues and in the repository.
    let labels = format!("/repos/acme/widget/issues/{n}/labels");
    let (s, l) = api
        .call("POST", &labels, Some(json!({"labels": ["deckhand", "p1"]})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(l.as_array().unwrap().len(), 3);
    let (_, l) = api.get(&labels).await;
    assert_eq!(l.as_array().unwrap().len(), 3);
    let (s, l) = api
        .call_undocumented("DELETE", &format!("{labels}/p1"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(l.as_array().unwrap().len(), 2);
    let (s, _) = api
        .call_undocumented("DELETE", &format!("{labels}/p1"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .call("PUT", &labels, Some(json!({"labels": ["only"]})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(gh.labels_of("acme", "widget", n), ["only"]);
    let (s, _) = api.call("DELETE", &labels, None).await;
    assert_eq!(s, 204);
    assert!(gh.labels_of("acme", "widget", n).is_empty());
    let (s, label) = api
        .call("POST", "/repos/acme/widget/labels", Some(json!({"name": "needs-review", "color": "d93f0b", "description": "Deckhand needs a human"})))
        .await;
    assert_eq!(s, 201);
    assert_eq!(label["color"], "d93f0b");
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/widget/labels",
            Some(json!({"name": "needs-review"})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, repo_labels) = api.get("/repos/acme/widget/labels").await;
    assert!(repo_labels
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["name"] == "needs-review"));

    let titles: Vec<String> = gh.issues().into_iter().map(|i| i.title).collect();
    assert_eq!(titles, ["Crash on start", "Follow-up (renamed)"]);
    let errors = gh.check_requests_against_openapi().unwrap_err();
    assert_eq!(errors.len(), 1, "only the bad reaction: {errors:#?}");
    assert!(errors[0].contains("thumbs"), "{errors:#?}");
    gh.check_responses_against_openapi().unwrap();
}

#[tokio::test]
async fn pulls_reviews_and_replies_round_trip() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    let issue = gh.add_issue("acme", "widget", "Frobnicate harder", "", "alice", &[]);
    let body = json!({"title": "Frobnicate harder", "head": "feature", "base": "main", "body": "Fixes #1", "draft": false});
    let (s, pr) = api
        .call("POST", "/repos/acme/widget/pulls", Some(body.clone()))
        .await;
    assert_eq!(s, 201);
    let n = pr["number"].as_u64().unwrap();
    assert_eq!(n, issue + 1, "pull requests share the issue numbers");
    assert_eq!(pr["head"]["ref"], "feature");
    assert_eq!(
        pr["head"]["sha"].as_str(),
        gh.branch_head("acme", "widget", "feature").as_deref()
    );
    assert_eq!(pr["base"]["repo"]["full_name"], "acme/widget");

    let (s, dup) = api
        .call("POST", "/repos/acme/widget/pulls", Some(body))
        .await;
    assert_eq!(s, 422);
    assert_eq!(dup["message"], "Validation Failed");
    assert_eq!(
        dup["errors"][0]["message"],
        "A pull request already exists for acme:feature."
    );
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/widget/pulls",
            Some(json!({"title": "x", "head": "nope", "base": "main"})),
        )
        .await;
    assert_eq!(s, 422, "a head branch that does not exist is refused");

    let (_, list) = api
        .get("/repos/acme/widget/pulls?head=acme:feature&state=open")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = api.get("/repos/acme/widget/pulls?head=acme:other").await;
    assert_eq!(list, json!([]));
    let (_, as_issue) = api.get(&format!("/repos/acme/widget/issues/{n}")).await;
    assert!(as_issue["pull_request"]["url"].is_string());

    let (s, got) = api.get(&format!("/repos/acme/widget/pulls/{n}")).await;
    assert_eq!(s, 200);
    assert_eq!(got["title"], "Frobnicate harder");
    let (s, patched) = api
        .call(
            "PATCH",
            &format!("/repos/acme/widget/pulls/{n}"),
            Some(json!({"body": "Updated", "title": "Frobnicate much harder"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(patched["body"], "Updated");
    let pulls = gh.pulls("acme", "widget");
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (
            pulls[0].title.as_str(),
            pulls[0].head.as_str(),
            pulls[0].user.as_str()
        ),
        ("Frobnicate much harder", "feature", TOKEN_LOGIN)
    );

    gh.add_review(
        "acme",
        "widget",
        n,
        "bob",
        "CHANGES_REQUESTED",
        "Please add a test",
    );
    let rc = gh.add_review_comment("acme", "widget", n, "bob", "src/lib.rs", 1, "Why 43?");
    let (_, reviews) = api
        .get(&format!("/repos/acme/widget/pulls/{n}/reviews"))
        .await;
    assert_eq!(reviews[0]["state"], "CHANGES_REQUESTED");
    assert_eq!(reviews[0]["user"]["login"], "bob");
    let (_, comments) = api
        .get(&format!("/repos/acme/widget/pulls/{n}/comments"))
        .await;
    assert_eq!(comments[0]["path"], "src/lib.rs");
    let (s, reply) = api
        .call(
            "POST",
            &format!("/repos/acme/widget/pulls/{n}/comments/{rc}/replies"),
            Some(json!({"body": "Because 42 was off by one"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(reply["in_reply_to_id"], json!(rc));
    let replies = gh.review_comment_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(
        (
            replies[0].pull,
            replies[0].in_reply_to,
            replies[0].body.as_str()
        ),
        (n, rc, "Because 42 was off by one")
    );
    let (s, _) = api
        .call(
            "POST",
            &format!("/repos/acme/widget/pulls/{n}/comments/999999/replies"),
            Some(json!({"body": "x"})),
        )
        .await;
    assert_eq!(s, 404);

    let (s, closed) = api
        .call(
            "PATCH",
            &format!("/repos/acme/widget/pulls/{n}"),
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!((s, closed["state"].as_str()), (200, Some("closed")));
    let (_, open) = api.get("/repos/acme/widget/pulls").await;
    assert_eq!(open, json!([]));
    gh.check_requests_against_openapi().unwrap();
    gh.check_responses_against_openapi().unwrap();
}

#[tokio::test]
async fn collaborator_permissions_follow_the_table() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    // What GitHub says each role may do: admin, maintain, push, triage, pull.
    for (user, role, legacy, may) in [
        ("ada", "admin", "admin", [true, true, true, true, true]),
        ("max", "maintain", "write", [false, true, true, true, true]),
        ("wes", "write", "write", [false, false, true, true, true]),
        ("tia", "triage", "read", [false, false, false, true, true]),
        ("rae", "read", "read", [false, false, false, false, true]),
        ("nob", "none", "none", [false; 5]),
    ] {
        gh.set_permission("acme", "widget", user, role);
        let (s, p) = api
            .get(&format!(
                "/repos/acme/widget/collaborators/{user}/permission"
            ))
            .await;
        assert_eq!(s, 200);
        assert_eq!(
            (p["permission"].as_str(), p["role_name"].as_str()),
            (Some(legacy), Some(role))
        );
        assert_eq!(p["user"]["login"], user);
        assert_eq!(
            p["user"]["permissions"],
            json!({"admin": may[0], "maintain": may[1], "push": may[2], "triage": may[3], "pull": may[4]}),
            "{role}"
        );
        assert_eq!(p["user"]["role_name"], role);
    }
    let (s, e) = api
        .get("/repos/acme/widget/collaborators/stranger/permission")
        .await;
    assert_eq!(s, 404);
    assert!(e["message"].is_string());
    let labels = json!({"labels": ["x"]});
    let (s, _) = api
        .call("PATCH", "/repos/acme/unknown/issues/1", Some(labels))
        .await;
    assert_eq!(s, 404);
    let (s, _) = api.get("/repos/acme/unknown").await;
    assert_eq!(s, 404, "repositories the test never set up do not exist");
}

#[tokio::test]
async fn repo_search_contents_and_refs() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    let (s, repo) = api.get("/repos/acme/widget").await;
    assert_eq!(s, 200);
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["clone_url"], gh.clone_url("acme", "widget"));
    let (_, repos) = api.get("/orgs/acme/repos").await;
    assert_eq!(repos[0]["full_name"], "acme/widget");

    gh.add_issue(
        "acme",
        "widget",
        "Widget leaks memory",
        "in frobnicate",
        "alice",
        &["bug"],
    );
    gh.add_issue("acme", "widget", "Docs", "typo", "bob", &[]);
    let (s, found) = api
        .get("/search/issues?q=frobnicate+repo:acme/widget+is:issue+is:open")
        .await;
    assert_eq!(s, 200);
    assert_eq!(found["total_count"], 1);
    assert_eq!(found["items"][0]["title"], "Widget leaks memory");
    let (_, found) = api.get("/search/issues?q=label:bug+repo:acme/other").await;
    assert_eq!(found["total_count"], 0);

    let (s, code) = api.get("/search/code?q=frobnicate+repo:acme/widget").await;
    assert_eq!(s, 200);
    let mut paths: Vec<&str> = code["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["README.md", "src/lib.rs"]);

    let (s, file) = api.get("/repos/acme/widget/contents/src/lib.rs").await;
    assert_eq!(s, 200);
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD
        .decode(file["content"].as_str().unwrap().replace('\n', ""))
        .unwrap();
    assert_eq!(text, b"pub fn frobnicate() -> u32 { 42 }\n");
    let (_, file) = api
        .get("/repos/acme/widget/contents/src/lib.rs?ref=feature")
        .await;
    assert_ne!(file["sha"], json!(null));
    let (s, dir) = api.get("/repos/acme/widget/contents/src").await;
    assert_eq!(s, 200);
    assert_eq!(dir[0]["type"], "file");
    let (s, _) = api.get("/repos/acme/widget/contents/missing.txt").await;
    assert_eq!(s, 404);

    let main = gh.branch_head("acme", "widget", "main").unwrap();
    let feature = gh.branch_head("acme", "widget", "feature").unwrap();
    let (s, r) = api.get("/repos/acme/widget/git/ref/heads/main").await;
    assert_eq!(s, 200);
    assert_eq!(r["object"]["sha"], main.as_str());
    let (s, r) = api
        .call(
            "POST",
            "/repos/acme/widget/git/refs",
            Some(json!({"ref": "refs/heads/deckhand/t1", "sha": main})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(r["ref"], "refs/heads/deckhand/t1");
    assert_eq!(
        gh.branch_head("acme", "widget", "deckhand/t1").as_deref(),
        Some(main.as_str())
    );
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/widget/git/refs",
            Some(json!({"ref": "refs/heads/deckhand/t1", "sha": main})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = api
        .call_undocumented(
            "PATCH",
            "/repos/acme/widget/git/refs/heads/deckhand/t1",
            Some(json!({"sha": feature})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        gh.branch_head("acme", "widget", "deckhand/t1"),
        Some(feature.clone())
    );
    let (s, _) = api
        .call_undocumented(
            "PATCH",
            "/repos/acme/widget/git/refs/heads/deckhand/t1",
            Some(json!({"sha": main})),
        )
        .await;
    assert_eq!(s, 422, "not a fast forward without force");
    let (s, _) = api
        .call_undocumented(
            "PATCH",
            "/repos/acme/widget/git/refs/heads/deckhand/t1",
            Some(json!({"sha": main, "force": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(gh.commits("acme", "widget", "feature").len(), 2);
    assert_eq!(
        gh.commits("acme", "widget", "feature")[0].1,
        "Frobnicate harder"
    );
    gh.check_responses_against_openapi().unwrap();
}

#[tokio::test]
async fn actions_dispatches_runs_and_rate_limit() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/widget/actions/workflows/deckhand.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"task": "continue t1"}})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, details) = api
        .call(
            "POST",
            "/repos/acme/widget/actions/workflows/deckhand.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"task": "again"}, "return_run_details": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert!(details["workflow_run_id"].is_u64());
    let (s, _) = api
        .call(
            "POST",
            "/repos/acme/widget/dispatches",
            Some(json!({"event_type": "deckhand", "client_payload": {"task": "x"}})),
        )
        .await;
    assert_eq!(s, 204);
    let d = gh.dispatches();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0].workflow.as_deref(), Some("deckhand.yml"));
    assert_eq!(d[0].body["inputs"]["task"], "continue t1");
    assert_eq!(
        (d[2].workflow.as_deref(), d[2].body["event_type"].as_str()),
        (None, Some("deckhand"))
    );

    gh.add_run("acme", "widget", 77, "in_progress");
    gh.add_run("acme", "widget", 78, "completed");
    let (s, runs) = api
        .get("/repos/acme/widget/actions/runs?status=in_progress")
        .await;
    assert_eq!(s, 200);
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["workflow_runs"][0]["id"], 77);
    let (s, _) = api
        .call("POST", "/repos/acme/widget/actions/runs/77/cancel", None)
        .await;
    assert_eq!(s, 202);
    let (s, _) = api
        .call("POST", "/repos/acme/widget/actions/runs/78/cancel", None)
        .await;
    assert_eq!(s, 409);
    assert_eq!(gh.cancelled_runs(), [77]);

    let (s, rl) = api.get("/rate_limit").await;
    assert_eq!(s, 200);
    assert_eq!(rl["resources"]["core"]["limit"], 5000);
    gh.check_requests_against_openapi().unwrap();
}

#[tokio::test]
async fn rest_refuses_missing_or_wrong_tokens() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    for auth in [None, Some("token wrong"), Some("Bearer also-wrong")] {
        let (s, _, body) = api.raw("GET", "/repos/acme/widget", None, auth).await;
        assert_eq!(s, 401, "{auth:?}");
        let e: Value = serde_json::from_slice(&body).unwrap();
        assert!(e["message"].is_string() && e["documentation_url"].is_string());
    }
    let (s, _, _) = api
        .raw(
            "GET",
            "/repos/acme/widget",
            None,
            Some(&format!("Bearer {TOKEN}")),
        )
        .await;
    assert_eq!(s, 200);
    let recorded = gh.requests();
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[0].header("authorization"), None);
    assert_eq!(recorded[1].header("authorization"), Some("token wrong"));
    assert_eq!(recorded[3].path, "/repos/acme/widget");
    assert!(recorded.iter().all(|r| r.api && r.method == "GET"));
}

#[test]
fn git_clone_and_push_with_the_token_only() {
    let (gh, _src) = started();
    let work = tempfile::tempdir().unwrap();
    let url = gh.clone_url("acme", "widget");

    let denied = run_git(work.path(), &["clone", "--quiet", &url, "anon"]).unwrap_err();
    assert!(
        denied.contains("Authentication failed") || denied.contains("could not read Username"),
        "{denied}"
    );
    let wrong = url.replacen("http://", "http://x-access-token:wrong@", 1);
    let denied = run_git(work.path(), &["clone", "--quiet", &wrong, "wrong"]).unwrap_err();
    assert!(denied.contains("Authentication failed"), "{denied}");
    let refused: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| !r.api && r.status == 401)
        .collect();
    assert!(refused.len() >= 2, "{refused:#?}");

    let with_token = url.replacen("http://", &format!("http://x-access-token:{TOKEN}@"), 1);
    git_ok(work.path(), &["clone", "--quiet", &with_token, "ok"]);
    let clone = work.path().join("ok");
    assert_eq!(
        std::fs::read_to_string(clone.join("README.md")).unwrap(),
        "# Widget\nThe widget frobnicates.\n"
    );

    git_ok(&clone, &["checkout", "--quiet", "-b", "deckhand/t1"]);
    std::fs::write(clone.join("NEW.md"), "new text\n").unwrap();
    git_ok(&clone, &["add", "NEW.md"]);
    git_ok(
        &clone,
        &[
            "commit",
            "--quiet",
            "-m",
            "Add NEW.md",
            "-m",
            r"Key <<a\E[b>>",
        ],
    );
    let rejected = run_git(&clone, &["push", "--quiet", &wrong, "deckhand/t1"]).unwrap_err();
    assert!(rejected.contains("Authentication failed"), "{rejected}");
    assert_eq!(gh.branch_head("acme", "widget", "deckhand/t1"), None);
    git_ok(&clone, &["push", "--quiet", "origin", "deckhand/t1"]);
    let head = git_ok(&clone, &["rev-parse", "HEAD"]);
    assert_eq!(
        gh.branch_head("acme", "widget", "deckhand/t1").as_deref(),
        Some(head.trim())
    );
    let commits = gh.commits("acme", "widget", "deckhand/t1");
    assert_eq!(
        commits[0],
        (head.trim().to_string(), "Add NEW.md".to_string())
    );
    assert_eq!(commits.len(), 2);
    assert!(gh.history_contains("acme", "widget", "new text"));
    assert!(!gh.history_contains("acme", "widget", "never pushed"));
    // Regex-special needles are plain text, in messages too.
    assert!(gh.history_contains("acme", "widget", r"<<a\E[b>>"));
    assert!(!gh.history_contains("acme", "widget", r"<<a\E[c>>"));
    assert!(
        !gh.requests_mentioning(TOKEN).is_empty(),
        "credentials are recorded"
    );
    assert!(gh.requests_mentioning("never sent").is_empty());

    // The header form works too (what actions/checkout does).
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
    };
    let header = format!("http.extraHeader=Authorization: Basic {basic}");
    let args = [
        "-c",
        &header,
        "clone",
        "--quiet",
        "--branch",
        "deckhand/t1",
        &url,
        "hdr",
    ];
    git_ok(work.path(), &args);
    assert!(work.path().join("hdr/NEW.md").exists());
    let no_such = gh.clone_url("acme", "nothing");
    let missing = run_git(
        work.path(),
        &["-c", &header, "clone", "--quiet", &no_such, "x"],
    )
    .unwrap_err();
    assert!(missing.contains("not found"), "{missing}");
}

#[test]
fn openapi_validation_catches_wrong_shapes() {
    let spec = openapi::spec();
    let op = spec.find("GET", "/repos/a/b/issues/comments/5").unwrap();
    assert_eq!(
        op.template,
        "/repos/{owner}/{repo}/issues/comments/{comment_id}"
    );
    let op = spec
        .find("GET", "/repos/a/b/issues/5/comments?since=x")
        .unwrap();
    assert_eq!(
        op.template,
        "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    );
    let op = spec
        .find("GET", "/repos/a/b/git/ref/heads/deckhand/t1")
        .unwrap();
    assert_eq!(op.template, "/repos/{owner}/{repo}/git/ref/{ref}");
    assert!(spec.find("GET", "/nowhere").is_none());

    // `nullable` becomes a union with null; the rest is still enforced.
    let converted =
        openapi::to_json_schema(&json!({"type": "string", "nullable": true, "enum": ["a"]}));
    assert_eq!(
        converted,
        json!({"type": ["string", "null"], "enum": ["a", null]})
    );
    let label = br#"[{"id": 1, "node_id": "x", "url": "http://h/l", "name": "bug", "description": null, "color": "fff", "default": false}]"#;
    spec.validate_response("GET", "/repos/a/b/labels", 200, label)
        .unwrap();
    let missing_name = br#"[{"id": 1, "node_id": "x", "url": "http://h/l", "description": null, "color": "fff", "default": false}]"#;
    assert!(spec
        .validate_response("GET", "/repos/a/b/labels", 200, missing_name)
        .is_err());
    assert!(spec
        .validate_response("GET", "/repos/a/b/labels", 418, b"{}")
        .is_err());
    assert!(spec
        .validate_response("DELETE", "/repos/a/b/issues/comments/1", 204, b"")
        .is_ok());
    assert!(spec
        .validate_request("POST", "/repos/a/b/pulls", br#"{"title": "t"}"#)
        .is_err());
    assert_eq!(
        spec.validate_request(
            "POST",
            "/repos/a/b/pulls",
            br#"{"head": "h", "base": "main"}"#
        ),
        Ok(true)
    );
}

#[tokio::test]
async fn request_check_reports_bodies_github_would_reject() {
    let (gh, _src) = started();
    let api = Api::new(&gh);
    // Missing `ref`: the schema requires it (and the server refuses it too).
    let (s, _, _) = api
        .raw(
            "POST",
            "/repos/acme/widget/dispatches",
            Some(json!({"client_payload": {}})),
            Some(&format!("token {TOKEN}")),
        )
        .await;
    assert_eq!(s, 422);
    let errors = gh.check_requests_against_openapi().unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("event_type")),
        "{errors:#?}"
    );
}

/// octocrab (what `deckhand action` uses) must read every answer into its typed models.
#[tokio::test]
async fn octocrab_reads_the_answers() {
    use octocrab::models::reactions::ReactionContent;
    use octocrab::models::CommentId;
    let (gh, _src) = started();
    let crab = octocrab::Octocrab::builder()
        .base_uri(gh.api_url())
        .unwrap()
        .personal_token(TOKEN.to_string())
        .build()
        .unwrap();
    let n = gh.add_issue(
        "acme",
        "widget",
        "Crash",
        "It crashes.",
        "alice",
        &["deckhand"],
    );
    let c = gh.add_comment("acme", "widget", n, "alice", "/deckhand go");
    let issues = crab.issues("acme", "widget");
    let issue = issues.get(n).await.unwrap();
    assert_eq!(issue.user.login, "alice");
    assert_eq!(issue.labels[0].name, "deckhand");
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let comments = issues.list_comments(n).since(since).send().await.unwrap();
    assert_eq!(comments.items[0].body.as_deref(), Some("/deckhand go"));
    issues
        .create_comment_reaction(CommentId(c), ReactionContent::Eyes)
        .await
        .unwrap();
    let mine = issues.create_comment(n, "Working on it").await.unwrap();
    issues.update_comment(mine.id, "Done").await.unwrap();
    assert_eq!(
        issues.get_comment(mine.id).await.unwrap().body.as_deref(),
        Some("Done")
    );
    issues.delete_comment(mine.id).await.unwrap();
    issues
        .add_labels(n, &["in-progress".to_string()])
        .await
        .unwrap();
    issues.remove_label(n, "in-progress").await.unwrap();
    issues
        .update(n)
        .state(octocrab::models::IssueState::Closed)
        .send()
        .await
        .unwrap();
    let created = issues.create("New").body("text").send().await.unwrap();
    assert_eq!(created.user.login, TOKEN_LOGIN);
    issues
        .list()
        .state(octocrab::params::State::All)
        .send()
        .await
        .unwrap();

    let pulls = crab.pulls("acme", "widget");
    let pr = pulls
        .create("Frobnicate", "feature", "main")
        .body("Fixes #1")
        .send()
        .await
        .unwrap();
    let listed = pulls
        .list()
        .head("acme:feature")
        .state(octocrab::params::State::Open)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items[0].number, pr.number);
    pulls.get(pr.number).await.unwrap();
    pulls
        .update(pr.number)
        .body("Updated")
        .send()
        .await
        .unwrap();
    gh.add_review("acme", "widget", pr.number, "bob", "COMMENTED", "Hm");
    let rc = gh.add_review_comment("acme", "widget", pr.number, "bob", "src/lib.rs", 1, "Why?");
    assert_eq!(
        pulls
            .list_reviews(pr.number)
            .send()
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let rcs = pulls.list_comments(Some(pr.number)).send().await.unwrap();
    assert_eq!(rcs.items[0].body, "Why?");
    pulls
        .reply_to_comment(pr.number, CommentId(rc), "Because")
        .await
        .unwrap();

    let repo = crab.repos("acme", "widget").get().await.unwrap();
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    let content = crab
        .repos("acme", "widget")
        .get_content()
        .path("src/lib.rs")
        .r#ref("main")
        .send()
        .await
        .unwrap();
    assert_eq!(
        content.items[0].decoded_content().as_deref(),
        Some("pub fn frobnicate() -> u32 { 42 }\n")
    );
    let found = crab
        .search()
        .issues_and_pull_requests("Crash repo:acme/widget")
        .send()
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let code = crab
        .search()
        .code("frobnicate repo:acme/widget")
        .send()
        .await
        .unwrap();
    assert_eq!(code.items.len(), 2);
    crab.actions()
        .create_workflow_dispatch("acme", "widget", "deckhand.yml", "main")
        .inputs(json!({"task": "x"}))
        .send()
        .await
        .unwrap();
    gh.add_run("acme", "widget", 5, "in_progress");
    let runs = crab
        .workflows("acme", "widget")
        .list_all_runs()
        .send()
        .await
        .unwrap();
    assert_eq!(runs.items[0].id.0, 5);
    crab.ratelimit().get().await.unwrap();
    gh.set_permission("acme", "widget", "alice", "maintain");
    let perm: Value = crab
        .get(
            "/repos/acme/widget/collaborators/alice/permission",
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(perm["role_name"], "maintain");
    gh.check_requests_against_openapi().unwrap();
    gh.check_responses_against_openapi().unwrap();
}
