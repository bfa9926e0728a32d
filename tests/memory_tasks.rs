//! Team rules and path-scoped steering in tasks, through the binary: what
//! reaches each role's second system block depends on the paths the task
//! touches; feedback on a finished task makes a new commit and a rule that
//! the next task gets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;

use serde_json::{json, Value};

use common::{deckhand, run_task, Wire};
use support::model_server::{ModelServer, Reply};
use support::repos::{git, node_service};

const CRITERION: &str = "`npm test` passes";
const STEERING_MARKER: &str = "API handlers live in src/api and export one function each.";
const PATH_RULE: &str = "Validate request bodies in API handlers before using them.";

/// A task that plans, writes and verifies a change to `path`; the verdict
/// judges `rules` too (by their text).
fn script(path: &str, content: &str, rules: &[&str]) -> Vec<Reply> {
    let mut criteria =
        vec![json!({"criterion": CRITERION, "met": true, "evidence": "npm test: 2 passed"})];
    for r in rules {
        criteria.push(json!({"criterion": r, "met": true, "evidence": format!("{path}:1")}));
    }
    vec![
        Reply::tool(
            "update_spec",
            json!({"acceptance_criteria": [CRITERION], "plan": [format!("Change {path}")]}),
        ),
        Reply::text("Planned."),
        Reply::tool("write_file", json!({"path": path, "content": content})),
        Reply::text("Changed it."),
        Reply::tool("report_verdict", json!({"criteria": criteria})),
        Reply::text("Met."),
    ]
}

/// `user-service` with an API handler and a `fileMatch` steering file for it.
fn repo(dir: &Path) -> std::path::PathBuf {
    let repo = node_service(dir);
    std::fs::create_dir_all(repo.join("src/api")).unwrap();
    std::fs::write(
        repo.join("src/api/users.js"),
        "'use strict';\nmodule.exports = { list: () => [] };\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.join(".deckhand/steering")).unwrap();
    std::fs::write(
        repo.join(".deckhand/steering/api.md"),
        format!(
            "---\ninclusion: fileMatch\nfileMatchPattern: \"src/api/**\"\n---\n{STEERING_MARKER}\n"
        ),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "API handlers"]);
    repo
}

fn memory(repo: &Path, args: &[&str]) -> String {
    let server = ModelServer::start(vec![]);
    let repo_arg = repo.display().to_string();
    let mut all = vec!["memory", "--repo", repo_arg.as_str()];
    all.extend_from_slice(args);
    let out = deckhand(&server, Wire::Anthropic, &all, &[]);
    out.assert_code(0);
    out.stdout
}

/// The system blocks of every request, as texts.
fn systems(server: &ModelServer) -> Vec<Vec<String>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.field("/system")
                .and_then(Value::as_array)
                .map(|blocks| {
                    blocks
                        .iter()
                        .map(|b| b["text"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

fn role_of(system: &[String]) -> &'static str {
    let first = system.first().map(String::as_str).unwrap_or_default();
    ["research", "code", "verify", "learn"]
        .into_iter()
        .find(|r| first.starts_with(&format!("You are the {r} role")))
        .unwrap_or("?")
}

#[test]
fn scenario_8_file_match_steering_and_path_rules_follow_the_touched_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let added = memory(&repo, &["add", PATH_RULE, "--scope", "path:src/api/**"]);
    assert!(added.starts_with("added r-"), "{added}");

    // A task that touches src/api/users.js.
    let touching = ModelServer::start(script(
        "src/api/users.js",
        "'use strict';\nmodule.exports = { list: (body) => (body ? [] : []) };\n",
        &[PATH_RULE],
    ));
    run_task(
        &touching,
        Wire::Anthropic,
        &repo,
        "Make the users list take a body",
        &[],
    )
    .assert_code(0);
    touching.assert_finished();
    let with = systems(&touching);
    let roles: Vec<(&str, usize)> = with.iter().map(|s| (role_of(s), s.len())).collect();
    // Research starts before anything is touched: one (stable) block.
    // Code and verify start with the plan's and the diff's paths.
    assert_eq!(
        roles,
        vec![
            ("research", 1),
            ("research", 1),
            ("code", 2),
            ("code", 2),
            ("verify", 2),
            ("verify", 2)
        ]
    );
    let code_block = &with[2][1];
    assert!(code_block.contains(STEERING_MARKER), "{code_block}");
    assert!(code_block.contains(PATH_RULE), "{code_block}");
    assert!(code_block.contains("<team-rules>"), "{code_block}");
    assert!(
        !with[2][0].contains(STEERING_MARKER),
        "steering for paths stays out of the stable block"
    );
    let verify_block = &with[4][1];
    assert!(
        verify_block.contains(PATH_RULE) && !verify_block.contains(STEERING_MARKER),
        "{verify_block}"
    );
    // One role's requests share both blocks byte for byte.
    assert_eq!(with[2], with[3]);
    assert_eq!(with[4], with[5]);

    // A task that touches only src/app.js gets neither.
    let elsewhere = ModelServer::start(script(
        "src/app.js",
        &support::repos::NODE_APP.replace("not found", "no such route"),
        &[],
    ));
    run_task(
        &elsewhere,
        Wire::Anthropic,
        &repo,
        "Say no such route for unknown paths",
        &[],
    )
    .assert_code(0);
    elsewhere.assert_finished();
    let without = systems(&elsewhere);
    let roles: Vec<(&str, usize)> = without.iter().map(|s| (role_of(s), s.len())).collect();
    assert_eq!(
        roles,
        vec![
            ("research", 1),
            ("research", 1),
            ("code", 1),
            ("code", 1),
            ("verify", 1),
            ("verify", 1)
        ]
    );
    for request in touching
        .requests()
        .iter()
        .chain(&elsewhere.requests())
        .skip(6)
    {
        assert!(!request.body.contains(STEERING_MARKER) && !request.body.contains(PATH_RULE));
    }
    // The stable block is the same for both tasks: the cached prefix holds.
    assert_eq!(with[2][0], without[2][0]);
}

#[test]
fn scenario_9_local_feedback_makes_a_commit_and_a_rule_the_next_task_gets() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let first = ModelServer::start(script(
        "src/api/users.js",
        "'use strict';\nmodule.exports = { list: () => { throw new Error('no'); } };\n",
        &[],
    ));
    run_task(
        &first,
        Wire::Anthropic,
        &repo,
        "Make listing users fail loudly",
        &[],
    )
    .assert_code(0);
    let branch = git(
        &repo,
        &[
            "branch",
            "--list",
            "deckhand/dh-*",
            "--format=%(refname:short)",
        ],
    );
    let id = branch.trim_start_matches("deckhand/").to_string();
    let commits_before = git(&repo, &["rev-list", "--count", &branch]);

    // Feedback: code fixes, verify checks again, learn records a rule.
    let rule = "Return API errors as { error: string, code: string } objects.";
    let feedback = "Please use our standard error response format { error: string, code: string } instead of throwing.";
    let fix = "'use strict';\nmodule.exports = { list: () => ({ error: 'no users', code: 'E_NO_USERS' }) };\n";
    let second = ModelServer::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "src/api/users.js", "content": fix}),
        ),
        Reply::text("Errors now use the standard format."),
        Reply::tool(
            "report_verdict",
            json!({"criteria": [{"criterion": CRITERION, "met": true, "evidence": "npm test: 2 passed"}]}),
        ),
        Reply::text("Met."),
        Reply::tool(
            "record_rule",
            json!({"rule": rule, "scope": "lang:javascript", "evidence": "src/api/users.js:2"}),
        ),
        Reply::text("Recorded one rule."),
    ]);
    let repo_arg = repo.display().to_string();
    let out = deckhand(
        &second,
        Wire::Anthropic,
        &[
            "run",
            "--repo",
            &repo_arg,
            "--resume",
            &id,
            "--feedback",
            feedback,
        ],
        &[],
    );
    out.assert_code(0);
    second.assert_finished();
    let commits_after = git(&repo, &["rev-list", "--count", &branch]);
    assert_eq!(
        commits_after.parse::<u32>().unwrap(),
        commits_before.parse::<u32>().unwrap() + 1,
        "{}",
        out.stderr
    );
    assert!(git(&repo, &["show", &format!("{branch}:src/api/users.js")]).contains("E_NO_USERS"));
    // Learn saw the feedback, the fix and no existing rules, with record_rule only.
    let learn = second.requests().last().cloned().unwrap();
    let opening = learn
        .field("/messages/0/content/0/text")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert!(
        opening.contains(feedback) && opening.contains("+module.exports = { list: () => ({ error"),
        "{opening}"
    );
    assert!(
        opening.contains("# Existing team rules in scope\n(none)"),
        "{opening}"
    );
    let tools: Vec<&str> = learn
        .field("/tools")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["list_dir", "read_file", "search", "record_rule"]);

    // The rule is on the memory branch: active, sourced from the task.
    let listed: Value = serde_json::from_str(&memory(&repo, &["list", "--json"])).unwrap();
    let rules = listed["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{listed}");
    let stored = &rules[0];
    let rule_id = stored["id"].as_str().unwrap().to_string();
    assert_eq!(stored["text"], rule);
    assert_eq!(stored["scope"], "lang:javascript");
    assert_eq!(stored["status"], "active");
    assert_eq!(stored["source"], format!("local:{id}"));
    assert!(
        stored["evidence"]
            .as_str()
            .unwrap()
            .starts_with("src/api/users.js:2@"),
        "{stored}"
    );
    assert!(
        out.stderr
            .contains(&format!("`{rule_id}` (lang:javascript, learned)")),
        "{}",
        out.stderr
    );

    // The next task gets the rule in research and lists it in its PR.
    let third = ModelServer::start(script(
        "src/app.js",
        &support::repos::NODE_APP.replace("not found", "no such route"),
        &[rule],
    ));
    run_task(
        &third,
        Wire::Anthropic,
        &repo,
        "Answer API errors for unknown routes",
        &[],
    )
    .assert_code(0);
    third.assert_finished();
    let research = systems(&third)[0].clone();
    assert_eq!(research.len(), 2, "{research:?}");
    assert!(
        research[1].contains(&format!("- [{rule_id}] (lang:javascript) {rule}")),
        "{}",
        research[1]
    );
    let branches = git(
        &repo,
        &[
            "branch",
            "--list",
            "deckhand/dh-*",
            "--format=%(refname:short)",
        ],
    );
    let next = branches.lines().find(|b| *b != branch).unwrap().to_string();
    let pr = std::fs::read_to_string(
        repo.join(".git/deckhand")
            .join(next.trim_start_matches("deckhand/"))
            .join("pr.md"),
    )
    .unwrap();
    assert!(pr.contains("### Team rules applied"), "{pr}");
    assert!(
        pr.contains(&format!(
            "- `{rule_id}` (lang:javascript) {rule} — source `local:{id}`"
        )),
        "{pr}"
    );
    let shown = memory(&repo, &["show", &rule_id]);
    assert!(shown.contains("# 1 use(s)"), "{shown}");
}
