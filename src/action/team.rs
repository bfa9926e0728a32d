//! The team's rules in an Actions job: read from the config repository's memory branch for every task (each role recalls from them), and the task's use of them recorded after it.

use super::offload::MemoryAt;
use crate::agent::orchestrator::TaskState;
use crate::memory::rules::Rule;
use crate::memory::usage::UsageRecord;
use crate::memory::{catalog, edits, Author};
use crate::report::workflow;
use crate::sandbox::Redactor;

/// The title of the warnings about team rules.
const TITLE: &str = "Deckhand team rules";

/// Every rule on the memory branch that passed the checks on read. A
/// branch that cannot be read costs the rules, never the task; a rule file
/// that fails is named in a warning.
pub async fn read(at: &MemoryAt, redactor: &Redactor) -> Vec<Rule> {
    let reader = redactor.clone();
    let loaded = at
        .with(move |store| Ok(catalog::load(store, &reader, None)?))
        .await;
    match loaded {
        Ok(found) => {
            for s in &found.skipped {
                println!(
                    "{}",
                    workflow::warning(
                        TITLE,
                        &format!(
                            "{} on `{}` of {} skipped: {}",
                            s.file, at.branch, at.repo, s.reason
                        )
                    )
                );
            }
            if !found.rules.is_empty() {
                println!(
                    "Deckhand: {} team rule(s) on `{}` of {}.",
                    found.rules.len(),
                    at.branch,
                    at.repo
                );
            }
            found.rules
        }
        Err(e) => {
            println!(
                "{}",
                workflow::warning(
                    TITLE,
                    &redactor.redact(&format!(
                        "the memory branch `{}` of {} was not read, so this task runs without team rules: {e:#}",
                        at.branch, at.repo
                    ))
                )
            );
            Vec::new()
        }
    }
}

/// Records which rules the task used (one file per task: concurrent tasks
/// never lose each other's record); a failure is a warning.
pub async fn record_use(at: &MemoryAt, committer: Author, state: &TaskState, redactor: &Redactor) {
    if state.team_rules.rules.is_empty() {
        return;
    }
    let record = UsageRecord {
        task: state.spec.id.clone(),
        repo: Some(state.spec.repo.clone()),
        used_at: chrono::Utc::now(),
        rules: state.team_rules.ids(),
    };
    let recorded = async {
        let mut store = at.open().await?;
        Ok::<_, anyhow::Error>(edits::record_use(&mut store, committer, record).await?)
    }
    .await;
    if let Err(e) = recorded {
        println!(
            "{}",
            workflow::warning(
                TITLE,
                &redactor.redact(&format!(
                    "the use of team rules by task {} was not recorded: {e:#}",
                    state.spec.id
                ))
            )
        );
    }
}
