//! The account a GitHub App's token writes as, kept on the memory branch once a job has seen it: later jobs without `bot_login` trust their own markers before they write a comment.

use serde::{Deserialize, Serialize};

use super::job::memory_at;
use super::Ctx;
use crate::github::client::RepoRef;

/// What is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    pub login: String,
    /// The run whose first comment showed the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_in_run: Option<u64>,
}

/// Where it is kept on the memory branch: one file per repository.
pub fn path(repo: &RepoRef) -> String {
    format!("identity/{}/{}.json", repo.owner, repo.name)
}

/// The account an earlier job learned for this repository, if one did.
/// An unreadable memory branch or file is a warning, not a failed job.
pub async fn recall(ctx: &Ctx) -> Option<String> {
    let path = path(&ctx.repo);
    let read = match memory_at(ctx) {
        Ok(at) => {
            let wanted = path.clone();
            at.with(move |store| Ok(store.read(&wanted)?)).await
        }
        Err(e) => Err(e),
    };
    let text = match read {
        Ok(text) => text?,
        Err(e) => {
            tracing::warn!("cannot read {path} on the memory branch: {e:#}");
            return None;
        }
    };
    match serde_json::from_str::<Learned>(&text) {
        Ok(learned) if !learned.login.trim().is_empty() => Some(learned.login),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("{path} on the memory branch: {e}; ignored");
            None
        }
    }
}

/// Keeps `login` for the jobs after this one.
pub async fn remember(ctx: &Ctx, login: &str, author: (String, String)) -> anyhow::Result<()> {
    let path = path(&ctx.repo);
    let learned = Learned {
        login: login.to_string(),
        learned_in_run: ctx.runner.run_id,
    };
    let text = serde_json::to_string(&learned)?;
    let message = format!("Deckhand writes as @{login} in {}", ctx.repo);
    memory_at(ctx)?
        .with(move |store| {
            store.write(
                &[(path, Some(text))],
                &message,
                (author.0.as_str(), author.1.as_str()),
            )?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_repository_in_the_documented_form() {
        let repo: RepoRef = "acme/user-service".parse().unwrap();
        assert_eq!(path(&repo), "identity/acme/user-service.json");
        let text = serde_json::to_string(&Learned {
            login: "deckhand-app[bot]".into(),
            learned_in_run: Some(42),
        })
        .unwrap();
        assert_eq!(text, r#"{"login":"deckhand-app[bot]","learned_in_run":42}"#);
    }
}
