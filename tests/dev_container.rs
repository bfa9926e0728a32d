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

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
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

/// Research runs `command` (when given) and plans; code writes NOTES.md
/// (`notes`).
fn notes_script(command: Option<&str>, notes: &str) -> Vec<support::model_server::Reply> {
    use support::model_server::Reply;
    let run = command.map(|c| Reply::tool("run_command", serde_json::json!({ "command": c })));
    let plan = [
        Reply::tool(
            "update_spec",
            serde_json::json!({"plan": ["Write NOTES.md"]}),
        ),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            serde_json::json!({"path": "NOTES.md", "content": notes}),
        ),
        Reply::text("Wrote the notes."),
    ];
    run.into_iter().chain(plan).collect()
}

#[test]
fn a_local_task_runs_its_commands_and_checks_in_the_dev_container() {
    if !engine() {
        return;
    }
    use support::model_server::ModelServer;
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
    let server = ModelServer::start(notes_script(Some("frobnicate"), "the team tool\n"));
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

/// A container on Docker's default network serving HTTP on port 8000: a
/// host outside the dev container's network. Removed when dropped.
struct Outside {
    name: String,
    ip: String,
}

impl Outside {
    fn start() -> Outside {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "deckhand-test-outside-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        );
        let server = "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 5, ReuseAddr => 1) or die; \
                      while (my $c = $s->accept) { print $c \"HTTP/1.0 200 OK\\r\\n\\r\\noutside\\n\"; close $c }";
        let started = Command::new("docker")
            .args([
                "run", "-d", "--rm", "--name", &name, BASE, "perl", "-e", server,
            ])
            .output()
            .unwrap();
        assert!(started.status.success(), "{started:?}");
        let mut outside = Outside {
            ip: String::new(),
            name,
        };
        let ip = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{.NetworkSettings.IPAddress}}",
                &outside.name,
            ])
            .output()
            .unwrap();
        outside.ip = String::from_utf8_lossy(&ip.stdout).trim().to_string();
        assert!(!outside.ip.is_empty(), "no address for {}", outside.name);
        outside
    }

    /// What the server answers to a direct connection from here, once it
    /// listens.
    fn answer(&self) -> String {
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect((self.ip.as_str(), 8000)) {
                let mut text = String::new();
                s.read_to_string(&mut text).unwrap();
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the outside server at {} never answered", self.ip);
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// HTTP through the proxy `$http_proxy` names (bash only: the base image
/// has no HTTP client), then a connection straight to the outside host.
const NET_CHECK: &str = r#"#!/bin/bash
proxy=${http_proxy#http://}
get() {
  exec 3<>"/dev/tcp/${proxy%:*}/${proxy##*:}" || { echo "no proxy at $proxy"; return; }
  printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$1" >&3
  timeout 10 cat <&3 | tr -d '\r' | sed -n '1p;$p'
  exec 3<&-
}
get "http://github.test:$1/ok" | sed 's/^/allowed: /'
get "http://evil.test:$3/x" | sed 's/^/refused: /'
get "http://evil.test:$3/y" | sed 's/^/refused: /'
if timeout 5 bash -c "exec 3<>/dev/tcp/$2/8000" 2>/dev/null; then echo "direct: connected"; else echo "direct: failed"; fi
"#;

/// A repository whose test checks the network from its dev container:
/// GitHub at `github_port`, the refused host at `evil_port`, and a direct
/// connection to the outside host.
fn net_check_repo(dir: &Path, github_port: u16, outside: &Outside, evil_port: u16) -> PathBuf {
    commit_tree(
        &dir.join("repo"),
        &[
            (".devcontainer.json", &format!("{{ \"image\": \"{BASE}\" }}")),
            ("net-check.sh", NET_CHECK),
            (
                ".github/deckhand.yml",
                &format!(
                    "network: integration\ncommands:\n  test: bash ./net-check.sh {github_port} {} {evil_port}\n",
                    outside.ip
                ),
            ),
        ],
    )
}

/// What `deckhand verify --json --dev-container` of [`net_check_repo`] must
/// say: GitHub answered `github` (status line, last line) through the
/// proxy, the refused host got the 403 twice and one log line, the direct
/// connection failed, and the network is gone.
fn assert_only_the_proxy_lets_out(out: &common::RunResult, github: [&str; 2], evil_port: u16) {
    let doc: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", out.stdout, out.stderr));
    assert_eq!(out.code, 0, "{doc:#}\n{}", out.stderr);
    let refused = format!(
        "refused: HTTP/1.1 403 Forbidden\n\
         refused: blocked by Deckhand: evil.test:{evil_port} is outside network level `integration`"
    );
    assert_eq!(
        doc["checks"][0]["output"].as_str().unwrap().trim(),
        format!(
            "allowed: {}\nallowed: {}\n{refused}\n{refused}\ndirect: failed",
            github[0], github[1]
        ),
        "{}",
        out.stderr
    );
    let blocked: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("blocked: "))
        .collect();
    assert_eq!(
        blocked,
        [format!(
            "blocked: evil.test:{evil_port} (level: integration)"
        )],
        "{}",
        out.stderr
    );
    // The network went with the container.
    let ours = out
        .stderr
        .lines()
        .find_map(|l| l.split_once("network deckhand-net-"))
        .map(|(_, rest)| format!("deckhand-net-{}", rest.split_whitespace().next().unwrap()))
        .unwrap_or_else(|| panic!("no network named in:\n{}", out.stderr));
    let networks = Command::new("docker")
        .args(["network", "ls", "--format", "{{.Name}}"])
        .output()
        .unwrap();
    let networks = String::from_utf8_lossy(&networks.stdout).to_string();
    assert!(
        !networks.lines().any(|n| n == ours),
        "{ours} is left:\n{networks}"
    );
}

#[test]
fn the_dev_containers_only_way_out_is_the_egress_proxy() {
    if !engine() {
        return;
    }
    let (port, github_hits) = common::http_server("127.0.0.2", "hello-from-github\n");
    let (evil_port, evil_hits) = common::http_server("127.0.0.3", "evil");
    let outside = Outside::start();
    // The outside host answers whoever can reach it.
    assert_eq!(outside.answer(), "HTTP/1.0 200 OK\r\n\r\noutside\n");
    let dir = tempfile::tempdir().unwrap();
    let repo = net_check_repo(dir.path(), port, &outside, evil_port);
    let server_url = format!("http://github.test:{port}");
    let mut cmd = deckhand_cmd(&[
        ("GITHUB_SERVER_URL", server_url.as_str()),
        (
            "DECKHAND_PROXY_RESOLVE",
            "github.test=127.0.0.2,evil.test=127.0.0.3",
        ),
    ]);
    cmd.args(["verify", "--json", "--dev-container", "--repo"])
        .arg(&repo);
    let out = output(cmd);
    assert_only_the_proxy_lets_out(&out, ["HTTP/1.1 200 OK", "hello-from-github"], evil_port);
    assert_eq!(github_hits.load(Ordering::SeqCst), 1);
    assert_eq!(evil_hits.load(Ordering::SeqCst), 0);
}

/// As in the action: Deckhand runs in its image on a Docker network of its
/// own (not the host's), starts the dev container through the socket,
/// shares its mounts, and is connected to the dev network, whose only
/// address besides the dev container's is Deckhand's own.
#[test]
fn deckhand_in_its_image_is_the_dev_containers_only_way_out() {
    let Some(image) = common::container::image() else {
        return;
    };
    if !engine() {
        return;
    }
    let outside = Outside::start();
    assert_eq!(outside.answer(), "HTTP/1.0 200 OK\r\n\r\noutside\n");
    let dir = tempfile::tempdir().unwrap();
    // GitHub is the outside host here, reached through Deckhand's proxy.
    let repo = net_check_repo(dir.path(), 8000, &outside, 8000);
    let shared = format!("{0}:{0}", dir.path().display());
    let name = format!("deckhand-test-self-{}", std::process::id());
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--name", &name])
        .args([
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            &shared,
        ])
        .args(["-e", "GITHUB_SERVER_URL=http://github.test:8000"])
        .arg("-e")
        .arg(format!(
            "DECKHAND_PROXY_RESOLVE=github.test={},evil.test=127.0.0.3",
            outside.ip
        ))
        .arg(&image)
        .args(["verify", "--json", "--dev-container", "--repo"])
        .arg(&repo)
        .stdin(std::process::Stdio::null());
    let out = output(cmd);
    assert_only_the_proxy_lets_out(&out, ["HTTP/1.0 200 OK", "outside"], 8000);
}

/// Setup that fails loudly: many lines, the task's secret, an error last
/// (one stream, so the order is certain).
const FAILING_SETUP: &str = "#!/bin/sh\n\
exec 2>&1\n\
for i in $(seq 1 60); do echo \"step $i\"; done\n\
echo \"token: $TEAM_TOKEN\"\n\
echo 'E: unable to fetch frobnicate' >&2\n\
exit 3\n";

#[test]
fn a_failed_setup_command_is_named_with_its_output_in_the_pr_and_by_verify() {
    if !engine() {
        return;
    }
    use support::model_server::ModelServer;
    let secret = "team-token-7f3a9c2e41";
    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[
            (
                ".devcontainer.json",
                &format!(
                    "{{ \"image\": \"{BASE}\", \"postCreateCommand\": \"sh ./install-tools.sh\" }}"
                ),
            ),
            ("install-tools.sh", FAILING_SETUP),
            (
                ".github/deckhand.yml",
                "secrets: [TEAM_TOKEN]\ncommands:\n  test: 'true'\n",
            ),
        ],
    );
    let server = ModelServer::start(notes_script(None, "notes\n"));
    let repo_arg = repo.display().to_string();
    let run = common::deckhand(
        &server,
        common::Wire::Anthropic,
        &[
            "run",
            "--repo",
            &repo_arg,
            "--task",
            "Write the notes",
            "--dev-container",
        ],
        &[("TEAM_TOKEN", secret)],
    );
    let branch = common::task_branch(&repo);
    let pr = std::fs::read_to_string(common::task_dir(&repo, &branch).join("pr.md")).unwrap();
    let (_, section) = pr
        .split_once("### ❌ Setup failed\n")
        .unwrap_or_else(|| panic!("no setup section in the PR:\n{pr}\n{}", run.stderr));
    let (section, _) = section.split_once("### Tests").unwrap();
    let head = format!(
        "\n> [!CAUTION]\n> The checks below ran without what these setup commands should have prepared.\n\n\
         - `sh ./install-tools.sh` (from .devcontainer.json (image {BASE}) (dev container)): exit 3\n\n```text\n"
    );
    assert!(section.starts_with(&head), "{section}");
    let tail = section[head.len()..].split("\n```").next().unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    // Bounded: the first and last lines, not the middle.
    assert!(lines.len() <= 22, "{tail}");
    assert_eq!(lines.first(), Some(&"step 1"), "{tail}");
    assert_eq!(
        lines.last(),
        Some(&"E: unable to fetch frobnicate"),
        "{tail}"
    );
    assert!(!tail.contains("step 30\n"), "{tail}");
    // Redacted: the task's secret never leaves.
    assert!(tail.contains("token: "), "{tail}");
    assert!(!pr.contains(secret), "{pr}");
    server.assert_finished();

    // `deckhand verify` says the same on stdout.
    let mut cmd = deckhand_cmd(&[("TEAM_TOKEN", secret)]);
    cmd.args(["verify", "--dev-container", "--repo"]).arg(&repo);
    let out = output(cmd);
    let said = format!(
        "setup `sh ./install-tools.sh` (from .devcontainer.json (image {BASE}) (dev container)) ❌ exit 3\nstep 1\n"
    );
    assert!(out.stdout.starts_with(&said), "{}", out.stdout);
    assert!(
        out.stdout.contains("E: unable to fetch frobnicate\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(secret), "{}", out.stdout);
}

/// The `deckhand-dev:<hash>` tag a verify run printed it builds or reuses.
fn dev_tag(stderr: &str, verb: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once(&format!("🐳 dev container: {verb} "))?;
        rest.split_whitespace()
            .find(|w| w.starts_with("deckhand-dev:"))
            .map(str::to_string)
    })
}

/// Removes an image when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn a_saved_and_loaded_dev_image_is_reused_without_a_build() {
    if !engine() {
        return;
    }
    // Content of this run only: no other test shares the tag.
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dockerfile = format!("{TOOL_DOCKERFILE}LABEL deckhand.test.run=\"{nonce}\"\n");
    let files = [
        (
            ".devcontainer/devcontainer.json",
            "{ \"build\": { \"dockerfile\": \"Dockerfile\" } }\n",
        ),
        (".devcontainer/Dockerfile", dockerfile.as_str()),
        ("run-tests.sh", RUN_TESTS),
        (
            ".github/deckhand.yml",
            "commands:\n  test: sh ./run-tests.sh\n",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let first = commit_tree(&dir.path().join("job-1/repo"), &files);
    let (code, doc, stderr) = verify(&first, &["--dev-container"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    let tag = dev_tag(&stderr, "building")
        .unwrap_or_else(|| panic!("no tag printed for the build:\n{stderr}"));
    let image = Image(tag.clone());

    // The job's end: saved; a new runner: the engine has no such image.
    let tar = dir.path().join("dev-images.tar");
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    docker(&["save", "-o", tar.to_str().unwrap(), &image.0]);
    docker(&["rmi", &image.0]);
    let gone = Command::new("docker")
        .args(["image", "inspect", &image.0])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "{} is still there", image.0);

    // The next job loads it and checks out elsewhere: nothing is built.
    docker(&["load", "-i", tar.to_str().unwrap()]);
    let second = commit_tree(&dir.path().join("job-2/checkout"), &files);
    let (code, doc, stderr) = verify(&second, &["--dev-container"]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(dev_tag(&stderr, "reusing"), Some(tag), "{stderr}");
    assert_eq!(dev_tag(&stderr, "building"), None, "{stderr}");
}

/// Setup (`setup`) fetches from a registry through its own proxy, which
/// it writes down; later (`after`) a command tries that proxy again, and
/// its own. Bash only: the base image has no HTTP client.
const SETUP_PROXY_CHECK: &str = r#"#!/bin/bash
get() {
  local proxy=${1#http://}
  exec 3<>"/dev/tcp/${proxy%:*}/${proxy##*:}" 2>/dev/null || { echo "no proxy at $proxy"; return; }
  printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$2" >&3
  timeout 10 cat <&3 | tr -d '\r' | sed -n '1p;$p'
  exec 3<&-
}
if [ "$1" = setup ]; then
  echo "$http_proxy" > /tmp/setup-proxy
  out=$(get "$http_proxy" "http://pypi.org:$2/setup")
  echo "$out"
  case "$out" in *"200 OK"*) exit 0 ;; *) exit 1 ;; esac
fi
[ -s /tmp/setup-proxy ] || { echo "setup left no proxy address"; exit 1; }
get "$(cat /tmp/setup-proxy)" "http://pypi.org:$2/after" | sed 's/^/setup proxy: /'
get "$http_proxy" "http://pypi.org:$2/after" | sed 's/^/own proxy: /'
"#;

/// Setup's wider network (`network_setup: dependencies`) ends with setup:
/// a check of `deckhand verify --dev-container`, and an agent command of
/// `deckhand run --dev-container`, that connect to the setup proxy's
/// address and port for a registry get nothing; their own proxy refuses
/// the registry (level `integration`).
#[test]
fn the_setup_proxy_of_a_dev_container_is_closed_once_setup_is_over() {
    if !engine() {
        return;
    }
    use support::model_server::ModelServer;
    let (port, hits) = common::http_server("127.0.0.3", "hello-from-the-registry\n");
    let dir = tempfile::tempdir().unwrap();
    let repo = commit_tree(
        &dir.path().join("repo"),
        &[
            (".devcontainer.json", &format!("{{ \"image\": \"{BASE}\" }}")),
            ("net-check.sh", SETUP_PROXY_CHECK),
            (
                ".github/deckhand.yml",
                &format!(
                    "network: integration\nnetwork_setup: dependencies\ncommands:\n  setup: bash ./net-check.sh setup {port}\n  test: bash ./net-check.sh after {port}\n"
                ),
            ),
        ],
    );
    let resolve = [("DECKHAND_PROXY_RESOLVE", "pypi.org=127.0.0.3")];
    let after = |text: &str| {
        assert!(
            text.contains("setup proxy: no proxy at "),
            "the setup proxy still answers after setup:\n{text}"
        );
        assert!(
            text.contains("own proxy: HTTP/1.1 403 Forbidden"),
            "the command's own proxy let the registry through:\n{text}"
        );
    };

    // `deckhand verify`: the check runs after setup.
    let mut cmd = deckhand_cmd(&resolve);
    cmd.args(["verify", "--json", "--dev-container", "--repo"])
        .arg(&repo);
    let out = output(cmd);
    let doc: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", out.stdout, out.stderr));
    assert_eq!(doc["setup"][0]["passed"], true, "{doc:#}\n{}", out.stderr);
    after(doc["checks"][0]["output"].as_str().unwrap());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only setup reached the registry"
    );

    // `deckhand run`: the agent's command comes after the baseline.
    let check = format!("bash ./net-check.sh after {port}");
    let server = ModelServer::start(notes_script(Some(&check), "notes\n"));
    let run = common::deckhand(
        &server,
        common::Wire::Anthropic,
        &[
            "run",
            "--repo",
            &repo.display().to_string(),
            "--task",
            "Write notes",
            "--dev-container",
        ],
        &resolve,
    );
    run.assert_code(0);
    let saw: String = server
        .requests()
        .iter()
        .map(|r| r.body.replace("\\n", "\n"))
        .collect();
    after(&saw);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "only the two setups reached the registry:\n{}",
        run.stderr
    );
    server.assert_finished();
}
