//! Team rules in GitHub Actions, through `deckhand action`: review feedback
//! on a Deckhand PR teaches rules kept on the config repository's memory
//! branch (weighted by the reviewer's role), tasks in other repositories
//! sharing that config repository get them, and `/deckhand approve` makes a
//! proposed rule active.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::PathBuf;

use serde_json::{json, Value};

use common::action_world::*;
use common::{deckhand, Wire};
use support::github_server::git_http;
use support::model_server::Reply;
use support::repos::node_service;

const ORG: &str = "acme";
const CONFIG: &str = "acme/config";
const MEMORY: &str = "deckhand/memory";
const RULE: &str = "Export rate limits as named constants, never as bare numbers.";
const FEEDBACK: &str = "Export the limit under a name; we never export bare numbers.";
const FIX: &str = "Exported a named limit as asked.";

/// The world with `acme/one`, `acme/two` (an issue each, labelled by
/// Codertocat, their maintainer) and `acme/config`, whose memory branch
/// both share.
fn acme(script: Vec<Reply>) -> World {
    let w = world(script);
    for name in ["one", "two", "config"] {
        let src = node_service(&w.dir.path().join(format!("src-{name}")));
        w.gh.add_repo(ORG, name, &src);
        w.gh.set_permission(ORG, name, "Codertocat", "maintain");
    }
    for name in ["one", "two"] {
        let n = w.gh.add_issue(
            ORG,
            name,
            TITLE,
            "Tests for normal flow, exceeded limit, reset after window.",
            "Codertocat",
            &[],
        );
        assert_eq!(n, 1);
    }
    w
}

/// `deckhand action` in the workflow of `acme/<name>`, with the shared config repo.
fn action_in(
    w: &World,
    name: &str,
    event_name: &str,
    ev: &std::path::Path,
    run_id: u64,
) -> ActionRun {
    let repo = format!("{ORG}/{name}");
    action(
        w,
        event_name,
        ev,
        run_id,
        &[
            ("GITHUB_REPOSITORY", repo.as_str()),
            ("INPUT_CONFIG_REPO", CONFIG),
        ],
    )
}

/// The issue's task in `acme/<name>` opened PR 2.
fn opened_pr(w: &World, name: &str, run_id: u64) {
    action_in(w, name, "issues", &labeled(w), run_id).assert_status("done");
    let pulls = w.gh.pulls(ORG, name);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].number, 2);
}

/// A review comment by `user` on PR 2 of `acme/<name>`, and its event
/// (sent by `user`, with the comment's own page).
fn review_comment(w: &World, name: &str, user: &str, body: &str) -> (u64, String, PathBuf) {
    let id =
        w.gh.add_review_comment(ORG, name, 2, user, "src/limit.js", 1, body);
    let url = format!("{}/{ORG}/{name}/pull/2#discussion_r{id}", w.gh.server_url());
    let ev = event(
        w,
        "pull_request_review_comment/00-created.json",
        &[
            ("\"ref\": \"changes\"", &format!("\"ref\": \"{BRANCH}\"")),
            ("\"id\": 284312630", &format!("\"id\": {id}")),
            (
                "\"https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630\"",
                &format!("\"{url}\""),
            ),
            (
                "\"Maybe you should use more emoji on this line.\"",
                &serde_json::to_string(body).unwrap(),
            ),
            (
                "\"sender\": {\n    \"login\": \"Codertocat\"",
                &format!("\"sender\": {{\n    \"login\": \"{user}\""),
            ),
            // The sender is the payload's last object.
            (
                "\"type\": \"User\",\n    \"site_admin\": false\n  }\n}",
                &format!(
                    "\"type\": \"{}\",\n    \"site_admin\": false\n  }}\n}}",
                    if user.ends_with("[bot]") {
                        "Bot"
                    } else {
                        "User"
                    }
                ),
            ),
        ],
    );
    (id, url, ev)
}

/// A comment by `user` on issue or PR `number` of `acme/<name>`, and its event.
fn comment_on(w: &World, name: &str, number: u64, user: &str, body: &str) -> PathBuf {
    let id = w.gh.add_comment(ORG, name, number, user, body);
    let on_pr = if number == 2 {
        "\"number\": 2, \"pull_request\": {\"url\": \"x\"},".to_string()
    } else {
        format!("\"number\": {number},")
    };
    event(
        w,
        "issue_comment/00-created.json",
        &[
            (
                "\"You are totally right! I'll get this fixed right away.\"",
                &serde_json::to_string(body).unwrap(),
            ),
            ("\"id\": 492700400", &format!("\"id\": {id}")),
            ("\"number\": 1,", &on_pr),
            (
                "\"sender\": {\n    \"login\": \"Codertocat\"",
                &format!("\"sender\": {{\n    \"login\": \"{user}\""),
            ),
        ],
    )
}

/// Code fixes the PR as the reviewer asked.
fn fix(old: &str, new: &str) -> Vec<Reply> {
    vec![
        Reply::tool(
            "edit_file",
            json!({"path": "src/limit.js", "old_text": old, "new_text": new}),
        ),
        Reply::text(FIX),
    ]
}

/// Verify judges the change against the recalled team rule (every recalled
/// rule is a criterion, by name) and finds it met.
fn rule_met() -> Vec<Reply> {
    use deckhand::memory::rules::{rule_id, Scope};
    let id = rule_id(RULE, &Scope::Org, 8);
    vec![
        Reply::tool(
            "report_verdict",
            json!({"criteria": [{"criterion": format!("rule {id}: {RULE}"), "met": true, "evidence": "src/limit.js:1"}]}),
        ),
        Reply::text("The change follows the team rule."),
    ]
}

/// Learn records `rule` (with `extra` arguments) and ends.
fn learn(extra: Value) -> Vec<Reply> {
    // Evidence in a file every repository of the org has: the rule is not stale there.
    let mut args = json!({"rule": RULE, "scope": "org", "evidence": "src/app.js:1"});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    vec![
        Reply::tool("record_rule", args),
        Reply::text("Recorded one rule."),
    ]
}

/// The rule files on the config repository's memory branch: path → content.
fn rule_files(w: &World) -> Vec<(String, String)> {
    rule_files_of(w, "config")
}

/// The rule files on the memory branch of `acme/<name>`.
fn rule_files_of(w: &World, name: &str) -> Vec<(String, String)> {
    let bare = w.gh.repo_path(ORG, name);
    let Ok(listed) = git_http::git(
        &bare,
        &["ls-tree", "--name-only", &format!("{MEMORY}:rules")],
    ) else {
        return Vec::new();
    };
    listed
        .lines()
        .map(|name| {
            let path = format!("rules/{name}");
            let text = git_http::git(&bare, &["show", &format!("{MEMORY}:{path}")]).unwrap();
            (path, text)
        })
        .collect()
}

/// The one rule on the branch: its id and its file with `created` blanked.
fn the_rule(w: &World) -> (String, String) {
    let files = rule_files(w);
    assert_eq!(files.len(), 1, "{files:?}");
    let (path, text) = files[0].clone();
    let id = path
        .trim_start_matches("rules/")
        .trim_end_matches(".md")
        .to_string();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("created: ") {
                "created: <when>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (id, text)
}

/// The fix's commit on the PR's branch in `acme/<name>`, as evidence pins it.
fn branch_tip(w: &World, name: &str) -> String {
    w.gh.branch_head(ORG, name, BRANCH).unwrap()[..12].to_string()
}

fn rule_file(id: &str, status: &str, url: &str, author: &str, commit: &str) -> String {
    format!(
        "---\nid: {id}\nscope: org\nstatus: {status}\nsource: {url}\nauthor: {author}\ncreated: <when>\nevidence: src/app.js:1@{commit}\n---\n{RULE}"
    )
}

/// The first message a learn request opened with.
fn learn_opening(w: &World) -> String {
    let requests = w.model.requests();
    let learn = requests
        .iter()
        .rev()
        .find(|r| {
            r.field("/tools")
                .and_then(Value::as_array)
                .is_some_and(|tools| tools.iter().any(|t| t["name"] == "record_rule"))
        })
        .expect("a learn request");
    learn
        .field("/messages/0/content/0/text")
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

#[test]
fn issue_11_test_1_a_review_in_one_repo_teaches_a_rule_a_task_in_another_repo_gets() {
    let mut script = simple_script("src/limit.js");
    script.extend(fix("module.exports = 1;", "module.exports = { limit: 1 };"));
    script.extend(learn(json!({})));
    script.extend(simple_script("src/limit.js"));
    script.extend(rule_met());
    let w = acme(script);
    opened_pr(&w, "one", 4101);
    assert_eq!(rule_files(&w), vec![], "no rule before any feedback");

    let (thread, url, ev) = review_comment(&w, "one", "Codertocat", FEEDBACK);
    let fixed = action_in(&w, "one", "pull_request_review_comment", &ev, 4102);
    fixed.assert_status("done");
    let learned = format!("- `{id}` (org, learned): {RULE}\n", id = the_rule(&w).0);
    assert!(fixed.summary.contains(&learned), "{}", fixed.summary);
    // The fix is a commit on the PR's branch.
    let commits = w.gh.commits(ORG, "one", BRANCH);
    assert_eq!(commits.len(), 3, "{commits:?}");
    assert!(
        commits[0]
            .1
            .starts_with("Address review feedback on pull request #2"),
        "{commits:?}"
    );
    // Learn saw the feedback and the fix's diff (from the PR's tip, not
    // the whole PR), and no rules yet.
    let opening = learn_opening(&w);
    assert!(
        opening.contains(FEEDBACK)
            && opening.contains("-module.exports = 1;\n+module.exports = { limit: 1 };")
            && !opening.contains("new file mode")
            && opening.contains("# Existing team rules in scope\n(none)"),
        "{opening}"
    );
    // The rule is on the config repository's memory branch: scope, source, author.
    let (id, file) = the_rule(&w);
    assert_eq!(
        file,
        rule_file(
            &id,
            "active",
            &url,
            "Codertocat (maintain)",
            &branch_tip(&w, "one")
        )
    );
    assert_eq!(
        w.gh.branch_head(ORG, "one", MEMORY),
        None,
        "not on acme/one"
    );
    // The reply on the thread names it.
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(
        (replies[0].repo.as_str(), replies[0].in_reply_to),
        ("one", thread)
    );
    assert!(
        replies[0].body.contains(&format!(
            "**Team rules from this feedback** (on `{MEMORY}` of {CONFIG})\n- `{id}` (org, learned): {RULE}\n"
        )),
        "{}",
        replies[0].body
    );

    // A later task in acme/two gets it in research and lists it in its PR.
    let before = w.model.requests().len();
    opened_pr(&w, "two", 4103);
    let research = &w.model.requests()[before];
    let system = research
        .field("/system/1/text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        system.contains(&format!("- [{id}] (org) {RULE}")),
        "research's second system block: {system}"
    );
    let body = w.gh.pulls(ORG, "two")[0].body.clone().unwrap();
    assert!(
        body.contains(&format!(
            "### Team rules applied\n\n- `{id}` (org) {RULE} — [source]({url}), by @Codertocat\n"
        )),
        "{body}"
    );
    // Its use is recorded on the branch, one file for the task.
    let usage = git_http::git(
        &w.gh.repo_path(ORG, "config"),
        &["ls-tree", "-r", "--name-only", MEMORY, "usage"],
    )
    .unwrap();
    assert_eq!(usage.lines().count(), 1, "{usage}");
    w.gh.check_requests_against_openapi().unwrap();
    w.model.assert_finished();
}

#[test]
fn issue_11_test_2_the_same_feedback_twice_is_one_rule() {
    let mut script = simple_script("src/limit.js");
    script.extend(fix("module.exports = 1;", "module.exports = { limit: 1 };"));
    script.extend(learn(json!({})));
    let w = acme(script);
    opened_pr(&w, "one", 4201);
    let (_, url, ev) = review_comment(&w, "one", "Codertocat", FEEDBACK);
    action_in(&w, "one", "pull_request_review_comment", &ev, 4202).assert_status("done");
    let (id, file) = the_rule(&w);
    assert_eq!(
        file,
        rule_file(
            &id,
            "active",
            &url,
            "Codertocat (maintain)",
            &branch_tip(&w, "one")
        )
    );

    // The second learn sees the rule (its id and text) and restates it,
    // naming the one it restates.
    for reply in fix(
        "module.exports = { limit: 1 };",
        "const LIMIT = 1;\nmodule.exports = { LIMIT };",
    )
    .into_iter()
    .chain(rule_met())
    .chain(learn(json!({ "replaces": id })))
    {
        w.model.push(reply);
    }
    let (_, _, again) = review_comment(&w, "one", "Codertocat", FEEDBACK);
    action_in(&w, "one", "pull_request_review_comment", &again, 4203).assert_status("done");
    let opening = learn_opening(&w);
    assert!(
        opening.contains(&format!(
            "# Existing team rules in scope\n- {id} (org): {RULE}\n"
        )),
        "{opening}"
    );
    // Still one rule: the first, as it was.
    assert_eq!(the_rule(&w), (id.clone(), file));
    // Learn was told so, and the reply names no new rule.
    let told = w.model.requests().last().unwrap().body.clone();
    assert!(
        told.contains(&format!("{id} already holds this rule; nothing recorded")),
        "{told}"
    );
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[1].body.contains(FIX) && !replies[1].body.contains("Team rules"),
        "{}",
        replies[1].body
    );
    w.model.assert_finished();
}

/// How many learn conversations the model saw (their first requests).
fn learn_runs(w: &World) -> usize {
    w.model
        .requests()
        .iter()
        .filter(|r| {
            r.field("/messages").and_then(Value::as_array).map(Vec::len) == Some(1)
                && r.field("/tools")
                    .and_then(Value::as_array)
                    .is_some_and(|tools| tools.iter().any(|t| t["name"] == "record_rule"))
        })
        .count()
}

/// The bodies of the comments on issue or PR `number` of acme/one, after the first `skip`.
fn comments_after(w: &World, number: u64, skip: usize) -> Vec<String> {
    w.gh.comments(ORG, "one", number)
        .into_iter()
        .skip(skip)
        .map(|c| c.body)
        .collect()
}

#[test]
fn issue_11_test_4_readers_teach_nothing_writers_propose_and_a_maintainer_approves() {
    let mut script = simple_script("src/limit.js");
    script.extend(fix("module.exports = 1;", "module.exports = { limit: 1 };"));
    script.extend(fix(
        "module.exports = { limit: 1 };",
        "module.exports = { limit: 2 };",
    ));
    script.extend(learn(json!({})));
    let w = acme(script);
    w.gh.set_permission(ORG, "one", "rae", "read");
    w.gh.set_permission(ORG, "one", "wes", "write");
    opened_pr(&w, "one", 4401);
    let calls = w.model.requests().len();

    // A reader's feedback starts nothing and teaches nothing; they are told why.
    let (_, _, ev) = review_comment(&w, "one", "rae", FEEDBACK);
    action_in(&w, "one", "pull_request_review_comment", &ev, 4402).assert_status("skipped");
    assert_eq!(w.model.requests().len(), calls, "no model call");
    let told = comments_after(&w, 2, 0);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("@rae does not have write access to acme/one"),
        "{}",
        told[0]
    );
    assert_eq!(rule_files(&w), vec![]);

    // An allowed bot's feedback is fixed, but a bot without write
    // permission teaches nothing: learn does not run, the reply says why.
    let (_, _, ev) = review_comment(&w, "one", "review-bot[bot]", FEEDBACK);
    let bot = action(
        &w,
        "pull_request_review_comment",
        &ev,
        4403,
        &[
            ("GITHUB_REPOSITORY", "acme/one"),
            ("INPUT_CONFIG_REPO", CONFIG),
            ("INPUT_ALLOWED_BOTS", "review-bot"),
        ],
    );
    bot.assert_status("done");
    assert_eq!(learn_runs(&w), 0);
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].body.contains(
            "📚 No team rule learned: @review-bot[bot] has `none` permission on acme/one; team rules are learned only from collaborators with write permission or more.\n"
        ),
        "{}",
        replies[0].body
    );
    assert_eq!(rule_files(&w), vec![]);

    // A writer's feedback proposes a rule; the reply says how to approve it.
    let (_, url, ev) = review_comment(&w, "one", "wes", FEEDBACK);
    action_in(&w, "one", "pull_request_review_comment", &ev, 4404).assert_status("done");
    assert_eq!(learn_runs(&w), 1);
    let (id, file) = the_rule(&w);
    let tip = branch_tip(&w, "one");
    assert_eq!(file, rule_file(&id, "proposed", &url, "wes (write)", &tip));
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[1].body.contains(&format!(
            "- `{id}` (org, proposed): {RULE}\n\nA proposed rule applies once a maintainer or admin approves it: comment `/deckhand approve {id}`.\n"
        )),
        "{}",
        replies[1].body
    );

    // A writer may not approve it.
    let seen = w.gh.comments(ORG, "one", 2).len();
    let ev = comment_on(&w, "one", 2, "wes", &format!("/deckhand approve {id}"));
    action_in(&w, "one", "issue_comment", &ev, 4405).assert_status("skipped");
    assert_eq!(
        comments_after(&w, 2, seen + 1),
        vec![format!(
            "<!-- deckhand:reply -->\n🚫 @wes has `write` permission on acme/one; only maintainers and admins approve team rules, so `{id}` stays as it is."
        )]
    );
    assert_eq!(the_rule(&w).1, file);

    // An unknown id is named.
    let seen = w.gh.comments(ORG, "one", 1).len();
    let ev = comment_on(&w, "one", 1, "Codertocat", "/deckhand approve r-00000000");
    action_in(&w, "one", "issue_comment", &ev, 4406).assert_status("skipped");
    assert_eq!(
        comments_after(&w, 1, seen + 1),
        vec![format!(
            "<!-- deckhand:reply -->\n🚫 There is no team rule `r-00000000` on `{MEMORY}` of {CONFIG}; nothing was approved."
        )]
    );

    // A maintainer approves it: active, in one commit that names them.
    let memory_commits = w.gh.commits(ORG, "config", MEMORY).len();
    let seen = w.gh.comments(ORG, "one", 1).len();
    let ev = comment_on(
        &w,
        "one",
        1,
        "Codertocat",
        &format!("/deckhand approve {id}"),
    );
    action_in(&w, "one", "issue_comment", &ev, 4407).assert_status("done");
    assert_eq!(
        comments_after(&w, 1, seen + 1),
        vec![format!(
            "<!-- deckhand:reply -->\n✅ Team rule `{id}` (org) is active now, approved by @Codertocat: {RULE}"
        )]
    );
    assert_eq!(
        the_rule(&w).1,
        rule_file(&id, "active", &url, "wes (write)", &tip)
    );
    let commits = w.gh.commits(ORG, "config", MEMORY);
    assert_eq!(commits.len(), memory_commits + 1, "{commits:?}");
    assert_eq!(commits[0].1, format!("memory: approve {id} by Codertocat"));

    // Approving it again, or something that is no rule id, changes nothing.
    for (said, reply, run_id) in [
        (
            id.clone(),
            format!("Team rule `{id}` (org) was already active: {RULE}"),
            4408,
        ),
        (
            "rule-7".to_string(),
            "🚫 `rule-7` is not a team rule id (ids look like `r-0a1b2c3d`); nothing was approved."
                .to_string(),
            4409,
        ),
    ] {
        let seen = w.gh.comments(ORG, "one", 1).len();
        let ev = comment_on(
            &w,
            "one",
            1,
            "Codertocat",
            &format!("/deckhand approve {said}"),
        );
        action_in(&w, "one", "issue_comment", &ev, run_id).assert_status("skipped");
        assert_eq!(
            comments_after(&w, 1, seen + 1),
            vec![format!("<!-- deckhand:reply -->\n{reply}")]
        );
    }
    assert_eq!(w.gh.commits(ORG, "config", MEMORY), commits);
    w.gh.check_requests_against_openapi().unwrap();
    w.model.assert_finished();
}

#[test]
fn a_matrix_job_reads_the_rules_of_the_workflows_repository_not_of_its_target() {
    let mut script = simple_script("src/limit.js");
    script.extend(rule_met());
    let w = acme(script);
    // A rule taught in acme/one (the workflow's repository), added the way
    // `deckhand memory add` does it.
    let bare = w.gh.repo_path(ORG, "one").display().to_string();
    let added = deckhand(
        &w.model,
        Wire::Anthropic,
        &[
            "memory",
            "add",
            RULE,
            "--scope",
            "org",
            "--memory-repo",
            &bare,
        ],
        &[],
    );
    added.assert_code(0);
    let files = rule_files_of(&w, "one");
    assert_eq!(files.len(), 1, "{files:?}");
    let id = files[0]
        .0
        .trim_start_matches("rules/")
        .trim_end_matches(".md")
        .to_string();

    // The workflow of acme/one runs a task on acme/two (a matrix job),
    // without `config_repo`.
    w.gh.set_permission(ORG, "two", "octocat", "write");
    let ev = event(&w, "workflow_dispatch/00-event.json", &[]);
    let run = action(
        &w,
        "workflow_dispatch",
        &ev,
        4501,
        &[
            ("GITHUB_REPOSITORY", "acme/one"),
            ("INPUT_REPOSITORY", "acme/two"),
            ("INPUT_TASK", TITLE),
        ],
    );
    run.assert_status("done");
    let research = &w.model.requests()[0];
    let system = research
        .field("/system/1/text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        system.contains(&format!("- [{id}] (org) {RULE}")),
        "research's second system block: {system}"
    );
    let pulls = w.gh.pulls(ORG, "two");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    // Its use is recorded where the rule is; the target gets no memory branch.
    assert_eq!(w.gh.branch_head(ORG, "two", MEMORY), None);
    let usage = git_http::git(
        &w.gh.repo_path(ORG, "one"),
        &["ls-tree", "-r", "--name-only", MEMORY, "usage"],
    )
    .unwrap();
    assert_eq!(usage.lines().count(), 1, "{usage}");
    w.model.assert_finished();
}

#[test]
fn a_config_repo_that_is_not_owner_name_stops_the_job_naming_the_input() {
    let w = acme(vec![]);
    let run = action(
        &w,
        "issues",
        &labeled(&w),
        4601,
        &[
            ("GITHUB_REPOSITORY", "acme/one"),
            ("INPUT_CONFIG_REPO", "acme-config"),
        ],
    );
    run.assert_status("error");
    assert!(
        run.result.stdout.contains(
            "::error title=Deckhand::input `config_repo`: `acme-config` is not owner/name"
        ),
        "{}",
        run.result.stdout
    );
    assert!(w.model.requests().is_empty(), "no model call");
    assert_eq!(w.gh.pulls(ORG, "one"), vec![]);
}
