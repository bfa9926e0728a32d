//! `deckhand plan`: find the repositories a campaign touches, rank them by risk into waves, print a table, a JSON document or an Actions matrix; store the plan on the memory branch.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use super::GlobalArgs;
use crate::campaign::discover::read_repo_lines;
use crate::campaign::matcher::Match;
use crate::campaign::plan::Plan;
use crate::campaign::planner::{self, Request, Target};
use crate::campaign::store::CampaignStore;
use crate::campaign::{matrix, store};
use crate::config::{EnvSnapshot, FileConfig};
use crate::git::remote::Remote;
use crate::github::GitHub;
use crate::memory::{MemoryStore, DEFAULT_BRANCH};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// What to do in every repository.
    #[arg(long)]
    pub task: String,
    /// Every repository of this organization.
    #[arg(long, required_unless_present = "repos", conflicts_with = "repos")]
    pub org: Option<String>,
    /// A file of `owner/name` lines or local checkout paths.
    #[arg(long)]
    pub repos: Option<PathBuf>,
    /// `MANIFEST:REGEX` (a direct use, e.g. `package.json:"lodash"`) or
    /// `GLOB:REGEX` (a call site, e.g. `*.js:_\.chain\(`); repeatable.
    #[arg(long = "match", value_name = "FILE:REGEX")]
    pub matches: Vec<String>,
    /// Only repositories with this topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Print JSON for `strategy.matrix` and write the batches to `$GITHUB_OUTPUT`.
    #[arg(long)]
    pub matrix: bool,
    /// The batch (of 256 jobs) `--matrix` prints as `matrix`.
    #[arg(long, default_value_t = 0)]
    pub batch: usize,
    /// Read every repository's manifests instead of using code search.
    #[arg(long)]
    pub no_search: bool,
    /// Repositories per wave (default: `rollout.wave_size`, else 5).
    #[arg(long)]
    pub wave_size: Option<usize>,
    #[command(flatten)]
    pub memory: MemoryArgs,
}

/// Where campaign files live.
#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// The memory repository: `owner/name` on GitHub or a local git
    /// repository's path (default: `$GITHUB_REPOSITORY`).
    #[arg(long)]
    pub memory_repo: Option<String>,
    /// The memory branch.
    #[arg(long, default_value = DEFAULT_BRANCH)]
    pub memory_branch: String,
}

impl MemoryArgs {
    /// The memory repository, if one is given or implied.
    pub fn repo(&self, env: &EnvSnapshot) -> Option<String> {
        self.memory_repo
            .clone()
            .or_else(|| env.get("GITHUB_REPOSITORY").map(str::to_string))
            .filter(|r| !r.trim().is_empty())
    }

    /// Opens the campaign store (a private clone in a scratch directory).
    pub async fn open(
        &self,
        env: &EnvSnapshot,
    ) -> anyhow::Result<Option<(CampaignStore, tempfile::TempDir)>> {
        let Some(repo) = self.repo(env) else {
            return Ok(None);
        };
        let remote = if Path::new(&repo).exists() {
            let path =
                std::fs::canonicalize(&repo).with_context(|| format!("--memory-repo {repo}"))?;
            git2::Repository::open(&path)
                .with_context(|| format!("--memory-repo {repo} is not a git repository"))?;
            Remote {
                url: path.display().to_string(),
                token: String::new(),
            }
        } else {
            let r: crate::github::RepoRef = repo
                .parse()
                .with_context(|| format!("--memory-repo {repo}"))?;
            let server = env
                .get("GITHUB_SERVER_URL")
                .unwrap_or("https://github.com")
                .trim_end_matches('/')
                .to_string();
            Remote {
                url: format!("{server}/{}/{}.git", r.owner, r.name),
                token: token(env).unwrap_or_default(),
            }
        };
        let cache =
            tempfile::tempdir().context("create a scratch directory for the memory branch")?;
        let branch = self.memory_branch.clone();
        let dir = cache.path().to_path_buf();
        let store = tokio::task::spawn_blocking(move || MemoryStore::open(remote, &branch, &dir))
            .await
            .context("open the memory branch")??;
        Ok(Some((CampaignStore::new(store), cache)))
    }
}

/// The GitHub token from the environment.
pub fn token(env: &EnvSnapshot) -> Option<String> {
    ["GITHUB_TOKEN", "GH_TOKEN"]
        .iter()
        .find_map(|k| env.get(k))
        .map(str::to_string)
        .filter(|t| !t.trim().is_empty())
}

/// A GitHub client when a token is set.
pub fn github(env: &EnvSnapshot) -> anyhow::Result<Option<GitHub>> {
    let Some(token) = token(env) else {
        return Ok(None);
    };
    let api = env
        .get("GITHUB_API_URL")
        .unwrap_or("https://api.github.com");
    Ok(Some(GitHub::new(api, &token)?))
}

/// The config file's `rollout:` section (from `--config`, else the current directory).
fn rollout(global: &GlobalArgs) -> anyhow::Result<crate::config::Rollout> {
    let path = match &global.config {
        Some(p) => Some(p.clone()),
        None => crate::config::find_config_file(Path::new(".")),
    };
    Ok(match path {
        Some(p) => FileConfig::read(&p)?.rollout,
        None => Default::default(),
    })
}

pub async fn run(global: &GlobalArgs, args: PlanArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    if args.task.trim().is_empty() {
        bail!("--task is empty: say what Deckhand should do in every repository");
    }
    let matches = args
        .matches
        .iter()
        .map(|m| Match::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    let target = match (&args.org, &args.repos) {
        (Some(org), _) => Target::Org(org.clone()),
        (None, Some(file)) => Target::Repos {
            lines: read_repo_lines(file)?,
            file: file.clone(),
        },
        (None, None) => bail!("give --org ORG or --repos FILE"),
    };
    let rollout = rollout(global)?;
    let request = Request {
        task: args.task.clone(),
        target,
        matches,
        topic: args.topic.clone(),
        search: !args.no_search,
        wave_size: args.wave_size.unwrap_or_else(|| rollout.wave_size()).max(1),
        halt_failure_rate: rollout.halt_failure_rate(),
        per_hour: rollout.per_hour.filter(|n| *n > 0),
    };
    let gh = github(env)?;
    let plan = planner::plan(&request, gh.as_ref()).await?;
    eprintln!(
        "🔎 plan {}: {} repositories in {} wave(s) · {} GitHub API call(s)",
        plan.campaign_id,
        plan.repositories.len(),
        plan.waves(),
        plan.api_calls
    );
    if let Some((mut store, _cache)) = args.memory.open(env).await? {
        store.save_plan(&plan).await.context("store the plan")?;
        eprintln!(
            "💾 stored {} on {}",
            store::plan_path(&plan.campaign_id),
            args.memory.memory_branch
        );
    }
    if args.matrix {
        let outputs = matrix::outputs(&plan, args.batch)?;
        if let Some((_, m)) = outputs.iter().find(|(k, _)| k == "matrix") {
            println!("{m}");
        }
        if let Some(path) = env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
            let pairs: Vec<(&str, String)> = outputs
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            crate::report::workflow::write_outputs(
                Path::new(path),
                &pairs,
                &crate::sandbox::Redactor::new(env.secret_values()),
            )
            .with_context(|| format!("write {path}"))?;
        }
    } else if global.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", table(&plan));
    }
    Ok(super::exit::DONE)
}

/// The plan as a plain-text table.
pub fn table(plan: &Plan) -> String {
    let mut rows = vec![[
        "#".to_string(),
        "repository".to_string(),
        "dependency".to_string(),
        "risk".to_string(),
        "wave".to_string(),
        "reasons".to_string(),
    ]];
    for r in &plan.repositories {
        rows.push([
            r.order.to_string(),
            r.repository.clone(),
            format!(
                "{} {}",
                r.dependency.as_str(),
                r.version.as_deref().unwrap_or("?")
            ),
            r.risk.to_string(),
            r.wave.to_string(),
            r.reasons.join("; "),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 5 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "campaign {} · {} GitHub API call(s)\n",
        plan.campaign_id, plan.api_calls
    ));
    out
}
