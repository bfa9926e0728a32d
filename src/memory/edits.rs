//! The changes made to rules — add, forget, approve, prune, record use — each one commit through `MemoryStore::update`, re-run on the fresh snapshot when another writer got there first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::rules::{rule_id, rule_path, Evidence, Rule, RuleAuthor, Scope, Status, RULES_DIR};
use super::usage::{tally, usage_path, RuleUse, UsageRecord};
use super::{guard, Author, Change, MemoryError, MemoryStore, Snapshot};
use crate::sandbox::Redactor;

/// A rule to store.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub text: String,
    pub scope: Scope,
    pub status: Status,
    pub source: String,
    pub author: RuleAuthor,
    pub evidence: Option<Evidence>,
    pub replaces: Option<String>,
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: String,
    /// False when the same rule was already stored.
    pub created: bool,
}

/// Stores a rule after the injection check and the redactor. The same
/// text and scope taught again is the same rule (same id): nothing new is
/// written. A rule that `replaces` another removes it in the same commit.
pub async fn add(
    store: &mut MemoryStore,
    committer: Author,
    new: NewRule,
    redactor: &Redactor,
) -> Result<Added, MemoryError> {
    let mut new = new;
    new.text = redactor.redact(new.text.trim()).into_owned();
    let provisional = rule_id(&new.text, &new.scope, 8);
    if let Err(refusal) = guard::check(&new.text) {
        tracing::warn!(rule = %provisional, reason = %refusal, "rule refused by the injection check");
        return Err(MemoryError::Rejected(format!(
            "rule {provisional} refused: {refusal}"
        )));
    }
    let result: Arc<Mutex<Option<Added>>> = Arc::default();
    let seen = Arc::clone(&result);
    let now = Utc::now();
    let who = committer.name.clone();
    store
        .update(committer, move |snap| {
            let (id, existing) = free_id(snap, &new)?;
            if existing {
                set(&seen, Added { id, created: false });
                return Ok(None);
            }
            let rule = Rule {
                id: id.clone(),
                scope: new.scope.clone(),
                status: new.status,
                source: new.source.clone(),
                author: new.author.clone(),
                created: now,
                evidence: new.evidence.clone(),
                replaces: new.replaces.clone(),
                text: new.text.clone(),
            };
            let mut files = vec![(rule.path(), Some(rule.render()))];
            let mut message = format!(
                "memory: add {id} ({}, {}) by {who}\n\n{}\n\nSource: {}\nAuthor: {}",
                rule.scope, rule.status, rule.text, rule.source, rule.author
            );
            if let Some(old) = &rule.replaces {
                if snap.read(&rule_path(old))?.is_some() {
                    files.push((rule_path(old), None));
                    message.push_str(&format!("\nReplaces: {old}"));
                }
            }
            set(&seen, Added { id, created: true });
            Ok(Some(Change { files, message }))
        })
        .await?;
    take(&result)
}

/// The id for `new`: its own, or a wider one when that one holds another
/// rule; `true` when the same rule is already stored.
fn free_id(snap: &Snapshot<'_>, new: &NewRule) -> Result<(String, bool), MemoryError> {
    for width in [8, 12, 16] {
        let id = rule_id(&new.text, &new.scope, width);
        let path = rule_path(&id);
        match snap.read(&path)? {
            None => return Ok((id, false)),
            Some(text) => match Rule::parse(&path, &text) {
                Ok(old) if old.scope == new.scope && same_text(&old.text, &new.text) => {
                    return Ok((id, true))
                }
                _ => continue,
            },
        }
    }
    Err(MemoryError::Rejected(format!(
        "no free id for the rule {:?}",
        new.text
    )))
}

fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

fn set<T>(slot: &Mutex<Option<T>>, value: T) {
    if let Ok(mut guard) = slot.lock() {
        *guard = Some(value);
    }
}

fn take<T: Clone>(slot: &Mutex<Option<T>>) -> Result<T, MemoryError> {
    slot.lock()
        .ok()
        .and_then(|g| g.clone())
        .ok_or_else(|| MemoryError::Rejected("the change did not run".into()))
}

/// Reads rule `id` from the snapshot; an error when it is missing or broken.
fn existing(snap: &Snapshot<'_>, id: &str) -> Result<Rule, MemoryError> {
    let path = rule_path(id);
    let text = snap
        .read(&path)?
        .ok_or_else(|| MemoryError::Rejected(format!("no rule {id} on the memory branch")))?;
    Rule::parse(&path, &text).map_err(|e| MemoryError::Rejected(e.to_string()))
}

/// Removes rule `id` (its file may be broken: forgetting still works).
pub async fn forget(
    store: &mut MemoryStore,
    committer: Author,
    id: &str,
) -> Result<(), MemoryError> {
    let id = id.to_string();
    let who = committer.name.clone();
    store
        .update(committer, move |snap| {
            let path = rule_path(&id);
            if snap.read(&path)?.is_none() {
                return Err(MemoryError::Rejected(format!(
                    "no rule {id} on the memory branch"
                )));
            }
            Ok(Some(Change {
                files: vec![(path, None)],
                message: format!("memory: forget {id} by {who}"),
            }))
        })
        .await?;
    Ok(())
}

/// Makes a proposed rule active; `false` when it already was.
pub async fn approve(
    store: &mut MemoryStore,
    committer: Author,
    id: &str,
) -> Result<bool, MemoryError> {
    let id = id.to_string();
    let who = committer.name.clone();
    let changed: Arc<Mutex<Option<bool>>> = Arc::default();
    let seen = Arc::clone(&changed);
    store
        .update(committer, move |snap| {
            let mut rule = existing(snap, &id)?;
            if rule.status == Status::Active {
                set(&seen, false);
                return Ok(None);
            }
            rule.status = Status::Active;
            set(&seen, true);
            Ok(Some(Change {
                files: vec![(rule.path(), Some(rule.render()))],
                message: format!("memory: approve {id} by {who}"),
            }))
        })
        .await?;
    take(&changed)
}

/// When a rule was last useful: its last use, else its creation.
pub fn last_active(rule: &Rule, uses: &BTreeMap<String, RuleUse>) -> DateTime<Utc> {
    uses.get(&rule.id)
        .and_then(|u| u.last_used)
        .map_or(rule.created, |used| used.max(rule.created))
}

/// Removes rules neither used nor created in the last `days` days; returns their ids.
pub async fn prune(
    store: &mut MemoryStore,
    committer: Author,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MemoryError> {
    let who = committer.name.clone();
    let pruned: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let seen = Arc::clone(&pruned);
    store
        .update(committer, move |snap| {
            let cutoff = now - Duration::days(i64::from(days));
            let uses = tally(snap)?;
            let mut ids = Vec::new();
            for path in snap.list(RULES_DIR)? {
                let Some(text) = snap.read(&path)? else {
                    continue;
                };
                // A broken file is for a person to fix, not to expire.
                let Ok(rule) = Rule::parse(&path, &text) else {
                    continue;
                };
                if last_active(&rule, &uses) < cutoff {
                    ids.push(rule.id);
                }
            }
            set(&seen, ids.clone());
            if ids.is_empty() {
                return Ok(None);
            }
            Ok(Some(Change {
                files: ids.iter().map(|id| (rule_path(id), None)).collect(),
                message: format!(
                    "memory: prune {} rule(s) unused for {days} days by {who}\n\n{}",
                    ids.len(),
                    ids.join("\n")
                ),
            }))
        })
        .await?;
    take(&pruned)
}

/// Records that task `record.task` used `record.rules` (its own file: no
/// other task's record is ever rewritten).
pub async fn record_use(
    store: &mut MemoryStore,
    committer: Author,
    record: UsageRecord,
) -> Result<(), MemoryError> {
    let who = committer.name.clone();
    store
        .update(committer, move |_| {
            Ok(Some(Change {
                files: vec![(usage_path(&record.task), Some(record.render()))],
                message: format!(
                    "memory: task {} used {} rule(s) by {who}\n\n{}",
                    record.task,
                    record.rules.len(),
                    record.rules.join("\n")
                ),
            }))
        })
        .await?;
    Ok(())
}
