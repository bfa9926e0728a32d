//! Per-repository status records (`campaigns/<id>/<owner>__<repo>.json`): one file per repository, so parallel jobs never write the same file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a repository of a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Queued,
    Running,
    PrOpen,
    ChecksFailing,
    NeedsReview,
    Merged,
    Closed,
    Skipped,
    Failed,
    /// Stopped by `/deckhand cancel` on the tracking issue.
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::PrOpen => "pr_open",
            State::ChecksFailing => "checks_failing",
            State::NeedsReview => "needs_review",
            State::Merged => "merged",
            State::Closed => "closed",
            State::Skipped => "skipped",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Queued,
            State::Running,
            State::PrOpen,
            State::ChecksFailing,
            State::NeedsReview,
            State::Merged,
            State::Closed,
            State::Skipped,
            State::Failed,
            State::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// A finished attempt that went wrong (counts against the wave gate).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            State::ChecksFailing | State::NeedsReview | State::Failed | State::Closed
        )
    }

    /// A finished attempt that went right.
    /// Whether the repository's pull request is still open for changes.
    pub fn has_open_pr(self) -> bool {
        matches!(
            self,
            State::PrOpen | State::ChecksFailing | State::NeedsReview
        )
    }

    pub fn is_success(self) -> bool {
        matches!(self, State::PrOpen | State::Merged)
    }

    pub fn emoji(self) -> &'static str {
        match self {
            State::Queued => "⏳",
            State::Running => "🔄",
            State::PrOpen => "🟢",
            State::ChecksFailing => "🔴",
            State::NeedsReview => "🟠",
            State::Merged => "🟣",
            State::Closed => "⚫",
            State::Skipped => "⏭️",
            State::Failed => "❌",
            State::Cancelled => "🛑",
        }
    }
}

/// One repository's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub repository: String,
    pub state: State,
    #[serde(default)]
    pub wave: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The workflow run working on it (what `/deckhand cancel` cancels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_before: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_after: Option<bool>,
    #[serde(default)]
    pub tokens: u64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Dashboard commands already acted on (`retry@<tick id>`), so a tick
    /// that stays ticked acts once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<String>,
    /// Team rules learned on a sibling PR and applied to this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Record {
    pub fn new(repository: &str, state: State, wave: usize) -> Record {
        Record {
            repository: repository.to_string(),
            state,
            wave,
            pr_url: None,
            pr_number: None,
            branch: None,
            run_id: None,
            tests_before: None,
            tests_after: None,
            tokens: 0,
            cost_usd: 0.0,
            merged_at: None,
            updated_at: Utc::now(),
            applied: Vec::new(),
            rules: Vec::new(),
            note: None,
        }
    }
}

/// `campaigns/<id>/<owner>__<repo>.json` (a local checkout's name has no owner).
pub fn record_path(campaign: &str, repository: &str) -> String {
    let key: String = repository
        .replace('/', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("campaigns/{campaign}/{}.json", key.trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_states() {
        assert_eq!(
            record_path("cp-1", "acme/user-service"),
            "campaigns/cp-1/acme__user-service.json"
        );
        assert_eq!(record_path("cp-1", "my svc"), "campaigns/cp-1/my-svc.json");
        assert_eq!(State::parse("pr_open"), Some(State::PrOpen));
        assert_eq!(State::parse("nope"), None);
    }
}
