//! The GitHub client against the test GitHub server: every call over real HTTP, checked against GitHub's OpenAPI shapes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use deckhand::github::{GitHub, GitHubError, NewPull, Permission, Policy, RepoRef, Run};
use serde_json::json;
use support::github_server::{Fault, GithubServer, TOKEN_LOGIN};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TOKEN: &str = "ghs_client_test_token_42";

/// A server with the repository `acme/app`, and a client for it.
fn setup() -> (GithubServer, GitHub, RepoRef) {
    let server = GithubServer::start(TOKEN);
    // Any setup call makes the repository exist.
    server.set_permission("acme", "app", "octocat", "write");
    let gh = GitHub::new(&server.api_url(), TOKEN).unwrap();
    (server, gh, "acme/app".parse().unwrap())
}

/// Our request bodies have what GitHub requires, and the server answered in GitHub's shapes.
fn assert_openapi(server: &GithubServer) {
    server.check_requests_against_openapi().unwrap();
    server.check_responses_against_openapi().unwrap();
}

#[tokio::test]
async fn repository_issue_and_labels() {
    let (server, gh, r) = setup();
    let n = server.add_issue("acme", "app", "Fix login", "It breaks", "octocat", &["bug"]);

    let repo = gh.repository(&r).await.unwrap();
    assert_eq!(repo.full_name, "acme/app");
    assert_eq!(repo.default_branch, "main");
    assert!(!repo.private);
    assert!(repo.html_url.ends_with("/acme/app"));

    let issue = gh.issue(&r, n).await.unwrap();
    assert_eq!(issue.number, n);
    assert_eq!(issue.title, "Fix login");
    assert_eq!(issue.body.as_deref(), Some("It breaks"));
    assert_eq!(issue.user.login, "octocat");
    assert_eq!(issue.user.kind, "User");
    assert_eq!(issue.labels, vec!["bug"]);
    assert!(!issue.is_pull_request);

    gh.add_labels(&r, n, &["deckhand", "needs review"])
        .await
        .unwrap();
    let mut labels = server.labels_of("acme", "app", n);
    labels.sort();
    assert_eq!(labels, vec!["bug", "deckhand", "needs review"]);

    let pr = server.add_pull("acme", "app", "PR", "b", "octocat", "feat", "main");
    assert!(gh.issue(&r, pr).await.unwrap().is_pull_request);

    let missing = gh.issue(&r, 999).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
    let other: RepoRef = "acme/nope".parse().unwrap();
    let err = gh.repository(&other).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("/repos/acme/nope"), "{err}");
    assert_openapi(&server);
}

#[tokio::test]
async fn comments_follow_every_page() {
    let (server, gh, r) = setup();
    let n = server.add_issue("acme", "app", "Many", "", "octocat", &[]);
    let ids: Vec<u64> = (0..250)
        .map(|i| server.add_comment("acme", "app", n, "octocat", &format!("comment {i}")))
        .collect();

    let comments = gh.comments(&r, n, None).await.unwrap();
    assert_eq!(comments.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
    assert_eq!(comments[249].body, "comment 249");
    assert_eq!(comments[0].user.login, "octocat");
    assert!(comments[0].html_url.contains("#issuecomment-"));
    let pages = server
        .requests()
        .into_iter()
        .filter(|q| {
            q.path
                .starts_with(&format!("/repos/acme/app/issues/{n}/comments"))
        })
        .count();
    assert_eq!(pages, 3, "250 comments at 100 per page");

    let past = Utc::now() - Duration::hours(1);
    assert_eq!(gh.comments(&r, n, Some(past)).await.unwrap().len(), 250);
    let future = Utc::now() + Duration::hours(1);
    assert!(gh.comments(&r, n, Some(future)).await.unwrap().is_empty());
    assert_openapi(&server);
}

#[tokio::test]
async fn comment_create_update_and_react() {
    let (server, gh, r) = setup();
    let n = server.add_issue("acme", "app", "T", "", "octocat", &[]);
    let theirs = server.add_comment("acme", "app", n, "octocat", "/deckhand go");

    let mine = gh.create_comment(&r, n, "Working on it…").await.unwrap();
    assert_eq!(mine.body, "Working on it…");
    assert_eq!(mine.user.login, TOKEN_LOGIN);
    assert_eq!(mine.user.kind, "Bot");
    assert!(mine.user.is_bot());

    let updated = gh.update_comment(&r, mine.id, "Done ✅").await.unwrap();
    assert_eq!(updated.id, mine.id);
    assert_eq!(updated.body, "Done ✅");
    assert!(updated.updated_at >= mine.created_at);

    gh.add_reaction(&r, theirs, "eyes").await.unwrap();
    gh.add_reaction(&r, theirs, "+1").await.unwrap();
    assert_eq!(server.reactions("acme", "app", theirs), vec!["eyes", "+1"]);

    let bodies: Vec<String> = server
        .comments("acme", "app", n)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(bodies, vec!["/deckhand go", "Done ✅"]);
    assert_openapi(&server);
}

#[tokio::test]
async fn permission_levels() {
    let (server, gh, r) = setup();
    let levels = [
        ("ada", "admin", Permission::Admin),
        ("mia", "maintain", Permission::Maintain),
        ("wes", "write", Permission::Write),
        ("tri", "triage", Permission::Triage),
        ("rea", "read", Permission::Read),
        ("non", "none", Permission::None),
        ("helper[bot]", "write", Permission::Write),
    ];
    for (user, role, _) in levels {
        server.set_permission("acme", "app", user, role);
    }
    for (user, _, expected) in levels {
        assert_eq!(gh.permission(&r, user).await.unwrap(), expected, "{user}");
    }
    assert_eq!(
        gh.permission(&r, "stranger").await.unwrap(),
        Permission::None
    );
    assert!(gh.permission(&r, "mia").await.unwrap().can_write());
    assert!(!gh.permission(&r, "tri").await.unwrap().can_write());
    assert_openapi(&server);
}

#[tokio::test]
async fn pulls_create_find_update() {
    let (server, gh, r) = setup();
    assert_eq!(gh.pull_for_branch(&r, "deckhand/ds-1").await.unwrap(), None);

    let new = NewPull {
        title: "Add rate limiting",
        head: "deckhand/ds-1",
        base: "main",
        body: "Closes #1",
        draft: true,
    };
    let pr = gh.create_pull(&r, &new).await.unwrap();
    assert_eq!(pr.title, "Add rate limiting");
    assert_eq!(pr.body.as_deref(), Some("Closes #1"));
    assert!(pr.draft);
    assert_eq!(pr.head_ref, "deckhand/ds-1");
    assert_eq!(pr.head_repo_full_name.as_deref(), Some("acme/app"));
    assert_eq!(pr.base_ref, "main");
    assert_eq!(pr.user.login, TOKEN_LOGIN);
    assert!(pr
        .html_url
        .ends_with(&format!("/acme/app/pull/{}", pr.number)));

    let found = gh.pull_for_branch(&r, "deckhand/ds-1").await.unwrap();
    assert_eq!(found.as_ref().map(|p| p.number), Some(pr.number));
    assert_eq!(
        gh.pull_for_branch(&r, "deckhand/other").await.unwrap(),
        None
    );

    let dup = gh.create_pull(&r, &new).await.unwrap_err();
    assert_eq!(dup.status(), Some(422));
    assert!(
        dup.to_string()
            .contains("A pull request already exists for acme:deckhand/ds-1"),
        "{dup}"
    );
    match &dup {
        GitHubError::Http {
            method,
            path,
            message,
            ..
        } => {
            assert_eq!(*method, "POST");
            assert_eq!(path, "/repos/acme/app/pulls");
            assert!(message.starts_with("Validation Failed"), "{message}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }

    let retitled = gh
        .update_pull(&r, pr.number, Some("Rate limiting for /login"), None)
        .await
        .unwrap();
    assert_eq!(retitled.title, "Rate limiting for /login");
    assert_eq!(retitled.body.as_deref(), Some("Closes #1"));
    let rebodied = gh
        .update_pull(&r, pr.number, None, Some("New body"))
        .await
        .unwrap();
    assert_eq!(rebodied.title, "Rate limiting for /login");

    let fetched = gh.pull(&r, pr.number).await.unwrap();
    assert_eq!(fetched.body.as_deref(), Some("New body"));
    let stored = server.pulls("acme", "app");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].title, "Rate limiting for /login");
    assert!(stored[0].draft);
    assert_openapi(&server);
}

#[tokio::test]
async fn review_comments_and_replies() {
    let (server, gh, r) = setup();
    let pr = server.add_pull("acme", "app", "PR", "b", TOKEN_LOGIN, "feat", "main");
    let first = server.add_review_comment("acme", "app", pr, "octocat", "src/a.rs", 12, "Rename");
    server.add_review_comment("acme", "app", pr, "hubot", "src/b.rs", 3, "Test this");

    let reply = gh
        .reply_to_review_comment(&r, pr, first, "Renamed in abc123")
        .await
        .unwrap();
    assert_eq!(reply.in_reply_to_id, Some(first));
    assert_eq!(reply.path, "src/a.rs");
    assert_eq!(reply.user.login, TOKEN_LOGIN);

    let all = gh.review_comments(&r, pr).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].id, first);
    assert_eq!(all[0].body, "Rename");
    assert_eq!(all[0].line, Some(12));
    assert_eq!(all[0].in_reply_to_id, None);
    assert!(all[0].html_url.contains("#discussion_r"));
    assert_eq!(all[1].user.login, "hubot");
    assert_eq!(all[2].id, reply.id);

    let replies = server.review_comment_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].in_reply_to, first);
    assert_eq!(replies[0].body, "Renamed in abc123");
    assert_openapi(&server);
}

#[tokio::test]
async fn dispatch_and_cancel() {
    let (server, gh, r) = setup();
    server.add_run("acme", "app", 77, "in_progress");
    server.add_run("acme", "app", 78, "completed");

    let mut inputs = serde_json::Map::new();
    inputs.insert("task".into(), json!("resume ds-2f9c1a"));
    gh.dispatch_workflow(&r, "deckhand.yml", "main", &inputs)
        .await
        .unwrap();
    let dispatches = server.dispatches();
    assert_eq!(dispatches.len(), 1);
    assert_eq!(dispatches[0].workflow.as_deref(), Some("deckhand.yml"));
    assert_eq!(
        dispatches[0].body,
        json!({"ref": "main", "inputs": {"task": "resume ds-2f9c1a"}})
    );

    gh.cancel_run(&r, 77).await.unwrap();
    assert_eq!(server.cancelled_runs(), vec![77]);
    let done = gh.cancel_run(&r, 78).await.unwrap_err();
    assert_eq!(done.status(), Some(409));
    assert!(done.to_string().contains("completed"), "{done}");
    assert_openapi(&server);
}

#[tokio::test]
async fn wrong_token_is_a_clear_401_without_the_token() {
    let server = GithubServer::start(TOKEN);
    server.add_issue("acme", "app", "T", "", "octocat", &[]);
    let wrong = "ghp_wrong_secret_value_9";
    let gh = GitHub::new(&server.api_url(), wrong).unwrap();
    let r: RepoRef = "acme/app".parse().unwrap();
    let err = gh.repository(&r).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(text.contains("token was rejected"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(!format!("{err:?}").contains(wrong));
    assert!(!format!("{gh:?}").contains(wrong));
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (policy, waits) = recording_policy();
    let gh = GitHub::new(&format!("http://127.0.0.1:{port}"), TOKEN)
        .unwrap()
        .with_policy(policy);
    let err = gh
        .repository(&"acme/app".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::Transport { .. }), "{err:?}");
    assert_eq!(waits.lock().unwrap().len(), 3, "4 tries, 3 backoffs");
    assert_eq!(err.status(), None);
    assert!(!err.to_string().contains(TOKEN));
    assert!(!err.to_string().contains("Found at"), "{err}");
}

/// GitHub Enterprise Server serves the API under `/api/v3`: the prefix and the
/// token must both reach it (a raw one-shot HTTP server records what arrives).
#[tokio::test]
async fn enterprise_path_prefix_is_kept_and_authenticated() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-request");
            head.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"full_name":"acme/app","default_branch":"trunk","private":true,"html_url":"https://ghe.example/acme/app"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap()
    });
    let gh = GitHub::new(&format!("http://{addr}/api/v3/"), TOKEN).unwrap();
    let repo = gh.repository(&"acme/app".parse().unwrap()).await.unwrap();
    assert_eq!(repo.default_branch, "trunk");
    assert!(repo.private);
    let head = server.await.unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(
        head.starts_with("GET /api/v3/repos/acme/app HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        lower.contains(&format!(
            "authorization: bearer {}",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(lower.contains("x-github-api-version: 2022-11-28"), "{head}");
}

/// The default policy with its waits recorded instead of slept.
fn recording_policy() -> (Policy, Arc<Mutex<Vec<StdDuration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let recorded = waits.clone();
    let policy = Policy {
        sleeper: Arc::new(move |d| {
            recorded.lock().unwrap().push(d);
            Box::pin(async {})
        }),
        ..Policy::default()
    };
    (policy, waits)
}

fn setup_recording() -> (GithubServer, GitHub, RepoRef, Arc<Mutex<Vec<StdDuration>>>) {
    let (server, gh, r) = setup();
    let (policy, waits) = recording_policy();
    (server, gh.with_policy(policy), r, waits)
}

#[tokio::test]
async fn reads_are_retried_after_5xx_and_dropped_connections_with_jittered_backoff() {
    let (server, gh, r, waits) = setup_recording();
    let n = server.add_issue("acme", "app", "Flaky", "", "octocat", &[]);
    let path = format!("/repos/acme/app/issues/{n}");
    server.inject("GET", &path, Fault::Status(502));
    server.inject("GET", &path, Fault::Drop);
    server.inject("GET", &path, Fault::Status(503));

    assert_eq!(gh.issue(&r, n).await.unwrap().title, "Flaky");
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 3, "{waits:?}");
    for (i, w) in waits.iter().enumerate() {
        let full = StdDuration::from_secs(1 << i);
        assert!(*w >= full / 2 && *w <= full, "retry {i} waited {w:?}");
    }
    let tries = server
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path == path)
        .count();
    assert_eq!(tries, 4);
}

#[tokio::test]
async fn a_comment_whose_answer_was_lost_is_found_not_posted_twice() {
    let (server, gh, r, _) = setup_recording();
    let n = server.add_issue("acme", "app", "T", "", "octocat", &[]);
    let path = format!("/repos/acme/app/issues/{n}/comments");
    server.inject("POST", &path, Fault::LoseAnswer);

    let c = gh.create_comment(&r, n, "Working on it").await.unwrap();
    let stored = server.comments("acme", "app", n);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(c.id, stored[0].id);
    assert_eq!(c.body, "Working on it");

    // A 502 that never created anything: sent again, still one more comment.
    server.inject("POST", &path, Fault::Status(502));
    gh.create_comment(&r, n, "Second").await.unwrap();
    let bodies: Vec<String> = server
        .comments("acme", "app", n)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(bodies, ["Working on it", "Second"]);
}

#[tokio::test]
async fn a_pull_request_whose_answer_was_lost_is_found_not_opened_twice() {
    let (server, gh, r, _) = setup_recording();
    let dir = tempfile::tempdir().unwrap();
    let src = support::repos::node_service(dir.path());
    support::repos::git(&src, &["checkout", "-qb", "feat"]);
    std::fs::write(src.join("x.txt"), "x\n").unwrap();
    support::repos::git(&src, &["add", "-A"]);
    support::repos::git(&src, &["commit", "-qm", "x"]);
    server.add_repo("acme", "app", &src);
    server.inject("POST", "/repos/acme/app/pulls", Fault::LoseAnswer);

    let new = NewPull {
        title: "Add x",
        head: "feat",
        base: "main",
        body: "b",
        draft: false,
    };
    let pr = gh.create_pull(&r, &new).await.unwrap();
    let pulls = server.pulls("acme", "app");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!((pr.number, pr.head_ref.as_str()), (pulls[0].number, "feat"));
}

#[tokio::test]
async fn a_dispatch_whose_answer_was_lost_is_not_sent_again() {
    let (server, gh, r, _) = setup_recording();
    server.inject(
        "POST",
        "/repos/acme/app/actions/workflows/deckhand.yml/dispatches",
        Fault::LoseAnswer,
    );
    let err = gh
        .dispatch_workflow(&r, "deckhand.yml", "main", &serde_json::Map::new())
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::Transport { .. }), "{err:?}");
    assert_eq!(server.dispatches().len(), 1);
}

#[tokio::test]
async fn the_secondary_limit_is_recognised_from_its_body_and_waited_out() {
    let (server, gh, r, waits) = setup_recording();
    let n = server.add_issue("acme", "app", "T", "", "octocat", &[]);
    let path = format!("/repos/acme/app/issues/{n}/comments");
    server.inject("POST", &path, Fault::SecondaryLimit { retry_after: None });
    server.inject(
        "POST",
        &path,
        Fault::SecondaryLimit {
            retry_after: Some(7),
        },
    );

    gh.create_comment(&r, n, "hello").await.unwrap();
    assert_eq!(
        *waits.lock().unwrap(),
        [StdDuration::from_secs(60), StdDuration::from_secs(7)]
    );
    assert_eq!(server.comments("acme", "app", n).len(), 1);
}

#[tokio::test]
async fn an_exhausted_limit_or_a_429_waits_for_the_reset() {
    let (server, gh, r, waits) = setup_recording();
    let n = server.add_issue("acme", "app", "T", "", "octocat", &[]);
    let path = format!("/repos/acme/app/issues/{n}");
    server.inject(
        "GET",
        &path,
        Fault::Exhausted {
            status: 403,
            reset_in: 30,
        },
    );
    server.inject(
        "GET",
        &path,
        Fault::Exhausted {
            status: 429,
            reset_in: 90,
        },
    );
    gh.issue(&r, n).await.unwrap();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "{waits:?}");
    // The reset is in whole seconds: now+30 is 30 or 31 seconds and a second away.
    assert!((30..=32).contains(&waits[0].as_secs()), "{waits:?}");
    assert!((90..=92).contains(&waits[1].as_secs()), "{waits:?}");

    // A reset further away than the policy waits is an error, not a hang.
    server.inject(
        "GET",
        &path,
        Fault::Exhausted {
            status: 403,
            reset_in: 3600,
        },
    );
    let err = gh.issue(&r, n).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("API rate limit exceeded"), "{err}");
}

#[tokio::test]
async fn runs_and_the_token_user() {
    let (server, gh, r) = setup();
    server.add_run("acme", "app", 55, "in_progress");
    let run = gh.run(&r, 55).await.unwrap();
    assert_eq!(
        run,
        Run {
            id: 55,
            status: "in_progress".into(),
            conclusion: None
        }
    );
    assert!(!run.is_over());
    server.end_run("acme", "app", 55, "cancelled");
    let run = gh.run(&r, 55).await.unwrap();
    assert!(run.is_over());
    assert_eq!(run.conclusion.as_deref(), Some("cancelled"));
    // GITHUB_TOKEN is an installation token: `GET /user` is refused.
    assert_eq!(gh.token_user().await.unwrap(), None);
    server.set_token_user("deckhand-pat");
    assert_eq!(
        gh.token_user().await.unwrap().map(|u| u.login),
        Some("deckhand-pat".to_string())
    );
}
