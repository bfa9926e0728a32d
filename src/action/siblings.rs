//! Feedback shared by a campaign's siblings: an active rule learned on one
//! campaign PR is dispatched to every open sibling PR, and a sibling's job
//! applies it to its PR and replies naming the rule and where it came from.

use anyhow::Context as _;

use super::campaign::{self, campaign_of};
use super::job::{self, Job, Outputs};
use super::offload::MemoryAt;
use super::route::Feedback;
use super::{feedback, team, Ctx};
use crate::campaign::control::Shared;
use crate::campaign::dispatch::{self, RULE_WORKFLOW};
use crate::campaign::pacing::{Limits, Request};
use crate::campaign::store::CampaignStore;
use crate::github::client::RepoRef;
use crate::memory::rules::Status;
use crate::report::workflow;

/// A sibling pull request a rule was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub repository: String,
    pub pr: u64,
    pub rule: String,
}

/// Dispatches [`RULE_WORKFLOW`] in the config repository (`at`, whose
/// memory branch `campaigns` holds) once for every open sibling of
/// `campaign` (every repository but this one) and every rule of `rules`
/// (ids of active rules: a proposed one waits for its approval).
async fn spread(
    ctx: &Ctx,
    at: &MemoryAt,
    campaigns: &mut CampaignStore,
    campaign_id: &str,
    rules: &[String],
) -> anyhow::Result<Vec<Sent>> {
    let records = campaigns
        .records(campaign_id)
        .with_context(|| format!("the status records of campaign {campaign_id}"))?;
    let home: RepoRef = at
        .repo
        .parse()
        .with_context(|| format!("config repository `{}`", at.repo))?;
    let git_ref = ctx.github.repository(&home).await?.default_branch;
    let this = ctx.repo.to_string();
    let wanted: Vec<Sent> = records
        .iter()
        .filter(|r| r.repository != this && r.state.has_open_pr())
        .filter_map(|r| Some((r.repository.clone(), r.pr_number?)))
        .flat_map(|(repository, pr)| {
            rules.iter().map(move |rule| Sent {
                repository: repository.clone(),
                pr,
                rule: rule.clone(),
            })
        })
        .collect();
    // Dispatches are content-creating requests: paced with the campaign's others.
    let chunk = Limits::github(None).largest_reservation();
    for batch in wanted.chunks(chunk) {
        campaign::pace(
            campaigns.memory(),
            campaign_id,
            None,
            &at.repo,
            &vec![Request::Dispatch; batch.len()],
            "sending the rule to the siblings",
        )
        .await?;
        for x in batch {
            dispatch::rule(&ctx.github, &home, &git_ref, &x.repository, x.pr, &x.rule)
                .await
                .with_context(|| {
                    format!(
                        "dispatching {RULE_WORKFLOW} in {home} for {}#{}",
                        x.repository, x.pr
                    )
                })?;
            println!(
                "Deckhand: sent rule {} to sibling {}#{} of campaign {campaign_id}.",
                x.rule, x.repository, x.pr
            );
        }
    }
    Ok(wanted)
}

/// The reply lines that say where the rules went.
pub fn reply_section(sent: &[Sent]) -> String {
    if sent.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n**Sent to the campaign's open sibling pull requests**\n");
    for x in sent {
        s.push_str(&format!("- `{}` → {}#{}\n", x.rule, x.repository, x.pr));
    }
    s
}

/// Applies team rule `rule_id` to PR `pr` of this repository (a sibling's
/// dispatch): a fix on the PR's branch, verified, and a reply naming the
/// rule and its source. Nothing is learned: the rule is already stored.
pub async fn apply(ctx: &Ctx, pr: u64, rule_id: &str) -> anyhow::Result<Outputs> {
    let pull = ctx.github.pull(&ctx.repo, pr).await?;
    if let Some(why) = feedback::not_deckhands(&pull, &ctx.repo, &ctx.identity) {
        println!("Deckhand: nothing to do: {why}.");
        return Ok(Outputs::skipped(&why));
    }
    let at = job::memory_at(ctx)?;
    let rules = team::read(&at, &ctx.redactor).await;
    let rule = rules
        .into_iter()
        .find(|r| r.id == rule_id)
        .with_context(|| {
            format!(
                "team rule `{rule_id}` is not on {}:{} (or was refused when read)",
                at.repo, at.branch
            )
        })?;
    if rule.status != Status::Active {
        anyhow::bail!(
            "team rule `{rule_id}` is {}, not active: it reaches siblings once approved",
            rule.status
        );
    }
    let branch = pull.head_ref.clone();
    let id = job::task_of_fix(&ctx.repo, &pull, &branch);
    let task = format!(
        "Apply a team rule to pull request #{pr} (\"{}\") on branch `{branch}`.\n\n\
         The rule was learned from a review of a sibling pull request of the same campaign ({}):\n> {}\n\n\
         Change this pull request's work only where the rule asks for it, keep the tests passing, and say what you changed.",
        pull.title,
        rule.source,
        rule.text.trim().replace('\n', "\n> ")
    );
    let outputs = job::run(
        ctx,
        Job::fixing(
            id,
            &pull,
            branch,
            task,
            Feedback::Rule {
                id: rule.id.clone(),
                text: rule.text.clone(),
                source: rule.source.clone(),
            },
            None,
        ),
    )
    .await?;
    if let Some(campaign) = pull.body.as_deref().and_then(campaign_of) {
        if let Err(e) = record_applied(ctx, campaign, &rule.id).await {
            let what = format!(
                "rule {} was applied, but the status record of {} could not say so",
                rule.id, ctx.repo
            );
            warn(ctx, &what, &e);
        }
    }
    Ok(outputs)
}

/// Adds `rule` to this repository's status record of `campaign` (what the
/// dashboard shows as the rules applied from siblings).
async fn record_applied(ctx: &Ctx, campaign: &str, rule: &str) -> anyhow::Result<()> {
    let at = job::memory_at(ctx)?;
    let mut campaigns = CampaignStore::new(at.open().await?);
    let rule = rule.to_string();
    campaigns
        .update_record(campaign, &ctx.repo.to_string(), move |current| {
            let mut record = current?;
            if record.rules.contains(&rule) {
                return None;
            }
            record.rules.push(rule.clone());
            record.updated_at = chrono::Utc::now();
            Some(record)
        })
        .await?;
    Ok(())
}

/// Sends `rules` on to the open siblings when `pr` is a campaign's pull
/// request; a failure is a warning (the work on this PR is done).
pub async fn spread_from(ctx: &Ctx, pr: u64, rules: &[String]) -> Vec<Sent> {
    if rules.is_empty() {
        return Vec::new();
    }
    // An issue (not a pull request) has no campaign.
    let Ok(pull) = ctx.github.pull(&ctx.repo, pr).await else {
        return Vec::new();
    };
    let Some(campaign) = pull.body.as_deref().and_then(campaign_of) else {
        return Vec::new();
    };
    let opened = async {
        let at = job::memory_at(ctx)?;
        let campaigns = CampaignStore::new(at.open().await?);
        Ok::<_, anyhow::Error>((at, campaigns))
    };
    let (at, mut campaigns) = match opened.await {
        Ok(opened) => opened,
        Err(e) => {
            warn(
                ctx,
                "the rules could not be sent to the campaign's siblings",
                &e,
            );
            return Vec::new();
        }
    };
    // Kept first, so a re-apply tick on the dashboard can send it again.
    let source = format!("{}#{pr}", ctx.repo);
    if let Err(e) = record_shared(&mut campaigns, campaign, &source, rules).await {
        warn(
            ctx,
            "the feedback could not be recorded for the dashboard",
            &e,
        );
    }
    spread(ctx, &at, &mut campaigns, campaign, rules)
        .await
        .unwrap_or_else(|e| {
            warn(
                ctx,
                "the rules could not be sent to the campaign's siblings",
                &e,
            );
            Vec::new()
        })
}

fn warn(ctx: &Ctx, what: &str, e: &anyhow::Error) {
    let message = format!("{what}: {e:#}");
    println!(
        "{}",
        workflow::warning("Deckhand campaign", &ctx.redactor.redact(&message))
    );
}

/// Records `rules` from `source` as the campaign's latest shared feedback.
async fn record_shared(
    campaigns: &mut CampaignStore,
    campaign: &str,
    source: &str,
    rules: &[String],
) -> anyhow::Result<()> {
    let shared = Shared {
        rules: rules.to_vec(),
        source: source.to_string(),
        at: chrono::Utc::now(),
    };
    campaigns
        .update_control(campaign, &format!("feedback from {source}"), move |c| {
            c.feedback.push(shared.clone());
        })
        .await?;
    Ok(())
}
