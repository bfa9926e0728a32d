//! A campaign's campaign-wide state (`campaigns/<id>/control.json`): the waves `/deckhand resume` lifted, whether `/deckhand cancel` stopped it, and the feedback shared with its siblings (what a re-apply tick sends again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who cancelled the campaign, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Rules learned (or approved) on one campaign pull request and sent to its siblings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    /// Rule ids on the memory branch.
    pub rules: Vec<String>,
    /// The pull request the feedback was given on (`owner/name#n`).
    pub source: String,
    pub at: DateTime<Utc>,
}

/// What the tracking issue's commands decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Waves started by `/deckhand resume` despite the failure rate before them.
    #[serde(default)]
    pub resumed: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Cancelled>,
    /// Feedback shared with the siblings, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback: Vec<Shared>,
}

impl Control {
    /// The feedback shared last: what "re-apply the latest feedback" sends.
    pub fn latest_feedback(&self) -> Option<&Shared> {
        self.feedback.last()
    }

    /// The wave the failure rate is counted from for `wave`: the latest
    /// resumed wave at or before it (failures before a resume are forgiven).
    pub fn counted_from(&self, wave: usize) -> usize {
        self.resumed
            .iter()
            .copied()
            .filter(|w| *w <= wave)
            .max()
            .unwrap_or(1)
    }
}

pub fn control_path(campaign: &str) -> String {
    format!("campaigns/{campaign}/control.json")
}
