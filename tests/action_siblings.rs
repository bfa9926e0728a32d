//! Feedback shared by a campaign's siblings, through `deckhand action`: a
//! review on one campaign PR is fixed there and learned as a rule, the rule
//! is dispatched to every open sibling PR, and each sibling's job applies
//! it, replies naming it, and the dashboard shows which siblings it updated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::PathBuf;

use serde_json::{json, Value};

use common::action_world::*;
use common::{deckhand_cmd, output};
use support::github_server::{git_http, Fault};
use support::model_server::Reply;
use support::repos::node_service;

const ORG: &str = "acme";
const CONFIG: &str = "acme/config";
const MEMORY: &str = "deckhand/memory";
const SERVICES: [&str; 3] = ["one", "two", "three"];
const TASK: &str = "Add a limit module";
const RULE: &str = "Export rate limits as named objects, never as bare numbers.";
const FEEDBACK: &str = "Export the limit inside an object; we never export bare numbers.";
const DEFAULT: &str = "module.exports = 1;";
const FIXED: &str = "module.exports = { limit: 1 };";

/// Code edits the limit module the way the rule asks.
fn follows_the_rule(summary: &str) -> Vec<Reply> {
    vec![
        Reply::tool(
            "edit_file",
            json!({"path": "src/limit.js", "old_text": DEFAULT, "new_text": FIXED}),
        ),
        Reply::text(summary),
    ]
}

/// The id the rule gets (scope org).
fn rule_id() -> String {
    use deckhand::memory::rules::{rule_id, Scope};
    rule_id(RULE, &Scope::Org, 8)
}

/// Verify finds the recalled rule met.
fn rule_met() -> Vec<Reply> {
    vec![
        Reply::tool(
            "report_verdict",
            json!({"criteria": [{"criterion": format!("rule {}: {RULE}", rule_id()), "met": true, "evidence": "src/limit.js:1"}]}),
        ),
        Reply::text("The change follows the team rule."),
    ]
}

/// `deckhand ARGS…` against the world's GitHub server.
fn cli(w: &World, args: &[&str]) -> common::RunResult {
    let (api, server) = (w.gh.api_url(), w.gh.server_url());
    let mut cmd = deckhand_cmd(&[
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_SERVER_URL", server.as_str()),
    ]);
    cmd.args(args);
    output(cmd)
}

/// A `deckhand action` run in the workflow of `repo`.
fn action_in(
    w: &World,
    repo: &str,
    event_name: &str,
    ev: &std::path::Path,
    run_id: u64,
    extra: &[(&str, &str)],
) -> ActionRun {
    let mut env = vec![("GITHUB_REPOSITORY", repo), ("INPUT_CONFIG_REPO", CONFIG)];
    env.extend_from_slice(extra);
    action(w, event_name, ev, run_id, &env)
}

/// A fixture event with `edit` applied to its JSON.
fn json_event(w: &World, rel: &str, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_str(&fixture(rel)).unwrap();
    edit(&mut v);
    let path = w.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path
}

/// The rule files on the config repository's memory branch.
fn rule_files(w: &World) -> Vec<String> {
    let bare = w.gh.repo_path(ORG, "config");
    git_http::git(
        &bare,
        &["ls-tree", "--name-only", &format!("{MEMORY}:rules")],
    )
    .map(|l| l.lines().map(str::to_string).collect())
    .unwrap_or_default()
}

/// Issue 13, test 4: feedback on PR #1 of a campaign reaches every open
/// sibling: one rule stored, a dispatch per sibling recorded, each sibling's
/// job fixes its PR and replies naming the rule and where it came from.
#[test]
fn feedback_on_one_campaign_pr_reaches_every_open_sibling() {
    let mut script = Vec::new();
    for _ in SERVICES {
        script.extend(simple_script("src/limit.js"));
    }
    // The review on acme/one: the fix, then learn records the rule.
    script.extend(follows_the_rule("Exported the limit inside an object."));
    script.extend([
        Reply::tool(
            "record_rule",
            json!({"rule": RULE, "scope": "org", "evidence": "src/app.js:1"}),
        ),
        Reply::text("Recorded one rule."),
    ]);
    // Each sibling applies it; verify judges the rule.
    for _ in 1..SERVICES.len() {
        script.extend(follows_the_rule("Applied the team rule."));
        script.extend(rule_met());
    }
    let w = world(script);
    for name in SERVICES.iter().chain(&["config"]) {
        let src = node_service(&w.dir.path().join(format!("src-{name}")));
        w.gh.add_repo(ORG, name, &src);
        w.gh.set_permission(ORG, name, "Codertocat", "maintain");
        w.gh.set_permission(ORG, name, "octocat", "write");
    }

    // The plan (in the config repository) and its tracking issue.
    let list = w.dir.path().join("repos.txt");
    std::fs::write(&list, SERVICES.map(|s| format!("{ORG}/{s}\n")).concat()).unwrap();
    let plan = cli(
        &w,
        &[
            "--json",
            "plan",
            "--task",
            TASK,
            "--repos",
            list.to_str().unwrap(),
            "--match",
            r#"package.json:"user-service""#,
            "--memory-repo",
            CONFIG,
        ],
    );
    plan.assert_code(0);
    let campaign = serde_json::from_str::<Value>(&plan.stdout).unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    cli(
        &w,
        &["campaign", "dashboard", &campaign, "--memory-repo", CONFIG],
    )
    .assert_code(0);

    // The matrix: one job per repository, each opening its PR (#1) and
    // recording it.
    let mut branches = Vec::new();
    for (i, name) in SERVICES.iter().enumerate() {
        let repo = format!("{ORG}/{name}");
        let ev = event(&w, "workflow_dispatch/00-event.json", &[]);
        let run = action_in(
            &w,
            CONFIG,
            "workflow_dispatch",
            &ev,
            5100 + i as u64,
            &[
                ("INPUT_TASK", TASK),
                ("INPUT_REPOSITORY", &repo),
                ("INPUT_CAMPAIGN", &campaign),
            ],
        );
        run.assert_status("done");
        let pr_url = run.outputs["pr_url"].clone();
        assert!(pr_url.ends_with(&format!("/{repo}/pull/1")), "{pr_url}");
        branches.push(run.outputs["branch"].clone());
        cli(
            &w,
            &[
                "campaign",
                "record",
                &campaign,
                "--repository",
                &repo,
                "--action-status",
                "done",
                "--pr-url",
                &pr_url,
                "--branch",
                &run.outputs["branch"],
                "--memory-repo",
                CONFIG,
            ],
        )
        .assert_code(0);
    }
    assert_eq!(rule_files(&w), Vec::<String>::new());

    // A maintainer's review comment on acme/one's PR, in acme/one's workflow.
    let thread =
        w.gh.add_review_comment(ORG, "one", 1, "Codertocat", "src/limit.js", 1, FEEDBACK);
    let url = format!(
        "{}/{ORG}/one/pull/1#discussion_r{thread}",
        w.gh.server_url()
    );
    let (branch, source) = (branches[0].clone(), url.clone());
    let ev = json_event(
        &w,
        "pull_request_review_comment/00-created.json",
        "review",
        |v| {
            v["comment"]["id"] = json!(thread);
            v["comment"]["body"] = json!(FEEDBACK);
            v["comment"]["html_url"] = json!(source);
            v["comment"]["path"] = json!("src/limit.js");
            v["pull_request"]["number"] = json!(1);
            v["pull_request"]["head"]["ref"] = json!(branch);
            v["sender"]["login"] = json!("Codertocat");
        },
    );
    let fixed = action_in(
        &w,
        "acme/one",
        "pull_request_review_comment",
        &ev,
        5200,
        &[],
    );
    fixed.assert_status("done");

    // One rule, on the config repository's memory branch.
    let id = rule_id();
    assert_eq!(rule_files(&w), vec![format!("{id}.md")]);
    // A dispatch per open sibling, in the config repository.
    let dispatches = w.gh.dispatches();
    let mut sent: Vec<(String, String, Option<String>, Value)> = dispatches
        .iter()
        .map(|d| {
            (
                d.owner.clone(),
                d.repo.clone(),
                d.workflow.clone(),
                d.body.clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, Option<String>, Value)> = ["three", "two"]
        .iter()
        .map(|s| {
            (
                ORG.to_string(),
                "config".to_string(),
                Some("deckhand-dispatch.yml".to_string()),
                json!({"ref": "main", "inputs": {
                    "repository": format!("{ORG}/{s}"),
                    "pull_request": "1",
                    "deckhand_rule": id,
                }}),
            )
        })
        .collect();
    sent.sort_by_key(|d| d.3["inputs"]["repository"].as_str().unwrap().to_string());
    assert_eq!(sent, expected);
    // The reply on the thread names the rule and where it went.
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].body.contains(&format!(
            "**Sent to the campaign's open sibling pull requests**\n- `{id}` → acme/three#1\n- `{id}` → acme/two#1\n"
        )),
        "{}",
        replies[0].body
    );

    // Each dispatch runs in the config repository's workflow, sent by
    // Deckhand's own account.
    for (i, d) in dispatches.iter().enumerate() {
        let inputs = d.body["inputs"].clone();
        let ev = json_event(
            &w,
            "workflow_dispatch/00-event.json",
            &format!("sibling-{i}"),
            |v| {
                v["inputs"] = inputs;
                v["sender"]["login"] = json!("github-actions[bot]");
                v["sender"]["type"] = json!("Bot");
            },
        );
        let run = action_in(&w, CONFIG, "workflow_dispatch", &ev, 5300 + i as u64, &[]);
        run.assert_status("done");
    }
    for (name, branch) in SERVICES.iter().zip(&branches).skip(1) {
        // A new commit on the sibling's PR branch, with the rule followed.
        let commits = w.gh.commits(ORG, name, branch);
        assert!(
            commits[0]
                .1
                .starts_with("Apply a team rule to pull request #1"),
            "{name}: {commits:?}"
        );
        let bare = w.gh.repo_path(ORG, name);
        let file = git_http::git(&bare, &["show", &format!("{branch}:src/limit.js")]).unwrap();
        assert_eq!(file.trim_end(), FIXED, "{name}");
        // The reply names the rule and its source.
        let comments = w.gh.comments(ORG, name, 1);
        let reply = comments.last().unwrap();
        assert!(
            reply
                .body
                .contains(&format!("Deckhand applied rule `{id}` from {url}: pushed")),
            "{name}: {}",
            reply.body
        );
    }
    // Every content-creating request of the campaign's jobs went through the
    // shared ledger: three pull requests, two dispatches, two replies.
    let bare = w.gh.repo_path(ORG, "config");
    let ledger: Value = serde_json::from_str(
        &git_http::git(&bare, &["show", &format!("{MEMORY}:campaigns/pacing.json")]).unwrap(),
    )
    .unwrap();
    let mut kinds: Vec<(String, String)> = ledger["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["campaign"], json!(campaign));
            (
                e["kind"].as_str().unwrap().to_string(),
                e["repository"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    let pair = |k: &str, r: &str| (k.to_string(), r.to_string());
    assert_eq!(
        kinds,
        vec![
            pair("comment", "acme/three"),
            pair("comment", "acme/two"),
            pair("dispatch", CONFIG),
            pair("dispatch", CONFIG),
            pair("pull_request", "acme/one"),
            pair("pull_request", "acme/three"),
            pair("pull_request", "acme/two"),
        ]
    );
    // Still one rule; the dashboard shows which siblings were updated.
    assert_eq!(rule_files(&w), vec![format!("{id}.md")]);
    cli(
        &w,
        &["campaign", "dashboard", &campaign, "--memory-repo", CONFIG],
    )
    .assert_code(0);
    let issue =
        w.gh.issues()
            .into_iter()
            .find(|i| i.title.starts_with(&format!("Campaign {campaign}")))
            .expect("tracking issue");
    let body = issue.body.unwrap_or_default();
    let section = body
        .split("### Updated from sibling feedback\n\nTeam rules learned on one pull request and applied to the others:\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no sibling section: {body}"));
    let mut lines: Vec<&str> = section.lines().take_while(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            format!("- acme/three: `{id}`"),
            format!("- acme/two: `{id}`")
        ],
        "{body}"
    );
    assert!(
        body.contains(&format!("\nLatest feedback: `{id}` from acme/one#1 (")),
        "{body}"
    );

    // Ticks on the dashboard: re-apply the latest feedback to acme/two,
    // retry acme/three. The next render acts on each once.
    let tick = |cmd: &str, label: &str, repo: &str| {
        let line =
            |mark: &str| format!("- [{mark}] {label} `{repo}` <!-- deckhand:cmd {cmd} {repo} -->");
        w.gh.edit_issue_body(ORG, "config", issue.number, &line(" "), &line("x"));
    };
    tick("reapply", "re-apply the latest feedback to", "acme/two");
    tick("retry", "retry", "acme/three");
    // The first re-apply dispatch meets a GitHub outage: the render says
    // so, and the next render sends it; a third sends nothing more.
    w.gh.inject(
        "POST",
        "/repos/acme/config/actions/workflows/deckhand-dispatch.yml/dispatches",
        Fault::Status(502),
    );
    let before = w.gh.dispatches().len();
    let render = || {
        let run = cli(
            &w,
            &["campaign", "dashboard", &campaign, "--memory-repo", CONFIG],
        );
        run.assert_code(0);
        run.stderr
    };
    let first = render();
    assert!(
        first.contains("⚠️ re-apply to acme/two#1 not dispatched:"),
        "{first}"
    );
    let body = w.gh.issue_body(ORG, "config", issue.number).unwrap();
    assert!(
        body.contains("- acme/two: the re-apply could not be dispatched ("),
        "{body}"
    );
    render();
    render();
    let new: Vec<(Option<String>, Value)> = w.gh.dispatches()[before..]
        .iter()
        .map(|d| {
            assert_eq!((d.owner.as_str(), d.repo.as_str()), (ORG, "config"));
            (d.workflow.clone(), d.body.clone())
        })
        .collect();
    assert_eq!(
        new,
        vec![
            (
                Some("deckhand-campaign.yml".to_string()),
                json!({"ref": "main", "inputs": {
                    "task": TASK,
                    "match": r#"package.json:"user-service""#,
                    "repos": list.to_str().unwrap(),
                }})
            ),
            (
                Some("deckhand-dispatch.yml".to_string()),
                json!({"ref": "main", "inputs": {
                    "repository": "acme/two",
                    "pull_request": "1",
                    "deckhand_rule": id,
                }})
            ),
        ]
    );
    let status = cli(
        &w,
        &[
            "--json",
            "campaign",
            "status",
            &campaign,
            "--memory-repo",
            CONFIG,
        ],
    );
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let record = |repo: &str| {
        doc["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["repository"] == repo)
            .cloned()
            .unwrap()
    };
    let two = record("acme/two");
    assert_eq!(
        (&two["state"], &two["note"], &two["applied"]),
        (
            &json!("pr_open"),
            &json!(format!(
                "re-applying the latest feedback: `{id}` from acme/one#1"
            )),
            &json!(["reapply"])
        )
    );
    let three = record("acme/three");
    assert_eq!(
        (&three["state"], &three["note"]),
        (&json!("queued"), &json!("retry requested on the dashboard"))
    );
    let body = w.gh.issue_body(ORG, "config", issue.number).unwrap();
    assert!(
        body.contains("### Notes\n\n")
            && body.contains("- acme/three: retry requested on the dashboard\n"),
        "{body}"
    );
    w.model.assert_finished();
}
