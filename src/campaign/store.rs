//! The campaign's files on the memory branch: `campaigns/<id>/plan.json`, one status record per repository, and the tracking issue's number.

use super::plan::Plan;
use super::status::{record_path, Record};
use super::CampaignError;
use crate::memory::{MemoryError, MemoryStore};

/// Extra rounds of the memory store's own attempts for a record write.
const CONTENDED_ROUNDS: u32 = 6;

const AUTHOR: (&str, &str) = ("deckhand", "deckhand@users.noreply.github.com");

/// A memory store seen as campaigns.
pub struct CampaignStore {
    store: MemoryStore,
}

pub fn plan_path(campaign: &str) -> String {
    format!("campaigns/{campaign}/plan.json")
}

pub fn issue_path(campaign: &str) -> String {
    format!("campaigns/{campaign}/issue.json")
}

impl CampaignStore {
    pub fn new(store: MemoryStore) -> CampaignStore {
        CampaignStore { store }
    }

    pub fn refresh(&mut self) -> Result<(), CampaignError> {
        Ok(self.store.refresh()?)
    }

    pub fn save_plan(&mut self, plan: &Plan) -> Result<(), CampaignError> {
        let text = serde_json::to_string_pretty(plan)
            .map_err(|e| CampaignError::format("plan JSON", e))?;
        self.store.write(
            &[(plan_path(&plan.campaign_id), Some(text + "\n"))],
            &format!("campaign {}: plan", plan.campaign_id),
            AUTHOR,
        )?;
        Ok(())
    }

    pub fn plan(&self, campaign: &str) -> Result<Plan, CampaignError> {
        let path = plan_path(campaign);
        let text = self
            .store
            .read(&path)?
            .ok_or_else(|| CampaignError::NoPlan(campaign.to_string()))?;
        serde_json::from_str(&text).map_err(|e| CampaignError::format(path, e))
    }

    /// Writes one repository's record (only its own file). Many jobs write
    /// at once: a write that keeps losing the race waits a jittered while
    /// and tries again (its file is its own, so nothing needs merging).
    pub fn write_record(&mut self, campaign: &str, record: &Record) -> Result<(), CampaignError> {
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| CampaignError::format("status JSON", e))?;
        let change = [(record_path(campaign, &record.repository), Some(text + "\n"))];
        let message = format!(
            "campaign {campaign}: {} {}",
            record.repository,
            record.state.as_str()
        );
        let mut round = 0;
        loop {
            match self.store.write(&change, &message, AUTHOR) {
                Err(MemoryError::Contended { .. }) if round < CONTENDED_ROUNDS => {
                    round += 1;
                    let ms =
                        rand::Rng::gen_range(&mut rand::thread_rng(), 50..=250 * u64::from(round));
                    tracing::info!(
                        round,
                        wait_ms = ms,
                        "memory branch busy; writing the record again"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    self.store.refresh()?;
                }
                other => return Ok(other?),
            }
        }
    }

    pub fn record(
        &self,
        campaign: &str,
        repository: &str,
    ) -> Result<Option<Record>, CampaignError> {
        let path = record_path(campaign, repository);
        self.store
            .read(&path)?
            .map(|text| serde_json::from_str(&text).map_err(|e| CampaignError::format(path, e)))
            .transpose()
    }

    /// Every status record of the campaign, by repository.
    pub fn records(&self, campaign: &str) -> Result<Vec<Record>, CampaignError> {
        let skip = [plan_path(campaign), issue_path(campaign)];
        let mut out = Vec::new();
        for path in self.store.list(&format!("campaigns/{campaign}"))? {
            if skip.contains(&path) || !path.ends_with(".json") {
                continue;
            }
            if let Some(text) = self.store.read(&path)? {
                let record: Record =
                    serde_json::from_str(&text).map_err(|e| CampaignError::format(&path, e))?;
                out.push(record);
            }
        }
        out.sort_by(|a, b| a.repository.cmp(&b.repository));
        Ok(out)
    }

    /// The tracking issue's number, once one was opened.
    pub fn issue(&self, campaign: &str) -> Result<Option<u64>, CampaignError> {
        let Some(text) = self.store.read(&issue_path(campaign))? else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CampaignError::format(issue_path(campaign), e))?;
        Ok(v.get("number").and_then(serde_json::Value::as_u64))
    }

    pub fn save_issue(&mut self, campaign: &str, number: u64) -> Result<(), CampaignError> {
        self.store.write(
            &[(
                issue_path(campaign),
                Some(format!("{}\n", serde_json::json!({ "number": number }))),
            )],
            &format!("campaign {campaign}: tracking issue #{number}"),
            AUTHOR,
        )?;
        Ok(())
    }
}
