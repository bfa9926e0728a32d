//! Scenario tests of `deckhand run`: the real binary, a scripted model
//! server on 127.0.0.1, and real fixture repositories whose own tests run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;

use serde_json::{json, Value};

use common::{deckhand, run_task, show, task_branch, task_dir, temp_fixture, RunResult, Wire};
use support::model_server::{ModelServer, Reply};
use support::repos::{self, git, node_service, snapshot};

const TASK: &str =
    "Add rate limiting to /api/login; tests for normal flow, exceeded limit, reset after window";

const RATE_LIMIT_JS: &str = r#"'use strict';

// Fixed-window limiter: at most `limit` calls per key per `windowMs`.
function createLimiter(limit, windowMs) {
  const windows = new Map();
  return {
    allow(key, now) {
      const w = windows.get(key);
      if (!w || now - w.start >= windowMs) {
        windows.set(key, { start: now, count: 1 });
        return true;
      }
      w.count += 1;
      return w.count <= limit;
    },
  };
}

module.exports = { createLimiter };
"#;

const RATE_LIMIT_TEST_JS: &str = r#"'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { createLimiter } = require('../src/rateLimit');

test('allows calls under the limit', () => {
  const l = createLimiter(5, 60000);
  for (let i = 0; i < 5; i++) assert.ok(l.allow('a', 1000));
});

test('refuses the call over the limit', () => {
  const l = createLimiter(5, 60000);
  for (let i = 0; i < 5; i++) l.allow('a', 1000);
  assert.strictEqual(l.allow('a', 1000), false);
});

test('resets after the window', () => {
  const l = createLimiter(5, 60000);
  for (let i = 0; i < 6; i++) l.allow('a', 1000);
  assert.ok(l.allow('a', 61000));
});
"#;

const CRITERIA: [&str; 2] = [
    "`npm test` passes",
    "new tests cover: normal flow, exceeded limit, reset after window",
];

fn research_replies() -> Vec<Reply> {
    vec![
        Reply::tool("read_file", json!({"path": "src/app.js"})),
        Reply::tool(
            "update_spec",
            json!({
                "requirements": ["WHEN a caller exceeds 5 logins per minute THE SYSTEM SHALL answer 429."],
                "acceptance_criteria": CRITERIA,
                "plan": [
                    "Add a fixed-window limiter (src/rateLimit.js)",
                    "Use it for POST /api/login (src/app.js)",
                    "Add tests (test/rateLimit.test.js)"
                ]
            }),
        ),
        Reply::text("The TaskSpec is ready."),
    ]
}

/// Code replies that implement the rate limit correctly.
fn good_code_replies() -> Vec<Reply> {
    vec![
        Reply::tool("write_file", json!({"path": "src/rateLimit.js", "content": RATE_LIMIT_JS})),
        Reply::tools(vec![
            (
                "edit_file",
                json!({
                    "path": "src/app.js",
                    "old_text": "const users = new Map",
                    "new_text": "const { createLimiter } = require('./rateLimit');\n\nconst limiter = createLimiter(5, 60000);\nconst users = new Map"
                }),
            ),
            (
                "edit_file",
                json!({
                    "path": "src/app.js",
                    "old_text": "  if (method === 'POST' && path === '/api/login') {\n",
                    "new_text": "  if (method === 'POST' && path === '/api/login') {\n    if (!limiter.allow(body.user, Date.now())) {\n      return { status: 429, body: { error: 'too many requests' } };\n    }\n"
                }),
            ),
        ]),
        Reply::tool("write_file", json!({"path": "test/rateLimit.test.js", "content": RATE_LIMIT_TEST_JS})),
        Reply::tool("run_command", json!({"command": "node --test"})),
        Reply::tool("update_spec", json!({"done": [1, 2, 3]})),
        Reply::text("Added a fixed-window limiter and used it for /api/login.\n\nMigration notes: clients now receive 429 after 5 login attempts per minute."),
    ]
}

fn verdict_replies() -> Vec<Reply> {
    vec![
        Reply::tool(
            "report_verdict",
            json!({"criteria": [
                {"criterion": CRITERIA[0], "met": true, "evidence": "npm test: 5 passed"},
                {"criterion": CRITERIA[1], "met": true, "evidence": "test/rateLimit.test.js covers all three"}
            ]}),
        ),
        Reply::text("All criteria are met."),
    ]
}

fn full_script() -> Vec<Reply> {
    let mut script = research_replies();
    script.extend(good_code_replies());
    script.extend(verdict_replies());
    script
}

/// The body of every recorded request.
fn bodies(server: &ModelServer) -> Vec<Value> {
    server
        .requests()
        .into_iter()
        .map(|r| r.json.unwrap_or(Value::Null))
        .collect()
}

/// The `pr.md` Deckhand wrote for the task on `branch`.
fn pr_md(repo: &Path, branch: &str) -> String {
    std::fs::read_to_string(task_dir(repo, branch).join("pr.md")).unwrap()
}

/// `deckhand run --repo REPO ARGS…` with `env` set.
fn run_in(
    server: &ModelServer,
    wire: Wire,
    repo: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> RunResult {
    let repo_arg = repo.display().to_string();
    let mut all = vec!["run", "--repo", repo_arg.as_str()];
    all.extend_from_slice(args);
    deckhand(server, wire, &all, env)
}

/// Scenario 1 on one wire format; returns the repo's temp dir.
fn scenario_one(wire: Wire, stream: bool) -> (tempfile::TempDir, ModelServer, RunResult) {
    let (dir, repo) = temp_fixture(node_service);
    let before = snapshot(&repo);
    let server = ModelServer::start(full_script());
    let mut extra = vec![];
    if !stream {
        extra.push("--no-stream");
    }
    let result = run_task(&server, wire, &repo, TASK, &extra);
    result.assert_code(0);

    // The branch has the change and the new tests.
    let branch = task_branch(&repo);
    assert!(show(&repo, &branch, "src/rateLimit.js").contains("createLimiter"));
    assert!(show(&repo, &branch, "src/app.js").contains("429"));
    assert!(show(&repo, &branch, "test/rateLimit.test.js").contains("resets after the window"));
    let log = git(&repo, &["log", "--format=%s%n%b", &branch, "-1"]);
    assert!(log.starts_with("Add rate limiting to /api/login"), "{log}");

    // The PR description names the tests run, before and after.
    let pr = pr_md(&repo, &branch);
    eprintln!("--- stderr\n{}\n--- pr.md\n{pr}", result.stderr);
    assert!(pr.contains("`npm test`"), "{pr}");
    assert!(pr.contains("✅ 2 passed"), "{pr}");
    assert!(pr.contains("✅ 5 passed"), "{pr}");
    assert!(pr.contains("- [x] `npm test` passes"), "{pr}");
    assert!(pr.contains("`src/rateLimit.js` | added"), "{pr}");
    assert!(pr.contains("clients now receive 429"), "{pr}");
    assert!(
        result.stdout.contains("### Tests"),
        "PR text printed on stdout"
    );

    // The user's tree and branch are untouched; no worktree is left.
    assert_eq!(snapshot(&repo), before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);

    // Every reply was asked for; every tool call got its result in order.
    server.assert_finished();
    (dir, server, result)
}

#[test]
fn scenario_1_node_task_end_to_end_anthropic_streaming() {
    let (_dir, _server, result) = scenario_one(Wire::Anthropic, true);
    assert!(
        result.stderr.contains("🔄 verify: npm test … ✅ 5 passed"),
        "{}",
        result.stderr
    );
}

#[test]
fn scenario_5_node_task_end_to_end_anthropic_not_streaming() {
    let (_dir, server, _) = scenario_one(Wire::Anthropic, false);
    assert!(bodies(&server).iter().all(|b| b["stream"] != json!(true)));
}

#[test]
fn scenario_5_node_task_end_to_end_openai_streaming() {
    let (_dir, server, _) = scenario_one(Wire::OpenAi, true);
    assert!(server
        .requests()
        .iter()
        .all(|r| r.path.starts_with("/v1/chat/completions")));
    assert!(bodies(&server).iter().all(|b| b["stream"] == json!(true)));
}

#[test]
fn scenario_5_node_task_end_to_end_openai_not_streaming() {
    let (_dir, server, _) = scenario_one(Wire::OpenAi, false);
    assert!(bodies(&server).iter().all(|b| b["stream"] != json!(true)));
}

/// Removes every `cache_control` key.
fn strip_cache_control(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "cache_control")
                .map(|(k, v)| (k.clone(), strip_cache_control(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_cache_control).collect()),
        other => other.clone(),
    }
}

fn count_cache_control(v: &Value) -> usize {
    match v {
        Value::Object(map) => {
            map.contains_key("cache_control") as usize
                + map.values().map(count_cache_control).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(count_cache_control).sum(),
        _ => 0,
    }
}

#[test]
fn scenario_6_anthropic_requests_cache_a_stable_prefix() {
    let (_dir, server, _) = scenario_one(Wire::Anthropic, true);
    let requests = server.requests();
    let raw: Vec<String> = requests.iter().map(|r| r.body.clone()).collect();
    let bodies = bodies(&server);
    for b in &bodies {
        let n = count_cache_control(b);
        assert!((1..=4).contains(&n), "{n} cache_control breakpoints in {b}");
        assert!(
            count_cache_control(&b["tools"]) == 1,
            "the last tool carries a breakpoint"
        );
    }
    // Consecutive requests of one role: same system, same tools, and the
    // earlier conversation is a prefix of the later one.
    let mut same_role_pairs = 0;
    for (i, pair) in bodies.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        if a["system"] != b["system"] {
            continue;
        }
        same_role_pairs += 1;
        let json_of = |raw: &str, key: &str| -> String {
            let v: Value = serde_json::from_str(raw).unwrap();
            serde_json::to_string(&v[key]).unwrap()
        };
        // The raw bytes up to the conversation are the same: model, system
        // prompt and tools come first and do not change within a role.
        let head = |raw: &str| raw[..raw.find("\"messages\"").unwrap()].to_string();
        assert_eq!(head(&raw[i]), head(&raw[i + 1]));
        assert!(
            head(&raw[i]).contains("\"tools\""),
            "tools precede the conversation"
        );
        assert_eq!(json_of(&raw[i], "tools"), json_of(&raw[i + 1], "tools"));
        assert_eq!(json_of(&raw[i], "system"), json_of(&raw[i + 1], "system"));
        let ma = strip_cache_control(&a["messages"]);
        let mb = strip_cache_control(&b["messages"]);
        let (ma, mb) = (ma.as_array().unwrap(), mb.as_array().unwrap());
        assert!(mb.len() > ma.len());
        assert_eq!(
            &mb[..ma.len()],
            &ma[..],
            "request {} is not a prefix of {}",
            i,
            i + 1
        );
    }
    assert!(same_role_pairs >= 5, "{same_role_pairs}");
}

/// Research that plans without acceptance criteria (so verify needs no
/// model review), then code that writes one file.
fn minimal_script(file: &str) -> Vec<Reply> {
    writing_script(file, "module.exports = 1;\n")
}

/// [`minimal_script`] with `content` as what code writes to `file`.
fn writing_script(file: &str, content: &str) -> Vec<Reply> {
    plan_then(
        &format!("Create {file}"),
        vec![
            write_file_call(file, content),
            Reply::text("Created the file."),
        ],
    )
}

/// Research plans the one step `plan` (no criteria, so no review), then code replies `code`.
fn plan_then(plan: &str, code: Vec<Reply>) -> Vec<Reply> {
    let mut script = vec![
        Reply::tool("update_spec", json!({"plan": [plan]})),
        Reply::text("Planned."),
    ];
    script.extend(code);
    script
}

/// A `write_file` tool call that writes `content` to `path`.
fn write_file_call(path: &str, content: &str) -> Reply {
    Reply::tool("write_file", json!({"path": path, "content": content}))
}

/// An `edit_file` tool call that turns the wrong-password status `from` into `to`.
fn login_status_edit(from: u16, to: u16) -> Reply {
    Reply::tool(
        "edit_file",
        json!({"path": "src/app.js", "old_text": format!("status: ok ? 200 : {from}"), "new_text": format!("status: ok ? 200 : {to}")}),
    )
}

/// The last message of a request `body`, as JSON text.
fn last_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string()
}

#[test]
fn scenario_2_bad_edit_is_fixed_on_attempt_two_with_file_and_line() {
    let (_dir, repo) = temp_fixture(node_service);
    let mut script = research_replies();
    // Attempt 1 breaks the wrong-password test.
    script.push(login_status_edit(401, 403));
    script.push(Reply::text("Changed the status code."));
    // Attempt 2 puts it back and does the work.
    script.push(login_status_edit(403, 401));
    script.extend(good_code_replies());
    script.extend(verdict_replies());
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, TASK, &[]);
    result.assert_code(0);

    // The request that opened attempt 2 carries the failure with file:line.
    let bodies = bodies(&server);
    let opening = bodies
        .iter()
        .map(|b| b["messages"][0].to_string())
        .find(|m| m.contains("This is attempt 2"))
        .expect("attempt 2 was started");
    assert!(opening.contains("npm test"), "{opening}");
    assert!(opening.contains("exited with code 1"), "{opening}");
    let has_location = regex_like_location(&opening, "test/app.test.js");
    assert!(has_location, "no test/app.test.js:LINE in {opening}");
    assert!(opening.contains("different"), "{opening}");

    let branch = task_branch(&repo);
    assert!(show(&repo, &branch, "src/app.js").contains("200 : 401"));
    let pr = pr_md(&repo, &branch);
    assert!(pr.contains("2 attempt(s)"), "{pr}");
    server.assert_finished();
}

/// Writes `path` in the fixture repo and commits it.
fn commit_file(repo: &Path, path: &str, content: &str, message: &str) {
    std::fs::write(repo.join(path), content).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", message]);
}

/// Commits a `package.json` whose scripts are `node --test` and `lint`.
fn commit_lint_script(repo: &Path, lint: &str, message: &str) {
    let package = format!("{{\n  \"name\": \"user-service\",\n  \"private\": true,\n  \"scripts\": {{\n    \"test\": \"node --test\",\n    \"lint\": \"{lint}\"\n  }}\n}}\n");
    commit_file(repo, "package.json", &package, message);
}

/// `path:NUMBER` somewhere in `text`.
fn regex_like_location(text: &str, path: &str) -> bool {
    text.match_indices(&format!("{path}:")).any(|(i, m)| {
        text[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn scenario_3_three_failed_attempts_end_as_needs_review() {
    let (_dir, repo) = temp_fixture(node_service);
    let mut script = research_replies();
    script.push(login_status_edit(401, 403));
    script.push(Reply::text("Attempt one."));
    script.push(Reply::text("Attempt two: I believe it is fine."));
    script.push(Reply::text("Attempt three: still fine."));
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, TASK, &[]);
    result.assert_code(2);
    let branch = task_branch(&repo);
    let pr = pr_md(&repo, &branch);
    assert!(pr.contains("Needs human review"), "{pr}");
    assert!(pr.contains("after 3 attempts"), "{pr}");
    assert!(pr.contains("### Last failure (attempt 3)"), "{pr}");
    assert!(pr.contains("npm test"), "{pr}");
    assert!(regex_like_location(&pr, "test/app.test.js"), "{pr}");
    assert_eq!(server.remaining(), 0);
    server.assert_finished();
}

#[test]
fn scenario_4_path_escapes_are_refused_and_reported_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret\n").unwrap();
    let repo = node_service(dir.path());
    std::os::unix::fs::symlink(&outside, repo.join("escape")).unwrap();
    // Commands cannot read through the symlink (Landlock): the tests name
    // their folder instead of scanning the whole tree.
    let package = std::fs::read_to_string(repo.join("package.json")).unwrap();
    std::fs::write(
        repo.join("package.json"),
        package.replace("node --test", "node --test test/"),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "add a symlink"]);
    let abs_target = outside.join("abs.txt").display().to_string();

    let script = plan_then(
        "Try to leave the repository",
        vec![
            Reply::tools(vec![
                ("read_file", json!({"path": "../outside/secret.txt"})),
                ("write_file", json!({"path": abs_target, "content": "x"})),
                (
                    "write_file",
                    json!({"path": "escape/evil.txt", "content": "x"}),
                ),
                (
                    "edit_file",
                    json!({"path": "escape/secret.txt", "old_text": "outside", "new_text": "owned"}),
                ),
                ("list_dir", json!({"path": "../"})),
                ("search", json!({"pattern": "secret", "path": "escape"})),
            ]),
            Reply::text("I could not leave the repository."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(
        &server,
        Wire::Anthropic,
        &repo,
        "Read the file outside",
        &[],
    );
    result.assert_code(0);

    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "outside secret\n"
    );
    assert!(!outside.join("abs.txt").exists());
    assert!(!outside.join("evil.txt").exists());
    // The fourth request carries six error results.
    let requests = bodies(&server);
    let results = requests[3]["messages"].as_array().unwrap().last().unwrap()["content"].clone();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 6);
    for r in results {
        assert_eq!(r["is_error"], json!(true), "{r}");
        let text = r["content"].to_string();
        assert!(
            text.contains("outside the repository") || text.contains("absolute path"),
            "{text}"
        );
        assert!(!text.contains("outside secret"), "{text}");
    }
    server.assert_finished();
}

#[test]
fn replies_are_read_in_the_form_the_server_sends() {
    for (wire, no_stream, server_streams) in [
        (Wire::Anthropic, false, false),
        (Wire::OpenAi, false, false),
        (Wire::Anthropic, true, true),
        (Wire::OpenAi, true, true),
    ] {
        let (_dir, repo) = temp_fixture(node_service);
        let server = ModelServer::start(minimal_script("src/one.js"));
        server.answer_streamed(Some(server_streams));
        let extra: &[&str] = if no_stream { &["--no-stream"] } else { &[] };
        run_task(&server, wire, &repo, "Create one.js", extra).assert_code(0);
        assert_eq!(
            show(&repo, &task_branch(&repo), "src/one.js"),
            "module.exports = 1;"
        );
        server.assert_finished();
    }
}

#[test]
fn scenario_5_rate_limit_is_waited_out_and_retried() {
    let (_dir, repo) = temp_fixture(node_service);
    let mut script = vec![Reply::status(429).retry_after(1)];
    script.extend(minimal_script("src/one.js"));
    let server = ModelServer::start(script);
    let started = std::time::Instant::now();
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(server.requests().len(), 5);
    let branch = task_branch(&repo);
    assert_eq!(show(&repo, &branch, "src/one.js"), "module.exports = 1;");
    server.assert_finished();
}

#[test]
fn scenario_5_malformed_reply_is_a_clear_error() {
    for wire in [Wire::Anthropic, Wire::OpenAi] {
        let (_dir, repo) = temp_fixture(node_service);
        let server = ModelServer::start(vec![Reply::malformed()]);
        let result = run_task(&server, wire, &repo, "Create one.js", &[]);
        result.assert_code(1);
        assert!(
            result.stderr.to_lowercase().contains("malformed"),
            "{}",
            result.stderr
        );
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
        server.assert_finished();
    }
}

#[test]
fn a_transient_model_failure_mid_task_resumes_the_same_turn() {
    for wire in [Wire::Anthropic, Wire::OpenAi] {
        let (_dir, repo) = temp_fixture(node_service);
        let mut script = minimal_script("src/one.js");
        // Before code's first turn: a dropped stream, an overload and a
        // server error reported inside 200 replies.
        let code_turn = 2;
        script.insert(
            code_turn,
            Reply::drop_mid_stream(Reply::text("half a reply that is long enough")),
        );
        script.insert(
            code_turn + 1,
            Reply::error_event("overloaded_error", "Overloaded"),
        );
        script.insert(
            code_turn + 2,
            Reply::error_event("api_error", "Internal server error"),
        );
        let server = ModelServer::start(script);
        let result = run_task(&server, wire, &repo, "Create one.js", &[]);
        result.assert_code(0);
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
        assert_eq!(
            show(&repo, &task_branch(&repo), "src/one.js"),
            "module.exports = 1;"
        );
        // The same request was made again: the turn resumed, not restarted.
        let bodies = bodies(&server);
        for retry in 1..=3 {
            assert_eq!(bodies[code_turn + retry], bodies[code_turn], "{wire:?}");
        }
        server.assert_finished();
    }
}

#[test]
fn a_reply_cut_off_by_max_tokens_is_continued() {
    let (_dir, repo) = temp_fixture(node_service);
    let script = vec![
        Reply::tool("update_spec", json!({"plan": ["Create src/one.js"]})),
        Reply::text("The plan is: create src/one.js and").max_tokens(),
        Reply::text(" nothing else."),
        write_file_call("src/one.js", "module.exports = 1;\n"),
        Reply::text("Created the file."),
    ];
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    let bodies = bodies(&server);
    let asked = last_message(&bodies[2]);
    assert!(asked.contains("cut off by the output limit"), "{asked}");
    assert!(asked.contains("Continue"), "{asked}");
    assert_eq!(
        show(&repo, &task_branch(&repo), "src/one.js"),
        "module.exports = 1;"
    );
    server.assert_finished();
}

#[test]
fn a_tool_call_cut_off_mid_json_is_told_to_the_model() {
    for (wire, extra) in [
        (Wire::Anthropic, &[][..]),
        (Wire::OpenAi, &[][..]),
        (Wire::OpenAi, &["--no-stream"][..]),
    ] {
        let (_dir, repo) = temp_fixture(node_service);
        let script = plan_then(
            "Create src/one.js",
            vec![
                Reply::tool_raw(
                    "write_file",
                    "{\"path\": \"src/one.js\", \"content\": \"module.exports = [1, 2, 3,",
                )
                .with_text("Writing the file.")
                .max_tokens(),
                write_file_call("src/one.js", "module.exports = 1;\n"),
                Reply::text("Created the file."),
            ],
        );
        let server = ModelServer::start(script);
        let result = run_task(&server, wire, &repo, "Create one.js", extra);
        result.assert_code(0);
        let told = bodies(&server)[3]["messages"].to_string();
        assert!(told.contains("was cut off"), "{wire:?}: {told}");
        assert!(told.contains("smaller edits"), "{wire:?}: {told}");
        assert_eq!(
            show(&repo, &task_branch(&repo), "src/one.js"),
            "module.exports = 1;"
        );
        server.assert_finished();
    }
}

#[test]
fn a_large_tool_argument_is_kept_as_a_digest_not_resent() {
    let (_dir, repo) = temp_fixture(node_service);
    let big = "// generated line of a large file\n".repeat(60_000); // ~2 MB
    let script = plan_then(
        "Write big.js",
        vec![
            write_file_call("src/big.js", &big),
            Reply::tool("list_dir", json!({"path": "src"})),
            Reply::text("Wrote the file."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Write big.js", &[]);
    result.assert_code(0);
    let requests = server.requests();
    for (n, r) in requests.iter().enumerate().skip(3) {
        assert!(
            r.body.len() < 200_000,
            "request {n} is {} bytes",
            r.body.len()
        );
    }
    let digest = requests[3].body.clone();
    assert!(digest.contains("write_file src/big.js"), "{digest}");
    assert!(digest.contains("sha256"), "{digest}");
    let written = show(&repo, &task_branch(&repo), "src/big.js");
    assert_eq!(written.len() + 1, big.len());
    server.assert_finished();
}

#[test]
fn compaction_is_sized_from_the_tokens_the_server_reports() {
    let (_dir, repo) = temp_fixture(node_service);
    commit_file(&repo, ".deckhand.yml", "context_window: 60000\n", "window");
    let script = vec![
        Reply::tool("read_file", json!({"path": "src/app.js"})),
        // The server counts this history as nearly the whole window.
        Reply::tool("update_spec", json!({"plan": ["Create src/one.js"]}))
            .reporting_input_tokens(58_000),
        Reply::text("Hand-off: read src/app.js, planned src/one.js."),
        Reply::text("Planned."),
        write_file_call("src/one.js", "module.exports = 1;\n"),
        Reply::text("Created the file."),
    ];
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    assert!(result.stderr.contains("compacting"), "{}", result.stderr);
    let bodies = bodies(&server);
    let first = bodies[3]["messages"][0].to_string();
    assert!(first.contains("Hand-off: read src/app.js"), "{first}");
    server.assert_finished();
}

/// A lint script that reports every `TODO` in `src/` as
/// `file:line:col: message` and fails when it finds one.
const LINT_JS: &str = r#"'use strict';
const fs = require('fs');
let bad = 0;
for (const f of fs.readdirSync('src')) {
  fs.readFileSync('src/' + f, 'utf8').split('\n').forEach((l, i) => {
    if (l.includes('TODO')) { console.log(`src/${f}:${i + 1}:1: error no-todo: TODO left`); bad++; }
  });
}
process.exit(bad ? 1 : 0);
"#;

/// The node service with a lint check that already fails on `src/legacy.js`.
fn repo_with_old_lint_error(parent: &Path) -> std::path::PathBuf {
    let repo = node_service(parent);
    std::fs::write(repo.join("lint.js"), LINT_JS).unwrap();
    std::fs::write(
        repo.join("src/legacy.js"),
        "// TODO legacy cleanup\nmodule.exports = 0;\n",
    )
    .unwrap();
    commit_lint_script(&repo, "node lint.js", "lint");
    repo
}

#[test]
fn a_lint_error_from_before_the_task_does_not_fail_every_attempt() {
    let (_dir, repo) = temp_fixture(repo_with_old_lint_error);
    let server = ModelServer::start(minimal_script("src/one.js"));
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    assert!(
        result.stderr.contains("🔄 baseline: npm run lint … ❌"),
        "the baseline runs lint too: {}",
        result.stderr
    );
    let pr = pr_md(&repo, &task_branch(&repo));
    assert!(
        pr.contains("except `npm run lint` which fail(s) exactly as before"),
        "{pr}"
    );
    assert!(!pr.contains("the repository's checks pass;"), "{pr}");
    server.assert_finished();
}

#[test]
fn a_new_lint_error_fails_the_attempt() {
    let (_dir, repo) = temp_fixture(repo_with_old_lint_error);
    commit_file(&repo, ".deckhand.yml", "max_attempts: 1\n", "one attempt");
    let script = writing_script("src/one.js", "// TODO finish\nmodule.exports = 1;\n");
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(2);
    let pr = pr_md(&repo, &task_branch(&repo));
    assert!(pr.contains("src/one.js:1"), "{pr}");
    server.assert_finished();
}

/// A "lint" script that formats with fix on: it rewrites `var ` to
/// `let ` in `src/` and always passes.
const FIX_JS: &str = r#"'use strict';
const fs = require('fs');
for (const f of fs.readdirSync('src')) {
  const text = fs.readFileSync('src/' + f, 'utf8');
  if (text.includes('var ')) fs.writeFileSync('src/' + f, text.replace(/var /g, 'let '));
}
"#;

#[test]
fn a_check_that_writes_files_is_named_and_what_it_wrote_is_not_committed() {
    let (_dir, repo) = temp_fixture(node_service);
    std::fs::write(repo.join("fix.js"), FIX_JS).unwrap();
    commit_lint_script(&repo, "node fix.js", "lint with fix on");
    let written = "var one = 1;\nmodule.exports = one;\n";
    let server = ModelServer::start(writing_script("src/one.js", written));
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    assert!(
        result
            .stderr
            .contains("⚠️ `npm run lint` changed the tree (put back as it was): src/one.js"),
        "{}",
        result.stderr
    );
    // The branch has what code wrote, not what the check rewrote, and
    // no commit says files changed while verifying.
    let branch = task_branch(&repo);
    assert_eq!(show(&repo, &branch, "src/one.js"), written.trim_end());
    let subjects = git(&repo, &["log", "--format=%s", &format!("main..{branch}")]);
    assert_eq!(subjects.lines().count(), 1, "{subjects}");
    let pr = pr_md(&repo, &branch);
    assert!(
        pr.contains("> - `npm run lint` (while verifying): `src/one.js`"),
        "{pr}"
    );
    assert!(pr.contains("the changes are not in the branch"), "{pr}");
    server.assert_finished();
}

#[test]
fn when_no_check_runs_the_pr_does_not_say_checks_pass() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repos::commit_tree(&dir.path().join("notes"), &[("README.md", "# notes\n")]);
    let server = ModelServer::start(minimal_script("notes.txt"));
    let result = run_task(&server, Wire::Anthropic, &repo, "Write notes", &[]);
    result.assert_code(0);
    let pr = pr_md(&repo, &task_branch(&repo));
    assert!(!pr.contains("checks pass"), "{pr}");
    assert!(pr.contains("no check ran"), "{pr}");
    server.assert_finished();
}

#[test]
fn code_cannot_rewrite_the_criteria_and_the_verdict_must_name_them() {
    let (_dir, repo) = temp_fixture(node_service);
    let mut script = research_replies();
    script.push(Reply::tool(
        "update_spec",
        json!({"acceptance_criteria": ["the file exists"]}),
    ));
    script.extend(good_code_replies());
    // Two entries, but not the spec's two criteria: refused by name.
    script.push(Reply::tool(
        "report_verdict",
        json!({"criteria": [
            {"criterion": CRITERIA[0], "met": true, "evidence": "npm test: 5 passed"},
            {"criterion": "the file exists", "met": true, "evidence": "it does"}
        ]}),
    ));
    script.extend(verdict_replies());
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, TASK, &[]);
    result.assert_code(0);
    let bodies = bodies(&server);
    let verify_opening = bodies
        .iter()
        .map(|b| b["messages"][0].to_string())
        .find(|m| m.contains("# Check results"))
        .expect("verify ran");
    assert!(verify_opening.contains(CRITERIA[1]), "{verify_opening}");
    assert!(
        verify_opening.contains("Proposed acceptance criteria")
            && verify_opening.contains("the file exists"),
        "verify sees the proposal: {verify_opening}"
    );
    let refused = bodies[bodies.len() - 2]["messages"].to_string();
    assert!(
        refused.contains("is not an acceptance criterion of the spec"),
        "{refused}"
    );
    let spec =
        std::fs::read_to_string(task_dir(&repo, &task_branch(&repo)).join("spec.md")).unwrap();
    assert!(spec.contains(&format!("- [ ] {}", CRITERIA[1])), "{spec}");
    server.assert_finished();
}

#[test]
fn scenario_7_secrets_never_leave_the_process() {
    const SECRET: &str = "tok-very-secret-value-8842";
    let (_dir, repo) = temp_fixture(node_service);
    // The repository's own test prints the secret it is given.
    std::fs::write(
        repo.join("test/env.test.js"),
        "const test = require('node:test');\ntest('prints env', () => { console.log('token is ' + process.env.DEPLOY_TOKEN); });\n",
    )
    .unwrap();
    commit_file(
        &repo,
        ".deckhand.yml",
        "secrets: [DEPLOY_TOKEN]\n",
        "print env",
    );

    let script = vec![
        Reply::tool(
            "run_command",
            json!({"command": "npm test; echo direct $DEPLOY_TOKEN"}),
        ),
        Reply::tool(
            "update_spec",
            json!({"plan": ["Write the token into a file"], "decisions": ["none"]}),
        ),
        Reply::text("Planned."),
        Reply::tool(
            "run_command",
            json!({"command": "echo code sees $DEPLOY_TOKEN"}),
        ),
        write_file_call("notes.txt", "no secrets here\n"),
        Reply::text("Done."),
    ];
    let server = ModelServer::start(script);
    let result = run_in(
        &server,
        Wire::Anthropic,
        &repo,
        &["--task", "Use the deploy token", "--json"],
        &[("DEPLOY_TOKEN", SECRET)],
    );
    result.assert_code(0);
    assert!(!result.stdout.contains(SECRET));
    assert!(!result.stderr.contains(SECRET));
    for r in server.requests() {
        let body = &r.body;
        assert!(!body.contains(SECRET), "secret sent to the model: {body}");
        assert!(!body.contains(common::API_KEY), "API key in a request body");
    }
    // The command did see it (the masked marker shows where).
    let all: String = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(
        all.contains("direct ***"),
        "the command's output reached the model masked"
    );
    let branch = task_branch(&repo);
    for entry in walk(&task_dir(&repo, &branch)) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(SECRET), "secret in {}", entry.display());
    }
    let committed = git(&repo, &["log", "-p", &branch]);
    assert!(!committed.contains(SECRET), "secret in a commit");
    server.assert_finished();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn scenario_8_question_waits_then_resume_finishes_with_the_answer() {
    let (_dir, repo) = temp_fixture(node_service);
    let server = ModelServer::start(vec![
        Reply::tool("read_file", json!({"path": "src/app.js"})),
        Reply::tool(
            "ask_question",
            json!({"question": "How long should the window be?"}),
        ),
    ]);
    let first = run_task(&server, Wire::Anthropic, &repo, TASK, &[]);
    first.assert_code(3);
    assert!(
        first.stdout.contains("How long should the window be?"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("--resume"), "{}", first.stdout);
    let branch = task_branch(&repo);
    let id = branch.trim_start_matches("deckhand/").to_string();
    assert!(task_dir(&repo, &branch).join("state.json").exists());

    let asked = server.requests().len();
    for reply in minimal_script("src/window.js") {
        server.push(reply);
    }
    let second = run_in(
        &server,
        Wire::Anthropic,
        &repo,
        &["--resume", &id, "--answer", "Sixty seconds"],
        &[],
    );
    second.assert_code(0);
    // The model saw the answer as the result of its question, after the
    // earlier conversation (not from scratch).
    let resumed = &bodies(&server)[asked];
    let messages = resumed["messages"].as_array().unwrap();
    assert!(messages.len() >= 4, "resumed from scratch: {resumed}");
    let last = messages.last().unwrap().to_string();
    assert!(last.contains("Sixty seconds"), "{last}");
    assert!(last.contains("tool_result"), "{last}");
    assert_eq!(show(&repo, &branch, "src/window.js"), "module.exports = 1;");
    assert!(!task_dir(&repo, &branch).join("state.json").exists());
    // The baseline from before the question still reaches the PR.
    let pr = pr_md(&repo, &branch);
    assert!(
        pr.contains("| test | `npm test` | ✅ 2 passed | ✅ 2 passed |"),
        "{pr}"
    );
    server.assert_finished();
}

#[test]
fn resume_of_an_unknown_task_is_a_clear_error() {
    let (_dir, repo) = temp_fixture(node_service);
    let server = ModelServer::start(vec![]);
    let r = run_in(
        &server,
        Wire::Anthropic,
        &repo,
        &["--resume", "dh-000000", "--answer", "x"],
        &[],
    );
    r.assert_code(1);
    assert!(r.stderr.contains("dh-000000"), "{}", r.stderr);
    assert_eq!(server.requests().len(), 0);
    server.assert_finished();
}

#[test]
fn json_mode_prints_one_event_per_line() {
    let (_dir, repo) = temp_fixture(node_service);
    let server = ModelServer::start(minimal_script("src/one.js"));
    let r = run_in(
        &server,
        Wire::OpenAi,
        &repo,
        &["--task", "Create one.js", "--json"],
        &[],
    );
    r.assert_code(0);
    let events: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"task_started"));
    assert_eq!(kinds.last(), Some(&"task_finished"));
    for k in ["role_started", "tool_call", "command_run", "verify_result"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let fin = events.last().unwrap();
    assert_eq!(fin["status"], "done");
    assert!(fin["usage"]["output_tokens"].as_u64().unwrap() > 0);
    server.assert_finished();
}

#[test]
fn python_and_rust_fixtures_are_verified_too() {
    let (_dir, py) = temp_fixture(repos::python_package);
    let server = ModelServer::start(plan_then(
        "Add sub",
        vec![
            Reply::tool(
                "edit_file",
                json!({"path": "mathlib/__init__.py", "old_text": "    return a + b\n", "new_text": "    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"}),
            ),
            Reply::text("Added sub."),
        ],
    ));
    let r = run_task(&server, Wire::Anthropic, &py, "Add sub()", &[]);
    r.assert_code(0);
    assert!(r.stderr.contains("unittest"), "{}", r.stderr);
    assert!(r.stderr.contains("✅ 1 passed"), "{}", r.stderr);
    server.assert_finished();
}

#[test]
fn code_puts_a_question_to_research_and_gets_its_answer() {
    let (_dir, repo) = temp_fixture(node_service);
    let script = plan_then(
        "Create src/limit.js",
        vec![
            // Code asks; research (nested) answers without bothering the user.
            Reply::tool(
                "ask_question",
                json!({"question": "Which limit, per minute?"}),
            ),
            Reply::tool("read_file", json!({"path": "README.md"})),
            Reply::text("Five per minute, as the task says."),
            write_file_call("src/limit.js", "module.exports = 5;\n"),
            Reply::text("Done."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Limit logins", &[]);
    result.assert_code(0);
    let bodies = bodies(&server);
    // The nested research call saw the question...
    assert!(bodies[3]["messages"][0]
        .to_string()
        .contains("Which limit, per minute?"));
    assert!(bodies[3]["system"].to_string().contains("research role"));
    // ...and code got research's answer as the tool result.
    let answer = last_message(&bodies[5]);
    assert!(
        answer.contains("Answer from research: Five per minute"),
        "{answer}"
    );
    assert!(
        result.stderr.contains("code asks research"),
        "{}",
        result.stderr
    );
    server.assert_finished();
}

#[test]
fn a_budget_ends_the_task_cleanly_with_the_work_committed() {
    let (_dir, repo) = temp_fixture(node_service);
    commit_file(&repo, ".deckhand.yml", "max_turns: 2\n", "budget");
    let script = plan_then(
        "Write two files",
        vec![
            write_file_call("src/one.js", "module.exports = 1;\n"),
            write_file_call("src/two.js", "module.exports = 2;\n"),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Write files", &[]);
    result.assert_code(2);
    let branch = task_branch(&repo);
    assert_eq!(show(&repo, &branch, "src/one.js"), "module.exports = 1;");
    let pr = pr_md(&repo, &branch);
    assert!(pr.contains("turn limit per role (2)"), "{pr}");
    assert!(pr.contains("the work done so far is committed"), "{pr}");
    server.assert_finished();
}

#[test]
fn steering_files_reach_research_and_code_prompts() {
    let (_dir, repo) = temp_fixture(node_service);
    commit_file(
        &repo,
        "AGENTS.md",
        "Always use the error format `{ error, code }`.\n",
        "agents",
    );
    let server = ModelServer::start(minimal_script("src/one.js"));
    run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]).assert_code(0);
    for b in bodies(&server) {
        let system = b["system"].to_string();
        assert!(system.contains("Always use the error format"), "{system}");
        assert!(
            system.contains("src/app.js"),
            "the repo map is in the prompt: {system}"
        );
    }
    server.assert_finished();
}

#[test]
fn a_long_history_is_compacted_instead_of_failing() {
    let (_dir, repo) = temp_fixture(node_service);
    // A small window: the system prompt alone is near it.
    commit_file(&repo, ".deckhand.yml", "context_window: 3000\n", "window");
    let big = "a line of generated text\n".repeat(400);
    let script = plan_then(
        "Create big.txt",
        vec![
            write_file_call("big.txt", &big),
            Reply::tool("read_file", json!({"path": "big.txt"})),
            // The compaction request gets this hand-off note.
            Reply::text("Hand-off: big.txt written and read; nothing left."),
            Reply::text("Done."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create big.txt", &[]);
    result.assert_code(0);
    assert!(result.stderr.contains("compacting"), "{}", result.stderr);
    let bodies = bodies(&server);
    let last = bodies.last().unwrap();
    let first_message = last["messages"][0].to_string();
    assert!(
        first_message.contains("Hand-off: big.txt written"),
        "{first_message}"
    );
    assert!(
        first_message.contains("# Current TaskSpec"),
        "the spec is re-injected: {first_message}"
    );
    support::model_server::check_tool_pairing(&server.requests()).unwrap();
    server.assert_finished();
}

#[test]
fn commands_run_as_the_configured_unprivileged_user() {
    if !deckhand::sandbox::user::is_root() {
        eprintln!("skipped: handing files to another user needs root");
        return;
    }
    let (_dir, repo) = temp_fixture(node_service);
    commit_file(&repo, ".deckhand.yml", "command_user: nobody\n", "user");
    let script = plan_then(
        "Create src/new.js",
        vec![
            write_file_call("src/extra/new.js", "module.exports = 1;\n"),
            Reply::tool(
                "run_command",
                json!({"command": "id -un; echo '// more' >> src/extra/new.js && echo appended; git -c safe.directory='*' status --short && echo git-ok"}),
            ),
            Reply::text("Done."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create new.js", &[]);
    result.assert_code(0);
    assert!(
        result.stderr.contains("✅ 2 passed"),
        "the repository's tests ran as the user: {}",
        result.stderr
    );
    let ran = last_message(&bodies(&server)[4]);
    assert!(ran.contains("nobody"), "{ran}");
    assert!(
        ran.contains("appended"),
        "the user could change a file Deckhand wrote: {ran}"
    );
    let branch = task_branch(&repo);
    assert_eq!(
        show(&repo, &branch, "src/extra/new.js"),
        "module.exports = 1;\n// more"
    );
    server.assert_finished();
}

#[test]
fn a_worktree_the_command_user_cannot_enter_is_named_before_any_model_call() {
    if !deckhand::sandbox::user::is_root() {
        eprintln!("skipped: needs root to run commands as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let closed = dir.path().join("root-only");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let repo = node_service(&closed);
    commit_file(&repo, ".deckhand.yml", "command_user: nobody\n", "user");
    let server = ModelServer::start(vec![]);
    let result = run_task(&server, Wire::Anthropic, &repo, "Create new.js", &[]);
    result.assert_code(1);
    assert!(result.stderr.contains("`nobody`"), "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains(&format!("cannot enter {}", closed.display())),
        "{}",
        result.stderr
    );
    assert!(!result.stderr.contains("exit ?"), "{}", result.stderr);
    assert_eq!(server.requests().len(), 0, "no model call was made");
    server.assert_finished();
}

#[test]
fn on_a_terminal_the_question_is_asked_there() {
    // `script` (util-linux) gives the run a terminal and types the answer.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` command to provide a terminal");
        return;
    }
    let (_dir, repo) = temp_fixture(node_service);
    let mut script = vec![Reply::tool(
        "ask_question",
        json!({"question": "Which window length?"}),
    )];
    script.extend(minimal_script("src/window.js"));
    let server = ModelServer::start(script);
    let command = format!(
        "{} run --repo {} --task 'Add a window'",
        env!("CARGO_BIN_EXE_deckhand"),
        repo.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("TERM", "xterm")
        .env("ANTHROPIC_API_KEY", common::API_KEY)
        .env("ANTHROPIC_BASE_URL", server.anthropic_base_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Typed ahead: the terminal keeps it until Deckhand asks and reads.
        stdin.write_all(b"Sixty seconds\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("Which window length?"), "{shown}");
    let answered = bodies(&server)[1]["messages"].to_string();
    assert!(
        answered.contains("Answer from the user: Sixty seconds"),
        "{answered}"
    );
    assert_eq!(
        show(&repo, &task_branch(&repo), "src/window.js"),
        "module.exports = 1;"
    );
    server.assert_finished();
}

#[test]
fn errors_and_logs_mask_secrets_from_the_environment() {
    const SECRET: &str = "proxy-tok-abcdef123456";
    let (_dir, repo) = temp_fixture(node_service);
    let server = ModelServer::start(vec![Reply::status(400).body(format!(
        "{{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":\"bad proxy token {SECRET}\"}}}}"
    ))]);
    let r = run_in(
        &server,
        Wire::Anthropic,
        &repo,
        &["--task", "Anything"],
        &[("PROXY_TOKEN", SECRET), ("DECKHAND_LOG", "debug")],
    );
    r.assert_code(1);
    assert!(r.stderr.contains("bad proxy token ***"), "{}", r.stderr);
    assert!(!r.stderr.contains(SECRET), "{}", r.stderr);
    assert!(!r.stdout.contains(SECRET));
    server.assert_finished();
}

/// A program name nothing on this machine answers to, realistic when it can be.
fn missing_linter() -> &'static str {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v eslint"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        "deckhand-test-no-such-linter"
    } else {
        "eslint"
    }
}

#[test]
fn a_lint_tool_that_is_not_installed_is_not_run_not_a_failure() {
    let (_dir, repo) = temp_fixture(node_service);
    let linter = missing_linter();
    commit_lint_script(&repo, &format!("{linter} src"), "lint");
    let server = ModelServer::start(minimal_script("src/one.js"));
    let result = run_task(&server, Wire::Anthropic, &repo, "Create one.js", &[]);
    result.assert_code(0);
    let not_run = format!("⚪ not run: {linter} is not installed");
    assert!(
        result
            .stderr
            .contains(&format!("🔄 baseline: npm run lint … {not_run}")),
        "{}",
        result.stderr
    );
    let pr = pr_md(&repo, &task_branch(&repo));
    assert!(
        pr.contains(&format!(
            "| lint | `npm run lint` | {not_run} | {not_run} | package.json scripts.lint |"
        )),
        "{pr}"
    );
    assert!(
        pr.contains(&format!(
            "✅ Done: the repository's checks pass (not run: {linter} is not installed)"
        )),
        "{pr}"
    );
    assert!(!pr.contains("Needs human review"), "{pr}");
    server.assert_finished();
}

/// A test that fails before any change, in its own file.
const LEGACY_TEST_JS: &str = r#"'use strict';
const test = require('node:test');
const assert = require('node:assert');

test('legacy rounding stays exact', () => {
  assert.strictEqual(Math.round(2.5), 2, 'legacy rounding drifted');
});
"#;

#[test]
fn code_is_told_only_the_failure_its_change_caused() {
    let (_dir, repo) = temp_fixture(node_service);
    commit_file(&repo, "test/legacy.test.js", LEGACY_TEST_JS, "legacy test");
    commit_file(&repo, ".deckhand.yml", "max_attempts: 2\n", "two attempts");
    let script = plan_then(
        "Change the status code",
        vec![
            // Attempt 1 breaks the wrong-password test.
            login_status_edit(401, 403),
            Reply::text("Changed the status code."),
            // Attempt 2 puts it back.
            login_status_edit(403, 401),
            Reply::text("Restored the status code."),
        ],
    );
    let server = ModelServer::start(script);
    let result = run_task(
        &server,
        Wire::Anthropic,
        &repo,
        "Tidy the login handler",
        &[],
    );
    result.assert_code(0);
    let openings: Vec<String> = bodies(&server)
        .iter()
        .map(|b| b["messages"][0]["content"].to_string())
        .collect();
    let first = openings
        .iter()
        .find(|m| m.contains("Test results before any change") && !m.contains("This is attempt 2"))
        .expect("attempt 1 was started");
    let second = openings
        .iter()
        .find(|m| m.contains("This is attempt 2"))
        .expect("attempt 2 was started");
    for opening in [first, second] {
        assert!(!opening.contains("legacy"), "{opening}");
        assert!(
            opening.contains("fails before any change; those failures are not part of this task"),
            "{opening}"
        );
    }
    assert!(regex_like_location(second, "test/app.test.js"), "{second}");
    assert!(
        second.contains("New failures (not there before the task)"),
        "{second}"
    );
    assert!(
        result.stderr.contains("❌ verify: new failure: npm test"),
        "{}",
        result.stderr
    );
    let pr = pr_md(&repo, &task_branch(&repo));
    assert!(
        pr.contains("- Unchanged (failed before the task, the same way): `npm test`"),
        "{pr}"
    );
    server.assert_finished();
}

/// What the git guard says when it finds the worktree's bookkeeping
/// changed (`src/git/guard.rs`).
const BOOKKEEPING_RESTORED: &str = "git bookkeeping was changed by a command; restored";

#[test]
fn git_bookkeeping_is_restored_with_a_warning_only_when_a_command_changed_it() {
    let config = ".github/deckhand.yml";
    // A clean task: nothing touches the worktree's `.git` file or its git dir.
    let dir = tempfile::tempdir().unwrap();
    let repo = repos::commit_tree(
        &dir.path().join("clean"),
        &[(config, "commands:\n  test: 'true'\n")],
    );
    let server = ModelServer::start(minimal_script("a.js"));
    let clean = run_task(&server, Wire::Anthropic, &repo, "Create a.js", &[]);
    clean.assert_code(0);
    assert!(
        !clean.stderr.contains(BOOKKEEPING_RESTORED),
        "a clean run warned:\n{}",
        clean.stderr
    );
    server.assert_finished();

    // A command rewrites the worktree's `.git` file (still a valid one:
    // the same git dir, with a trailing slash).
    let repo = repos::commit_tree(
        &dir.path().join("tampered"),
        &[(config, "commands:\n  test: 'true'\n")],
    );
    let mut script = vec![Reply::tool(
        "run_command",
        json!({"command": "sed -i 's|$|/|' .git && echo rewritten-$((40 + 2))"}),
    )];
    script.extend(minimal_script("a.js"));
    let server = ModelServer::start(script);
    let tampered = run_task(&server, Wire::Anthropic, &repo, "Create a.js", &[]);
    let saw: String = server.requests().iter().map(|r| r.body.clone()).collect();
    // (The command's own text says `$((40 + 2))`: only its output says 42.)
    assert!(saw.contains("rewritten-42"), "the command ran: {saw}");
    tampered.assert_code(0);
    assert!(
        tampered.stderr.contains(BOOKKEEPING_RESTORED),
        "a changed .git file went unnoticed:\n{}",
        tampered.stderr
    );
    server.assert_finished();
}
