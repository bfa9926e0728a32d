//! Campaigns end to end: `deckhand plan` against the test GitHub (an org of
//! 1,000 repositories, rate limits, matrix batches), status records written
//! by parallel processes with the tracking issue, and `deckhand campaign run`
//! on local checkouts with a scripted model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use common::{action_world, deckhand_cmd, output, RunResult};
use support::github_server::{Fault, GithubServer};
use support::model_server::{ModelServer, Reply};
use support::repos::{commit_tree, git};

const TOKEN: &str = "ghs_campaign_test_token";
const TASK: &str = "Upgrade lodash from 4.17 to 5.0 across all microservices in the org. Handle breaking changes: _.chain removal, _.flatten signature change. Run tests after each upgrade. Open individual PRs per service.";
const MATCH: &str = r#"package.json:"lodash"\s*:"#;

fn package_json(name: &str, deps: &[(&str, &str)], test: bool) -> String {
    let deps: serde_json::Map<String, Value> = deps
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut v = json!({"name": name, "version": "1.0.0", "dependencies": deps});
    if test {
        v["scripts"] = json!({"test": "node --test"});
    }
    serde_json::to_string_pretty(&v).unwrap()
}

fn package_lock(name: &str, lodash: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "name": name,
        "lockfileVersion": 3,
        "packages": {
            "": {"name": name, "dependencies": {"express": "^4.18.2"}},
            "node_modules/express": {"version": "4.18.2"},
            "node_modules/lodash": {"version": lodash},
        }
    }))
    .unwrap()
}

/// What the org holds and what a plan must find.
struct Org {
    /// repository → (dependency kind, version)
    live: BTreeMap<String, (String, String)>,
}

/// `acme`: 1,000 repositories; 15 use lodash: 10 directly, 5 only through a
/// lockfile; 2 of them archived and 1 a fork.
fn org_of_1000(gh: &GithubServer) -> Org {
    let now = chrono::Utc::now();
    let mut live = BTreeMap::new();
    for i in 0..1000 {
        let name = format!("svc-{i:04}");
        type Files = Vec<(String, String)>;
        let (files, kind): (Files, Option<(&str, String)>) = match i {
            // Direct users (some call the affected APIs, some have no tests).
            i if i % 100 == 7 => {
                let version = format!("^4.17.{}", 10 + i / 100);
                let mut files = vec![(
                    "package.json".to_string(),
                    package_json(
                        &name,
                        &[("lodash", &version), ("express", "^4")],
                        i % 200 == 7,
                    ),
                )];
                if i % 300 == 7 {
                    files.push((
                        "src/report.js".to_string(),
                        "const _ = require('lodash');\nmodule.exports = (xs) => _.chain(xs).map(String).value();\n".to_string(),
                    ));
                }
                (files, Some(("direct", version)))
            }
            // Transitive users: only the lockfile holds lodash.
            i if i % 200 == 42 => {
                let version = format!("4.17.{}", i / 100);
                (
                    vec![
                        (
                            "package.json".to_string(),
                            package_json(&name, &[("express", "^4")], true),
                        ),
                        (
                            "package-lock.json".to_string(),
                            package_lock(&name, &version),
                        ),
                    ],
                    Some(("transitive", version)),
                )
            }
            _ => (
                vec![(
                    "package.json".to_string(),
                    package_json(&name, &[("react", "^18")], true),
                )],
                None,
            ),
        };
        let archived = i == 107 || i == 907;
        let fork = i == 442;
        let pushed = now - chrono::Duration::days(20 + i as i64 % 30);
        gh.set_repo_meta("acme", &name, archived, fork, 100 + i as u64, pushed);
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        gh.add_files("acme", &name, &refs);
        if let (Some((kind, version)), false) = (kind, archived || fork) {
            live.insert(format!("acme/{name}"), (kind.to_string(), version));
        }
    }
    Org { live }
}

fn plan_cmd(gh: &GithubServer, args: &[&str], env: &[(&str, &str)]) -> RunResult {
    let api = gh.api_url();
    let server = gh.server_url();
    let mut all = vec![
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_SERVER_URL", server.as_str()),
    ];
    all.extend_from_slice(env);
    let mut cmd = deckhand_cmd(&all);
    cmd.args(args);
    output(cmd)
}

fn found(plan: &Value) -> BTreeMap<String, (String, String)> {
    plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let version = r["version"].as_str().unwrap_or_default();
            let version = version.trim_start_matches('^').to_string();
            (
                r["repository"].as_str().unwrap().to_string(),
                (r["dependency"].as_str().unwrap().to_string(), version),
            )
        })
        .collect()
}

#[test]
fn plan_finds_the_twelve_live_users_of_an_org_of_1000_within_60_calls() {
    let gh = GithubServer::start(TOKEN);
    let org = org_of_1000(&gh);
    assert_eq!(org.live.len(), 12);
    let result = plan_cmd(
        &gh,
        &[
            "--json", "plan", "--task", TASK, "--org", "acme", "--match", MATCH,
        ],
        &[],
    );
    result.assert_code(0);
    let plan: Value = serde_json::from_str(&result.stdout).unwrap();
    let want: BTreeMap<String, (String, String)> = org
        .live
        .iter()
        .map(|(k, (kind, v))| {
            (
                k.clone(),
                (kind.clone(), v.trim_start_matches('^').to_string()),
            )
        })
        .collect();
    assert_eq!(found(&plan), want);
    // Low risk first, orders 1..=12, waves of 5.
    let repos = plan["repositories"].as_array().unwrap();
    let risks: Vec<u64> = repos.iter().map(|r| r["risk"].as_u64().unwrap()).collect();
    assert!(risks.windows(2).all(|w| w[0] <= w[1]), "{risks:?}");
    let placement: Vec<(u64, u64)> = repos
        .iter()
        .map(|r| (r["order"].as_u64().unwrap(), r["wave"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        placement,
        (1..=12u64)
            .map(|o| (o, (o - 1) / 5 + 1))
            .collect::<Vec<_>>()
    );
    // The caller of _.chain is known and counted against it.
    let chain = repos
        .iter()
        .find(|r| r["repository"] == "acme/svc-0307")
        .unwrap();
    assert_eq!(chain["call_sites"], json!({"_.chain": 1, "_.flatten": 0}));
    assert_eq!(chain["test_command"], Value::Null);
    assert!(chain["reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("no test command")));
    let calls = plan["api_calls"].as_u64().unwrap();
    let api_requests = gh.requests().iter().filter(|r| r.api).count() as u64;
    assert_eq!(calls, api_requests);
    assert!(calls <= 60, "{calls} API calls");
    assert!(
        result
            .stderr
            .contains(&format!("{calls} GitHub API call(s)")),
        "{}",
        result.stderr
    );
    gh.check_requests_against_openapi().unwrap();
    gh.check_responses_against_openapi().unwrap();
}

/// A sleeper that records each wait and returns at once.
fn recording_sleeper() -> (deckhand::github::Policy, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let policy = deckhand::github::Policy {
        sleeper: Arc::new(move |d| {
            seen.lock().unwrap().push(d);
            Box::pin(async {}) as Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        }),
        ..deckhand::github::Policy::default()
    };
    (policy, waits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_and_the_plan_completes() {
    use deckhand::campaign::matcher::Match;
    use deckhand::campaign::planner::{self, Request, Target};
    let gh = GithubServer::start(TOKEN);
    let org = org_of_1000(&gh);
    gh.inject(
        "GET",
        "/orgs/acme/repos",
        Fault::SecondaryLimit { retry_after: None },
    );
    gh.inject(
        "GET",
        "/search/code",
        Fault::SecondaryLimit {
            retry_after: Some(3),
        },
    );
    gh.inject(
        "GET",
        "/search/code",
        Fault::Exhausted {
            status: 429,
            reset_in: 20,
        },
    );
    gh.inject(
        "GET",
        "/repos/acme/svc-0007/contents/package.json",
        Fault::Exhausted {
            status: 403,
            reset_in: 40,
        },
    );
    let (policy, waits) = recording_sleeper();
    let client = deckhand::github::GitHub::new(&gh.api_url(), TOKEN)
        .unwrap()
        .with_policy(policy);
    let request = Request {
        task: TASK.to_string(),
        target: Target::Org("acme".into()),
        matches: vec![Match::parse(MATCH).unwrap()],
        topic: None,
        search: true,
        wave_size: 5,
        halt_failure_rate: 0.3,
        per_hour: None,
    };
    let plan = planner::plan(&request, Some(&client)).await.unwrap();
    let got: BTreeSet<String> = plan
        .repositories
        .iter()
        .map(|r| r.repository.clone())
        .collect();
    assert_eq!(got, org.live.keys().cloned().collect());
    // One wait per limit, each as long as GitHub asked (a secondary limit
    // without retry-after: at least a minute), never an immediate retry.
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 4, "{waits:?}");
    assert_eq!(waits[0], Duration::from_secs(60));
    assert_eq!(waits[1], Duration::from_secs(3));
    assert!(
        waits[2] >= Duration::from_secs(19) && waits[2] <= Duration::from_secs(22),
        "{waits:?}"
    );
    assert!(
        waits[3] >= Duration::from_secs(39) && waits[3] <= Duration::from_secs(42),
        "{waits:?}"
    );
    // Every limited request was sent again exactly once, after its wait.
    let limited: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.status == 403 || r.status == 429)
        .collect();
    assert_eq!(limited.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_search_results_are_split_by_size_and_searches_are_paced() {
    use deckhand::campaign::matcher::Match;
    use deckhand::campaign::planner::{self, Request, Target};
    let gh = GithubServer::start(TOKEN);
    let mut want = BTreeSet::new();
    for i in 0..30 {
        let name = format!("app-{i:02}");
        // Sizes spread out so that size ranges separate them.
        let pad = "x".repeat(i * 700);
        let text = if i % 3 == 0 {
            "{\"dependencies\":{\"react\":\"^18\"}}".to_string()
        } else {
            want.insert(format!("acme/{name}"));
            format!("{{\"description\":\"{pad}\",\"dependencies\":{{\"lodash\":\"^4.17.21\"}}}}")
        };
        gh.add_files("acme", &name, &[("package.json", &text)]);
    }
    gh.set_code_search_incomplete_over(6);
    // No minute passes under the recording sleeper: the server's own limit is
    // lifted so that the client's pacing is what shows.
    gh.set_code_search_per_minute(1000);
    let (policy, waits) = recording_sleeper();
    let client = deckhand::github::GitHub::new(&gh.api_url(), TOKEN)
        .unwrap()
        .with_policy(policy);
    let request = Request {
        task: "Upgrade lodash".to_string(),
        target: Target::Org("acme".into()),
        matches: vec![Match::parse(MATCH).unwrap()],
        topic: None,
        search: true,
        wave_size: 5,
        halt_failure_rate: 0.3,
        per_hour: None,
    };
    let plan = planner::plan(&request, Some(&client)).await.unwrap();
    let got: BTreeSet<String> = plan
        .repositories
        .iter()
        .map(|r| r.repository.clone())
        .collect();
    assert_eq!(got, want);
    let searches = gh
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/search/code"))
        .count();
    assert!(gh.requests().iter().any(|r| r.path.contains("size%3A")));
    // At most 10 searches a minute: one pacing wait per 10 beyond the first 10.
    let waits = waits.lock().unwrap().clone();
    assert!(searches > 10, "{searches}");
    assert_eq!(
        waits.len(),
        (searches - 1) / 10,
        "{searches} searches, waits {waits:?}"
    );
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(60)),
        "{waits:?}"
    );
}

/// `name<<DELIM` blocks of a `$GITHUB_OUTPUT` file.
fn read_outputs(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
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

#[test]
fn a_300_repository_plan_yields_two_batches_within_githubs_limits() {
    let gh = GithubServer::start(TOKEN);
    for i in 0..300 {
        let name = format!("svc-{i:03}");
        let text = package_json(&name, &[("lodash", "^4.17.21")], true);
        gh.add_files("acme", &name, &[("package.json", &text)]);
    }
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("github_output");
    std::fs::write(&out_file, "").unwrap();
    let out_path = out_file.display().to_string();
    let result = plan_cmd(
        &gh,
        &[
            "plan",
            "--task",
            "Upgrade lodash",
            "--org",
            "acme",
            "--match",
            MATCH,
            "--matrix",
        ],
        &[("GITHUB_OUTPUT", out_path.as_str())],
    );
    result.assert_code(0);
    let outputs = read_outputs(&out_file);
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "batch",
            "batch_0",
            "batch_1",
            "batches",
            "campaign_id",
            "matrix",
            "total"
        ]
    );
    assert_eq!(outputs["batches"], "2");
    assert_eq!(outputs["total"], "300");
    assert_eq!(outputs["matrix"], outputs["batch_0"]);
    assert_eq!(
        serde_json::from_str::<Value>(result.stdout.trim()).unwrap(),
        serde_json::from_str::<Value>(&outputs["matrix"]).unwrap()
    );
    let mut all = Vec::new();
    for b in ["batch_0", "batch_1"] {
        let batch: Value = serde_json::from_str(&outputs[b]).unwrap();
        let include = batch["include"].as_array().unwrap();
        assert!(include.len() <= 256);
        all.extend(
            include
                .iter()
                .map(|e| e["repository"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(all.len(), 300);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 300);
    assert!(std::fs::metadata(&out_file).unwrap().len() < 1024 * 1024);
}

/// A memory repository on the test GitHub (`acme/config`) and a plan of
/// `n` repositories (`acme/svc-<i>`) in it, in waves of `wave_size`.
fn campaign_on_github(gh: &GithubServer, dir: &Path, n: usize, wave_size: usize) -> String {
    let config = commit_tree(&dir.join("config"), &[("README.md", "config\n")]);
    gh.add_repo("acme", "config", &config);
    for i in 0..n {
        let name = format!("svc-{i}");
        let text = package_json(&name, &[("lodash", "^4.17.21")], true);
        gh.add_files("acme", &name, &[("package.json", &text)]);
    }
    let result = plan_cmd(
        gh,
        &[
            "--json",
            "plan",
            "--task",
            "Upgrade lodash",
            "--org",
            "acme",
            "--match",
            MATCH,
            "--memory-repo",
            "acme/config",
            "--wave-size",
            &wave_size.to_string(),
        ],
        &[],
    );
    result.assert_code(0);
    let plan: Value = serde_json::from_str(&result.stdout).unwrap();
    plan["campaign_id"].as_str().unwrap().to_string()
}

#[test]
fn records_from_parallel_jobs_all_reach_the_dashboard_and_a_tick_during_a_render_survives() {
    let gh = GithubServer::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let id = campaign_on_github(&gh, dir.path(), 6, 3);
    let states = [
        "pr_open",
        "checks_failing",
        "needs_review",
        "merged",
        "running",
        "pr_open",
    ];
    let (api, server) = (gh.api_url(), gh.server_url());
    let children: Vec<_> = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let mut cmd = deckhand_cmd(&[
                ("GITHUB_TOKEN", TOKEN),
                ("GITHUB_API_URL", api.as_str()),
                ("GITHUB_SERVER_URL", server.as_str()),
            ]);
            let repo = format!("acme/svc-{i}");
            let url = format!("{server}/acme/svc-{i}/pull/{}", i + 1);
            cmd.args([
                "campaign",
                "record",
                &id,
                "--repository",
                &repo,
                "--state",
                state,
                "--pr-url",
                &url,
                "--memory-repo",
                "acme/config",
            ]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = plan_cmd(
        &gh,
        &[
            "--json",
            "campaign",
            "status",
            &id,
            "--memory-repo",
            "acme/config",
        ],
        &[],
    );
    status.assert_code(0);
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let got: Vec<(String, String, u64)> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["pr_number"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = states
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("acme/svc-{i}"), s.to_string(), i as u64 + 1))
        .collect();
    assert_eq!(got, want);

    // The first render opens the tracking issue with every row.
    let render = || {
        plan_cmd(
            &gh,
            &["campaign", "dashboard", &id, "--memory-repo", "acme/config"],
            &[],
        )
    };
    render().assert_code(0);
    let issue = gh
        .issues()
        .into_iter()
        .find(|i| i.title.starts_with(&format!("Campaign {id}")))
        .expect("tracking issue");
    let body = gh.issue_body("acme", "config", issue.number).unwrap();
    for (i, s) in states.iter().enumerate() {
        assert!(
            body.contains(&format!("| acme/svc-{i} |")) && body.contains(s),
            "{body}"
        );
    }
    assert!(body.contains("```mermaid\nxychart-beta"), "{body}");
    // Someone ticks "skip" while the next render runs: the tick is kept...
    let unticked = "- [ ] skip `acme/svc-1` <!-- deckhand:cmd skip acme/svc-1 -->";
    let ticked = "- [x] skip `acme/svc-1` <!-- deckhand:cmd skip acme/svc-1 -->";
    assert!(body.contains(unticked), "{body}");
    gh.edit_issue_after_next_read("acme", "config", issue.number, unticked, ticked);
    render().assert_code(0);
    let body = gh.issue_body("acme", "config", issue.number).unwrap();
    assert!(body.contains(ticked), "{body}");
    // ...and the next render acts on it, once.
    render().assert_code(0);
    let status = plan_cmd(
        &gh,
        &[
            "--json",
            "campaign",
            "status",
            &id,
            "--memory-repo",
            "acme/config",
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let svc1 = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == "acme/svc-1")
        .unwrap();
    assert_eq!(
        (svc1["state"].as_str(), svc1["applied"].clone()),
        (Some("skipped"), json!(["skip"]))
    );
    let body = gh.issue_body("acme", "config", issue.number).unwrap();
    assert!(
        body.contains(ticked) && body.contains("⏭️ skipped"),
        "{body}"
    );
}

/// `deckhand campaign record ID --repository R ARGS…` against the test GitHub, started (not awaited).
fn spawn_record(
    gh: &GithubServer,
    id: &str,
    repository: &str,
    args: &[&str],
) -> std::process::Child {
    let (api, server) = (gh.api_url(), gh.server_url());
    let mut cmd = deckhand_cmd(&[
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_SERVER_URL", server.as_str()),
    ]);
    cmd.args(["campaign", "record", id, "--repository", repository])
        .args(args)
        .args(["--memory-repo", "acme/config"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

fn wait_all(children: Vec<std::process::Child>) {
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `campaign status --json`'s records.
fn records_of(gh: &GithubServer, id: &str) -> Vec<Value> {
    let status = plan_cmd(
        gh,
        &[
            "--json",
            "campaign",
            "status",
            id,
            "--memory-repo",
            "acme/config",
        ],
        &[],
    );
    status.assert_code(0);
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    doc["records"].as_array().unwrap().clone()
}

/// 17 processes push their record at the same moment (the server holds
/// every push until all have arrived, so each round has one winner and the
/// rest re-run their change on the new tip): all 16 records land, the two
/// writers of one record both keep their field, and history is one linear
/// commit per write.
#[test]
fn seventeen_processes_writing_records_at_once_lose_nothing() {
    let gh = GithubServer::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let id = campaign_on_github(&gh, dir.path(), 16, 5);
    let before = gh.commits("acme", "config", "deckhand/memory");
    gh.hold_together("POST", "/acme/config.git/git-receive-pack", 17);
    let server = gh.server_url();
    let mut children = Vec::new();
    for i in 1..16 {
        let url = format!("{server}/acme/svc-{i}/pull/{i}");
        let tokens = (100 * i).to_string();
        children.push(spawn_record(
            &gh,
            &id,
            &format!("acme/svc-{i}"),
            &["--state", "pr_open", "--pr-url", &url, "--tokens", &tokens],
        ));
    }
    // Two writers of the same record, each with its own field.
    children.push(spawn_record(
        &gh,
        &id,
        "acme/svc-0",
        &["--state", "running", "--branch", "deckhand/lodash"],
    ));
    children.push(spawn_record(
        &gh,
        &id,
        "acme/svc-0",
        &["--state", "running", "--tokens", "7"],
    ));
    wait_all(children);
    let got: Vec<(String, String, Value, Value, u64)> = records_of(&gh, &id)
        .iter()
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["pr_number"].clone(),
                r["branch"].clone(),
                r["tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = vec![(
        "acme/svc-0".to_string(),
        "running".to_string(),
        Value::Null,
        json!("deckhand/lodash"),
        7,
    )];
    want.extend((1..16).map(|i| {
        (
            format!("acme/svc-{i}"),
            "pr_open".to_string(),
            json!(i),
            Value::Null,
            100 * i as u64,
        )
    }));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    let after = gh.commits("acme", "config", "deckhand/memory");
    assert_eq!(after.len(), before.len() + 17, "{after:?}");
    let merges = git(
        &gh.repo_path("acme", "config"),
        &["rev-list", "--merges", "refs/heads/deckhand/memory"],
    );
    assert_eq!(merges, "");
}

#[test]
fn campaign_run_runs_six_local_repositories_four_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    let mut lines = String::new();
    for i in 0..6 {
        let file = format!("src/upgraded{i}.js");
        let server = ModelServer::start(vec![
            Reply::tool("update_spec", json!({"plan": [format!("Create {file}")]})),
            Reply::text("Planned."),
            Reply::tool(
                "write_file",
                json!({"path": file, "content": "module.exports = 1;\n"}),
            ),
            Reply::text("Created the file."),
        ]);
        let config = format!("base_url: {}\n", server.anthropic_base_url());
        let repo = commit_tree(
            &dir.path().join(format!("svc-{i}")),
            &[
                (
                    "package.json",
                    &package_json(&format!("svc-{i}"), &[("lodash", "^4.17.21")], false),
                ),
                (".github/deckhand.yml", &config),
            ],
        );
        lines.push_str(&format!("{}\n", repo.display()));
        servers.push(server);
    }
    let list = dir.path().join("repos.txt");
    std::fs::write(&list, lines).unwrap();
    // A bare memory repository with one commit.
    let memory = dir.path().join("memory.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", memory.to_str().unwrap()],
    );
    git(
        &dir.path().join("svc-0"),
        &[
            "push",
            "-q",
            memory.to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    let mem = memory.display().to_string();
    let env = [("ANTHROPIC_API_KEY", common::API_KEY)];
    let run = |args: &[&str]| {
        let mut cmd = deckhand_cmd(&env);
        cmd.args(args);
        output(cmd)
    };
    let plan = run(&[
        "--json",
        "plan",
        "--task",
        "Upgrade lodash to 5",
        "--repos",
        list.to_str().unwrap(),
        "--match",
        MATCH,
        "--memory-repo",
        &mem,
    ]);
    plan.assert_code(0);
    let id = serde_json::from_str::<Value>(&plan.stdout).unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    let result = run(&["campaign", "run", &id, "-j", "4", "--memory-repo", &mem]);
    result.assert_code(0);
    // Six branches, one per repository.
    for (i, server) in servers.iter().enumerate() {
        let branches = git(
            &dir.path().join(format!("svc-{i}")),
            &[
                "branch",
                "--list",
                "deckhand/*",
                "--format=%(refname:short)",
            ],
        );
        assert_eq!(
            branches.lines().count(),
            1,
            "svc-{i}: {branches}\n{}",
            result.stderr
        );
        server.assert_finished();
    }
    // Six records, all with a branch ready.
    let status = run(&["--json", "campaign", "status", &id, "--memory-repo", &mem]);
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let got: Vec<(String, String, bool)> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["branch"].is_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = (0..6)
        .map(|i| (format!("svc-{i}"), "pr_open".to_string(), true))
        .collect();
    assert_eq!(got, want);
    // Tasks overlapped: some repository's requests arrived while another's
    // were under way (a serial run has disjoint spans), never more than 4.
    let spans: Vec<(u64, u64)> = servers
        .iter()
        .map(|s| {
            let a = s.arrivals();
            (*a.iter().min().unwrap(), *a.iter().max().unwrap())
        })
        .collect();
    let most_at_once = spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start <= e)
                .count()
        })
        .max()
        .unwrap();
    assert!((2..=4).contains(&most_at_once), "{spans:?}");
}

/// A campaign over the action world's repository (`Codertocat/Hello-World`,
/// also the memory repository), with its tracking issue opened.
fn campaign_over_the_world(w: &action_world::World) -> String {
    let list = w.dir.path().join("repos.txt");
    std::fs::write(&list, format!("{}\n", action_world::FULL)).unwrap();
    let (api, server) = (w.gh.api_url(), w.gh.server_url());
    let env = [
        ("GITHUB_TOKEN", action_world::TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_SERVER_URL", server.as_str()),
    ];
    let run = |args: &[&str]| {
        let mut cmd = deckhand_cmd(&env);
        cmd.args(args);
        output(cmd)
    };
    let plan = run(&[
        "--json",
        "plan",
        "--task",
        "Add a limit module",
        "--repos",
        list.to_str().unwrap(),
        "--match",
        r#"package.json:"user-service""#,
        "--memory-repo",
        action_world::FULL,
    ]);
    plan.assert_code(0);
    let id = serde_json::from_str::<Value>(&plan.stdout).unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    run(&[
        "campaign",
        "dashboard",
        &id,
        "--memory-repo",
        action_world::FULL,
    ])
    .assert_code(0);
    id
}

/// The memory branch of the world's repository, opened in `cache`.
fn world_memory(w: &action_world::World, cache: &Path) -> deckhand::memory::MemoryStore {
    deckhand::memory::MemoryStore::open(
        deckhand::git::remote::Remote {
            url: w.gh.clone_url(action_world::OWNER, action_world::REPO),
            token: action_world::TOKEN.into(),
        },
        "deckhand/memory",
        cache,
    )
    .unwrap()
}

/// A matrix job of a campaign (input `campaign`): its PR names the campaign
/// and links the tracking issue; and with 80 pull requests already opened
/// in the last minute (the ledger other jobs share), it waits, saying so,
/// until the oldest has left the minute, then takes its own place.
#[test]
fn a_campaign_pull_request_links_the_dashboard_and_waits_for_githubs_limit() {
    use action_world::{action, event, simple_script, world};
    use deckhand::campaign::pacing::{Entry, Ledger, Request, LEDGER_PATH};
    let w = world(simple_script("src/limit.js"));
    w.gh.set_permission(action_world::OWNER, action_world::REPO, "octocat", "write");
    let id = campaign_over_the_world(&w);
    let issue =
        w.gh.issues()
            .into_iter()
            .find(|i| i.title.starts_with(&format!("Campaign {id}")))
            .expect("tracking issue");
    // 80 requests of another campaign (pull requests and their replies,
    // both count): the oldest 35 s ago, the rest now.
    let now = chrono::Utc::now();
    let mut ledger = Ledger::default();
    for i in 0..80 {
        ledger.created.push(Entry {
            at: now - chrono::Duration::seconds(if i == 0 { 35 } else { 0 }),
            campaign: "cp-other".into(),
            repository: format!("acme/svc-{}", i / 2),
            kind: if i % 2 == 0 {
                Request::PullRequest
            } else {
                Request::Comment
            },
        });
    }
    let oldest = ledger.created[0].at;
    let mut memory = world_memory(&w, &w.dir.path().join("seed"));
    memory
        .write(
            &[(
                LEDGER_PATH.to_string(),
                Some(serde_json::to_string(&ledger).unwrap()),
            )],
            "seed the ledger",
            ("Test", "test@example.com"),
        )
        .unwrap();

    let ev = event(&w, "workflow_dispatch/00-event.json", &[]);
    let run = action(
        &w,
        "workflow_dispatch",
        &ev,
        4242,
        &[
            ("INPUT_TASK", "Add a limit module"),
            ("INPUT_REPOSITORY", action_world::FULL),
            ("INPUT_CAMPAIGN", &id),
        ],
    );
    run.result.assert_code(0);
    run.assert_status("done");
    let pulls = w.gh.pulls(action_world::OWNER, action_world::REPO);
    assert_eq!(pulls.len(), 1);
    let dashboard = format!(
        "{}/{}/issues/{}",
        w.gh.server_url(),
        action_world::FULL,
        issue.number
    );
    let body = pulls[0].body.clone().unwrap();
    assert!(
        body.contains(&format!(
            "Part of campaign `{id}` · [dashboard]({dashboard})\n<!-- deckhand:campaign-pr id={id} -->"
        )),
        "{body}"
    );
    // It waited for the minute, and said why.
    let waits: Vec<&str> = run
        .result
        .stdout
        .lines()
        .filter(|l| l.starts_with("Deckhand: waiting "))
        .collect();
    assert_eq!(waits.len(), 1, "{}", run.result.stdout);
    assert!(
        waits[0].ends_with(
            "before opening the pull request: 80 content-creating requests in the last minute (GitHub allows 80)."
        ),
        "{}",
        waits[0]
    );
    // Its creation is in the ledger, after the oldest left the minute.
    memory.refresh().unwrap();
    let after: Ledger = serde_json::from_str(&memory.read(LEDGER_PATH).unwrap().unwrap()).unwrap();
    assert_eq!(after.created.len(), 81);
    let mine = after.created.last().unwrap();
    assert_eq!(
        (mine.campaign.as_str(), mine.repository.as_str(), mine.kind),
        (id.as_str(), action_world::FULL, Request::PullRequest)
    );
    assert!(
        mine.at >= oldest + chrono::Duration::seconds(60),
        "{mine:?}"
    );
    w.model.assert_finished();
}

/// A matrix job whose campaign has no plan (a wrong id, or a plan job that
/// never stored one) fails at its start, naming the campaign: no clone, no
/// model turn, no pull request.
#[test]
fn a_matrix_job_of_a_campaign_without_a_plan_fails_before_any_work() {
    use action_world::{action, event, simple_script, world};
    let w = world(simple_script("src/limit.js"));
    w.gh.set_permission(action_world::OWNER, action_world::REPO, "octocat", "write");
    let ev = event(&w, "workflow_dispatch/00-event.json", &[]);
    let run = action(
        &w,
        "workflow_dispatch",
        &ev,
        4243,
        &[
            ("INPUT_TASK", "Add a limit module"),
            ("INPUT_REPOSITORY", action_world::FULL),
            ("INPUT_CAMPAIGN", "cp-0badc0de"),
        ],
    );
    assert_ne!(run.result.code, 0, "{}", run.result.stdout);
    run.assert_status("error");
    assert!(
        run.result.stdout.contains("::error")
            && run
                .result
                .stdout
                .contains("campaign cp-0badc0de has no plan on the memory branch"),
        "{}\n{}",
        run.result.stdout,
        run.result.stderr
    );
    assert!(w.model.requests().is_empty(), "no model turn");
    assert!(w
        .gh
        .pulls(action_world::OWNER, action_world::REPO)
        .is_empty());
    assert_eq!(w.model.remaining(), simple_script("src/limit.js").len());
}

/// `deckhand ARGS…` against the action world's server with its token.
fn world_cmd(
    w: &action_world::World,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Command {
    let (api, server) = (w.gh.api_url(), w.gh.server_url());
    let mut all = vec![
        ("GITHUB_TOKEN", action_world::TOKEN),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_SERVER_URL", server.as_str()),
    ];
    all.extend_from_slice(env);
    let mut cmd = deckhand_cmd(&all);
    cmd.args(args);
    cmd
}

/// `/deckhand COMMAND` commented by Codertocat on issue `issue`, and its event.
fn command_on(w: &action_world::World, issue: u64, body: &str) -> std::path::PathBuf {
    let id = w.gh.add_comment(
        action_world::OWNER,
        action_world::REPO,
        issue,
        "Codertocat",
        body,
    );
    action_world::event(
        w,
        "issue_comment/00-created.json",
        &[
            (
                "\"You are totally right! I'll get this fixed right away.\"",
                &serde_json::to_string(body).unwrap(),
            ),
            ("\"id\": 492700400", &format!("\"id\": {id}")),
            (
                "\"number\": 1,\n    \"title\": \"Spelling",
                &format!("\"number\": {issue},\n    \"title\": \"Spelling"),
            ),
        ],
    )
}

/// Issue test 6: wave 2's job waits until wave 1 is decided, then finds the
/// failure rate over the threshold and stays closed; the dashboard says
/// halted; `/deckhand resume` on the tracking issue lifts it (the gate
/// opens, the workflow is dispatched); `/deckhand cancel` then cancels the
/// queued repositories and the run working on the running one.
#[test]
fn waves_halt_in_order_and_the_tracking_issue_resumes_and_cancels_them() {
    use std::io::BufRead as _;
    let w = action_world::world(vec![]);
    let mut lines = format!("{}\n", action_world::FULL);
    for i in 1..6 {
        w.gh.add_files(
            "acme",
            &format!("svc-{i}"),
            &[("package.json", "{\"name\": \"user-service\"}\n")],
        );
        lines.push_str(&format!("acme/svc-{i}\n"));
    }
    let list = w.dir.path().join("repos.txt");
    std::fs::write(&list, lines).unwrap();
    let mem = ["--memory-repo", action_world::FULL];
    let run =
        |args: &[&str], env: &[(&str, &str)]| output(world_cmd(&w, &[args, &mem].concat(), env));
    let plan = run(
        &[
            "--json",
            "plan",
            "--task",
            "Add a limit module",
            "--repos",
            list.to_str().unwrap(),
            "--match",
            r#"package.json:"user-service""#,
            "--wave-size",
            "3",
        ],
        &[],
    );
    plan.assert_code(0);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let id = plan["campaign_id"].as_str().unwrap().to_string();
    let wave = |n: u64| -> Vec<String> {
        plan["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["wave"] == n)
            .map(|r| r["repository"].as_str().unwrap().to_string())
            .collect()
    };
    let (first, second) = (wave(1), wave(2));
    assert_eq!((first.len(), second.len()), (3, 3));
    run(&["campaign", "dashboard", &id], &[]).assert_code(0);
    let issue =
        w.gh.issues()
            .into_iter()
            .find(|i| i.title.starts_with(&format!("Campaign {id}")))
            .expect("tracking issue")
            .number;
    let record = |repo: &str, state: &str, env: &[(&str, &str)]| {
        run(
            &[
                "campaign",
                "record",
                &id,
                "--repository",
                repo,
                "--state",
                state,
            ],
            env,
        )
        .assert_code(0);
    };
    for repo in &first {
        record(repo, "running", &[]);
    }
    // Wave 2's job starts while wave 1 runs: it waits, saying so.
    let out = w.dir.path().join("gate-output");
    std::fs::write(&out, "").unwrap();
    let mut gate = world_cmd(
        &w,
        &[
            &[
                "campaign",
                "gate",
                &id,
                "--wave",
                "2",
                "--wait",
                "--poll-seconds",
                "1",
            ],
            &["--repository", second[0].as_str()][..],
            &mem,
        ]
        .concat(),
        &[("GITHUB_OUTPUT", out.to_str().unwrap())],
    );
    gate.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut gate = gate.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(gate.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim_end(),
        "⏳ wave 2 waits for wave 1: 3 repositories not decided yet"
    );
    // Wave 1 ends with 2 of 3 failed (the threshold is 30%).
    record(&first[0], "failed", &[]);
    record(&first[1], "needs_review", &[]);
    record(&first[2], "pr_open", &[]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let done = gate.wait_with_output().unwrap();
    assert!(done.status.success(), "{rest}");
    assert_eq!(String::from_utf8_lossy(&done.stdout), "halted\n");
    assert!(
        rest.contains("⛔ halted before wave 2: 2 of 3 finished repositories failed (67% ≥ 30%)"),
        "{rest}"
    );
    assert_eq!(read_outputs(&out)["open"], "false");
    run(&["campaign", "dashboard", &id], &[]).assert_code(0);
    let body =
        w.gh.issue_body(action_world::OWNER, action_world::REPO, issue)
            .unwrap();
    assert!(
        body.contains("**⛔ Halted** — halted before wave 2"),
        "{body}"
    );

    // `/deckhand resume` on the tracking issue.
    let ev = command_on(&w, issue, "/deckhand resume");
    let resumed = action_world::action(&w, "issue_comment", &ev, 9001, &[]);
    resumed.assert_status("done");
    let dispatches = w.gh.dispatches();
    assert_eq!(dispatches.len(), 1);
    assert_eq!(
        (
            dispatches[0].workflow.as_deref(),
            dispatches[0].body["ref"].as_str(),
            dispatches[0].body["inputs"]["task"].as_str(),
            dispatches[0].body["inputs"]["repos"].as_str(),
        ),
        (
            Some("deckhand-campaign.yml"),
            Some("main"),
            Some("Add a limit module"),
            Some(list.to_str().unwrap())
        )
    );
    let gate_now = run(
        &[
            "campaign",
            "gate",
            &id,
            "--wave",
            "2",
            "--wait",
            "--repository",
            &second[0],
        ],
        &[],
    );
    assert_eq!(gate_now.stdout, "open\n", "{}", gate_now.stderr);
    let body =
        w.gh.issue_body(action_world::OWNER, action_world::REPO, issue)
            .unwrap();
    assert!(
        body.contains(
            "**Rolling out** in waves of 3 (halts at a failure rate of 30%); resumed at wave 2."
        ),
        "{body}"
    );
    let replies: Vec<String> =
        w.gh.comments(action_world::OWNER, action_world::REPO, issue)
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b.contains("Deckhand resumed"))
            .collect();
    assert_eq!(
        replies,
        [format!("▶️ Deckhand resumed campaign `{id}`: wave 2 starts despite 2 of 3 failed; dispatched `deckhand-campaign.yml`.")]
    );

    // Wave 2 starts: one job runs (run 777); `/deckhand cancel` stops it all.
    w.gh.add_run(action_world::OWNER, action_world::REPO, 777, "in_progress");
    record(&second[0], "running", &[("GITHUB_RUN_ID", "777")]);
    let ev = command_on(&w, issue, "/deckhand cancel");
    let cancelled = action_world::action(&w, "issue_comment", &ev, 9002, &[]);
    cancelled.assert_status("cancelled");
    assert_eq!(w.gh.cancelled_runs(), vec![777]);
    let status = run(&["--json", "campaign", "status", &id], &[]);
    let doc: Value = serde_json::from_str(&status.stdout).unwrap();
    let states: BTreeMap<String, String> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for (repo, state) in first.iter().zip(["failed", "needs_review", "pr_open"]) {
        want.insert(repo.clone(), state.into());
    }
    for repo in &second {
        want.insert(repo.clone(), "cancelled".into());
    }
    assert_eq!(states, want);
    assert_eq!(doc["control"]["cancelled"]["by"], "Codertocat");
    let body =
        w.gh.issue_body(action_world::OWNER, action_world::REPO, issue)
            .unwrap();
    assert!(body.contains("**🛑 Cancelled** by @Codertocat"), "{body}");
    assert!(body.contains("🛑 cancelled"), "{body}");
    // A wave-2 job that starts now stays closed.
    let late = run(
        &[
            "campaign",
            "gate",
            &id,
            "--wave",
            "2",
            "--repository",
            &second[1],
        ],
        &[],
    );
    assert_eq!(late.stdout, "halted\n", "{}", late.stderr);
    w.gh.check_requests_against_openapi().unwrap();
}

/// `campaign sync` reads each record's PR back from GitHub: merged (with
/// its time), closed without merging, failing checks; a PR with nothing
/// new leaves its record as it was.
#[test]
fn campaign_sync_refreshes_merged_closed_and_failing_checks() {
    let gh = GithubServer::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let id = campaign_on_github(&gh, dir.path(), 4, 5);
    let server = gh.server_url();
    let mut children = Vec::new();
    for i in 0..4 {
        let n = gh.add_pull(
            "acme",
            &format!("svc-{i}"),
            "Upgrade lodash",
            "body",
            support::github_server::TOKEN_LOGIN,
            "deckhand/lodash",
            "main",
        );
        let url = format!("{server}/acme/svc-{i}/pull/{n}");
        children.push(spawn_record(
            &gh,
            &id,
            &format!("acme/svc-{i}"),
            &["--state", "pr_open", "--pr-url", &url],
        ));
    }
    wait_all(children);
    gh.finish_pull("acme", "svc-0", 1, true);
    gh.finish_pull("acme", "svc-1", 1, false);
    let head = "0".repeat(40);
    gh.set_commit_status("acme", "svc-2", &head, "success");
    gh.set_commit_status("acme", "svc-2", &head, "failure");
    gh.set_commit_status("acme", "svc-3", &head, "success");
    let sync = plan_cmd(
        &gh,
        &["campaign", "sync", &id, "--memory-repo", "acme/config"],
        &[],
    );
    sync.assert_code(0);
    assert!(
        sync.stderr.contains("✅ synced 4 record(s), 3 changed"),
        "{}",
        sync.stderr
    );
    let got: Vec<(String, String, bool)> = records_of(&gh, &id)
        .iter()
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["merged_at"].is_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = [
        ("acme/svc-0", "merged", true),
        ("acme/svc-1", "closed", false),
        ("acme/svc-2", "checks_failing", false),
        ("acme/svc-3", "pr_open", false),
    ]
    .iter()
    .map(|(r, s, m)| (r.to_string(), s.to_string(), *m))
    .collect();
    assert_eq!(got, want);
    gh.check_requests_against_openapi().unwrap();
    gh.check_responses_against_openapi().unwrap();
}

/// Issue test 3: twelve matrix jobs run at once, each as the workflow runs
/// it — `deckhand action` with `task`, `repository` and `campaign`, then
/// `campaign record` with the action's outputs — against one test GitHub
/// (each with its own scripted model). Twelve PRs open, each naming the
/// campaign; the dashboard rendered after the concurrent writes has twelve
/// rows, each `pr_open` with its PR.
#[test]
fn twelve_parallel_matrix_jobs_open_twelve_prs_and_the_dashboard_shows_them_all() {
    const N: usize = 12;
    let gh = GithubServer::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let config = commit_tree(&dir.path().join("config"), &[("README.md", "config\n")]);
    gh.add_repo("acme", "config", &config);
    let mut models = Vec::new();
    for i in 0..N {
        let name = format!("svc-{i}");
        let manifest = package_json(&name, &[("lodash", "^4.17.21")], true);
        let src = commit_tree(
            &dir.path().join(&name),
            &[("package.json", &manifest), ("README.md", "# svc\n")],
        );
        gh.add_repo("acme", &name, &src);
        gh.add_files("acme", &name, &[("package.json", &manifest)]);
        gh.set_permission("acme", &name, "octocat", "write");
        models.push(ModelServer::start(action_world::simple_script(
            "src/limit.js",
        )));
    }
    let plan = plan_cmd(
        &gh,
        &[
            "--json",
            "plan",
            "--task",
            "Add a limit module",
            "--org",
            "acme",
            "--match",
            MATCH,
            "--memory-repo",
            "acme/config",
        ],
        &[],
    );
    plan.assert_code(0);
    let id = serde_json::from_str::<Value>(&plan.stdout).unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    plan_cmd(
        &gh,
        &["campaign", "dashboard", &id, "--memory-repo", "acme/config"],
        &[],
    )
    .assert_code(0);
    let event = dir.path().join("dispatch.json");
    std::fs::write(
        &event,
        action_world::fixture("workflow_dispatch/00-event.json"),
    )
    .unwrap();
    let (api, server) = (gh.api_url(), gh.server_url());
    let jobs: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let run = dir.path().join(format!("job-{i}"));
            for d in ["workspace", "temp"] {
                std::fs::create_dir_all(run.join(d)).unwrap();
            }
            let output = run.join("output");
            std::fs::write(&output, "").unwrap();
            let repo = format!("acme/svc-{i}");
            let run_id = (5000 + i).to_string();
            let mut cmd = deckhand_cmd(&[]);
            cmd.arg("action")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_EVENT_NAME", "workflow_dispatch")
                .env("GITHUB_EVENT_PATH", &event)
                .env("GITHUB_REPOSITORY", "acme/config")
                .env("GITHUB_SERVER_URL", &server)
                .env("GITHUB_API_URL", &api)
                .env("GITHUB_RUN_ID", &run_id)
                .env("GITHUB_WORKSPACE", run.join("workspace"))
                .env("GITHUB_OUTPUT", &output)
                .env("RUNNER_TEMP", run.join("temp"))
                .env("ANTHROPIC_BASE_URL", model.anthropic_base_url())
                .env("INPUT_GITHUB_TOKEN", TOKEN)
                .env("INPUT_ANTHROPIC_API_KEY", common::API_KEY)
                .env("INPUT_MEMORY_BRANCH", "deckhand/memory")
                .env("INPUT_TASK", "Add a limit module")
                .env("INPUT_REPOSITORY", &repo)
                .env("INPUT_CAMPAIGN", &id)
                .env("INPUT_CONFIG_REPO", "acme/config");
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (repo, run_id, output, cmd.spawn().unwrap())
        })
        .collect();
    // Each job's last step records its outcome, as soon as its action ends.
    let mut recorders = Vec::new();
    for (repo, run_id, output, child) in jobs {
        let out = child.wait_with_output().unwrap();
        let outputs = action_world::parse_outputs(&std::fs::read_to_string(&output).unwrap());
        assert_eq!(
            outputs.get("status").map(String::as_str),
            Some("done"),
            "{repo}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cmd = deckhand_cmd(&[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_API_URL", api.as_str()),
            ("GITHUB_SERVER_URL", server.as_str()),
            ("GITHUB_RUN_ID", run_id.as_str()),
        ]);
        cmd.args([
            "campaign",
            "record",
            &id,
            "--repository",
            &repo,
            "--action-status",
            &outputs["status"],
            "--pr-url",
            &outputs["pr_url"],
            "--branch",
            &outputs["branch"],
            "--tokens",
            &outputs["tokens_used"],
            "--memory-repo",
            "acme/config",
        ]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        recorders.push(cmd.spawn().unwrap());
    }
    wait_all(recorders);
    for (i, model) in models.iter().enumerate() {
        let pulls = gh.pulls("acme", &format!("svc-{i}"));
        assert_eq!(pulls.len(), 1, "svc-{i}");
        assert!(
            pulls[0]
                .body
                .as_deref()
                .unwrap_or_default()
                .contains(&format!("Part of campaign `{id}`")),
            "{:?}",
            pulls[0].body
        );
        model.assert_finished();
    }
    plan_cmd(
        &gh,
        &["campaign", "dashboard", &id, "--memory-repo", "acme/config"],
        &[],
    )
    .assert_code(0);
    let issue = gh
        .issues()
        .into_iter()
        .find(|i| i.title.starts_with(&format!("Campaign {id}")))
        .expect("tracking issue");
    let body = gh.issue_body("acme", "config", issue.number).unwrap();
    let rows: Vec<&str> = body.lines().filter(|l| l.contains("| acme/svc-")).collect();
    assert_eq!(rows.len(), N, "{body}");
    for i in 0..N {
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("| acme/svc-{i} |")))
            .unwrap_or_else(|| panic!("no row for svc-{i}: {body}"));
        assert!(
            row.contains("🟢 pr_open")
                && row.contains(&format!("[#1]({server}/acme/svc-{i}/pull/1)")),
            "{row}"
        );
    }
    let records = records_of(&gh, &id);
    let runs: BTreeSet<u64> = records
        .iter()
        .map(|r| r["run_id"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, (5000..5000 + N as u64).collect());
}
