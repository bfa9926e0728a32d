//! The tracking issue: a view rendered from all records. A render reads the issue, merges its ticks, writes, and re-reads, so a tick made meanwhile is kept.

use super::control::Control;
use super::dashboard::{self, Ticks};
use super::plan::Plan;
use super::status::Record;
use super::waves;
use super::CampaignError;
use crate::github::{GitHub, RepoRef};

/// Renders attempted before giving up on an issue that keeps changing.
const MAX_RENDERS: u32 = 5;

/// The ticks now on the issue.
pub async fn read_ticks(
    gh: &GitHub,
    repo: &RepoRef,
    number: u64,
) -> Result<(String, Ticks), CampaignError> {
    let issue = gh.issue(repo, number).await?;
    let body = issue.body.unwrap_or_default();
    let ticks = dashboard::ticks(&body);
    Ok((body, ticks))
}

/// Writes the dashboard for `records` into the issue, keeping every tick
/// made before the write landed: the body is read again just before the
/// write and after it, and the render is redone while it moved.
pub async fn render_issue(
    gh: &GitHub,
    repo: &RepoRef,
    number: u64,
    plan: &Plan,
    records: &[Record],
    control: &Control,
    known: &Ticks,
) -> Result<Ticks, CampaignError> {
    let mut ticks = known.clone();
    let halt = waves::halted(plan, records, control);
    for attempt in 1..=MAX_RENDERS {
        let (before, seen) = read_ticks(gh, repo, number).await?;
        ticks.extend(seen);
        let body = dashboard::render(plan, records, &ticks, halt.as_ref(), control);
        // Anything ticked since the first read?
        let (now, seen) = read_ticks(gh, repo, number).await?;
        if now != before {
            ticks.extend(seen);
            tracing::info!(
                attempt,
                "the dashboard changed while rendering; merging again"
            );
            continue;
        }
        gh.update_issue_body(repo, number, &body).await?;
        let (after, seen) = read_ticks(gh, repo, number).await?;
        if seen.is_subset(&dashboard::ticks(&body)) && after.trim_end() == body.trim_end() {
            return Ok(ticks);
        }
        ticks.extend(seen);
        tracing::info!(
            attempt,
            "the dashboard changed after the write; rendering again"
        );
    }
    Err(CampaignError::Invalid(format!(
        "the tracking issue #{number} kept changing; gave up after {MAX_RENDERS} renders"
    )))
}
