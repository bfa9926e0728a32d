//! The running job's inbox: new trigger-phrase comments on the task's issue
//! from people allowed to trigger work become steering for the next turn;
//! `/deckhand pause` checkpoints and stops. Polled between model turns, at
//! most once per interval.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::route::after_phrase;
use crate::agent::inbox::{Inbox, InboxItem};
use crate::github::client::{GitHub, RepoRef};

pub struct CommentInbox {
    github: GitHub,
    repo: RepoRef,
    issue: u64,
    phrase: String,
    allowed_bots: Vec<String>,
    /// Only comments written after this count.
    since: DateTime<Utc>,
    interval: Duration,
    last_poll: Option<Instant>,
    seen: BTreeSet<u64>,
    /// The comment that started this job: those written before it (ids
    /// only grow) are not news, even in the same second.
    trigger: Option<u64>,
    may_steer: BTreeMap<String, bool>,
}

impl CommentInbox {
    /// Comments written from `since` on (to the second: GitHub's
    /// timestamps have no finer grain), except `already_seen`, count.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        github: GitHub,
        repo: RepoRef,
        issue: u64,
        phrase: &str,
        allowed_bots: &[String],
        since: DateTime<Utc>,
        interval: Duration,
        already_seen: Option<u64>,
    ) -> Self {
        use chrono::Timelike;
        CommentInbox {
            github,
            repo,
            issue,
            phrase: phrase.to_string(),
            allowed_bots: allowed_bots.to_vec(),
            since: since.with_nanosecond(0).unwrap_or(since),
            interval,
            last_poll: None,
            seen: already_seen.into_iter().collect(),
            trigger: already_seen,
            may_steer: BTreeMap::new(),
        }
    }

    async fn permitted(&mut self, login: &str, is_bot: bool) -> bool {
        if is_bot {
            return super::gate::bot_allowed(&self.allowed_bots, login);
        }
        if let Some(known) = self.may_steer.get(login) {
            return *known;
        }
        let allowed = match self.github.permission(&self.repo, login).await {
            Ok(p) => p.can_write(),
            Err(e) => {
                tracing::warn!("cannot check @{login}'s permission: {e}");
                false
            }
        };
        self.may_steer.insert(login.to_string(), allowed);
        allowed
    }
}

#[async_trait]
impl Inbox for CommentInbox {
    async fn poll(&mut self) -> Vec<InboxItem> {
        if self.last_poll.is_some_and(|t| t.elapsed() < self.interval) {
            return Vec::new();
        }
        self.last_poll = Some(Instant::now());
        let comments = match self
            .github
            .comments(&self.repo, self.issue, Some(self.since))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read new comments on #{}: {e}", self.issue);
                return Vec::new();
            }
        };
        let mut items = Vec::new();
        for c in comments {
            if c.created_at < self.since
                || self.trigger.is_some_and(|t| c.id < t)
                || !self.seen.insert(c.id)
                || c.body.contains("<!-- deckhand:")
            {
                continue;
            }
            let Some(text) = after_phrase(&c.body, &self.phrase).map(str::to_string) else {
                continue;
            };
            let word = text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let single = text.split_whitespace().count() == 1;
            if single && (word == "cancel" || word == "resume") {
                continue; // for the other run that the comment starts
            }
            if !self.permitted(&c.user.login, c.user.is_bot()).await {
                tracing::info!("ignoring steering from @{}: no write access", c.user.login);
                continue;
            }
            let author = c.user.login.clone();
            if single && word == "pause" {
                items.push(InboxItem::Pause { author });
            } else if !text.is_empty() {
                items.push(InboxItem::Steering { author, text });
            }
            let _ = self.github.add_reaction(&self.repo, c.id, "eyes").await;
        }
        items
    }
}
