//! `deckhand plan` without the command line: discovery, analysis and ordering into one [`Plan`].

use std::path::PathBuf;

use chrono::Utc;

use super::analyze;
use super::discover::{self, Api, Candidate, RepoLine, Wanted};
use super::matcher::{self, Match};
use super::plan::{Dispatch, Plan};
use super::risk;
use super::{campaign_id, CampaignError};
use crate::github::{GitHub, RepoRef};

/// Where to look.
#[derive(Debug, Clone)]
pub enum Target {
    Org(String),
    Repos { file: PathBuf, lines: Vec<RepoLine> },
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Org(org) => format!("org:{org}"),
            Target::Repos { file, .. } => format!(
                "repos:{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ),
        }
    }

    fn needs_github(&self) -> bool {
        match self {
            Target::Org(_) => true,
            Target::Repos { lines, .. } => lines.iter().any(|l| matches!(l, RepoLine::Remote(_))),
        }
    }
}

/// What `deckhand plan` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub task: String,
    pub target: Target,
    pub matches: Vec<Match>,
    pub topic: Option<String>,
    pub search: bool,
    pub wave_size: usize,
    pub halt_failure_rate: f64,
    pub per_hour: Option<u32>,
}

impl Request {
    /// Manifest matches find repositories; the others, and API names in the
    /// task, count call sites.
    pub fn wanted(&self) -> Result<Wanted, CampaignError> {
        let deps: Vec<Match> = self
            .matches
            .iter()
            .filter(|m| m.is_manifest())
            .cloned()
            .collect();
        if deps.is_empty() {
            return Err(CampaignError::Invalid(
                "give at least one --match naming a manifest, e.g. --match 'package.json:\"lodash\"'"
                    .to_string(),
            ));
        }
        let mut apis = Vec::new();
        for m in self.matches.iter().filter(|m| !m.is_manifest()) {
            let glob = globset::Glob::new(&m.file)
                .map_err(|e| CampaignError::InvalidRegex {
                    spec: m.spec(),
                    detail: e.to_string(),
                })?
                .compile_matcher();
            apis.push(Api {
                name: m.regex.as_str().to_string(),
                term: m.term.clone(),
                regex: m.regex.clone(),
                glob: Some(glob),
            });
        }
        for ident in matcher::task_apis(&self.task) {
            apis.push(Api {
                regex: matcher::api_regex(&ident)?,
                term: ident.clone(),
                name: ident,
                glob: None,
            });
        }
        Ok(Wanted {
            deps,
            apis,
            topic: self.topic.clone(),
            search: self.search,
        })
    }
}

/// Finds, analyzes and orders the repositories.
pub async fn plan(req: &Request, gh: Option<&GitHub>) -> Result<Plan, CampaignError> {
    let wanted = req.wanted()?;
    let calls_before = gh.map_or(0, GitHub::calls);
    let github = || {
        gh.ok_or_else(|| {
            CampaignError::Invalid(
                "this target needs GitHub: set GITHUB_TOKEN (and GITHUB_API_URL for GitHub Enterprise)"
                    .to_string(),
            )
        })
    };
    if req.target.needs_github() {
        github()?;
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    match &req.target {
        Target::Org(org) => {
            candidates = discover::Remote::new(github()?, &wanted).org(org).await?;
        }
        Target::Repos { lines, .. } => {
            let remotes: Vec<RepoRef> = lines
                .iter()
                .filter_map(|l| match l {
                    RepoLine::Remote(r) => Some(r.clone()),
                    RepoLine::Local(_) => None,
                })
                .collect();
            if !remotes.is_empty() {
                candidates = discover::Remote::new(github()?, &wanted)
                    .repos(&remotes)
                    .await?;
            }
            for line in lines {
                if let RepoLine::Local(dir) = line {
                    let (dir, w) = (dir.clone(), wanted.clone());
                    let found = tokio::task::spawn_blocking(move || discover::local(&dir, &w))
                        .await
                        .map_err(|e| {
                            CampaignError::Invalid(format!("reading a checkout failed: {e}"))
                        })??;
                    candidates.push(found);
                }
            }
        }
    }
    let now = Utc::now();
    let w = wanted.clone();
    let mut repositories = tokio::task::spawn_blocking(move || {
        candidates
            .iter()
            .filter_map(|c| analyze::analyze(c, &w, now).transpose())
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| CampaignError::Invalid(format!("analysis failed: {e}")))??;
    risk::order_in_waves(&mut repositories, req.wave_size);
    let target = req.target.describe();
    Ok(Plan {
        campaign_id: campaign_id(&req.task, &target),
        task: req.task.clone(),
        target,
        matches: req.matches.iter().map(Match::spec).collect(),
        apis: wanted.apis.iter().map(|a| a.name.clone()).collect(),
        created_at: now,
        api_calls: gh.map_or(0, GitHub::calls) - calls_before,
        wave_size: req.wave_size,
        halt_failure_rate: req.halt_failure_rate,
        per_hour: req.per_hour,
        dispatch: Dispatch {
            repos: match &req.target {
                Target::Repos { file, .. } => Some(file.display().to_string()),
                Target::Org(_) => None,
            },
            topic: req.topic.clone(),
        },
        repositories,
    })
}
