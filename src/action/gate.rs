//! Who may trigger work: collaborators with write, maintain or admin
//! permission (asked of the API; `author_association` is not trusted), and
//! bots only when allow-listed. A refused trigger gets one short comment.

use crate::github::client::{GitHub, GitHubError, RepoRef};
use crate::github::events::User;

const REFUSED_MARKER: &str = "<!-- deckhand:refused user=";

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Refused(String),
}

/// Whether bot `login` is in `allowed` (`renovate` and `renovate[bot]`
/// name the same bot).
pub fn bot_allowed(allowed: &[String], login: &str) -> bool {
    let bare = |s: &str| s.trim().trim_end_matches("[bot]").to_ascii_lowercase();
    allowed.iter().any(|b| bare(b) == bare(login))
}

pub async fn check(
    github: &GitHub,
    repo: &RepoRef,
    actor: &User,
    allowed_bots: &[String],
) -> Result<Decision, GitHubError> {
    if actor.is_bot() {
        let listed = bot_allowed(allowed_bots, &actor.login);
        return Ok(if listed {
            Decision::Allowed
        } else {
            Decision::Refused(format!(
                "@{} is a bot, and bots may trigger Deckhand only when listed in `allowed_bots`",
                actor.login
            ))
        });
    }
    let permission = github.permission(repo, &actor.login).await?;
    Ok(if permission.can_write() {
        Decision::Allowed
    } else {
        Decision::Refused(format!(
            "@{} does not have write access to {repo}; Deckhand takes work only from collaborators with write, maintain or admin permission",
            actor.login
        ))
    })
}

/// Says why on the issue, once per user and issue.
pub async fn comment_refusal(
    github: &GitHub,
    repo: &RepoRef,
    issue: u64,
    actor: &User,
    why: &str,
) -> Result<bool, GitHubError> {
    let marker = format!("{REFUSED_MARKER}{} -->", actor.login);
    let already = github
        .comments(repo, issue, None)
        .await?
        .iter()
        .any(|c| c.body.contains(&marker));
    if already {
        return Ok(false);
    }
    github
        .create_comment(
            repo,
            issue,
            &format!("{marker}\n🚫 Deckhand did not start: {why}."),
        )
        .await?;
    Ok(true)
}
