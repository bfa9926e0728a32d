//! The learn step: after a fix made from review feedback, the `learn` role reads the feedback, the fix's diff and the rules in scope and records team rules; `store` puts them on the memory branch with the author's trust.

use crate::agent::conversation::{self, AgentError, RoleEnd, RoleState, Shared};
use crate::agent::orchestrator::start_role;
use crate::agent::session::Session;
use crate::agent::tools::RecordedRule;
use crate::agent::{prompts, AgentRole};
use crate::memory::edits::{self, NewRule};
use crate::memory::rules::{Evidence, RuleAuthor, Scope, Status};
use crate::memory::{Author, MemoryError, MemoryStore};
use crate::sandbox::Redactor;
use crate::task::TaskSpec;

/// Largest part of the fix's diff learn reads.
const MAX_DIFF_BYTES: usize = 30_000;

/// Feedback to learn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// What the reviewer wrote.
    pub text: String,
    /// A link to it, or `local:<task id>`.
    pub source: String,
    pub author: RuleAuthor,
}

/// A rule stored (or found already stored) from feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub id: String,
    pub text: String,
    pub scope: Scope,
    pub status: Status,
    /// False when the same rule was already on the branch.
    pub created: bool,
}

/// Runs the learn role in the task's worktree; returns what it recorded.
pub async fn learn(
    s: &mut Session,
    repo: &str,
    feedback: &str,
    diff: &str,
) -> Result<Vec<RecordedRule>, AgentError> {
    let existing = s
        .context
        .as_ref()
        .map(|c| c.rules_in_scope())
        .unwrap_or_default();
    s.team.existing = existing.clone();
    s.team.recorded.clear();
    start_role(s, AgentRole::Learn, 0);
    let diff = cut(diff, MAX_DIFF_BYTES);
    let opening = prompts::learn_start(repo, &s.redactor.redact(feedback), diff, &existing);
    let mut state = RoleState::new(AgentRole::Learn, opening);
    let mut spec = TaskSpec::new("learn", repo, feedback);
    let mut verdict = None;
    let end = conversation::run(
        s,
        &mut state,
        &mut Shared {
            spec: &mut spec,
            verdict: &mut verdict,
        },
        true,
    )
    .await?;
    if let RoleEnd::Stopped(limit) = end {
        s.progress(&format!(
            "⚠️ learn: stopped early ({}); keeping what it recorded",
            limit.describe(&s.budgets)
        ));
    }
    let recorded = std::mem::take(&mut s.team.recorded);
    s.progress(&format!("📚 learn: {} rule(s) recorded", recorded.len()));
    Ok(recorded)
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The status a rule from `author` gets: owners (local), admins and
/// maintainers teach active rules; writers propose them unless
/// `writers_approve` (config `memory.approve: writers`); anyone else
/// teaches nothing (`None`).
pub fn status_for(author: &RuleAuthor, writers_approve: bool) -> Option<Status> {
    match author.permission.as_str() {
        "owner" | "admin" | "maintain" => Some(Status::Active),
        "write" if writers_approve => Some(Status::Active),
        "write" => Some(Status::Proposed),
        _ => None,
    }
}

/// Stores what learn recorded, each rule one commit on the memory branch;
/// evidence is pinned to `commit`. A rule the guard refuses is skipped with
/// a log line.
pub async fn store(
    store: &mut MemoryStore,
    committer: Author,
    recorded: Vec<RecordedRule>,
    feedback: &Feedback,
    status: Status,
    commit: Option<&str>,
    redactor: &Redactor,
) -> Result<Vec<Learned>, MemoryError> {
    let mut learned = Vec::new();
    for r in recorded {
        let evidence = r.evidence.map(|e| Evidence {
            commit: e
                .commit
                .or_else(|| commit.map(|c| c[..c.len().min(12)].to_string())),
            ..e
        });
        let new = NewRule {
            text: r.text.clone(),
            scope: r.scope.clone(),
            status,
            source: feedback.source.clone(),
            author: feedback.author.clone(),
            evidence,
            replaces: r.replaces,
        };
        match edits::add(store, committer.clone(), new, redactor).await {
            Ok(added) => learned.push(Learned {
                id: added.id,
                text: redactor.redact(&r.text).into_owned(),
                scope: r.scope,
                status,
                created: added.created,
            }),
            Err(MemoryError::Rejected(why)) => {
                tracing::warn!(reason = %why, "learned rule not stored");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(learned)
}

/// Markdown lines naming the rules learned (for a reply or the terminal).
pub fn describe(learned: &[Learned]) -> String {
    let mut out = String::new();
    for l in learned {
        let state = match (l.status, l.created) {
            (_, false) => "already known",
            (Status::Active, true) => "learned",
            (Status::Proposed, true) => "proposed",
        };
        out.push_str(&format!(
            "- `{}` ({}, {state}): {}\n",
            l.id,
            l.scope,
            crate::task::spec::one_line(&l.text)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(permission: &str) -> RuleAuthor {
        RuleAuthor {
            login: "octo".into(),
            permission: permission.into(),
        }
    }

    #[test]
    fn trust_follows_the_role() {
        let got: Vec<_> = ["owner", "admin", "maintain", "write", "triage", "read"]
            .iter()
            .map(|p| (status_for(&who(p), false), status_for(&who(p), true)))
            .collect();
        use Status::*;
        assert_eq!(
            got,
            vec![
                (Some(Active), Some(Active)),
                (Some(Active), Some(Active)),
                (Some(Active), Some(Active)),
                (Some(Proposed), Some(Active)),
                (None, None),
                (None, None),
            ]
        );
    }
}
