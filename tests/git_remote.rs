//! Clone, fetch and push with a token, and the memory branch, over real HTTP against the test GitHub server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use deckhand::git::remote::{clone, clone_with_reference, fetch_branch, push_branch, Remote};
use deckhand::git::GitError;
use deckhand::memory::{checkpoint_path, MemoryError, MemoryStore};
use support::github_server::GithubServer;
use support::repos::{git, node_service};

const TOKEN: &str = "ghs_remote_secret_4242";
const AUTHOR: (&str, &str) = ("Deckhand", "deckhand@example.com");

fn server(tmp: &Path) -> GithubServer {
    let gh = GithubServer::start(TOKEN);
    gh.add_repo("acme", "user-service", &node_service(tmp));
    gh
}

fn remote(gh: &GithubServer, token: &str) -> Remote {
    Remote {
        url: gh.clone_url("acme", "user-service"),
        token: token.to_string(),
    }
}

/// Commits `content` to `file` on the current branch of a clone.
fn commit_file(dir: &Path, file: &str, content: &str) -> String {
    std::fs::write(dir.join(file), content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", &format!("edit {file}")]);
    git(dir, &["rev-parse", "HEAD"])
}

/// No error text, and no request path or query, ever carries the token.
fn assert_token_hidden(gh: &GithubServer, errors: &[String]) {
    for e in errors {
        assert!(!e.contains(TOKEN), "token in error: {e}");
    }
    for r in gh.requests_mentioning(TOKEN) {
        assert!(!r.path.contains(TOKEN), "token in URL: {}", r.path);
    }
    assert!(!gh.requests().is_empty());
}

#[test]
fn clone_needs_the_right_token_and_never_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    let dest = tmp.path().join("clone");
    let repo = clone(&remote(&gh, TOKEN), &dest, None).unwrap();
    assert!(dest.join("src/app.js").exists());
    assert_eq!(repo.display_name(), "acme/user-service");
    assert_eq!(
        git(&dest, &["remote", "get-url", "origin"]),
        gh.clone_url("acme", "user-service")
    );
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap();
    assert!(!config.contains(TOKEN));

    let mut errors = Vec::new();
    for (name, token) in [("none", ""), ("wrong", "ghs_wrong_token")] {
        let err = clone(&remote(&gh, token), &tmp.path().join(name), None)
            .err()
            .expect("refused");
        assert!(matches!(err, GitError::Auth { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains("authentication"), "{err}");
        errors.push(err.to_string());
        errors.push(format!("{err:?}"));
    }
    // A missing repository is not an auth problem and is not retried forever.
    let missing = Remote {
        url: gh.clone_url("acme", "nope"),
        token: TOKEN.into(),
    };
    let err = clone(&missing, &tmp.path().join("missing"), None)
        .err()
        .expect("no such repo");
    errors.push(err.to_string());
    errors.push(format!("{err:?} {:?}", remote(&gh, TOKEN)));
    assert_token_hidden(&gh, &errors);
}

#[test]
fn clone_with_reference_seeds_from_a_local_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    let url = gh.clone_url("acme", "user-service");
    // What actions/checkout leaves: a clone whose origin is the real URL.
    let workspace = tmp.path().join("workspace");
    let bare = gh.repo_path("acme", "user-service");
    git(
        tmp.path(),
        &["clone", "-q", bare.to_str().unwrap(), "workspace"],
    );
    git(&workspace, &["remote", "set-url", "origin", &url]);
    // A local-only commit: its presence in the result proves the seeding.
    git(&workspace, &["checkout", "-qb", "wip"]);
    let local_only = commit_file(&workspace, "wip.txt", "wip\n");
    git(&workspace, &["checkout", "-q", "main"]);
    // The remote moves on after the checkout.
    let other = tmp.path().join("other");
    let other_repo = clone(&remote(&gh, TOKEN), &other, None).unwrap();
    let newer = commit_file(&other, "NEWS.md", "news\n");
    push_branch(&other_repo, &remote(&gh, TOKEN), "main").unwrap();

    let dest = tmp.path().join("seeded");
    let repo = clone_with_reference(&remote(&gh, TOKEN), &dest, Some(&workspace)).unwrap();
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), newer);
    assert_eq!(git(&dest, &["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(git(&dest, &["remote", "get-url", "origin"]), url);
    assert_eq!(
        git(&dest, &["rev-parse", "--abbrev-ref", "main@{upstream}"]),
        "origin/main"
    );
    assert!(dest.join("NEWS.md").exists());
    assert!(git(&dest, &["status", "--porcelain"]).is_empty());
    assert!(git(&dest, &["for-each-ref", "refs/deckhand-seed"]).is_empty());
    assert!(!dest.join(".git/objects/info/alternates").exists());
    git(&dest, &["cat-file", "-e", &local_only]);
    assert!(!git(&dest, &["branch", "-a"]).contains("wip"));
    assert_eq!(repo.display_name(), "acme/user-service");

    // A checkout of some other repository is not used; the clone still works.
    let unrelated = tmp.path().join("unrelated");
    std::fs::create_dir_all(&unrelated).unwrap();
    git(&unrelated, &["init", "-q"]);
    let dest2 = tmp.path().join("fallback");
    clone_with_reference(&remote(&gh, TOKEN), &dest2, Some(&unrelated)).unwrap();
    assert_eq!(git(&dest2, &["rev-parse", "HEAD"]), newer);
    // A shallow checkout (actions/checkout's default) is not used either.
    let shallow = tmp.path().join("shallow");
    let bare_url = format!("file://{}", bare.display());
    git(
        tmp.path(),
        &["clone", "-q", "--depth", "1", &bare_url, "shallow"],
    );
    git(&shallow, &["remote", "set-url", "origin", &url]);
    let dest4 = tmp.path().join("from-shallow");
    clone_with_reference(&remote(&gh, TOKEN), &dest4, Some(&shallow)).unwrap();
    assert_eq!(git(&dest4, &["rev-parse", "HEAD"]), newer);
    assert!(!dest4.join(".git/shallow").exists());
    let dest3 = tmp.path().join("nolocal");
    clone_with_reference(&remote(&gh, TOKEN), &dest3, None).unwrap();
    assert_eq!(git(&dest3, &["rev-parse", "HEAD"]), newer);
    assert_token_hidden(&gh, &[]);
}

#[test]
fn push_a_new_branch_and_fetch_branches() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    let r = remote(&gh, TOKEN);
    let a = tmp.path().join("a");
    let repo_a = clone(&r, &a, None).unwrap();
    git(&a, &["checkout", "-qb", "deckhand/dh-1"]);
    let sha = commit_file(&a, "src/limit.js", "module.exports = 5;\n");
    push_branch(&repo_a, &r, "deckhand/dh-1").unwrap();
    assert_eq!(
        gh.branch_head("acme", "user-service", "deckhand/dh-1"),
        Some(sha.clone())
    );
    assert_eq!(
        gh.commits("acme", "user-service", "deckhand/dh-1")[0].1,
        "edit src/limit.js"
    );
    // Pushing again with nothing new is fine.
    push_branch(&repo_a, &r, "deckhand/dh-1").unwrap();

    let b = tmp.path().join("b");
    let repo_b = clone(&r, &b, None).unwrap();
    assert!(!repo_b.branch_exists("deckhand/dh-1"));
    assert_eq!(
        fetch_branch(&repo_b, &r, "deckhand/dh-1").unwrap(),
        Some(sha.clone())
    );
    assert!(repo_b.branch_exists("deckhand/dh-1"));
    assert_eq!(git(&b, &["rev-parse", "refs/heads/deckhand/dh-1"]), sha);
    assert_eq!(fetch_branch(&repo_b, &r, "no-such-branch").unwrap(), None);
    assert!(!repo_b.branch_exists("no-such-branch"));

    // The checked-out branch moves with its working tree.
    let newer = commit_file(&a, "src/limit.js", "module.exports = 6;\n");
    push_branch(&repo_a, &r, "deckhand/dh-1").unwrap();
    git(&b, &["checkout", "-q", "deckhand/dh-1"]);
    assert_eq!(
        fetch_branch(&repo_b, &r, "deckhand/dh-1").unwrap(),
        Some(newer)
    );
    assert_eq!(
        std::fs::read_to_string(b.join("src/limit.js")).unwrap(),
        "module.exports = 6;\n"
    );
    assert!(git(&b, &["status", "--porcelain"]).is_empty());
    assert_token_hidden(&gh, &[]);
}

#[test]
fn push_is_refused_when_the_remote_branch_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    let r = remote(&gh, TOKEN);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let repo_a = clone(&r, &a, None).unwrap();
    let repo_b = clone(&r, &b, None).unwrap();
    let theirs = commit_file(&b, "README.md", "# theirs\n");
    push_branch(&repo_b, &r, "main").unwrap();

    commit_file(&a, "README.md", "# ours\n");
    let err = push_branch(&repo_a, &r, "main").expect_err("refused");
    assert!(
        matches!(&err, GitError::RemoteBranchMoved { branch, .. } if branch == "main"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("main") && text.contains("moved"), "{text}");
    assert_eq!(gh.branch_head("acme", "user-service", "main"), Some(theirs));

    // Also when we already know their commit but ours does not contain it.
    let c = tmp.path().join("c");
    let repo_c = clone(&r, &c, None).unwrap();
    git(&c, &["checkout", "-qb", "side"]);
    commit_file(&c, "x.txt", "x\n");
    push_branch(&repo_c, &r, "side").unwrap();
    git(&c, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(&c, "y.txt", "y\n");
    let err = push_branch(&repo_c, &r, "side").expect_err("refused");
    assert!(matches!(err, GitError::RemoteBranchMoved { .. }), "{err:?}");
    assert_token_hidden(&gh, &[text, err.to_string()]);
}

fn store(gh: &GithubServer, cache: PathBuf) -> MemoryStore {
    MemoryStore::open(remote(gh, TOKEN), "deckhand/memory", &cache).unwrap()
}

fn change(path: &str, content: Option<&str>) -> (String, Option<String>) {
    (path.to_string(), content.map(str::to_string))
}

#[test]
fn memory_store_writes_reads_lists_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    let mut mem = store(&gh, tmp.path().join("cache"));
    assert_eq!(mem.tip(), None);
    assert_eq!(mem.read("rules/a.md").unwrap(), None);
    assert!(mem.list("").unwrap().is_empty());
    assert_eq!(
        gh.branch_head("acme", "user-service", "deckhand/memory"),
        None
    );

    let state = checkpoint_path("acme/user-service", "dh-7");
    assert_eq!(state, "tasks/acme/user-service/dh-7/state.json");
    mem.write(
        &[
            change("rules/a.md", Some("use 2 spaces\n")),
            change(&state, Some("{\"step\":1}")),
        ],
        "memory: first",
        AUTHOR,
    )
    .unwrap();
    // The first write created the branch, as an orphan with a README.
    let head = gh.branch_head("acme", "user-service", "deckhand/memory");
    assert_eq!(head, mem.tip());
    let commits = gh.commits("acme", "user-service", "deckhand/memory");
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].1, "memory: first");
    assert_eq!(
        mem.list("").unwrap(),
        vec![
            "README.md",
            "rules/a.md",
            "tasks/acme/user-service/dh-7/state.json"
        ]
    );
    assert_eq!(
        mem.read("rules/a.md").unwrap().as_deref(),
        Some("use 2 spaces\n")
    );
    assert_eq!(
        mem.list("tasks/").unwrap(),
        vec!["tasks/acme/user-service/dh-7/state.json"]
    );
    assert!(mem.list("nothing").unwrap().is_empty());

    mem.write(
        &[change(&state, None), change("rules/b.md", Some("b\n"))],
        "memory: second",
        AUTHOR,
    )
    .unwrap();
    assert_eq!(mem.read(&state).unwrap(), None);
    assert_eq!(mem.list("rules").unwrap(), vec!["rules/a.md", "rules/b.md"]);
    assert!(mem.list("tasks").unwrap().is_empty());
    // Writing what is already there commits nothing.
    mem.write(&[change("rules/b.md", Some("b\n"))], "noop", AUTHOR)
        .unwrap();
    assert_eq!(
        gh.commits("acme", "user-service", "deckhand/memory").len(),
        2
    );

    // Another store (a later job) sees it all, also from a reused cache.
    let other = store(&gh, tmp.path().join("cache2"));
    assert_eq!(other.read("rules/b.md").unwrap().as_deref(), Some("b\n"));
    let reopened = store(&gh, tmp.path().join("cache"));
    assert_eq!(reopened.tip(), mem.tip());
    // The code branch is untouched.
    assert_eq!(gh.commits("acme", "user-service", "main").len(), 1);

    let mut errors = Vec::new();
    for bad in [
        "/etc/passwd",
        "../x",
        "a/../b",
        "a//b",
        "",
        ".git/config",
        "a\\b",
    ] {
        let err = mem
            .write(&[change(bad, Some("x"))], "bad", AUTHOR)
            .expect_err("invalid path");
        assert!(
            matches!(err, MemoryError::InvalidPath { .. }),
            "{bad}: {err}"
        );
        errors.push(err.to_string());
    }
    assert!(mem.read("../x").is_err());
    assert_token_hidden(&gh, &errors);
}

/// A repository with no refs at all (just created, never pushed to): the
/// listing of its references is empty, which must read as "no branch", over
/// HTTP and as a local path, and the first write creates the branch.
#[test]
fn an_empty_repository_has_no_branch_and_takes_the_first_write() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = GithubServer::start(TOKEN);
    gh.add_empty_repo("acme", "config");
    let http = Remote {
        url: gh.clone_url("acme", "config"),
        token: TOKEN.into(),
    };
    let local_bare = tmp.path().join("local.git");
    git(
        tmp.path(),
        &["init", "-q", "--bare", local_bare.to_str().unwrap()],
    );
    let local = Remote {
        url: local_bare.display().to_string(),
        token: String::new(),
    };
    for (name, remote) in [("http", &http), ("local", &local)] {
        let cache = tmp.path().join(format!("cache-{name}"));
        let mut mem = MemoryStore::open(remote.clone(), "deckhand/memory", &cache)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((name, mem.tip()), (name, None));
        assert_eq!(mem.list("").unwrap(), Vec::<String>::new());
        mem.write(&[change("rules/a.md", Some("a\n"))], "first", AUTHOR)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = MemoryStore::open(remote.clone(), "deckhand/memory", &cache).unwrap();
        assert_eq!(
            (again.tip(), again.list("").unwrap()),
            (
                mem.tip(),
                vec!["README.md".to_string(), "rules/a.md".to_string()]
            ),
            "{name}"
        );
    }
    assert_eq!(
        gh.branch_head("acme", "config", "deckhand/memory"),
        MemoryStore::open(http, "deckhand/memory", &tmp.path().join("c3"))
            .unwrap()
            .tip()
    );
}

#[test]
fn concurrent_memory_writers_both_land() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = server(tmp.path());
    // Race on creating the branch: both saw no branch.
    let mut one = store(&gh, tmp.path().join("one"));
    let mut two = store(&gh, tmp.path().join("two"));
    one.write(&[change("rules/one.md", Some("1\n"))], "one", AUTHOR)
        .unwrap();
    two.write(&[change("rules/two.md", Some("2\n"))], "two", AUTHOR)
        .unwrap();
    let commits = gh.commits("acme", "user-service", "deckhand/memory");
    assert_eq!(
        commits.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        vec!["two", "one"]
    );
    assert_eq!(
        two.list("rules").unwrap(),
        vec!["rules/one.md", "rules/two.md"]
    );

    // Race on an existing branch: both fetched the same tip.
    one.refresh().unwrap();
    assert_eq!(one.tip(), two.tip());
    one.write(&[change("rules/one.md", Some("1b\n"))], "one again", AUTHOR)
        .unwrap();
    two.write(
        &[change("tasks/t/state.json", Some("{}"))],
        "two again",
        AUTHOR,
    )
    .unwrap();
    two.refresh().unwrap();
    assert_eq!(two.read("rules/one.md").unwrap().as_deref(), Some("1b\n"));
    assert_eq!(
        two.read("tasks/t/state.json").unwrap().as_deref(),
        Some("{}")
    );
    assert_eq!(
        gh.commits("acme", "user-service", "deckhand/memory").len(),
        4
    );

    // Truly concurrent writers on threads.
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let mut mem = store(&gh, tmp.path().join(format!("thread{i}")));
            std::thread::spawn(move || {
                mem.write(
                    &[change(&format!("rules/t{i}.md"), Some("x\n"))],
                    &format!("thread {i}"),
                    AUTHOR,
                )
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    one.refresh().unwrap();
    for i in 0..3 {
        assert!(one.read(&format!("rules/t{i}.md")).unwrap().is_some());
    }
    assert_eq!(
        gh.commits("acme", "user-service", "deckhand/memory").len(),
        7
    );
    assert_token_hidden(&gh, &[]);
}

#[test]
fn server_errors_are_retried_then_reported() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/acme/app.git", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let r = Remote {
        url,
        token: TOKEN.into(),
    };
    let err = clone(&r, &tmp.path().join("x"), None)
        .err()
        .expect("unavailable");
    assert!(matches!(err, GitError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    assert_eq!(hits.load(Ordering::SeqCst), 4, "one try and three retries");
}
