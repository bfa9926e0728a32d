//! A campaign's commands from its tracking issue (`campaigns/<id>/control.json`): the waves `/deckhand resume` lifted and whether `/deckhand cancel` stopped it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who cancelled the campaign, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub by: String,
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
}

impl Control {
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
