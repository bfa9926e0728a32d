//! Scenario tests of `deckhand action` for jobs that go on across runs: a
//! feedback job continued or resumed stays a feedback job, continuations are
//! bounded, time limits are sane, and diffs and context come from the task's
//! own branch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use serde_json::json;

use common::action_world::*;
use support::model_server::Reply;
use support::repos::git;

const WORKFLOW_REF: (&str, &str) = (
    "GITHUB_WORKFLOW_REF",
    "Codertocat/Hello-World/.github/workflows/deckhand-issue.yml@refs/heads/main",
);
const GIT_REF: (&str, &str) = ("GITHUB_REF", "refs/heads/main");
/// This job's time is up before the first model call.
const NO_TIME: (&str, &str) = ("DECKHAND_WALL_CLOCK_SECONDS", "0");

/// Runs the issue's task to an open PR (number 2) and returns it.
fn opened_pr(w: &World, run_id: u64) -> support::github_server::Pull {
    action(w, "issues", &labeled(w), run_id, &[]).assert_status("done");
    let pulls = w.gh.pulls(OWNER, REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    pulls[0].clone()
}

/// A review comment by Codertocat on PR 2, and its event.
fn review_comment(w: &World, body: &str) -> (u64, std::path::PathBuf) {
    let id =
        w.gh.add_review_comment(OWNER, REPO, 2, "Codertocat", "src/limit.js", 1, body);
    let escaped = serde_json::to_string(body).unwrap();
    let ev = event(
        w,
        "pull_request_review_comment/00-created.json",
        &[
            ("\"ref\": \"changes\"", &format!("\"ref\": \"{BRANCH}\"")),
            ("\"id\": 284312630", &format!("\"id\": {id}")),
            (
                "\"Maybe you should use more emoji on this line.\"",
                &escaped,
            ),
        ],
    );
    (id, ev)
}

/// The `workflow_dispatch` event that continues task `id`.
fn continuation(w: &World, id: &str) -> std::path::PathBuf {
    // The fixture's sender.
    w.gh.set_permission(OWNER, REPO, "octocat", "write");
    let inputs = format!("\"inputs\": {{\"deckhand_task_id\": \"{id}\"}}");
    event(
        w,
        "workflow_dispatch/00-event.json",
        &[("\"inputs\": {}", &inputs)],
    )
}

/// Code fixes the PR as the reviewer asked; learn finds no lasting rule.
fn fix_script() -> Vec<Reply> {
    vec![
        Reply::tool(
            "edit_file",
            json!({"path": "src/limit.js", "old_text": "module.exports = 1;", "new_text": "module.exports = { limit: 5 };"}),
        ),
        Reply::text("Exported a named limit as asked."),
        learns_nothing(),
    ]
}

#[test]
fn a_feedback_job_continued_after_its_time_ran_out_fixes_the_same_pr_and_replies_on_the_thread() {
    let mut script = simple_script("src/limit.js");
    script.extend(fix_script());
    let w = world(script);
    let pr = opened_pr(&w, 3101);
    let calls = w.model.requests().len();
    let (thread, ev) = review_comment(&w, "Export a named limit, not a bare number.");
    let first = action(
        &w,
        "pull_request_review_comment",
        &ev,
        3102,
        &[NO_TIME, WORKFLOW_REF, GIT_REF],
    );
    first.assert_status("continued");
    assert_eq!(w.model.requests().len(), calls, "no model call in no time");
    assert_eq!(w.gh.dispatches().len(), 1);

    let second = action(
        &w,
        "workflow_dispatch",
        &continuation(&w, &first.outputs["task_id"]),
        3103,
        &[WORKFLOW_REF],
    );
    second.assert_status("done");
    // The same PR, its title and body as they were: not rewritten as a task.
    assert_eq!(w.gh.pulls(OWNER, REPO), vec![pr]);
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].in_reply_to, thread);
    assert!(
        replies[0].body.contains("Exported a named limit"),
        "{}",
        replies[0].body
    );
    w.model.assert_finished();
}

#[test]
fn a_question_during_a_feedback_job_is_asked_on_the_pr_and_its_answer_resumes_the_fix() {
    let mut script = simple_script("src/limit.js");
    script.push(Reply::tool(
        "ask_question",
        json!({"question": "Which name should the limit have?"}),
    ));
    // Code asks research first; research cannot know, and asks the reviewer.
    script.push(Reply::tool(
        "ask_question",
        json!({"question": "Which name should the exported limit have?"}),
    ));
    script.extend(fix_script());
    let w = world(script);
    let pr = opened_pr(&w, 3201);
    let (thread, ev) = review_comment(&w, "Export a named limit, not a bare number.");
    let first = action(&w, "pull_request_review_comment", &ev, 3202, &[]);
    first.assert_status("waiting");
    let asked: Vec<_> =
        w.gh.comments(OWNER, REPO, 2)
            .into_iter()
            .filter(|c| {
                c.body
                    .contains("Which name should the exported limit have?")
            })
            .collect();
    assert_eq!(asked.len(), 1, "the question is asked on the PR");

    let ev = pr_comment(&w, 2, "/deckhand call it limit");
    let second = action(&w, "issue_comment", &ev, 3203, &[]);
    second.assert_status("done");
    assert_eq!(w.gh.pulls(OWNER, REPO), vec![pr]);
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].in_reply_to, thread);
    // The fix's last turn heard the answer; learn came after it.
    let requests = w.model.requests();
    let (learn, fix) = (&requests[requests.len() - 1], &requests[requests.len() - 2]);
    assert!(learn.body.contains("record_rule"), "{}", learn.body);
    assert!(fix.body.contains("call it limit"), "{}", fix.body);
    w.model.assert_finished();
}

#[test]
fn continuations_stop_after_five_hops_with_the_reason_on_the_issue() {
    let w = world(vec![]);
    let first = action(
        &w,
        "issues",
        &labeled(&w),
        3301,
        &[NO_TIME, WORKFLOW_REF, GIT_REF],
    );
    first.assert_status("continued");
    let id = first.outputs["task_id"].clone();
    for hop in 2..=5 {
        action(
            &w,
            "workflow_dispatch",
            &continuation(&w, &id),
            3300 + hop,
            &[NO_TIME, WORKFLOW_REF, GIT_REF],
        )
        .assert_status("continued");
    }
    let last = action(
        &w,
        "workflow_dispatch",
        &continuation(&w, &id),
        3306,
        &[NO_TIME, WORKFLOW_REF, GIT_REF],
    );
    last.assert_status("paused");
    assert_eq!(w.gh.dispatches().len(), 5);
    let stopped: Vec<_> =
        w.gh.comments(OWNER, REPO, 1)
            .into_iter()
            .filter(|c| c.body.contains("deckhand:paused"))
            .map(|c| c.body)
            .collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(
        stopped[0].contains("continued in 5 jobs in a row"),
        "{}",
        stopped[0]
    );
    w.model.assert_finished();
}

#[test]
fn a_timeout_below_ten_minutes_is_refused_naming_the_input() {
    let w = world(vec![]);
    let run = action(
        &w,
        "issues",
        &labeled(&w),
        3401,
        &[("INPUT_TIMEOUT_MINUTES", "5")],
    );
    run.assert_status("error");
    assert_ne!(run.result.code, 0);
    let error = run
        .result
        .stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("timeout_minutes") && error.contains("minimum of 10 minutes"),
        "{}",
        run.result.stdout
    );
    w.model.assert_finished();
}

#[test]
fn a_task_out_of_time_keeps_its_role_conversation_and_the_continuation_goes_on_from_it() {
    let mut script = vec![Reply::tool(
        "run_command",
        json!({"command": "echo still-planning; sleep 600"}),
    )];
    script.extend(simple_script("src/later.js"));
    let w = world(script);
    // The command runs into the job's deadline and is stopped there.
    let first = action(
        &w,
        "issues",
        &labeled(&w),
        3501,
        &[("DECKHAND_WALL_CLOCK_SECONDS", "6"), WORKFLOW_REF, GIT_REF],
    );
    first.assert_status("continued");
    assert_eq!(w.model.requests().len(), 1, "{}", first.result.stderr);
    let second = action(
        &w,
        "workflow_dispatch",
        &continuation(&w, &first.outputs["task_id"]),
        3502,
        &[WORKFLOW_REF],
    );
    second.assert_status("done");
    // The continuation's first request carries research's earlier turn.
    let resumed = w.model.requests()[1].body.clone();
    assert!(resumed.contains("still-planning"), "{resumed}");
    w.model.assert_finished();
}

/// Someone pushes `path` to `main` on the server after the PR was opened.
fn advance_main(w: &World, path: &str) {
    let edit = w.dir.path().join("upstream-edit");
    let bare = w.gh.repo_path(OWNER, REPO);
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            edit.to_str().unwrap(),
        ],
    );
    let full = edit.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, "on main only\n").unwrap();
    git(&edit, &["add", "-A"]);
    git(&edit, &["commit", "-qm", "main moves on"]);
    git(&edit, &["push", "-q", "origin", "HEAD:main"]);
}

#[test]
fn new_work_on_an_open_pr_is_measured_from_its_merge_base_not_the_moved_base() {
    let mut script = simple_script("src/limit.js");
    script.extend([
        Reply::tool("update_spec", json!({"plan": ["Create src/second.js"]})),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            json!({"path": "src/second.js", "content": "module.exports = 2;\n"}),
        ),
        Reply::text("Created the second file."),
    ]);
    let w = world(script);
    opened_pr(&w, 3601);
    advance_main(&w, ".github/workflows/main-only.yml");
    let ev = comment(&w, "/deckhand also add src/second.js");
    action(&w, "issue_comment", &ev, 3602, &[]).assert_status("done");
    let pulls = w.gh.pulls(OWNER, REPO);
    assert_eq!(pulls.len(), 1);
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("src/second.js"), "{body}");
    // Main's own change is not the task's: not in the file table, and the
    // PR is not told it edits workflows.
    assert!(!body.contains("main-only"), "{body}");
    assert!(!body.contains(".github/workflows"), "{body}");
    w.model.assert_finished();
}

#[test]
fn a_feedback_fix_reads_steering_from_the_prs_branch_not_the_default_branch() {
    let mut script = vec![
        Reply::tool("update_spec", json!({"plan": ["Write AGENTS.md"]})),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            json!({"path": "AGENTS.md", "content": "Branch-only guidance: name limits LIMIT_*.\n"}),
        ),
        Reply::tool(
            "write_file",
            json!({"path": "src/limit.js", "content": "module.exports = 1;\n"}),
        ),
        Reply::text("Wrote them."),
    ];
    script.extend(fix_script());
    let w = world(script);
    let pr = opened_pr(&w, 3701);
    let calls = w.model.requests().len();
    let (_, ev) = review_comment(&w, "Export a named limit, not a bare number.");
    action(&w, "pull_request_review_comment", &ev, 3702, &[]).assert_status("done");
    let fix = w.model.requests()[calls].body.clone();
    assert!(fix.contains("Branch-only guidance"), "{fix}");
    assert_eq!(w.gh.pulls(OWNER, REPO), vec![pr]);
    w.model.assert_finished();
}

#[test]
fn maintenance_runs_every_entry_on_this_weeks_branch_though_one_fails() {
    let config = "maintenance:\n  - name: Broken sweep\n    task: Sweep the docs\n  - name: Weekly tidy\n    task: Add a limit module\n";
    // The first entry's first model call is refused: that task fails.
    let mut script = vec![Reply::status(400)];
    script.extend(simple_script("src/limit.js"));
    let w = world_with(script, &[(".github/deckhand.yml", config)]);
    // Last week's branch of the same entry, never merged.
    let src = w.dir.path().join("last-week");
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            w.gh.repo_path(OWNER, REPO).to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    std::fs::write(src.join("stale.txt"), "last week\n").unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "last week's tidy"]);
    git(
        &src,
        &[
            "push",
            "-q",
            "origin",
            "HEAD:deckhand/maintenance-weekly-tidy",
        ],
    );
    let path = w.dir.path().join("schedule.json");
    std::fs::write(&path, r#"{"schedule": "17 4 * * 1"}"#).unwrap();
    let run = action(&w, "schedule", &path, 3801, &[]);
    run.assert_status("error");
    assert!(
        run.result
            .stdout
            .contains("::error title=Deckhand maintenance::Broken sweep"),
        "{}",
        run.result.stdout
    );
    let pulls = w.gh.pulls(OWNER, REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].title, "Weekly tidy");
    let week = {
        use chrono::Datelike as _;
        let w = chrono::Utc::now().iso_week();
        format!("{}-w{:02}", w.year(), w.week())
    };
    assert_eq!(
        pulls[0].head,
        format!("deckhand/maintenance-weekly-tidy-{week}")
    );
    let files = git(
        &w.gh.repo_path(OWNER, REPO),
        &["ls-tree", "-r", "--name-only", &pulls[0].head],
    );
    assert!(!files.contains("stale.txt"), "{files}");
    assert!(files.contains("src/limit.js"), "{files}");
    assert!(run.summary.contains("Broken sweep"), "{}", run.summary);
    w.model.assert_finished();
}

#[test]
fn two_triggers_at_once_run_the_task_once() {
    let w = world(simple_script("src/limit.js"));
    w.gh.add_run(OWNER, REPO, 3901, "in_progress");
    w.gh.add_run(OWNER, REPO, 3902, "in_progress");
    // Both jobs have looked for a progress comment and found none before
    // either writes its own.
    w.gh.hold_together("POST", &format!("/repos/{FULL}/issues/1/comments"), 2);
    let ev = labeled(&w);
    // Two runners: each job has its own temp directory.
    let temp = |n: &str| w.dir.path().join(n).to_str().unwrap().to_string();
    let (temp_a, temp_b) = (temp("runner-a"), temp("runner-b"));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| action(&w, "issues", &ev, 3901, &[("RUNNER_TEMP", &temp_a)]));
        let b = s.spawn(|| action(&w, "issues", &ev, 3902, &[("RUNNER_TEMP", &temp_b)]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (winner, loser, run) = if a.outputs["status"] == "done" {
        (a, b, 3901)
    } else {
        (b, a, 3902)
    };
    winner.assert_status("done");
    loser.assert_status("skipped");
    assert!(
        loser
            .summary
            .contains(&format!("is already running in run {run}")),
        "{}",
        loser.summary
    );
    assert_eq!(w.gh.pulls(OWNER, REPO).len(), 1);
    let progress = progress_comments(&w);
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert!(progress[0].contains("status=done"), "{}", progress[0]);
    w.model.assert_finished();
}

const APP_BOT: &str = "deckhand-app[bot]";

#[test]
fn a_github_app_token_learns_its_bot_from_its_first_comment() {
    let w = world(simple_script("src/limit.js"));
    w.gh.set_app_bot(APP_BOT);
    let run = action(&w, "issues", &labeled(&w), 4001, &[]);
    run.assert_status("done");
    assert!(
        run.result.stdout.contains(&format!(
            "::warning title=Deckhand::the token writes as @{APP_BOT}; set the `bot_login` input"
        )),
        "{}",
        run.result.stdout
    );
    let progress =
        w.gh.comments(OWNER, REPO, 1)
            .into_iter()
            .filter(|c| c.body.contains("<!-- deckhand:progress"))
            .map(|c| c.user)
            .collect::<Vec<_>>();
    assert_eq!(progress, [APP_BOT]);
    w.model.assert_finished();
}

#[test]
fn with_bot_login_feedback_on_the_apps_own_pr_is_deckhands() {
    let mut script = simple_script("src/limit.js");
    script.extend(fix_script());
    let w = world(script);
    w.gh.set_app_bot(APP_BOT);
    let bot = ("INPUT_BOT_LOGIN", APP_BOT);
    action(&w, "issues", &labeled(&w), 4101, &[bot]).assert_status("done");
    let pr = w.gh.pulls(OWNER, REPO)[0].clone();
    assert_eq!(pr.user, APP_BOT);
    let (thread, ev) = review_comment(&w, "Export a named limit, not a bare number.");
    action(&w, "pull_request_review_comment", &ev, 4102, &[bot]).assert_status("done");
    let replies = w.gh.review_comment_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].in_reply_to, thread);
    assert_eq!(replies[0].user, APP_BOT);
    // A rerun of the label finds the app's own progress comment: still one.
    action(&w, "issues", &labeled(&w), 4103, &[bot]).assert_status("done");
    assert_eq!(progress_comments(&w).len(), 1);
    w.model.assert_finished();
}

#[test]
fn progress_updates_keep_flowing_while_the_push_waits_on_the_only_async_thread() {
    let w = world(simple_script("src/limit.js"));
    // The push is answered only after the progress comment says it is
    // pushing: an update the job can only send while the push is under way.
    // With one async thread (a current-thread runtime: the job, the
    // progress updater and every pipe share it), a push run on that thread
    // instead of the blocking pool holds the update back, and this fails.
    let timed_out = w.gh.hold_until(
        "POST",
        &format!("/{FULL}.git/git-receive-pack"),
        (
            "PATCH",
            &format!("/repos/{FULL}/issues/comments/"),
            "📤 pushing",
        ),
        std::time::Duration::from_secs(30),
    );
    let run = action(
        &w,
        "issues",
        &labeled(&w),
        4201,
        &[("DECKHAND_ASYNC_THREADS", "1")],
    );
    run.assert_status("done");
    assert!(
        !timed_out.load(std::sync::atomic::Ordering::SeqCst),
        "the progress update waited for the push"
    );
    assert_eq!(w.gh.pulls(OWNER, REPO).len(), 1);
    w.model.assert_finished();
}

#[test]
fn a_github_app_bot_learned_once_is_known_to_later_jobs_before_they_comment() {
    let w = world(simple_script("src/limit.js"));
    w.gh.set_app_bot(APP_BOT);
    let ev = labeled(&w);
    let first = action(&w, "issues", &ev, 4301, &[]);
    first.assert_status("done");
    let learned = format!("::warning title=Deckhand::the token writes as @{APP_BOT}");
    assert!(
        first.result.stdout.contains(&learned),
        "{}",
        first.result.stdout
    );
    // Kept on the memory branch.
    let kept = git(
        &w.gh.repo_path(OWNER, REPO),
        &[
            "show",
            &format!("deckhand/memory:identity/{OWNER}/{REPO}.json"),
        ],
    );
    let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        kept,
        serde_json::json!({"login": APP_BOT, "learned_in_run": 4301})
    );
    // The re-run knows its progress comment (the app's marker) before it
    // writes anything: no second comment, no second task, nothing to learn.
    let model_calls = w.model.requests().len();
    let again = action(&w, "issues", &ev, 4301, &[]);
    again.assert_status("done");
    assert!(
        !again.result.stdout.contains(&learned),
        "{}",
        again.result.stdout
    );
    let progress: Vec<String> =
        w.gh.comments(OWNER, REPO, 1)
            .into_iter()
            .filter(|c| c.body.contains("<!-- deckhand:progress"))
            .map(|c| c.user)
            .collect();
    assert_eq!(progress, [APP_BOT]);
    assert_eq!(w.gh.pulls(OWNER, REPO).len(), 1);
    assert_eq!(
        w.model.requests().len(),
        model_calls,
        "a finished task was run again"
    );
    w.model.assert_finished();
}
