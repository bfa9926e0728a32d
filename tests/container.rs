//! The action scenarios inside Deckhand's real image, started the way the
//! Actions runner starts a Docker action (`tests/common/container.rs`), and
//! the checks only a real container can make: the command user, the Docker
//! socket, Deckhand's own environment, ownership of what is left in the
//! workspace, `pip install` as the command user, git's ownership check.
//!
//! Needs `DECKHAND_TEST_IMAGE` (CI builds it with `ci/images.sh`); without
//! it each test says it is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use serde_json::json;

use common::action_scenarios as scenarios;
use common::action_world::*;
use common::container::{self, RUNNER_UID};
use support::model_server::Reply;

fn launch() -> Option<Launch> {
    container::image().map(Launch::Container)
}

#[test]
fn container_label_opens_a_pull_request() {
    let Some(l) = launch() else { return };
    scenarios::label_opens_a_pull_request_that_closes_the_issue(l);
}

#[test]
fn container_rerun_keeps_one_pull_request() {
    let Some(l) = launch() else { return };
    scenarios::running_the_same_job_twice_keeps_one_pr_and_one_progress_comment(l);
}

#[test]
fn container_read_only_user_is_refused() {
    let Some(l) = launch() else { return };
    scenarios::a_comment_from_a_read_only_user_is_refused_once_without_a_model_call(l);
}

#[test]
fn container_review_comment_gets_a_fix_and_a_reply() {
    let Some(l) = launch() else { return };
    scenarios::a_review_comment_on_a_deckhand_pr_gets_a_fix_and_a_reply(l);
}

#[test]
fn container_question_waits_and_the_answer_finishes_the_task() {
    let Some(l) = launch() else { return };
    scenarios::a_question_waits_and_the_answer_resumes_the_task(l);
}

/// What a command the agent ran printed: the tool result the model got
/// whose text contains `marker`.
fn tool_output(w: &World, marker: &str) -> String {
    for request in w.model.requests() {
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        for message in body["messages"].as_array().into_iter().flatten() {
            for block in message["content"].as_array().into_iter().flatten() {
                if block["type"] != "tool_result" {
                    continue;
                }
                let text = match &block["content"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if text.contains(marker) {
                    return text;
                }
            }
        }
    }
    let all: Vec<String> = w.model.requests().iter().map(|r| r.body.clone()).collect();
    panic!("no tool result carries {marker}: {all:#?}")
}

#[test]
fn container_commands_run_unprivileged_and_cannot_reach_the_socket_or_deckhand() {
    let Some(l) = launch() else { return };
    let probe = "echo PROBE uid=$(id -u); \
        (exec 3<>/var/run/docker.sock && echo SOCKET-OPEN) 2>/dev/null || echo socket-refused; \
        (cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON-READ) || echo environ-refused; \
        for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = deckhand ] && pid=${p#/proc/}; done; \
        (cat /proc/$pid/environ >/dev/null 2>&1 && echo DECKHAND-ENVIRON-READ) || echo deckhand-environ-refused; \
        echo END";
    let mut script = vec![Reply::tool("run_command", json!({ "command": probe }))];
    script.extend(simple_script("src/limit.js"));
    let w = world(script).launched(l);
    let ev = labeled(&w);
    let run = action(&w, "issues", &ev, 901, &[]);
    run.assert_status("done");
    let out = tool_output(&w, "PROBE uid=");
    assert!(
        out.contains(&format!("PROBE uid={RUNNER_UID}")),
        "commands do not run as the unprivileged user: {out}"
    );
    for refused in [
        "socket-refused",
        "environ-refused",
        "deckhand-environ-refused",
    ] {
        assert!(out.contains(refused), "{refused} missing: {out}");
    }
    assert!(
        !out.contains("SOCKET-OPEN") && !out.contains("ENVIRON-READ"),
        "{out}"
    );
    // The socket the probe could not open is really there.
    assert!(std::path::Path::new("/var/run/docker.sock").exists());

    // What is left in the workspace belongs to the runner's user, and the
    // checkout in it (owned by that user) did not stop root's git.
    let foreign = container::not_owned_by(&run.workspace, RUNNER_UID);
    assert_eq!(foreign, Vec::<std::path::PathBuf>::new());
    assert!(
        !run.result.stdout.contains("dubious ownership")
            && !run.result.stderr.contains("dubious ownership"),
        "{}\n{}",
        run.result.stdout,
        run.result.stderr
    );
}

#[test]
fn container_pip_install_setup_works_for_the_command_user() {
    let Some(l) = launch() else { return };
    // A Python project whose setup installs it (offline: a setup.py with no
    // dependencies, built with the image's own setuptools).
    let files: &[(&str, &str)] = &[
        (
            "requirements.txt",
            "-e .\n",
        ),
        (
            "setup.py",
            "from setuptools import setup\nsetup(name='limiter', version='0.1', py_modules=['limiter'])\n",
        ),
        ("limiter.py", "LIMIT = 5\n"),
        (
            "tests/test_limiter.py",
            "import unittest\n\nimport limiter\n\n\nclass Limit(unittest.TestCase):\n    def test_limit(self):\n        self.assertEqual(limiter.LIMIT, 5)\n",
        ),
    ];
    // From outside the worktree: only an installed package imports there.
    let probe =
        "cd /tmp && python3 -c 'import limiter, sys; print(\"IMPORTED\", limiter.__file__)' 2>&1; \
                 pip --version; echo PIPDONE";
    let mut script = vec![Reply::tool("run_command", json!({ "command": probe }))];
    script.extend(simple_script("src/limit.js"));
    let w = world_with(script, files).launched(l);
    let ev = labeled(&w);
    let run = action(&w, "issues", &ev, 902, &[]);
    run.assert_status("done");
    let out = tool_output(&w, "IMPORTED");
    assert!(
        out.contains("IMPORTED") && !out.contains("No module named"),
        "the project was not installed for the command user: {out}\n--- stdout\n{}",
        run.result.stdout
    );
}

#[test]
fn container_task_runs_its_commands_in_the_repositorys_dev_container() {
    let Some(l) = launch() else { return };
    // The repository declares a dev container with a tool the action image
    // lacks; its test needs that tool.
    let files: &[(&str, &str)] = &[
        (
            ".devcontainer/devcontainer.json",
            "{ \"build\": { \"dockerfile\": \"Dockerfile\" } }\n",
        ),
        (
            ".devcontainer/Dockerfile",
            "FROM debian:bookworm-slim\n\
             RUN printf '#!/bin/sh\\necho frobnicate 2.0\\n' > /usr/local/bin/frobnicate \\\n    && chmod +x /usr/local/bin/frobnicate\n",
        ),
        (
            "run-tests.sh",
            "#!/bin/sh\n[ \"$(frobnicate)\" = \"frobnicate 2.0\" ] && echo 'ok 1 - frobnicate' && exit 0\necho 'not ok 1 - no frobnicate'; exit 1\n",
        ),
        (
            ".github/deckhand.yml",
            "commands:\n  setup: \"\"\n  test: sh ./run-tests.sh\n",
        ),
    ];
    let mut script = vec![Reply::tool(
        "run_command",
        json!({ "command": "echo TOOL $(frobnicate) uid=$(id -u)" }),
    )];
    script.extend(simple_script("src/limit.js"));
    let w = world_with(script, files).launched(l);
    let ev = labeled(&w);
    let run = action(&w, "issues", &ev, 903, &[]);
    run.assert_status("done");
    let out = tool_output(&w, "TOOL ");
    assert!(
        out.contains(&format!("TOOL frobnicate 2.0 uid={RUNNER_UID}")),
        "the command did not run in the dev container as the command user: {out}\n--- stdout\n{}",
        run.result.stdout
    );
    let pr = &w.gh.pulls(OWNER, REPO)[0];
    let body = pr.body.clone().unwrap();
    assert!(body.contains("sh ./run-tests.sh"), "{body}");
    assert!(!body.contains("❌"), "{body}");
    w.model.assert_finished();
}
