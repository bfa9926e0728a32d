//! Starts Deckhand's image the way the Actions runner starts a Docker action:
//! the runner's mounts, its variables rewritten to container paths, the
//! `INPUT_*` defaults of action.yml overlaid with the workflow's `with:`,
//! and the entrypoint arguments of `runs.args`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::action_world::{RunDirs, World, OWNER, REPO, TOKEN};
use crate::common::{output, RunResult};
use crate::support::repos::git;

/// The uid and gid of the runner's user, which owns the workspace.
pub const RUNNER_UID: u32 = 1001;

/// The image under test, from `DECKHAND_TEST_IMAGE`. Without it the
/// container tests say they are skipped; with `DECKHAND_REQUIRE_IMAGE=1`
/// (CI) a missing image is a failure, never a silent skip.
pub fn image() -> Option<String> {
    match std::env::var("DECKHAND_TEST_IMAGE") {
        Ok(image) if !image.is_empty() => {
            let inspect = Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", &image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            assert!(
                matches!(inspect, Ok(s) if s.success()),
                "DECKHAND_TEST_IMAGE={image}, but `docker image inspect {image}` fails: \
                 build it with `bash ci/images.sh` first"
            );
            Some(image)
        }
        _ => {
            assert!(
                std::env::var("DECKHAND_REQUIRE_IMAGE").as_deref() != Ok("1"),
                "DECKHAND_REQUIRE_IMAGE=1 but DECKHAND_TEST_IMAGE is not set"
            );
            eprintln!(
                "SKIPPED: container scenario (set DECKHAND_TEST_IMAGE to an image built from \
                 the Dockerfile; `bash ci/images.sh` builds one)"
            );
            None
        }
    }
}

/// action.yml, parsed.
pub fn action_yml() -> serde_yaml::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `INPUT_*` as the runner sets them: every input's default from
/// action.yml (expressions evaluated the way a workflow would), then `with`.
pub fn input_env(with: &[(String, String)]) -> BTreeMap<String, String> {
    let yml = action_yml();
    let mut env = BTreeMap::new();
    for (name, spec) in yml["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let default = match &spec["default"] {
            serde_yaml::Value::String(s) => s.replace("${{ github.token }}", TOKEN),
            serde_yaml::Value::Null => String::new(),
            other => serde_yaml::to_string(other).unwrap().trim().to_string(),
        };
        env.insert(input_var(name), default);
    }
    for (name, value) in with {
        env.insert(input_var(name), value.clone());
    }
    env
}

fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

/// The workspace as `actions/checkout` leaves it: a clone of the repository
/// whose remote is the server's URL, with the token in an extraheader, all
/// owned by the runner's user.
pub fn checkout(w: &World, workspace: &Path) {
    if workspace.join(".git").exists() {
        return;
    }
    let src = w.gh.repo_path(OWNER, REPO);
    git(
        workspace.parent().unwrap(),
        &[
            "clone",
            "-q",
            src.to_str().unwrap(),
            workspace.to_str().unwrap(),
        ],
    );
    let url = format!("{}/{OWNER}/{REPO}", w.gh.server_url());
    git(workspace, &["remote", "set-url", "origin", &url]);
    let basic = base64_basic(&format!("x-access-token:{TOKEN}"));
    git(
        workspace,
        &[
            "config",
            "--local",
            &format!("http.{}/.extraheader", w.gh.server_url()),
            &format!("AUTHORIZATION: basic {basic}"),
        ],
    );
    chown_tree(workspace.parent().unwrap());
}

fn base64_basic(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Hands `dir` and everything in it to the runner's user.
pub fn chown_tree(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", &format!("{RUNNER_UID}:{RUNNER_UID}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "chown -R {}", dir.display());
}

/// `docker run` of `image` for one job.
pub fn run_action(
    image: &str,
    run: &RunDirs,
    event_path: &Path,
    with: &[(String, String)],
    env: &[(String, String)],
) -> RunResult {
    let home = run.root.join("home");
    let workflow = run.root.join("workflow");
    let runner_temp = run.root.join("runner_temp");
    for dir in [&home, &workflow, &runner_temp] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(event_path, workflow.join("event.json")).unwrap();
    chown_tree(&run.root);
    let commands = run.output.parent().unwrap();
    let file = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();

    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "host"])
        .args(["--workdir", "/github/workspace"]);
    for (host, inside) in [
        (run.workspace.as_path(), "/github/workspace"),
        (home.as_path(), "/github/home"),
        (workflow.as_path(), "/github/workflow"),
        (commands, "/github/file_commands"),
        (runner_temp.as_path(), "/github/runner_temp"),
        (Path::new("/var/run/docker.sock"), "/var/run/docker.sock"),
    ] {
        cmd.arg("-v").arg(format!("{}:{inside}", host.display()));
    }
    let mut vars: BTreeMap<String, String> = input_env(with);
    for (k, v) in [
        ("HOME", "/github/home".to_string()),
        ("CI", "true".to_string()),
        ("GITHUB_WORKSPACE", "/github/workspace".to_string()),
        (
            "GITHUB_EVENT_PATH",
            "/github/workflow/event.json".to_string(),
        ),
        (
            "GITHUB_OUTPUT",
            format!("/github/file_commands/{}", file(&run.output)),
        ),
        (
            "GITHUB_STEP_SUMMARY",
            format!("/github/file_commands/{}", file(&run.summary)),
        ),
        ("RUNNER_TEMP", "/github/runner_temp".to_string()),
        ("RUNNER_OS", "Linux".to_string()),
    ] {
        vars.insert(k.to_string(), v);
    }
    for (k, v) in env {
        vars.insert(k.clone(), v.clone());
    }
    for (k, v) in &vars {
        cmd.arg("-e").arg(format!("{k}={v}"));
    }
    cmd.arg(image);
    for arg in action_yml()["runs"]["args"].as_sequence().unwrap() {
        cmd.arg(arg.as_str().unwrap());
    }
    cmd.stdin(Stdio::null());
    output(cmd)
}

/// Files under `dir` (not following links) whose owner is not `uid`.
pub fn not_owned_by(dir: &Path, uid: u32) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.uid() != uid {
            out.push(p.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    out
}
