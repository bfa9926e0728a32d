//! Which comments may reach a prompt: those whose authors have write
//! permission on the repository (asked of the collaborator-permission API;
//! allow-listed bots too). Deckhand's own comments are left out; the others
//! left out are counted, so the progress comment can say so.

use std::collections::BTreeMap;

use super::gate::bot_allowed;
use super::identity::Identity;
use crate::github::client::{GitHub, GitHubError, RepoRef};

/// Asks once per author.
pub struct Readers<'a> {
    github: &'a GitHub,
    repo: &'a RepoRef,
    allowed_bots: &'a [String],
    identity: &'a Identity,
    known: BTreeMap<String, bool>,
    /// Comments left out because their authors may not write.
    pub unread: usize,
}

impl<'a> Readers<'a> {
    pub fn new(
        github: &'a GitHub,
        repo: &'a RepoRef,
        allowed_bots: &'a [String],
        identity: &'a Identity,
    ) -> Self {
        Readers {
            github,
            repo,
            allowed_bots,
            identity,
            known: BTreeMap::new(),
            unread: 0,
        }
    }

    /// Whether a comment by `login` with `body` goes into the prompt;
    /// Deckhand's own are left out without counting.
    pub async fn admit(
        &mut self,
        login: &str,
        is_bot: bool,
        body: &str,
    ) -> Result<bool, GitHubError> {
        if self.identity.wrote(login, body) || body.contains(super::identity::MARKER) {
            return Ok(false);
        }
        let may = match self.known.get(login) {
            Some(known) => *known,
            None => {
                let may = if is_bot {
                    bot_allowed(self.allowed_bots, login)
                } else {
                    self.github.permission(self.repo, login).await?.can_write()
                };
                self.known.insert(login.to_string(), may);
                may
            }
        };
        if !may {
            tracing::info!("leaving out a comment by @{login}: no write access");
            self.unread += 1;
        }
        Ok(may)
    }
}

/// The progress comment's line about comments left out.
pub fn unread_note(unread: usize) -> Option<String> {
    match unread {
        0 => None,
        1 => Some("1 comment from a user without write access was not read.".into()),
        n => Some(format!(
            "{n} comments from users without write access were not read."
        )),
    }
}
