//! A campaign's matrix job (input `campaign`): its pull request names the campaign and links the dashboard, and its creation is paced across the campaign's parallel jobs.

use anyhow::Context as _;

use super::job::memory_at;
use super::Ctx;
use crate::campaign::pacing::{self, Limits, Request};
use crate::campaign::store::CampaignStore;
use crate::memory::MemoryStore;

/// The marker a campaign's pull request carries in its body.
const PR_MARKER: &str = "<!-- deckhand:campaign-pr id=";

/// The campaign a pull request's body names.
pub fn campaign_of(body: &str) -> Option<&str> {
    let rest = &body[body.find(PR_MARKER)? + PR_MARKER.len()..];
    let id = rest[..rest.find(" -->")?].trim();
    crate::campaign::is_valid_campaign_id(id).then_some(id)
}

/// What a job knows of its campaign.
pub struct CampaignJob {
    pub id: String,
    /// The tracking issue's URL, once the dashboard was first rendered.
    pub dashboard: Option<String>,
    per_hour: Option<u32>,
}

impl CampaignJob {
    /// The job's campaign, when it has one: its plan and tracking issue from
    /// the memory branch (the issue lives in the memory repository).
    pub async fn open(ctx: &Ctx) -> anyhow::Result<Option<CampaignJob>> {
        let Some(id) = ctx.inputs.campaign.clone() else {
            return Ok(None);
        };
        let campaigns = CampaignStore::new(memory_at(ctx)?.open().await?);
        let plan = campaigns
            .plan(&id)
            .with_context(|| format!("input `campaign`: {id}"))?;
        let issue_repo = ctx
            .inputs
            .config_repo
            .clone()
            .unwrap_or_else(|| ctx.repo.to_string());
        let dashboard = campaigns.issue(&id)?.map(|n| {
            format!(
                "{}/{issue_repo}/issues/{n}",
                ctx.runner.server_url.trim_end_matches('/')
            )
        });
        Ok(Some(CampaignJob {
            id,
            dashboard,
            per_hour: plan.per_hour,
        }))
    }

    /// The lines the pull request body ends with.
    pub fn footer(&self) -> String {
        let link = match &self.dashboard {
            Some(url) => format!(" · [dashboard]({url})"),
            None => String::new(),
        };
        format!(
            "\n---\nPart of campaign `{}`{link}\n{PR_MARKER}{} -->\n",
            self.id, self.id
        )
    }

    /// Waits for room in the shared ledger for the requests that open the
    /// pull request (GitHub's secondary limits, `rollout.per_hour`).
    pub async fn pace(&self, ctx: &Ctx, wanted: &[Request]) -> anyhow::Result<()> {
        pace(
            &mut memory_at(ctx)?.open().await?,
            &self.id,
            self.per_hour,
            &ctx.repo.to_string(),
            wanted,
            "opening the pull request",
        )
        .await
    }
}

/// Waits for room in the shared ledger of content-creating requests (on
/// `memory`) for `wanted`, sent for `repository` in `campaign`, saying so
/// while it waits ("waiting 12s before `doing`: why").
pub async fn pace(
    memory: &mut MemoryStore,
    campaign: &str,
    per_hour: Option<u32>,
    repository: &str,
    wanted: &[Request],
    doing: &str,
) -> anyhow::Result<()> {
    let waits = pacing::reserve(
        memory,
        campaign,
        repository,
        wanted,
        Limits::github(per_hour),
        |w| {
            let seconds = (w.until - chrono::Utc::now()).num_seconds().max(0);
            println!("Deckhand: waiting {seconds}s before {doing}: {}.", w.reason);
        },
    )
    .await?;
    if !waits.is_empty() {
        println!(
            "Deckhand: {doing} after {} wait(s) for the campaign's pace.",
            waits.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_is_read_from_the_pr_marker() {
        let job = CampaignJob {
            id: "cp-1a2b3c4d".into(),
            dashboard: Some("https://github.com/acme/config/issues/7".into()),
            per_hour: None,
        };
        let body = format!("Did it.\n{}", job.footer());
        assert_eq!(campaign_of(&body), Some("cp-1a2b3c4d"));
        assert_eq!(campaign_of("no marker"), None);
        assert_eq!(
            campaign_of("<!-- deckhand:campaign-pr id=../../etc -->"),
            None
        );
    }
}
