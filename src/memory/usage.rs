//! Rule usage: one record per task (`usage/<task-id>.json`) listing the rules it used, so concurrent tasks never lose a count; counts and last use are derived.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{MemoryError, Snapshot};

/// Directory of the usage records on the memory branch.
pub const USAGE_DIR: &str = "usage";

/// What one task used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    pub task: String,
    /// `owner/name` of the repository the task worked on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    pub used_at: DateTime<Utc>,
    pub rules: Vec<String>,
}

/// A rule's use, derived from every record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuleUse {
    pub count: u32,
    pub last_used: Option<DateTime<Utc>>,
}

/// The record's path: one file per task, so two tasks never write the same file.
pub fn usage_path(task: &str) -> String {
    let safe: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{USAGE_DIR}/{}.json", safe.trim_start_matches('.'))
}

impl UsageRecord {
    pub fn render(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Use counts and last use per rule id. A record that does not parse is
/// skipped with a warning naming the file.
pub fn tally(snapshot: &Snapshot<'_>) -> Result<BTreeMap<String, RuleUse>, MemoryError> {
    let mut uses: BTreeMap<String, RuleUse> = BTreeMap::new();
    for path in snapshot.list(USAGE_DIR)? {
        let Some(text) = snapshot.read(&path)? else {
            continue;
        };
        let record: UsageRecord = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(file = %path, error = %e, "usage record skipped: it does not parse");
                continue;
            }
        };
        let mut seen = record.rules.clone();
        seen.sort();
        seen.dedup();
        for id in seen {
            let entry = uses.entry(id).or_default();
            entry.count += 1;
            entry.last_used = entry.last_used.max(Some(record.used_at));
        }
    }
    Ok(uses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_make_safe_file_names() {
        assert_eq!(usage_path("dh-3be2a1"), "usage/dh-3be2a1.json");
        assert_eq!(usage_path("acme/one#12"), "usage/acme_one_12.json");
        assert_eq!(usage_path("../x"), "usage/_x.json");
    }
}
