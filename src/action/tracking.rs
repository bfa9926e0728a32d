//! `/deckhand resume` and `/deckhand cancel` on a campaign's tracking issue: resume lifts a halt and dispatches the campaign workflow for the next wave; cancel marks queued repositories cancelled and cancels the runs working on the others; the dashboard is rendered again either way.

use std::collections::BTreeSet;

use anyhow::Context as _;
use regex::Regex;

use super::job::{memory_at, Outputs};
use super::route::Control;
use super::Ctx;
use crate::campaign::control::Cancelled;
use crate::campaign::dispatch::{self, CAMPAIGN_WORKFLOW};
use crate::campaign::plan::Plan;
use crate::campaign::status::{Record, State};
use crate::campaign::store::CampaignStore;
use crate::campaign::{ticks, tracking, waves};
use crate::github::events::User;

/// The campaign whose dashboard `body` is (Deckhand's marker, from its account).
fn campaign_of(ctx: &Ctx, author: &str, body: &str) -> Option<String> {
    if !ctx.identity.wrote(author, body) {
        return None;
    }
    let re = Regex::new(r"<!-- deckhand:campaign id=(cp-[A-Za-z0-9-]+) -->").ok()?;
    let id = re.captures(body)?.get(1)?.as_str().to_string();
    crate::campaign::is_valid_campaign_id(&id).then_some(id)
}

/// Acts on `control` when `issue` is a campaign's tracking issue; `None`
/// when it is not (the comment is then an ordinary issue command).
pub async fn handle(
    ctx: &Ctx,
    issue: u64,
    control: Option<Control>,
    actor: &User,
) -> anyhow::Result<Option<Outputs>> {
    let Some(control @ (Control::Resume | Control::Cancel)) = control else {
        return Ok(None);
    };
    let found = ctx.github.issue(&ctx.repo, issue).await?;
    let body = found.body.clone().unwrap_or_default();
    let Some(id) = campaign_of(ctx, &found.user.login, &body) else {
        return Ok(None);
    };
    let mut store = CampaignStore::new(memory_at(ctx)?.open().await?);
    let plan = store
        .plan(&id)
        .with_context(|| format!("tracking issue #{issue}"))?;
    let (reply, outputs) = match control {
        Control::Resume => resume(ctx, &mut store, &plan).await?,
        _ => cancel(ctx, &mut store, &plan, actor).await?,
    };
    // Like every render, this one acts on the ticks first.
    let (_, ticks) = tracking::read_ticks(&ctx.github, &ctx.repo, issue).await?;
    for line in ticks::act(&ctx.github, &ctx.repo, &mut store, &plan, &ticks).await? {
        println!("Deckhand: {line}");
    }
    let records = store.records(&id)?;
    let state = store.control(&id)?;
    tracking::render_issue(
        &ctx.github,
        &ctx.repo,
        issue,
        &plan,
        &records,
        &state,
        &ticks,
    )
    .await?;
    ctx.github
        .create_comment(&ctx.repo, issue, &ctx.redactor.redact(&reply))
        .await?;
    println!("Deckhand: {}", reply.lines().next().unwrap_or_default());
    Ok(Some(outputs))
}

/// Lifts the halt (the wave it stopped before starts anyway; failures are
/// counted again from it) and dispatches the campaign workflow.
async fn resume(
    ctx: &Ctx,
    store: &mut CampaignStore,
    plan: &Plan,
) -> anyhow::Result<(String, Outputs)> {
    let id = plan.campaign_id.clone();
    let records = store.records(&id)?;
    let control = store.control(&id)?;
    if control.cancelled.is_some() {
        return Ok((
            format!("Deckhand: campaign `{id}` was cancelled; a cancelled campaign does not resume (plan it again to start over)."),
            Outputs::skipped("the campaign was cancelled"),
        ));
    }
    let Some(halt) = waves::halted(plan, &records, &control) else {
        return Ok((
            format!("Deckhand: campaign `{id}` is not halted; nothing to resume."),
            Outputs::skipped("the campaign is not halted"),
        ));
    };
    let wave = halt.wave;
    store
        .update_control(&id, &format!("resume at wave {wave}"), move |c| {
            if !c.resumed.contains(&wave) {
                c.resumed.push(wave);
                c.resumed.sort_unstable();
            }
        })
        .await?;
    dispatch::campaign(&ctx.github, &ctx.repo, plan, 0).await?;
    Ok((
        format!(
            "▶️ Deckhand resumed campaign `{id}`: wave {wave} starts despite {} of {} failed; dispatched `{CAMPAIGN_WORKFLOW}`.",
            halt.failed, halt.finished
        ),
        Outputs {
            status: "done".into(),
            summary: format!("Resumed campaign `{id}` at wave {wave}.\n"),
            ..Outputs::default()
        },
    ))
}

/// Marks the campaign cancelled, its queued repositories cancelled, and
/// cancels the runs working on the running ones.
async fn cancel(
    ctx: &Ctx,
    store: &mut CampaignStore,
    plan: &Plan,
    actor: &User,
) -> anyhow::Result<(String, Outputs)> {
    let id = plan.campaign_id.clone();
    let by = actor.login.clone();
    store
        .update_control(&id, "cancel", move |c| {
            if c.cancelled.is_none() {
                c.cancelled = Some(Cancelled {
                    by: by.clone(),
                    at: chrono::Utc::now(),
                });
            }
        })
        .await?;
    let mut queued = 0;
    let mut runs = BTreeSet::new();
    for p in &plan.repositories {
        let (name, wave) = (p.repository.clone(), p.wave);
        let before = store.record(&id, &name)?;
        let changed = store
            .update_record(&id, &p.repository, move |current| {
                let mut record = current.unwrap_or_else(|| Record::new(&name, State::Queued, wave));
                if !matches!(record.state, State::Queued | State::Running) {
                    return None;
                }
                record.state = State::Cancelled;
                record.note = Some("cancelled on the tracking issue".into());
                record.updated_at = chrono::Utc::now();
                Some(record)
            })
            .await?;
        let cancelled = changed.is_some_and(|r| r.state == State::Cancelled);
        match before.as_ref().map(|r| (r.state, r.run_id)) {
            Some((State::Running, Some(run))) => {
                runs.insert(run);
            }
            None | Some((State::Queued, _)) if cancelled => queued += 1,
            _ => {}
        }
    }
    for run in &runs {
        ctx.github.cancel_run(&ctx.repo, *run).await?;
    }
    let shown: Vec<String> = runs.iter().map(u64::to_string).collect();
    Ok((
        format!(
            "🛑 Deckhand cancelled campaign `{id}`: {queued} queued repositories will not start; {} run(s) cancelled{}.",
            runs.len(),
            if shown.is_empty() {
                String::new()
            } else {
                format!(" ({})", shown.join(", "))
            }
        ),
        Outputs {
            status: "cancelled".into(),
            summary: format!("Cancelled campaign `{id}`.\n"),
            ..Outputs::default()
        },
    ))
}
