//! `campaign sync`: refreshes records with a pull request from GitHub — merged, closed, failing checks.

use chrono::Utc;

use super::status::{Record, State};
use super::CampaignError;
use crate::github::{GitHub, RepoRef};

/// The record as GitHub now sees it; `None` when nothing changed (or it has no PR).
pub async fn refresh(gh: &GitHub, record: &Record) -> Result<Option<Record>, CampaignError> {
    let Some(number) = record.pr_number else {
        return Ok(None);
    };
    let Ok(r) = record.repository.parse::<RepoRef>() else {
        return Ok(None);
    };
    let pull = gh.pull_state(&r, number).await?;
    let mut next = record.clone();
    next.pr_url = Some(pull.html_url.clone());
    if let Some(at) = pull.merged_at {
        next.state = State::Merged;
        next.merged_at = Some(at);
    } else if pull.state == "closed" {
        next.state = State::Closed;
    } else {
        let status = gh.combined_status(&r, &pull.head.sha).await?;
        next.state = match status.state.as_str() {
            "failure" | "error" => State::ChecksFailing,
            _ if record.state == State::NeedsReview => State::NeedsReview,
            _ => State::PrOpen,
        };
    }
    if next.state == record.state
        && next.pr_url == record.pr_url
        && next.merged_at == record.merged_at
    {
        return Ok(None);
    }
    next.updated_at = Utc::now();
    Ok(Some(next))
}
