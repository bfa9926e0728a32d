//! Learning in Actions: who may teach (GitHub's collaborator permission: maintainers and admins teach active rules, writers propose them, anyone else teaches nothing), what the learn role recorded from feedback stored on the config repository's memory branch, and the reply lines that name it.

use super::offload::MemoryAt;
use crate::agent::learn::{self, Learned};
use crate::agent::tools::RecordedRule;
use crate::config::Approvers;
use crate::github::client::{GitHub, GitHubError, Permission, RepoRef};
use crate::memory::rules::{RuleAuthor, Status};
use crate::memory::Author;
use crate::sandbox::Redactor;

/// Who gave feedback, and their role on the repository they gave it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teacher {
    pub login: String,
    pub permission: Permission,
}

impl Teacher {
    /// Asks GitHub for `login`'s role on `repo` (`role_name` tells a
    /// maintainer from a writer; `permission` folds them).
    pub async fn ask(github: &GitHub, repo: &RepoRef, login: &str) -> Result<Teacher, GitHubError> {
        Ok(Teacher {
            login: login.to_string(),
            permission: github.permission(repo, login).await?,
        })
    }

    /// The rule's `author` field: `login (permission)`.
    pub fn rule_author(&self) -> RuleAuthor {
        RuleAuthor {
            login: self.login.clone(),
            permission: self.permission.as_str().to_string(),
        }
    }
}

/// What a teacher's feedback may become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Rules with this status.
    Teaches(Status),
    /// No rule, and why (for the reply).
    Refused(String),
}

/// Maintainers and admins teach active rules; writers propose them unless
/// `memory.approve: writers`; triage, read and none teach nothing.
pub fn trust(teacher: &Teacher, approve: Approvers, repo: &RepoRef) -> Trust {
    match learn::status_for(&teacher.rule_author(), approve == Approvers::Writers) {
        Some(status) => Trust::Teaches(status),
        None => Trust::Refused(format!(
            "@{} has `{}` permission on {repo}; team rules are learned only from collaborators with write permission or more",
            teacher.login,
            teacher.permission.as_str()
        )),
    }
}

/// Feedback on a change and what the learn role recorded from it (the
/// feedback, the fix's diff and the rules in scope were its input).
#[derive(Debug, Clone)]
pub struct Lesson {
    pub teacher: Teacher,
    /// The comment's or review's page.
    pub source: String,
    pub recorded: Vec<RecordedRule>,
    /// The fix's commit: evidence is pinned to it.
    pub commit: Option<String>,
}

/// What came of a lesson.
#[derive(Debug, Clone, PartialEq)]
pub enum Learning {
    /// Rules stored (or found already stored); empty when the feedback
    /// held no rule.
    Stored {
        rules: Vec<Learned>,
        /// `owner/name` and branch where they are.
        repo: String,
        branch: String,
    },
    /// The teacher may not teach.
    Refused(String),
    /// The memory branch could not take them.
    Failed(String),
}

/// Stores what `lesson` recorded on the memory branch at `at`, each rule
/// one commit (pushes retried when another writer got there first), with
/// the status the teacher's role gives.
pub async fn store(
    at: &MemoryAt,
    committer: Author,
    lesson: Lesson,
    approve: Approvers,
    repo: &RepoRef,
    redactor: &Redactor,
) -> Learning {
    let status = match trust(&lesson.teacher, approve, repo) {
        Trust::Teaches(status) => status,
        Trust::Refused(why) => return Learning::Refused(why),
    };
    let stored = if lesson.recorded.is_empty() {
        Ok(Vec::new())
    } else {
        let feedback = learn::Feedback {
            text: String::new(),
            source: lesson.source.clone(),
            author: lesson.teacher.rule_author(),
        };
        async {
            let mut store = at.open().await?;
            Ok::<_, anyhow::Error>(
                learn::store(
                    &mut store,
                    committer,
                    lesson.recorded,
                    &feedback,
                    status,
                    lesson.commit.as_deref(),
                    redactor,
                )
                .await?,
            )
        }
        .await
    };
    match stored {
        Ok(rules) => Learning::Stored {
            rules,
            repo: at.repo.clone(),
            branch: at.branch.clone(),
        },
        Err(e) => Learning::Failed(redactor.redact(&format!("{e:#}")).into_owned()),
    }
}

impl Learning {
    /// The reply's section on team rules; `None` when there is nothing to say.
    pub fn reply_section(&self, trigger_phrase: &str) -> Option<String> {
        match self {
            Learning::Stored { rules, .. } if rules.is_empty() => None,
            Learning::Stored {
                rules,
                repo,
                branch,
            } => {
                let mut out = format!(
                    "\n**Team rules from this feedback** (on `{branch}` of {repo})\n{}",
                    learn::describe(rules)
                );
                let proposed: Vec<&str> = rules
                    .iter()
                    .filter(|r| r.created && r.status == Status::Proposed)
                    .map(|r| r.id.as_str())
                    .collect();
                if !proposed.is_empty() {
                    out.push_str(&format!(
                        "\nA proposed rule applies once a maintainer or admin approves it: comment {}.\n",
                        proposed
                            .iter()
                            .map(|id| format!("`{trigger_phrase} approve {id}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Some(out)
            }
            Learning::Refused(why) => Some(format!("\n📚 No team rule learned: {why}.\n")),
            Learning::Failed(why) => Some(format!(
                "\n⚠️ Team rules from this feedback were not stored: {why}\n"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::rules::Scope;

    fn teacher(permission: Permission) -> Teacher {
        Teacher {
            login: "octo".into(),
            permission,
        }
    }

    #[test]
    fn the_role_decides_what_feedback_teaches() {
        let repo: RepoRef = "acme/one".parse().unwrap();
        let got: Vec<(Trust, Trust)> = [
            Permission::Admin,
            Permission::Maintain,
            Permission::Write,
            Permission::Triage,
        ]
        .into_iter()
        .map(|p| {
            (
                trust(&teacher(p), Approvers::Maintainers, &repo),
                trust(&teacher(p), Approvers::Writers, &repo),
            )
        })
        .collect();
        let triage = Trust::Refused("@octo has `triage` permission on acme/one; team rules are learned only from collaborators with write permission or more".into());
        assert_eq!(
            got,
            vec![
                (
                    Trust::Teaches(Status::Active),
                    Trust::Teaches(Status::Active)
                ),
                (
                    Trust::Teaches(Status::Active),
                    Trust::Teaches(Status::Active)
                ),
                (
                    Trust::Teaches(Status::Proposed),
                    Trust::Teaches(Status::Active)
                ),
                (triage.clone(), triage),
            ]
        );
    }

    #[test]
    fn the_reply_names_each_rule_and_how_to_approve_a_proposed_one() {
        let learned = |id: &str, status, created| Learned {
            id: id.into(),
            text: "Return errors as { error, code }.".into(),
            scope: Scope::Org,
            status,
            created,
        };
        let stored = Learning::Stored {
            rules: vec![
                learned("r-00000001", Status::Proposed, true),
                learned("r-00000002", Status::Active, false),
            ],
            repo: "acme/config".into(),
            branch: "deckhand/memory".into(),
        };
        assert_eq!(
            stored.reply_section("/deckhand").unwrap(),
            "\n**Team rules from this feedback** (on `deckhand/memory` of acme/config)\n\
             - `r-00000001` (org, proposed): Return errors as { error, code }.\n\
             - `r-00000002` (org, already known): Return errors as { error, code }.\n\
             \nA proposed rule applies once a maintainer or admin approves it: comment `/deckhand approve r-00000001`.\n"
        );
        let nothing = Learning::Stored {
            rules: Vec::new(),
            repo: "acme/config".into(),
            branch: "deckhand/memory".into(),
        };
        assert_eq!(nothing.reply_section("/deckhand"), None);
    }
}
