//! Campaigns: one task across many repositories — discovery, analysis, risk-ordered waves, matrix output, per-repository status records, the tracking-issue view and local concurrent execution.

pub mod analyze;
pub mod control;
pub mod dashboard;
pub mod discover;
pub mod dispatch;
pub mod local;
pub mod lockfiles;
pub mod matcher;
pub mod matrix;
pub mod pacing;
pub mod plan;
pub mod planner;
pub mod risk;
pub mod status;
pub mod store;
pub mod sync;
pub mod ticks;
pub mod tracking;
pub mod waves;

use sha2::{Digest as _, Sha256};

/// Everything a campaign step can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("invalid --match {0:?}: expected FILE:REGEX")]
    InvalidMatch(String),
    #[error("invalid regular expression in --match {spec:?}: {detail}")]
    InvalidRegex { spec: String, detail: String },
    #[error("{0}")]
    GitHub(#[from] crate::github::GitHubError),
    #[error("{0}")]
    Memory(#[from] crate::memory::MemoryError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {detail}")]
    Format { context: String, detail: String },
    #[error("campaign {0} has no plan on the memory branch")]
    NoPlan(String),
    #[error("{0}")]
    Invalid(String),
}

impl CampaignError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CampaignError {
        let context = context.into();
        move |source| CampaignError::Io { context, source }
    }

    pub fn format(context: impl Into<String>, detail: impl std::fmt::Display) -> CampaignError {
        CampaignError::Format {
            context: context.into(),
            detail: detail.to_string(),
        }
    }
}

/// A campaign id: the same task over the same target gets the same id, so
/// a re-run plan job continues its campaign instead of starting another.
pub fn campaign_id(task: &str, target: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{}", task.trim(), target.trim()).as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("cp-{hex}")
}

/// Whether `id` looks like a campaign id (it becomes a memory path).
pub fn is_valid_campaign_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with("cp-")
        && id[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && id.len() > 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_valid() {
        let a = campaign_id("Upgrade lodash", "org:acme");
        assert_eq!(a, campaign_id(" Upgrade lodash ", "org:acme"));
        assert_ne!(a, campaign_id("Upgrade lodash", "org:other"));
        assert!(is_valid_campaign_id(&a), "{a}");
        for bad in ["", "cp-", "cp-../x", "dh-123", "cp-a/b"] {
            assert!(!is_valid_campaign_id(bad), "{bad}");
        }
    }
}
