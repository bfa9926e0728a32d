//! The plan document: the repositories a campaign touches, each with its dependency, risk, order and wave; stored as `campaigns/<id>/plan.json`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a repository depends on the package the campaign changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// Its manifest names the package (`--match` matched).
    Direct,
    /// Only a lockfile holds it (pulled in by another dependency).
    Transitive,
}

impl DependencyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::Direct => "direct",
            DependencyKind::Transitive => "transitive",
        }
    }
}

/// One repository of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRepo {
    /// `owner/name`, or the directory name of a local checkout.
    pub repository: String,
    /// The local checkout, for `--repos` lines that are paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub dependency: DependencyKind,
    /// The version in use (the lockfile's), else the manifest's requirement.
    pub version: Option<String>,
    /// Files calling each affected API.
    pub call_sites: BTreeMap<String, usize>,
    pub test_command: Option<String>,
    pub size_kb: u64,
    pub pushed_at: Option<DateTime<Utc>>,
    pub risk: u32,
    pub reasons: Vec<String>,
    /// 1 = first (lowest risk).
    pub order: usize,
    /// 1-based wave.
    pub wave: usize,
}

/// What `deckhand plan` was given besides the task and the org (the
/// `--repos` file as named, `--topic`): a resumed campaign dispatches its
/// workflow with them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repos: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// A campaign's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub campaign_id: String,
    pub task: String,
    /// `org:ORG` or `repos:FILE`.
    pub target: String,
    pub matches: Vec<String>,
    pub apis: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// GitHub API requests the plan used.
    pub api_calls: u64,
    pub wave_size: usize,
    pub halt_failure_rate: f64,
    /// Pull requests the campaign opens per hour at most (`rollout.per_hour`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u32>,
    /// The discovery options as given, for dispatching the campaign workflow again.
    #[serde(default)]
    pub dispatch: Dispatch,
    pub repositories: Vec<PlannedRepo>,
}

impl Plan {
    /// The number of waves.
    pub fn waves(&self) -> usize {
        self.repositories.iter().map(|r| r.wave).max().unwrap_or(0)
    }

    pub fn repo(&self, name: &str) -> Option<&PlannedRepo> {
        self.repositories.iter().find(|r| r.repository == name)
    }
}

/// A plan of `n` direct users (`o/r0` …) in waves of `wave_size`, for tests.
#[cfg(test)]
pub(crate) fn test_plan(n: usize, wave_size: usize) -> Plan {
    Plan {
        campaign_id: "cp-1".into(),
        task: "t".into(),
        target: "org:o".into(),
        matches: vec![],
        apis: vec![],
        created_at: chrono::Utc::now(),
        api_calls: 0,
        wave_size,
        halt_failure_rate: 0.3,
        per_hour: None,
        dispatch: Dispatch::default(),
        repositories: (0..n)
            .map(|i| PlannedRepo {
                repository: format!("o/r{i}"),
                path: None,
                dependency: DependencyKind::Direct,
                version: None,
                call_sites: Default::default(),
                test_command: None,
                size_kb: 0,
                pushed_at: None,
                risk: 0,
                reasons: vec![],
                order: i + 1,
                wave: i / wave_size + 1,
            })
            .collect(),
    }
}
