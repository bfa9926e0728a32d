//! Deckhand's own identity on GitHub: the account its token acts as, and
//! which comments are Deckhand's own (its marker AND that account).

use std::sync::OnceLock;

use crate::github::client::{GitHub, GitHubError};

/// The account `GITHUB_TOKEN` writes as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// Every comment Deckhand writes carries this.
pub const MARKER: &str = "<!-- deckhand:";

/// Who Deckhand is in this job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account, once known for sure (the `bot_login` input, `GET /user`,
    /// or the author of the first comment Deckhand wrote in this job).
    /// Until then the guess: the account an earlier job learned, else the
    /// Actions bot.
    known: OnceLock<String>,
    /// Until then: an installation token is assumed to be `GITHUB_TOKEN`'s.
    guess: String,
}

impl Identity {
    /// A known account.
    pub fn of(login: &str) -> Identity {
        Identity {
            known: OnceLock::from(login.to_string()),
            guess: login.to_string(),
        }
    }

    /// The `bot_login` input when given; else the token's account from
    /// `GET /user` (a personal token). An installation token (which `GET
    /// /user` refuses) is taken to be the Actions bot until Deckhand's first
    /// comment shows its account (a GitHub App's bot).
    pub async fn resolve(github: &GitHub, given: Option<&str>) -> Result<Identity, GitHubError> {
        if let Some(login) = given.map(str::trim).filter(|l| !l.is_empty()) {
            return Ok(Identity::of(login));
        }
        let identity = match github.token_user().await? {
            Some(user) => Identity::of(&user.login),
            None => Identity {
                known: OnceLock::new(),
                guess: ACTIONS_BOT.to_string(),
            },
        };
        tracing::debug!(login = identity.login(), "Deckhand acts as");
        Ok(identity)
    }

    /// An account an earlier job saw (kept on the memory branch): trusted
    /// until this job's first comment shows otherwise.
    pub fn assumed(login: &str) -> Identity {
        Identity {
            known: OnceLock::new(),
            guess: login.to_string(),
        }
    }

    /// Whether the account is known for sure (not assumed).
    pub fn is_known(&self) -> bool {
        self.known.get().is_some()
    }

    pub fn login(&self) -> &str {
        self.known.get().unwrap_or(&self.guess)
    }

    /// Records the author of a comment Deckhand just wrote. Returns the
    /// account when it was not the one assumed.
    pub fn learn(&self, author: &str) -> Option<&str> {
        if self.known.get().is_some() {
            return None;
        }
        let login = self.known.get_or_init(|| author.to_string());
        (!login.eq_ignore_ascii_case(&self.guess)).then_some(login.as_str())
    }

    /// Whether `login` is Deckhand's account.
    pub fn is_me(&self, login: &str) -> bool {
        login.eq_ignore_ascii_case(self.login())
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
        let me = Identity::of("deckhand-pat");
        let marked = "<!-- deckhand:reply -->\nDone.";
        assert!(me.wrote("Deckhand-PAT", marked));
        assert!(!me.wrote("deckhand-pat", "a person using the PAT"));
        assert!(!me.wrote("mallory", marked));
        assert!(!me.wrote(ACTIONS_BOT, marked));
    }

    #[test]
    fn an_assumed_account_gives_way_to_the_one_seen_once() {
        let me = Identity {
            known: OnceLock::new(),
            guess: ACTIONS_BOT.into(),
        };
        assert!(me.is_me(ACTIONS_BOT));
        assert_eq!(me.learn("deckhand-app[bot]"), Some("deckhand-app[bot]"));
        assert!(me.is_me("deckhand-app[bot]"));
        assert!(!me.is_me(ACTIONS_BOT));
        // Known for the rest of the job.
        assert_eq!(me.learn("someone-else[bot]"), None);
        assert_eq!(
            me,
            Identity::of("deckhand-app[bot]").with_guess(ACTIONS_BOT)
        );
    }

    impl Identity {
        fn with_guess(mut self, guess: &str) -> Identity {
            self.guess = guess.into();
            self
        }
    }
}
