//! Action scenarios that run the same on the host and in the image: each
//! takes the way `deckhand action` is started.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::common::action_world::*;
use crate::support::model_server::Reply;
use crate::support::repos::git;

/// A world whose jobs start by `launch`.
fn world_in(launch: Launch, script: Vec<Reply>) -> World {
    world(script).launched(launch)
}

pub fn label_opens_a_pull_request_that_closes_the_issue(launch: Launch) {
    let w = world_in(launch.clone(), simple_script("src/limit.js"));
    let ev = labeled(&w);
    let run = action(&w, "issues", &ev, 101, &[]);
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        run.result.stdout, run.result.stderr
    );
    run.result.assert_code(0);
    assert_eq!(run.outputs["status"], "done", "{:?}", run.outputs);
    assert_eq!(run.outputs["branch"], BRANCH);
    assert!(
        run.outputs["pr_url"].contains("/pull/"),
        "{:?}",
        run.outputs
    );
    assert!(run.outputs["task_id"].starts_with("dh-"));
    assert!(run.outputs["tokens_used"].parse::<u64>().unwrap() > 0);

    let pulls = w.gh.pulls(OWNER, REPO);
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert_eq!(pr.head, BRANCH);
    assert_eq!(pr.base, "main");
    assert_eq!(pr.title, TITLE);
    let body = pr.body.clone().unwrap();
    assert!(body.contains("Closes #1"), "{body}");
    assert!(
        body.contains("### Tests") && body.contains("`npm test`"),
        "{body}"
    );
    let commits = w.gh.commits(OWNER, REPO, BRANCH);
    assert!(
        commits.iter().any(|(_, m)| m.starts_with(TITLE)),
        "{commits:?}"
    );

    // One progress comment, created once and updated in place.
    let progress = progress_comments(&w);
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert!(progress[0].contains("status=done"), "{}", progress[0]);
    assert!(
        progress[0].contains(&run.outputs["pr_url"]),
        "{}",
        progress[0]
    );
    assert!(
        progress[0].contains("1. Create src/limit.js"),
        "{}",
        progress[0]
    );
    let patches = w
        .gh
        .requests()
        .iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PATCH" | "POST") && r.path.contains("/issues/comments/")
        })
        .count();
    assert!(patches >= 1, "the progress comment was never updated");
    assert!(run.summary.contains("### Tests"), "{}", run.summary);
    w.gh.check_requests_against_openapi().unwrap();
    w.model.assert_finished();
}

pub fn running_the_same_job_twice_keeps_one_pr_and_one_progress_comment(launch: Launch) {
    let w = world_in(launch.clone(), simple_script("src/limit.js"));
    let ev = labeled(&w);
    action(&w, "issues", &ev, 201, &[]).result.assert_code(0);
    let model_calls = w.model.requests().len();
    let again = action(&w, "issues", &ev, 201, &[]);
    again.result.assert_code(0);
    assert_eq!(again.outputs["status"], "done");
    assert_eq!(w.gh.pulls(OWNER, REPO).len(), 1);
    assert_eq!(progress_comments(&w).len(), 1);
    assert_eq!(
        w.model.requests().len(),
        model_calls,
        "a finished task was run again"
    );
    w.model.assert_finished();
}

pub fn a_comment_from_a_read_only_user_is_refused_once_without_a_model_call(launch: Launch) {
    let w = world_in(launch.clone(), vec![]);
    w.gh.set_permission(OWNER, REPO, "Codertocat", "read");
    let ev = comment(&w, "/deckhand please add rate limiting");
    for _ in 0..2 {
        let run = action(&w, "issue_comment", &ev, 301, &[]);
        run.result.assert_code(0);
        assert_eq!(run.outputs["status"], "skipped");
    }
    let refusals: Vec<_> =
        w.gh.comments(OWNER, REPO, 1)
            .into_iter()
            .filter(|c| c.body.contains("did not start"))
            .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].body.contains("write access"),
        "{}",
        refusals[0].body
    );
    assert_eq!(w.model.requests().len(), 0);
    assert!(w.gh.pulls(OWNER, REPO).is_empty());
    w.model.assert_finished();
}

pub fn a_review_comment_on_a_deckhand_pr_gets_a_fix_and_a_reply(launch: Launch) {
    let mut script = simple_script("src/limit.js");
    script.push(Reply::tool(
        "edit_file",
        json!({"path": "src/limit.js", "old_text": "module.exports = 1;", "new_text": "module.exports = { limit: 5 };"}),
    ));
    script.push(Reply::text("Exported a named limit as asked."));
    script.push(learns_nothing());
    let w = world_in(launch.clone(), script);
    let ev = labeled(&w);
    action(&w, "issues", &ev, 501, &[]).result.assert_code(0);
    let before = w.gh.commits(OWNER, REPO, BRANCH).len();
    let pr = w.gh.pulls(OWNER, REPO)[0].number;
    assert_eq!(pr, 2);
    let review_comment = w.gh.add_review_comment(
        OWNER,
        REPO,
        pr,
        "Codertocat",
        "src/limit.js",
        1,
        "Export a named limit, not a bare number.",
    );
    let ev = event(
        &w,
        "pull_request_review_comment/00-created.json",
        &[
            ("\"ref\": \"changes\"", &format!("\"ref\": \"{BRANCH}\"")),
            ("\"id\": 284312630", &format!("\"id\": {review_comment}")),
            (
                "\"Maybe you should use more emoji on this line.\"",
                "\"Export a named limit, not a bare number.\"",
            ),
        ],
    );
    let run = action(&w, "pull_request_review_comment", &ev, 502, &[]);
    run.result.assert_code(0);
    run.assert_status("done");
    let after = w.gh.commits(OWNER, REPO, BRANCH);
    assert_eq!(after.len(), before + 1, "{after:?}");
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].in_reply_to, review_comment);
    assert!(
        replies[0].body.contains("Deckhand pushed"),
        "{}",
        replies[0].body
    );
    assert!(
        replies[0].body.contains("Exported a named limit"),
        "{}",
        replies[0].body
    );
    // The reviewer's words reached the model.
    let last_code = w.model.requests().last().unwrap().body.clone();
    assert!(last_code.contains("Export a named limit"), "{last_code}");
    assert_eq!(w.gh.pulls(OWNER, REPO).len(), 1);
    w.model.assert_finished();
}

pub fn a_question_waits_and_the_answer_resumes_the_task(launch: Launch) {
    let w = world_in(
        launch.clone(),
        vec![
            Reply::tool("read_file", json!({"path": "src/app.js"})),
            Reply::tool(
                "ask_question",
                json!({"question": "How long should the window be?"}),
            ),
        ],
    );
    let ev = labeled(&w);
    let first = action(&w, "issues", &ev, 601, &[]);
    first.result.assert_code(0);
    first.assert_status("waiting");
    let asked: Vec<_> =
        w.gh.comments(OWNER, REPO, 1)
            .into_iter()
            .filter(|c| {
                c.body.contains("How long should the window be?")
                    && !c.body.contains("deckhand:progress")
            })
            .collect();
    assert_eq!(asked.len(), 1);
    assert!(
        w.gh.branch_head(OWNER, REPO, "deckhand/memory").is_some(),
        "no checkpoint on the memory branch"
    );
    assert!(progress_comments(&w)[0].contains("status=waiting"));

    let asked_at = w.model.requests().len();
    for r in simple_script("src/window.js") {
        w.model.push(r);
    }
    let ev = comment(&w, "/deckhand Sixty seconds");
    let second = action(&w, "issue_comment", &ev, 602, &[]);
    second.result.assert_code(0);
    second.assert_status("done");
    let resumed = &w.model.requests()[asked_at];
    assert!(resumed.body.contains("Sixty seconds"), "{}", resumed.body);
    assert!(
        resumed.body.contains("src/app.js"),
        "resumed from scratch: {}",
        resumed.body
    );
    let pulls = w.gh.pulls(OWNER, REPO);
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].state, "open");
    assert_eq!(progress_comments(&w).len(), 1);
    // The finished task's checkpoint is gone from the memory branch.
    let memory = git(
        &w.gh.repo_path(OWNER, REPO),
        &["ls-tree", "-r", "--name-only", "deckhand/memory"],
    );
    assert!(!memory.contains("state.json"), "{memory}");
    w.model.assert_finished();
}
