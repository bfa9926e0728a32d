//! The world an action scenario runs in: a fixture repository on the test
//! GitHub server, the scripted model, real webhook payloads, and one
//! function that starts `deckhand action` on the host or in the image.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::{deckhand_cmd, output, RunResult, API_KEY};
use crate::support::github_server::GithubServer;
use crate::support::model_server::{ModelServer, Reply};
use crate::support::repos::{git, node_service};

pub const TOKEN: &str = "ghs_testtoken0123456789abcdef";
pub const OWNER: &str = "Codertocat";
pub const REPO: &str = "Hello-World";
pub const FULL: &str = "Codertocat/Hello-World";
pub const TITLE: &str = "Add rate limiting to /api/login";
pub const BRANCH: &str = "deckhand/1-add-rate-limiting-to-api-login";

pub struct World {
    pub dir: tempfile::TempDir,
    pub gh: GithubServer,
    pub model: ModelServer,
    pub runs: std::sync::atomic::AtomicU32,
    /// How `deckhand action` is started.
    pub launch: Launch,
}

pub fn world(script: Vec<Reply>) -> World {
    world_with(script, &[])
}

/// A world whose repository also holds `files` (committed).
pub fn world_with(script: Vec<Reply>, files: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let src = node_service(dir.path());
    for (path, content) in files {
        let full = src.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    if !files.is_empty() {
        git(&src, &["add", "-A"]);
        git(&src, &["commit", "-qm", "fixture files"]);
    }
    let gh = GithubServer::start(TOKEN);
    gh.add_repo(OWNER, REPO, &src);
    gh.set_permission(OWNER, REPO, "Codertocat", "admin");
    let issue = gh.add_issue(
        OWNER,
        REPO,
        TITLE,
        "Tests for normal flow, exceeded limit, reset after window.",
        "Codertocat",
        &[],
    );
    assert_eq!(issue, 1);
    World {
        dir,
        gh,
        model: ModelServer::start(script),
        runs: std::sync::atomic::AtomicU32::new(0),
        launch: Launch::Host,
    }
}

pub fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/webhooks")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A real payload with some fields changed.
pub fn event(w: &World, rel: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = fixture(rel);
    for (from, to) in edits {
        assert!(text.contains(from), "{rel} has no `{from}`");
        text = text.replace(from, to);
    }
    serde_json::from_str::<serde_json::Value>(&text).expect("still JSON");
    let n = w.runs.load(std::sync::atomic::Ordering::SeqCst);
    let path = w.dir.path().join(format!("event-{n}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn labeled(w: &World) -> PathBuf {
    event(
        w,
        "issues/09-labeled.json",
        &[("\"name\": \"bug\"", "\"name\": \"deckhand\"")],
    )
}

/// A comment made on the server by Codertocat, and its event.
pub fn comment(w: &World, body: &str) -> PathBuf {
    comment_event(w, 1, body, &[])
}

/// A comment made on pull request `pr` by Codertocat, and its event.
pub fn pr_comment(w: &World, pr: u64, body: &str) -> PathBuf {
    let number = format!("\"number\": {pr}, \"pull_request\": {{\"url\": \"x\"}},");
    comment_event(w, pr, body, &[("\"number\": 1,", &number)])
}

/// Codertocat's comment `body` on issue or PR `number`, and its event with `edits` made too.
fn comment_event(w: &World, number: u64, body: &str, edits: &[(&str, &str)]) -> PathBuf {
    let id = w.gh.add_comment(OWNER, REPO, number, "Codertocat", body);
    let escaped = serde_json::to_string(body).unwrap();
    let id = format!("\"id\": {id}");
    let mut all = vec![
        (
            "\"You are totally right! I'll get this fixed right away.\"",
            escaped.as_str(),
        ),
        ("\"id\": 492700400", id.as_str()),
    ];
    all.extend_from_slice(edits);
    event(w, "issue_comment/00-created.json", &all)
}

pub struct ActionRun {
    pub result: RunResult,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
    /// The job's `GITHUB_WORKSPACE` on this machine.
    pub workspace: PathBuf,
}

/// Runs `deckhand action` as the runner would: the binary with the runner's
/// environment, or the image the way the runner starts a Docker action.
pub fn action(
    w: &World,
    event_name: &str,
    event_path: &Path,
    run_id: u64,
    extra: &[(&str, &str)],
) -> ActionRun {
    let n = w.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let run = RunDirs::new(w.dir.path(), n);
    let mut with: Vec<(String, String)> = vec![
        ("github_token".into(), TOKEN.into()),
        ("anthropic_api_key".into(), API_KEY.into()),
        ("trigger_label".into(), "deckhand".into()),
        ("trigger_phrase".into(), "/deckhand".into()),
        ("memory_branch".into(), "deckhand/memory".into()),
        ("max_attempts".into(), "3".into()),
        ("draft".into(), "false".into()),
    ];
    let mut env: Vec<(String, String)> = vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_EVENT_NAME".into(), event_name.into()),
        ("GITHUB_REPOSITORY".into(), FULL.into()),
        ("GITHUB_SERVER_URL".into(), w.gh.server_url()),
        ("GITHUB_API_URL".into(), w.gh.api_url()),
        ("GITHUB_RUN_ID".into(), run_id.to_string()),
        ("ANTHROPIC_BASE_URL".into(), w.model.anthropic_base_url()),
    ];
    for (k, v) in extra {
        match k.strip_prefix("INPUT_") {
            Some(name) => {
                let name = name.to_lowercase();
                with.retain(|(n, _)| *n != name);
                with.push((name, v.to_string()));
            }
            None => env.push((k.to_string(), v.to_string())),
        }
    }
    let result = match &w.launch {
        Launch::Host => {
            let mut cmd = deckhand_cmd(&[]);
            cmd.arg("action")
                .env("GITHUB_EVENT_PATH", event_path)
                .env("GITHUB_WORKSPACE", &run.workspace)
                .env("GITHUB_OUTPUT", &run.output)
                .env("GITHUB_STEP_SUMMARY", &run.summary)
                .env("RUNNER_TEMP", w.dir.path().join("runner-temp"));
            for (name, value) in &with {
                cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
            }
            cmd.envs(env);
            output(cmd)
        }
        Launch::Container(image) => {
            crate::common::container::checkout(w, &run.workspace);
            crate::common::container::run_action(image.as_str(), &run, event_path, &with, &env)
        }
    };
    ActionRun {
        outputs: parse_outputs(&std::fs::read_to_string(&run.output).unwrap()),
        summary: std::fs::read_to_string(&run.summary).unwrap_or_default(),
        result,
        workspace: run.workspace.clone(),
    }
}

/// The directories and files one job's runner would have.
pub struct RunDirs {
    pub root: PathBuf,
    pub workspace: PathBuf,
    pub output: PathBuf,
    pub summary: PathBuf,
}

impl RunDirs {
    fn new(root: &Path, n: u32) -> RunDirs {
        let root = root.join(format!("run-{n}"));
        let workspace = root.join("workspace");
        let commands = root.join("file_commands");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&commands).unwrap();
        let output = commands.join(format!("set_output_{n}"));
        let summary = commands.join(format!("step_summary_{n}"));
        std::fs::write(&output, "").unwrap();
        RunDirs {
            root,
            workspace,
            output,
            summary,
        }
    }
}

/// How a scenario starts `deckhand action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// The binary cargo built, with the runner's variables.
    Host,
    /// This image, as the Actions runner starts a Docker action.
    Container(String),
}

impl World {
    /// The same world, with jobs started by `launch`.
    pub fn launched(mut self, launch: Launch) -> World {
        self.launch = launch;
        self
    }
}

impl ActionRun {
    /// Checks the step's `status` output, showing the run's logs if wrong.
    pub fn assert_status(&self, status: &str) -> &Self {
        assert_eq!(
            self.outputs.get("status").map(String::as_str),
            Some(status),
            "{:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.outputs,
            self.result.stdout,
            self.result.stderr
        );
        self
    }

    /// Checks that the job's stdout contains `needle`, showing the stdout if not.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert_shows(&self.result.stdout, needle);
        self
    }

    /// Checks that the job's stderr contains `needle`, showing the stderr if not.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert_shows(&self.result.stderr, needle);
        self
    }
}

/// Checks that `text` contains `needle`, showing `text` if not.
#[track_caller]
fn assert_shows(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

/// Reads `name<<DELIM` blocks back.
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line.split_once("<<").expect("name<<DELIM");
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_string(), value.join("\n"));
    }
    out
}

/// Research plans one file; code writes it. No criteria: no review turn.
pub fn simple_script(file: &str) -> Vec<Reply> {
    vec![
        Reply::tool("update_spec", json!({"plan": [format!("Create {file}")]})),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            json!({"path": file, "content": "module.exports = 1;\n"}),
        ),
        Reply::text("Created the file."),
    ]
}

/// Learn, after a feedback fix, finds no lasting rule in the feedback.
pub fn learns_nothing() -> Reply {
    Reply::text("The feedback holds no lasting rule.")
}

pub fn progress_comments(w: &World) -> Vec<String> {
    w.gh.comments(OWNER, REPO, 1)
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.contains("<!-- deckhand:progress"))
        .collect()
}
