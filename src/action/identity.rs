//! Deckhand's own identity on GitHub: the account its token acts as, and
//! which comments are Deckhand's own (its marker AND that account).

use crate::github::client::{GitHub, GitHubError};

/// The account `GITHUB_TOKEN` writes as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// Every comment Deckhand writes carries this.
pub const MARKER: &str = "<!-- deckhand:";

/// Who Deckhand is in this job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
}

impl Identity {
    /// The token's account: `GET /user` for a personal token; an
    /// installation token (which `GET /user` refuses) writes as the
    /// Actions bot.
    pub async fn resolve(github: &GitHub) -> Result<Identity, GitHubError> {
        let login = match github.token_user().await? {
            Some(user) => user.login,
            None => ACTIONS_BOT.to_string(),
        };
        tracing::debug!(login, "Deckhand acts as");
        Ok(Identity { login })
    }

    /// Whether `login` is Deckhand's account.
    pub fn is_me(&self, login: &str) -> bool {
        login.eq_ignore_ascii_case(&self.login)
    }

    /// Whether Deckhand wrote this text: its marker, from its account. A
    /// marker anyone else writes is a forgery; a person sharing the token's
    /// account writes no marker.
    pub fn wrote(&self, login: &str, body: &str) -> bool {
        self.is_me(login) && body.contains(MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_text_needs_the_marker_and_the_account() {
        let me = Identity {
            login: "deckhand-pat".into(),
        };
        let marked = "<!-- deckhand:reply -->\nDone.";
        assert!(me.wrote("Deckhand-PAT", marked));
        assert!(!me.wrote("deckhand-pat", "a person using the PAT"));
        assert!(!me.wrote("mallory", marked));
        assert!(!me.wrote(ACTIONS_BOT, marked));
    }
}
