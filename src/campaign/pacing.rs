//! Pacing of pull-request creation across parallel jobs: one shared ledger of recent creations on the memory branch (`campaigns/pacing.json`), consulted and written in one update before each new PR, so GitHub's secondary limits and `rollout.per_hour` hold across a matrix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CampaignError;
use crate::memory::{Author, Change, MemoryError, MemoryStore};

/// The ledger's place on the memory branch (one for every campaign: GitHub's
/// limits are per account, not per campaign).
pub const LEDGER_PATH: &str = "campaigns/pacing.json";
/// GitHub's secondary limits on content-creating requests.
pub const GITHUB_PER_MINUTE: usize = 80;
pub const GITHUB_PER_HOUR: usize = 500;

const MINUTE: chrono::Duration = chrono::Duration::seconds(60);
const HOUR: chrono::Duration = chrono::Duration::seconds(3600);

/// One pull request created (or about to be).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub campaign: String,
    pub repository: String,
}

/// The creations of the last hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub created: Vec<Entry>,
}

/// How many creations a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: usize,
    pub per_hour: usize,
    /// The campaign's own `rollout.per_hour`.
    pub campaign_per_hour: Option<u32>,
}

impl Limits {
    pub fn github(campaign_per_hour: Option<u32>) -> Limits {
        Limits {
            per_minute: GITHUB_PER_MINUTE,
            per_hour: GITHUB_PER_HOUR,
            campaign_per_hour,
        }
    }
}

/// Why a creation has to wait, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub until: DateTime<Utc>,
    pub reason: String,
}

impl Ledger {
    /// `None` when a pull request may be created at `now`; else the
    /// earliest moment every window has room again.
    pub fn wait(&self, now: DateTime<Utc>, campaign: &str, limits: Limits) -> Option<Wait> {
        let mut waits = Vec::new();
        let mut check = |window: chrono::Duration, limit: usize, what: String, mine: bool| {
            let mut inside: Vec<DateTime<Utc>> = self
                .created
                .iter()
                .filter(|e| e.at > now - window && (!mine || e.campaign == campaign))
                .map(|e| e.at)
                .collect();
            if limit == 0 || inside.len() < limit {
                return;
            }
            inside.sort();
            // Room again once all but `limit - 1` of them have left the window.
            let leaving = inside[inside.len() - limit];
            waits.push(Wait {
                until: leaving + window,
                reason: format!("{} pull requests in {what}", inside.len()),
            });
        };
        check(
            MINUTE,
            limits.per_minute,
            "the last minute (GitHub allows 80)".into(),
            false,
        );
        check(
            HOUR,
            limits.per_hour,
            "the last hour (GitHub allows 500)".into(),
            false,
        );
        if let Some(n) = limits.campaign_per_hour {
            check(
                HOUR,
                n as usize,
                format!("the last hour of campaign {campaign} (rollout.per_hour: {n})"),
                true,
            );
        }
        waits.into_iter().max_by_key(|w| w.until)
    }

    /// Records a creation at `now` and forgets what left the hour.
    pub fn record(&mut self, now: DateTime<Utc>, campaign: &str, repository: &str) {
        self.created.retain(|e| e.at > now - HOUR);
        self.created.push(Entry {
            at: now,
            campaign: campaign.to_string(),
            repository: repository.to_string(),
        });
        self.created.sort_by_key(|e| e.at);
    }
}

fn author() -> Author {
    Author {
        name: "deckhand".into(),
        email: "deckhand@users.noreply.github.com".into(),
    }
}

/// Takes a slot for one pull request of `repository`: reads the ledger,
/// and either records the creation (one commit, merged with every other
/// job's) or waits until there is room and tries again. `progress` hears
/// each wait. Returns the waits made.
pub async fn reserve(
    store: &mut MemoryStore,
    campaign: &str,
    repository: &str,
    limits: Limits,
    progress: impl Fn(&Wait),
) -> Result<Vec<Wait>, CampaignError> {
    let mut waited = Vec::new();
    loop {
        let found: Arc<Mutex<Option<Wait>>> = Arc::new(Mutex::new(None));
        let (seen, campaign_id, repo) = (
            Arc::clone(&found),
            campaign.to_string(),
            repository.to_string(),
        );
        store
            .update(author(), move |snap| {
                let mut ledger: Ledger = match snap.read(LEDGER_PATH)? {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| MemoryError::Rejected(format!("{LEDGER_PATH}: {e}")))?,
                    None => Ledger::default(),
                };
                let now = Utc::now();
                let wait = ledger.wait(now, &campaign_id, limits);
                let blocked = wait.is_some();
                if let Ok(mut cell) = seen.lock() {
                    *cell = wait;
                }
                if blocked {
                    return Ok(None);
                }
                ledger.record(now, &campaign_id, &repo);
                let text = serde_json::to_string_pretty(&ledger)
                    .map_err(|e| MemoryError::Rejected(format!("{LEDGER_PATH}: {e}")))?;
                Ok(Some(Change {
                    files: vec![(LEDGER_PATH.to_string(), Some(text + "\n"))],
                    message: format!("campaign {campaign_id}: pull request for {repo}"),
                }))
            })
            .await?;
        let wait = found.lock().ok().and_then(|mut c| c.take());
        let Some(wait) = wait else {
            return Ok(waited);
        };
        progress(&wait);
        let left = (wait.until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        // A little past the moment, so the window has really moved on.
        tokio::time::sleep(left + Duration::from_millis(50)).await;
        waited.push(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: DateTime<Utc>, seconds_ago: i64) -> DateTime<Utc> {
        base - chrono::Duration::seconds(seconds_ago)
    }

    fn ledger(base: DateTime<Utc>, ages: &[(i64, &str)]) -> Ledger {
        let mut l = Ledger::default();
        for (age, campaign) in ages {
            l.created.push(Entry {
                at: at(base, *age),
                campaign: campaign.to_string(),
                repository: "o/r".into(),
            });
        }
        l
    }

    #[test]
    fn eighty_a_minute_then_wait_for_the_oldest_to_leave() {
        let now = Utc::now();
        let limits = Limits::github(None);
        let ages: Vec<(i64, &str)> = (0..79).map(|i| (50 - (i % 50), "cp-a")).collect();
        let l = ledger(now, &ages);
        assert_eq!(l.wait(now, "cp-a", limits), None);
        let mut full = l.clone();
        full.created.push(Entry {
            at: at(now, 55),
            campaign: "cp-b".into(),
            repository: "o/x".into(),
        });
        let wait = full.wait(now, "cp-a", limits).unwrap();
        // The oldest of the 80 is 55 s old: room in 5 s.
        assert_eq!(wait.until, at(now, 55) + MINUTE);
        assert_eq!(
            wait.reason,
            "80 pull requests in the last minute (GitHub allows 80)"
        );
        // Entries older than a minute do not count against the minute.
        let old = ledger(now, &[(61, "cp-a"); 80]);
        assert_eq!(old.wait(now, "cp-a", limits), None);
    }

    #[test]
    fn five_hundred_an_hour_and_the_campaigns_own_rate() {
        let now = Utc::now();
        let ages: Vec<(i64, &str)> = (0..500).map(|i| (3000 - i * 5, "cp-b")).collect();
        let l = ledger(now, &ages);
        let wait = l.wait(now, "cp-a", Limits::github(None)).unwrap();
        assert_eq!(wait.until, at(now, 3000) + HOUR);
        // rollout.per_hour counts only the campaign's own pull requests.
        let l = ledger(now, &[(100, "cp-a"), (200, "cp-a"), (300, "cp-b")]);
        assert_eq!(l.wait(now, "cp-a", Limits::github(Some(3))), None);
        let wait = l.wait(now, "cp-a", Limits::github(Some(2))).unwrap();
        assert_eq!(
            (wait.until, wait.reason.as_str()),
            (
                at(now, 200) + HOUR,
                "2 pull requests in the last hour of campaign cp-a (rollout.per_hour: 2)"
            )
        );
    }

    #[test]
    fn recording_forgets_what_left_the_hour() {
        let now = Utc::now();
        let mut l = ledger(now, &[(4000, "cp-a"), (10, "cp-a")]);
        l.record(now, "cp-a", "o/new");
        assert_eq!(
            l.created
                .iter()
                .map(|e| (e.at, e.repository.as_str()))
                .collect::<Vec<_>>(),
            vec![(at(now, 10), "o/r"), (now, "o/new")]
        );
    }
}
