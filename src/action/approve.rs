//! `/deckhand approve <id>` on an issue or pull request: a maintainer or admin makes a proposed team rule active (one commit on the config repository's memory branch); anyone else, an unknown id or a rule already active gets a reply saying so.

use super::job::{self, Outputs};
use super::Ctx;
use crate::github::client::Permission;
use crate::github::events::User;
use crate::memory::rules::{is_rule_id, rule_path, Rule};
use crate::memory::{edits, Author, MemoryError};

/// What became of an approval.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Approved(Rule),
    AlreadyActive(Rule),
    /// No rule file with that id on the branch.
    Unknown,
    /// The text is not a rule id.
    NotAnId,
    /// The commenter's role does not approve rules.
    NotAllowed(Permission),
}

pub async fn run(ctx: &Ctx, issue: u64, id: &str, actor: &User) -> anyhow::Result<Outputs> {
    let at = job::memory_at(ctx)?;
    let permission = ctx.github.permission(&ctx.repo, &actor.login).await?;
    let answer = if !matches!(permission, Permission::Admin | Permission::Maintain) {
        Answer::NotAllowed(permission)
    } else if !is_rule_id(id) {
        Answer::NotAnId
    } else {
        let mut store = at.open().await?;
        match store.read(&rule_path(id))? {
            None => Answer::Unknown,
            Some(text) => {
                let rule = Rule::parse(&rule_path(id), &text)?;
                // The commit names who approved it.
                let approver = Author {
                    name: actor.login.clone(),
                    email: format!("{}@users.noreply.github.com", actor.login),
                };
                match edits::approve(&mut store, approver, id).await {
                    Ok(true) => Answer::Approved(rule),
                    Ok(false) => Answer::AlreadyActive(rule),
                    // Forgotten between the read and the change.
                    Err(MemoryError::Rejected(_)) => Answer::Unknown,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    };
    // Approved on a campaign's pull request: the rule goes to its siblings.
    let sent = match &answer {
        Answer::Approved(_) => super::siblings::spread_from(ctx, issue, &[id.to_string()]).await,
        _ => Vec::new(),
    };
    let mut body = reply(
        &answer,
        id,
        &actor.login,
        &ctx.repo.to_string(),
        &at.repo,
        &at.branch,
    );
    body.push_str(&super::siblings::reply_section(&sent));
    ctx.github
        .create_comment(&ctx.repo, issue, &ctx.redactor.redact(&body))
        .await?;
    println!("Deckhand: {}", body.lines().nth(1).unwrap_or_default());
    Ok(match answer {
        Answer::Approved(_) => Outputs {
            status: "done".into(),
            summary: format!("Team rule `{id}` approved by @{}.\n", actor.login),
            ..Outputs::default()
        },
        _ => Outputs::skipped(&format!("rule `{id}` was not approved")),
    })
}

/// The reply on the thread.
pub fn reply(
    answer: &Answer,
    id: &str,
    login: &str,
    repo: &str,
    memory_repo: &str,
    branch: &str,
) -> String {
    let said = match answer {
        Answer::Approved(rule) => format!(
            "✅ Team rule `{id}` ({}) is active now, approved by @{login}: {}",
            rule.scope,
            crate::task::spec::one_line(&rule.text)
        ),
        Answer::AlreadyActive(rule) => format!(
            "Team rule `{id}` ({}) was already active: {}",
            rule.scope,
            crate::task::spec::one_line(&rule.text)
        ),
        Answer::Unknown => format!(
            "🚫 There is no team rule `{id}` on `{branch}` of {memory_repo}; nothing was approved."
        ),
        Answer::NotAnId => format!(
            "🚫 `{id}` is not a team rule id (ids look like `r-0a1b2c3d`); nothing was approved."
        ),
        Answer::NotAllowed(p) => format!(
            "🚫 @{login} has `{}` permission on {repo}; only maintainers and admins approve team rules, so `{id}` stays as it is.",
            p.as_str()
        ),
    };
    format!("<!-- deckhand:reply -->\n{said}")
}
