//! Acting on the dashboard's ticks: each tick changes its record once, then a retry dispatches the campaign workflow again and a re-apply sends the latest shared feedback's rules to the repository's pull request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::control::Control;
use super::dashboard::{self, Command, Ticks};
use super::dispatch;
use super::plan::Plan;
use super::status::Record;
use super::store::CampaignStore;
use super::CampaignError;
use crate::github::{GitHub, RepoRef};

/// What acting on the ticks did, one line each (for the log).
pub type Done = Vec<String>;

/// Applies `ticks` to the campaign's records (each record changed in one
/// update that merges with concurrent writers) and dispatches what the
/// fired ticks ask for in `home`, the config repository. A dispatch that
/// fails undoes its tick's "applied" mark, so the next render tries again.
pub async fn act(
    gh: &GitHub,
    home: &RepoRef,
    store: &mut CampaignStore,
    plan: &Plan,
    ticks: &Ticks,
) -> Result<Done, CampaignError> {
    let id = plan.campaign_id.clone();
    let control = store.control(&id)?;
    let records = store.records(&id)?;
    let mut fired: Vec<(Record, Command)> = Vec::new();
    for acted in dashboard::apply(plan, &records, ticks, &control) {
        let repo = acted.record.repository.clone();
        // The commands our own (final) attempt fired: an attempt that lost
        // the race runs again on what the winner wrote.
        let ours: Arc<Mutex<Vec<Command>>> = Arc::default();
        let (plan2, ticks2, control2, ours2, repo2) = (
            plan.clone(),
            ticks.clone(),
            control.clone(),
            ours.clone(),
            repo.clone(),
        );
        let written = store
            .update_record(&id, &repo, move |current| {
                let current: Vec<Record> = current.into_iter().collect();
                let acted = dashboard::apply(&plan2, &current, &ticks2, &control2)
                    .into_iter()
                    .find(|a| a.record.repository == repo2);
                *ours2.lock().unwrap_or_else(PoisonError::into_inner) =
                    acted.as_ref().map(|a| a.fired.clone()).unwrap_or_default();
                acted.map(|a| a.record)
            })
            .await?;
        let ours = std::mem::take(&mut *ours.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(record) = written {
            fired.extend(ours.into_iter().map(|c| (record.clone(), c)));
        }
    }
    let mut done = Done::new();
    let mut retries: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (record, command) in fired {
        match command {
            Command::Retry => {
                let batch = dispatch::batch_of(plan, &record.repository).unwrap_or(0);
                retries.entry(batch).or_default().push(record.repository);
            }
            Command::Reapply => {
                let line = reapply(gh, home, store, &id, &control, &record).await?;
                done.push(line);
            }
            Command::Skip => {}
        }
    }
    for (batch, repos) in retries {
        let line = match dispatch::campaign(gh, home, plan, batch).await {
            Ok(()) => format!(
                "🔁 retry of {}: dispatched {} (batch {batch})",
                repos.join(", "),
                dispatch::CAMPAIGN_WORKFLOW
            ),
            Err(e) => {
                let why = format!("{e}");
                for repo in &repos {
                    undo(
                        store,
                        &id,
                        repo,
                        Command::Retry,
                        format!("the retry could not be dispatched ({why}); the next render tries again"),
                    )
                    .await?;
                }
                format!("⚠️ retry of {} not dispatched: {why}", repos.join(", "))
            }
        };
        done.push(line);
    }
    Ok(done)
}

/// Sends the latest shared feedback's rules to `record`'s pull request.
async fn reapply(
    gh: &GitHub,
    home: &RepoRef,
    store: &mut CampaignStore,
    campaign: &str,
    control: &Control,
    record: &Record,
) -> Result<String, CampaignError> {
    let (Some(feedback), Some(pr)) = (control.latest_feedback(), record.pr_number) else {
        return Ok(format!("nothing to re-apply to {}", record.repository));
    };
    let sent = async {
        let git_ref = gh.repository(home).await?.default_branch;
        for rule in &feedback.rules {
            dispatch::rule(gh, home, &git_ref, &record.repository, pr, rule).await?;
        }
        Ok::<_, crate::github::GitHubError>(())
    }
    .await;
    match sent {
        Ok(()) => Ok(format!(
            "↩️ re-applied {} from {} to {}#{pr}: dispatched {}",
            feedback.rules.join(", "),
            feedback.source,
            record.repository,
            dispatch::RULE_WORKFLOW
        )),
        Err(e) => {
            undo(
                store,
                campaign,
                &record.repository,
                Command::Reapply,
                format!("the re-apply could not be dispatched ({e}); the next render tries again"),
            )
            .await?;
            Ok(format!(
                "⚠️ re-apply to {}#{pr} not dispatched: {e}",
                record.repository
            ))
        }
    }
}

/// Forgets that `command` was applied to `repository` (its tick then acts
/// again on the next render), saying why in the record's note.
async fn undo(
    store: &mut CampaignStore,
    campaign: &str,
    repository: &str,
    command: Command,
    note: String,
) -> Result<(), CampaignError> {
    store
        .update_record(campaign, repository, move |current| {
            let mut record = current?;
            record.applied.retain(|k| k != command.as_str());
            record.note = Some(note.clone());
            record.updated_at = chrono::Utc::now();
            Some(record)
        })
        .await?;
    Ok(())
}
