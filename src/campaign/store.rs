//! The campaign's files on the memory branch: `campaigns/<id>/plan.json`, one status record per repository, and the tracking issue's number.

use super::control::{control_path, Control};
use super::plan::Plan;
use super::status::{record_path, Record};
use super::CampaignError;
use crate::memory::{Author, Change, MemoryError, MemoryStore, Snapshot};

/// Who campaign changes (records, control, the pacing ledger) are committed as.
pub(super) fn author() -> Author {
    Author {
        name: "deckhand".into(),
        email: "deckhand@users.noreply.github.com".into(),
    }
}

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

/// A record as one attempt of an update sees it (a bad file refuses the change, naming it).
fn record_at(snap: &Snapshot<'_>, path: &str) -> Result<Option<Record>, MemoryError> {
    snap.read(path)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| MemoryError::Rejected(format!("{path}: {e}")))
        })
        .transpose()
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, MemoryError> {
    serde_json::to_string_pretty(value)
        .map(|t| t + "\n")
        .map_err(|e| MemoryError::Rejected(format!("{what} JSON: {e}")))
}

impl CampaignStore {
    pub fn new(store: MemoryStore) -> CampaignStore {
        CampaignStore { store }
    }

    pub fn refresh(&mut self) -> Result<(), CampaignError> {
        Ok(self.store.refresh()?)
    }

    /// The underlying memory store (for other files of the branch).
    pub fn memory(&mut self) -> &mut MemoryStore {
        &mut self.store
    }

    pub async fn save_plan(&mut self, plan: &Plan) -> Result<(), CampaignError> {
        let path = plan_path(&plan.campaign_id);
        let message = format!("campaign {}: plan", plan.campaign_id);
        let text = json("plan", plan)?;
        self.store
            .update(author(), move |_| {
                Ok(Some(Change {
                    files: vec![(path.clone(), Some(text.clone()))],
                    message: message.clone(),
                }))
            })
            .await?;
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

    /// Changes one repository's record (only its own file): `change` gets
    /// the record as it is on the branch at each attempt and returns the
    /// new one (`None`: leave it). Many jobs write at once; an attempt that
    /// loses the race runs `change` again on what the winner wrote, so a
    /// concurrent change of the same record (a dashboard tick, a sync) is
    /// merged, never overwritten. Returns the record as it now stands.
    pub async fn update_record<F>(
        &mut self,
        campaign: &str,
        repository: &str,
        change: F,
    ) -> Result<Option<Record>, CampaignError>
    where
        F: Fn(Option<Record>) -> Option<Record> + Send + Sync + 'static,
    {
        let path = record_path(campaign, repository);
        let campaign_id = campaign.to_string();
        let file = path.clone();
        self.store
            .update(author(), move |snap| {
                let Some(next) = change(record_at(snap, &file)?) else {
                    return Ok(None);
                };
                Ok(Some(Change {
                    files: vec![(file.clone(), Some(json("status", &next)?))],
                    message: format!(
                        "campaign {campaign_id}: {} {}",
                        next.repository,
                        next.state.as_str()
                    ),
                }))
            })
            .await?;
        self.record(campaign, repository)
    }

    /// Writes one repository's record as given.
    pub async fn write_record(
        &mut self,
        campaign: &str,
        record: &Record,
    ) -> Result<(), CampaignError> {
        let record = record.clone();
        let repository = record.repository.clone();
        self.update_record(campaign, &repository, move |_| Some(record.clone()))
            .await?;
        Ok(())
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

    /// What the tracking issue's commands decided (nothing yet: the default).
    pub fn control(&self, campaign: &str) -> Result<Control, CampaignError> {
        let path = control_path(campaign);
        match self.store.read(&path)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| CampaignError::format(path, e)),
            None => Ok(Control::default()),
        }
    }

    /// Changes the control file, re-running `change` on the file as it is
    /// at each attempt; returns what now stands.
    pub async fn update_control<F>(
        &mut self,
        campaign: &str,
        message: &str,
        change: F,
    ) -> Result<Control, CampaignError>
    where
        F: Fn(&mut Control) + Send + Sync + 'static,
    {
        let path = control_path(campaign);
        let message = format!("campaign {campaign}: {message}");
        self.store
            .update(author(), move |snap| {
                let mut control: Control = match snap.read(&path)? {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| MemoryError::Rejected(format!("{path}: {e}")))?,
                    None => Control::default(),
                };
                change(&mut control);
                Ok(Some(Change {
                    files: vec![(path.clone(), Some(json("control", &control)?))],
                    message: message.clone(),
                }))
            })
            .await?;
        self.control(campaign)
    }

    /// Every status record of the campaign, by repository.
    pub fn records(&self, campaign: &str) -> Result<Vec<Record>, CampaignError> {
        let skip = [
            plan_path(campaign),
            issue_path(campaign),
            control_path(campaign),
        ];
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

    pub async fn save_issue(&mut self, campaign: &str, number: u64) -> Result<(), CampaignError> {
        let path = issue_path(campaign);
        let message = format!("campaign {campaign}: tracking issue #{number}");
        self.store
            .update(author(), move |_| {
                Ok(Some(Change {
                    files: vec![(
                        path.clone(),
                        Some(format!("{}\n", serde_json::json!({ "number": number }))),
                    )],
                    message: message.clone(),
                }))
            })
            .await?;
        Ok(())
    }
}
