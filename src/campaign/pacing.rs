//! Pacing of content-creating requests across a campaign's parallel jobs: one shared ledger of recent requests on the memory branch (`campaigns/pacing.json`), consulted and written in one update before a pull request, its label or a sibling's dispatch is sent, so GitHub's secondary limits and `rollout.per_hour` hold across a matrix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::author;
use super::CampaignError;
use crate::memory::{Change, MemoryError, MemoryStore};

/// The ledger's place on the memory branch (one for every campaign: GitHub's
/// limits are per account, not per campaign).
pub const LEDGER_PATH: &str = "campaigns/pacing.json";
/// GitHub's secondary limits on content-creating requests (all kinds together).
pub const GITHUB_PER_MINUTE: usize = 80;
pub const GITHUB_PER_HOUR: usize = 500;

const MINUTE: chrono::Duration = chrono::Duration::seconds(60);
const HOUR: chrono::Duration = chrono::Duration::seconds(3600);

/// A content-creating request GitHub's secondary limits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    PullRequest,
    Label,
    Comment,
    Dispatch,
}

impl Request {
    fn as_str(self) -> &'static str {
        match self {
            Request::PullRequest => "pull request",
            Request::Label => "label",
            Request::Comment => "comment",
            Request::Dispatch => "workflow dispatch",
        }
    }
}

fn pull_request() -> Request {
    Request::PullRequest
}

/// One request sent (or about to be).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub campaign: String,
    pub repository: String,
    /// What was sent (a ledger written before kinds were kept held pull requests only).
    #[serde(default = "pull_request")]
    pub kind: Request,
}

/// The requests of the last hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub created: Vec<Entry>,
}

/// How many requests a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: usize,
    pub per_hour: usize,
    /// The campaign's own `rollout.per_hour` (pull requests only).
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

    /// The most requests one reservation may take (half a minute's worth,
    /// so a reservation can always be met and others get their turn).
    pub fn largest_reservation(&self) -> usize {
        (self.per_minute / 2).max(1)
    }
}

/// Why a request has to wait, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub until: DateTime<Utc>,
    pub reason: String,
}

impl Ledger {
    /// `None` when `wanted` may be sent at `now`; else the earliest moment
    /// every window has room for all of them again.
    pub fn wait(
        &self,
        now: DateTime<Utc>,
        campaign: &str,
        limits: Limits,
        wanted: &[Request],
    ) -> Option<Wait> {
        let all = wanted.len();
        let pulls = wanted
            .iter()
            .filter(|k| **k == Request::PullRequest)
            .count();
        let mut waits = Vec::new();
        if let Some((until, n)) = self.room(now, MINUTE, limits.per_minute, all, |_| true) {
            waits.push(Wait {
                until,
                reason: format!("{n} content-creating requests in the last minute (GitHub allows {GITHUB_PER_MINUTE})"),
            });
        }
        if let Some((until, n)) = self.room(now, HOUR, limits.per_hour, all, |_| true) {
            waits.push(Wait {
                until,
                reason: format!("{n} content-creating requests in the last hour (GitHub allows {GITHUB_PER_HOUR})"),
            });
        }
        if let Some(limit) = limits.campaign_per_hour {
            let mine = |e: &Entry| e.campaign == campaign && e.kind == Request::PullRequest;
            if let Some((until, n)) = self.room(now, HOUR, limit as usize, pulls, mine) {
                waits.push(Wait {
                    until,
                    reason: format!("{n} pull requests in the last hour of campaign {campaign} (rollout.per_hour: {limit})"),
                });
            }
        }
        waits.into_iter().max_by_key(|w| w.until)
    }

    /// `None` when the `window` before `now` has room for `adding` more of
    /// the entries `counted` (at most `limit`; 0: no limit); else when it
    /// has, and how many are in it now.
    fn room(
        &self,
        now: DateTime<Utc>,
        window: chrono::Duration,
        limit: usize,
        adding: usize,
        counted: impl Fn(&Entry) -> bool,
    ) -> Option<(DateTime<Utc>, usize)> {
        let mut inside: Vec<DateTime<Utc>> = self
            .created
            .iter()
            .filter(|e| e.at > now - window && counted(e))
            .map(|e| e.at)
            .collect();
        if limit == 0 || adding == 0 || inside.len() + adding <= limit {
            return None;
        }
        inside.sort();
        let over = inside.len() + adding - limit;
        // Room again once `over` of them have left the window (or, when
        // more is asked than the window holds, once all have).
        let leaving = inside.get(over - 1).or(inside.last()).copied();
        Some((leaving.unwrap_or(now) + window, inside.len()))
    }

    /// Records `sent` at `now` and forgets what left the hour.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        campaign: &str,
        repository: &str,
        sent: &[Request],
    ) {
        self.created.retain(|e| e.at > now - HOUR);
        self.created.extend(sent.iter().map(|kind| Entry {
            at: now,
            campaign: campaign.to_string(),
            repository: repository.to_string(),
            kind: *kind,
        }));
        self.created.sort_by_key(|e| e.at);
    }
}

/// What `wanted` is, for a commit message: `pull request, label`.
fn describe(wanted: &[Request]) -> String {
    wanted
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Takes slots for the requests `wanted` about to be sent for `repository`:
/// reads the ledger, and either records them (one commit, merged with every
/// other job's) or waits until there is room and tries again. `progress`
/// hears each wait. Returns the waits made. More than
/// [`Limits::largest_reservation`] at once is refused.
pub async fn reserve(
    store: &mut MemoryStore,
    campaign: &str,
    repository: &str,
    wanted: &[Request],
    limits: Limits,
    progress: impl Fn(&Wait),
) -> Result<Vec<Wait>, CampaignError> {
    if wanted.len() > limits.largest_reservation() {
        return Err(CampaignError::Invalid(format!(
            "{} requests reserved at once; at most {} may be",
            wanted.len(),
            limits.largest_reservation()
        )));
    }
    let mut waited = Vec::new();
    loop {
        let found: Arc<Mutex<Option<Wait>>> = Arc::new(Mutex::new(None));
        let (seen, campaign_id, repo, kinds) = (
            Arc::clone(&found),
            campaign.to_string(),
            repository.to_string(),
            wanted.to_vec(),
        );
        store
            .update(author(), move |snap| {
                let mut ledger: Ledger = match snap.read(LEDGER_PATH)? {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| MemoryError::Rejected(format!("{LEDGER_PATH}: {e}")))?,
                    None => Ledger::default(),
                };
                let now = Utc::now();
                let wait = ledger.wait(now, &campaign_id, limits, &kinds);
                let blocked = wait.is_some();
                if let Ok(mut cell) = seen.lock() {
                    *cell = wait;
                }
                if blocked {
                    return Ok(None);
                }
                ledger.record(now, &campaign_id, &repo, &kinds);
                let text = serde_json::to_string_pretty(&ledger)
                    .map_err(|e| MemoryError::Rejected(format!("{LEDGER_PATH}: {e}")))?;
                Ok(Some(Change {
                    files: vec![(LEDGER_PATH.to_string(), Some(text + "\n"))],
                    message: format!("campaign {campaign_id}: {} for {repo}", describe(&kinds)),
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

    const PR: &[Request] = &[Request::PullRequest];

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
                kind: Request::PullRequest,
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
        assert_eq!(l.wait(now, "cp-a", limits, PR), None);
        let mut full = l.clone();
        full.created.push(Entry {
            at: at(now, 55),
            campaign: "cp-b".into(),
            repository: "o/x".into(),
            kind: Request::Comment,
        });
        let wait = full.wait(now, "cp-a", limits, PR).unwrap();
        // The oldest of the 80 is 55 s old: room in 5 s.
        assert_eq!(wait.until, at(now, 55) + MINUTE);
        assert_eq!(
            wait.reason,
            "80 content-creating requests in the last minute (GitHub allows 80)"
        );
        // Entries older than a minute do not count against the minute.
        let old = ledger(now, &[(61, "cp-a"); 80]);
        assert_eq!(old.wait(now, "cp-a", limits, PR), None);
    }

    #[test]
    fn five_hundred_an_hour_and_the_campaigns_own_rate() {
        let now = Utc::now();
        let ages: Vec<(i64, &str)> = (0..500).map(|i| (3000 - i * 5, "cp-b")).collect();
        let l = ledger(now, &ages);
        let wait = l.wait(now, "cp-a", Limits::github(None), PR).unwrap();
        assert_eq!(wait.until, at(now, 3000) + HOUR);
        // rollout.per_hour counts only the campaign's own pull requests.
        let l = ledger(now, &[(100, "cp-a"), (200, "cp-a"), (300, "cp-b")]);
        assert_eq!(l.wait(now, "cp-a", Limits::github(Some(3)), PR), None);
        let wait = l.wait(now, "cp-a", Limits::github(Some(2)), PR).unwrap();
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
        l.record(now, "cp-a", "o/new", PR);
        assert_eq!(
            l.created
                .iter()
                .map(|e| (e.at, e.repository.as_str()))
                .collect::<Vec<_>>(),
            vec![(at(now, 10), "o/r"), (now, "o/new")]
        );
    }

    #[test]
    fn a_reservation_of_several_waits_for_room_for_all() {
        let now = Utc::now();
        let limits = Limits::github(Some(1));
        // 78 in the minute: a pull request and its label fit, a third does not.
        let ages: Vec<(i64, &str)> = (0..78).map(|i| (50 - (i % 50), "cp-b")).collect();
        let l = ledger(now, &ages);
        let two = [Request::PullRequest, Request::Label];
        assert_eq!(l.wait(now, "cp-a", limits, &two), None);
        let three = [Request::Dispatch; 3];
        let wait = l.wait(now, "cp-a", limits, &three).unwrap();
        // One must leave: the oldest (50 s ago).
        assert_eq!(wait.until, at(now, 50) + MINUTE);
        // Labels, comments and dispatches do not count against rollout.per_hour.
        let mut mine = Ledger::default();
        mine.record(
            at(now, 10),
            "cp-a",
            "o/r",
            &[Request::Label, Request::Dispatch],
        );
        assert_eq!(mine.wait(now, "cp-a", limits, PR), None);
        mine.record(at(now, 5), "cp-a", "o/r", PR);
        assert_eq!(
            mine.wait(now, "cp-a", limits, PR).map(|w| w.reason),
            Some("1 pull requests in the last hour of campaign cp-a (rollout.per_hour: 1)".into())
        );
        assert_eq!(mine.wait(now, "cp-a", limits, &[Request::Comment]), None);
        // A ledger written before kinds were kept reads as pull requests.
        let old: Ledger = serde_json::from_str(
            r#"{"created": [{"at": "2026-01-01T00:00:00Z", "campaign": "cp-a", "repository": "o/r"}]}"#,
        )
        .unwrap();
        assert_eq!(old.created[0].kind, Request::PullRequest);
    }
}
