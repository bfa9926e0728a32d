//! Dev environments: `deckhand verify --dev-container` runs setup and checks
//! in the container a repository declares (devcontainer.json building a
//! Dockerfile, devfile.yaml naming an image), with the local Docker engine;
//! a command that never exits there is killed at its timeout.
//!
//! Needs a Docker engine and the `debian:bookworm-slim` image (`ci/images.sh`
//! makes both); without them each test says it is skipped, and with
//! `DECKHAND_REQUIRE_IMAGE=1` (CI) it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{deckhand_cmd, output};
use deckhand::sandbox::container::{ContainerNetwork, DevContainer, Paths};
use deckhand::sandbox::Launcher as _;
use deckhand::workspace::devenv::{self, DevEnvSource};
use support::repos::commit_tree;

const BASE: &str = "debian:bookworm-slim";

/// Whether the engine and the base image are here.
fn engine() -> bool {
    let ok = Command::new("docker")
        .args(["image", "inspect", BASE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("DECKHAND_REQUIRE_IMAGE").as_deref() != Ok("1"),
            "DECKHAND_REQUIRE_IMAGE=1 but no Docker engine with {BASE}: run `bash ci/images.sh`"
        );
        eprintln!("SKIPPED: dev container test (no Docker engine with {BASE}; `bash ci/images.sh` makes one)");
    }
    ok
}

/// The tool the tests need: present only in the dev container.
const TOOL_DOCKERFILE: &str = "FROM debian:bookworm-slim\n\
RUN printf '#!/bin/sh\\necho frobnicate 2.0\\n' > /usr/local/bin/frobnicate \\\n    && chmod +x /usr/local/bin/frobnicate\n";

/// The repository's test: passes only where `frobnicate` 2.0 is installed.
const RUN_TESTS: &str = "#!/bin/sh\n\
out=$(frobnicate 2>&1)\n\
if [ \"$out\" = \"frobnicate 2.0\" ]; then echo 'ok 1 - frobnicate works'; exit 0; fi\n\
echo \"not ok 1 - frobnicate said: $out\"; exit 1\n";

fn verify(repo: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut cmd = deckhand_cmd(&[]);
    cmd.args(["verify", "--json", "--repo"])
        .arg(repo)
        .args(extra);
    let out = output(cmd);
    let doc: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout, out.stderr
        )
    });
    (out.code, doc, out.stderr)
}

fn check_statuses(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["command"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn devcontainer_dockerfile_gives_the_checks_their_tool() {
    if !engine() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[
            (
                ".devcontainer/devcontainer.json",
                "{\n  // the team's environment\n  \"build\": { \"dockerfile\": \"Dockerfile\" },\n  \"containerEnv\": { \"APP_ENV\": \"test\" },\n  \"postCreateCommand\": \"echo created > /tmp/created\",\n}\n",
            ),
            (".devcontainer/Dockerfile", TOOL_DOCKERFILE),
            ("run-tests.sh", RUN_TESTS),
            (
                ".github/deckhand.yml",
                "commands:\n  test: sh ./run-tests.sh && test \"$APP_ENV\" = test && test -f /tmp/created\n",
            ),
        ],
    );
    let (code, doc, stderr) = verify(&repo, &["--dev-container"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(
        doc["dev_environment"]["source"],
        serde_json::json!({"kind": "dev_container", "file": ".devcontainer/devcontainer.json"})
    );
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert!(stderr.contains("dev container"), "{stderr}");

    // On the host the tool is missing and the same test fails.
    let (code, doc, _) = verify(&repo, &[]);
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(doc["passed"], false);
    let statuses = check_statuses(&doc);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_ne!(statuses[0].1, "passed", "{statuses:?}");
    // Verify left the tree as it was.
    let status = support::repos::git(&repo, &["status", "--porcelain"]);
    assert_eq!(status, "");
}

#[test]
fn devfile_image_and_test_command() {
    if !engine() {
        return;
    }
    // The image the devfile names, built here (no registry to pull from).
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), TOOL_DOCKERFILE).unwrap();
    let tag = "deckhand-test-tools:devfile";
    let built = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[
            (
                "devfile.yaml",
                &format!(
                    "schemaVersion: 2.2.0\nmetadata: {{name: tools}}\ncomponents:\n  - name: tools\n    container:\n      image: {tag}\n      memoryLimit: 512Mi\n      env:\n        - {{name: MODE, value: ci}}\ncommands:\n  - id: test\n    exec: {{component: tools, commandLine: 'sh ./run-tests.sh && test \"$MODE\" = ci', group: {{kind: test, isDefault: true}}}}\n"
                ),
            ),
            ("run-tests.sh", RUN_TESTS),
        ],
    );
    let (code, doc, stderr) = verify(&repo, &["--dev-container"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(doc["dev_environment"]["source"]["kind"], "devfile");
    assert_eq!(doc["dev_environment"]["memory_limit"], "512Mi");
    let statuses = check_statuses(&doc);
    assert_eq!(
        statuses,
        [(
            "sh ./run-tests.sh && test \"$MODE\" = ci".to_string(),
            "passed".to_string()
        )]
    );
}

#[tokio::test]
async fn a_command_that_never_exits_is_killed_at_its_timeout() {
    if !engine() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[(
            ".devcontainer.json",
            &format!("{{ \"image\": \"{BASE}\" }}"),
        )],
    );
    let found = devenv::detect(&repo, None);
    assert_eq!(
        found.env.source,
        DevEnvSource::DevContainer {
            file: ".devcontainer.json".into()
        }
    );
    let host_env = vec![("PATH".to_string(), std::env::var("PATH").unwrap())];
    let container = DevContainer::start(
        &found.env,
        Paths::single(&repo),
        ContainerNetwork::None,
        host_env,
        &[],
        &|_: &str| {},
    )
    .await
    .unwrap();
    let out = container
        .run(
            "(sleep 600 &) ; sleep 600; echo never",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None);
    // Nothing of it is left running in the container: only its init (the
    // killed processes stay as zombies of PID 1 until the container goes).
    let ps = Command::new("docker")
        .args([
            "exec",
            container.name(),
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do s=$(cut -d' ' -f3 $p/stat 2>/dev/null); \
             [ \"$s\" = Z ] || echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\"; done",
        ])
        .output()
        .unwrap();
    let procs = String::from_utf8_lossy(&ps.stdout).to_string();
    assert!(
        procs.lines().any(|l| l.starts_with("1 sleep infinity")),
        "{procs}"
    );
    assert!(!procs.contains("sleep 600"), "{procs}");
    let name = container.name().to_string();
    drop(container);
    let gone = Command::new("docker")
        .args(["inspect", &name])
        .output()
        .unwrap();
    assert!(
        !gone.status.success(),
        "the container {name} is still there"
    );
}

#[test]
fn a_local_task_runs_its_commands_and_checks_in_the_dev_container() {
    if !engine() {
        return;
    }
    use support::model_server::{ModelServer, Reply};
    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[
            (
                ".devcontainer/devcontainer.json",
                "{ \"build\": { \"dockerfile\": \"Dockerfile\" } }\n",
            ),
            (".devcontainer/Dockerfile", TOOL_DOCKERFILE),
            ("run-tests.sh", RUN_TESTS),
            (
                ".github/deckhand.yml",
                "commands:\n  test: sh ./run-tests.sh\n",
            ),
        ],
    );
    let server = ModelServer::start(vec![
        Reply::tool("run_command", serde_json::json!({"command": "frobnicate"})),
        Reply::tool(
            "update_spec",
            serde_json::json!({"plan": ["Write NOTES.md"]}),
        ),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            serde_json::json!({"path": "NOTES.md", "content": "the team tool\n"}),
        ),
        Reply::text("Wrote the notes."),
    ]);
    let run = common::run_task(
        &server,
        common::Wire::Anthropic,
        &repo,
        "Write down which frobnicate the team uses",
        &["--dev-container"],
    );
    run.assert_code(0);
    // The agent's command ran in the container: the tool is there.
    let saw: String = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(saw.contains("frobnicate 2.0"), "the tool result: {saw}");
    assert!(run.stderr.contains("dev container"), "{}", run.stderr);
    // The PR's test table shows the check that passed there.
    let branch = common::task_branch(&repo);
    let pr = std::fs::read_to_string(common::task_dir(&repo, &branch).join("pr.md")).unwrap();
    assert!(pr.contains("sh ./run-tests.sh"), "{pr}");
    assert!(!pr.contains("❌"), "{pr}");
    server.assert_finished();
}
