//! Typed webhook payloads for the events Deckhand handles, read from the
//! file `GITHUB_EVENT_PATH` names. Only the fields Deckhand uses are typed;
//! a missing or mistyped one is an error that names the file and the field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl User {
    /// GitHub Apps and other bot accounts.
    pub fn is_bot(&self) -> bool {
        self.kind == "Bot" || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub full_name: String,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub fork: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub html_url: String,
    /// Present when the "issue" is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

impl Issue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    pub user: User,
    pub html_url: String,
    /// Review comments only.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u64>,
    #[serde(default)]
    pub original_line: Option<u64>,
    #[serde(default)]
    pub in_reply_to_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
    /// `None` when the fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
    pub html_url: String,
    pub head: BranchRef,
    pub base: BranchRef,
}

impl PullRequest {
    /// Opened from a fork: its workflows get no secrets, and Deckhand does
    /// not act on it.
    pub fn from_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => head.full_name != base.full_name,
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Review {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
    pub state: String,
    pub html_url: String,
}

/// An event Deckhand may act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Issues {
        action: String,
        issue: Issue,
        label: Option<Label>,
        repository: Repository,
        sender: User,
    },
    IssueComment {
        action: String,
        issue: Issue,
        comment: Comment,
        repository: Repository,
        sender: User,
    },
    WorkflowDispatch {
        inputs: BTreeMap<String, serde_json::Value>,
        repository: Repository,
        sender: User,
    },
    Schedule {
        /// The cron string that fired.
        schedule: Option<String>,
    },
    PullRequestReview {
        action: String,
        review: Review,
        pull_request: PullRequest,
        repository: Repository,
        sender: User,
    },
    PullRequestReviewComment {
        action: String,
        comment: Comment,
        pull_request: PullRequest,
        repository: Repository,
        sender: User,
    },
    /// Any other event: nothing to do.
    Other { name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("cannot read the event payload {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct IssuesPayload {
    action: String,
    issue: Issue,
    #[serde(default)]
    label: Option<Label>,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct DispatchPayload {
    #[serde(default)]
    inputs: Option<BTreeMap<String, serde_json::Value>>,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct SchedulePayload {
    #[serde(default)]
    schedule: Option<String>,
}

#[derive(Deserialize)]
struct ReviewPayload {
    action: String,
    review: Review,
    pull_request: PullRequest,
    repository: Repository,
    sender: User,
}

#[derive(Deserialize)]
struct ReviewCommentPayload {
    action: String,
    comment: Comment,
    pull_request: PullRequest,
    repository: Repository,
    sender: User,
}

/// Reads the payload of event `name` from `path`.
pub fn read_event(name: &str, path: &Path) -> Result<Event, EventError> {
    let text = std::fs::read_to_string(path).map_err(|source| EventError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_event(name, &text, &path.display().to_string())
}

/// Parses the payload of event `name`; `source` names it in errors.
pub fn parse_event(name: &str, text: &str, source: &str) -> Result<Event, EventError> {
    Ok(match name {
        "issues" => {
            let p: IssuesPayload = decode(text, source)?;
            Event::Issues {
                action: p.action,
                issue: p.issue,
                label: p.label,
                repository: p.repository,
                sender: p.sender,
            }
        }
        "issue_comment" => {
            let p: IssueCommentPayload = decode(text, source)?;
            Event::IssueComment {
                action: p.action,
                issue: p.issue,
                comment: p.comment,
                repository: p.repository,
                sender: p.sender,
            }
        }
        "workflow_dispatch" => {
            let p: DispatchPayload = decode(text, source)?;
            Event::WorkflowDispatch {
                inputs: p.inputs.unwrap_or_default(),
                repository: p.repository,
                sender: p.sender,
            }
        }
        "schedule" => {
            let p: SchedulePayload = decode(text, source)?;
            Event::Schedule {
                schedule: p.schedule,
            }
        }
        "pull_request_review" => {
            let p: ReviewPayload = decode(text, source)?;
            Event::PullRequestReview {
                action: p.action,
                review: p.review,
                pull_request: p.pull_request,
                repository: p.repository,
                sender: p.sender,
            }
        }
        "pull_request_review_comment" => {
            let p: ReviewCommentPayload = decode(text, source)?;
            Event::PullRequestReviewComment {
                action: p.action,
                comment: p.comment,
                pull_request: p.pull_request,
                repository: p.repository,
                sender: p.sender,
            }
        }
        other => Event::Other {
            name: other.to_string(),
        },
    })
}

fn decode<T: DeserializeOwned>(text: &str, source: &str) -> Result<T, EventError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if !inner.is_data() {
            return EventError::Syntax {
                path: source.to_string(),
                message: inner.to_string(),
            };
        }
        EventError::Field {
            path: source.to_string(),
            field: if field == "." {
                "(payload)".into()
            } else {
                field
            },
            message: format!("{inner}"),
        }
    })
}

/// A payload from `../shared/fixtures/webhooks/` (tests only).
#[cfg(test)]
pub(crate) fn test_fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/webhooks")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_fixture as fixture;

    #[test]
    fn reads_every_handled_fixture() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/webhooks");
        for event in [
            "issues",
            "issue_comment",
            "workflow_dispatch",
            "pull_request_review",
            "pull_request_review_comment",
        ] {
            for entry in std::fs::read_dir(dir.join(event)).unwrap() {
                let path = entry.unwrap().path();
                let parsed = read_event(event, &path);
                assert!(parsed.is_ok(), "{}: {:?}", path.display(), parsed.err());
            }
        }
    }

    #[test]
    fn labeled_issue_carries_label_issue_and_sender() {
        let e = parse_event("issues", &fixture("issues/09-labeled.json"), "x").unwrap();
        let Event::Issues {
            action,
            issue,
            label,
            sender,
            repository,
        } = e
        else {
            panic!()
        };
        assert_eq!(action, "labeled");
        assert_eq!(label.unwrap().name, "bug");
        assert_eq!(issue.number, 1);
        assert_eq!(repository.full_name, "Codertocat/Hello-World");
        assert!(!sender.is_bot());
    }

    #[test]
    fn review_comment_has_path_and_pull() {
        let e = parse_event(
            "pull_request_review_comment",
            &fixture("pull_request_review_comment/00-created.json"),
            "x",
        )
        .unwrap();
        let Event::PullRequestReviewComment {
            comment,
            pull_request,
            ..
        } = e
        else {
            panic!()
        };
        assert_eq!(comment.path.as_deref(), Some("README.md"));
        assert_eq!(pull_request.head.name, "changes");
        assert!(!pull_request.from_fork());
    }

    #[test]
    fn a_broken_payload_names_the_file_and_field() {
        let text =
            fixture("issues/09-labeled.json").replacen("\"number\": 1,", "\"number\": \"one\",", 1);
        let err = parse_event("issues", &text, "event.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("event.json: field `issue.number`"), "{err}");
        let err = parse_event("issue_comment", "{", "event.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("event.json: not valid JSON"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn other_events_are_not_errors() {
        assert_eq!(
            parse_event("push", "{}", "x").unwrap(),
            Event::Other {
                name: "push".into()
            }
        );
        assert_eq!(
            parse_event("schedule", "{\"schedule\": \"17 4 * * 1\"}", "x").unwrap(),
            Event::Schedule {
                schedule: Some("17 4 * * 1".into())
            }
        );
    }
}
