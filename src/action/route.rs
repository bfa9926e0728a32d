//! Event routing: which event (with which inputs) asks for what. Pure: the
//! permission gate and the task's recorded state are consulted later.

use crate::github::events::{Event, User};

use super::inputs::ActionInputs;

/// `/deckhand cancel|pause|resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Cancel,
    Pause,
    Resume,
}

/// Review feedback on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Feedback {
    Review {
        id: u64,
        body: String,
    },
    ReviewComment {
        id: u64,
        body: String,
        path: Option<String>,
        line: Option<u64>,
    },
    PrComment {
        id: u64,
        body: String,
    },
    /// A team rule learned on a sibling pull request of the same campaign.
    Rule {
        id: String,
        text: String,
        /// Where it was learned (the review comment's page).
        source: String,
    },
}

impl Feedback {
    pub fn body(&self) -> &str {
        match self {
            Feedback::Review { body, .. }
            | Feedback::ReviewComment { body, .. }
            | Feedback::PrComment { body, .. } => body,
            Feedback::Rule { text, .. } => text,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Start the task of an issue (labelled).
    IssueTask { issue: u64, actor: User },
    /// A trigger-phrase comment on an issue: a control command, an answer or
    /// steering for the task in progress, or a new task.
    IssueComment {
        issue: u64,
        comment_id: u64,
        text: String,
        control: Option<Control>,
        actor: User,
    },
    /// A task from `workflow_dispatch` or a matrix job; or the continuation
    /// of a checkpointed task.
    Dispatch {
        task: Option<String>,
        repository: Option<String>,
        resume: Option<String>,
        actor: Option<User>,
    },
    /// The maintenance tasks of the config.
    Schedule { cron: Option<String> },
    /// Feedback on a pull request (acted on only when Deckhand opened it,
    /// which is checked when the PR is read).
    Feedback {
        pr: u64,
        branch: Option<String>,
        feedback: Feedback,
        /// The comment's or review's page (a learned rule's source).
        url: String,
        actor: User,
    },
    /// `/deckhand approve <id>` on an issue or pull request: a proposed
    /// team rule becomes active (who may is checked when it runs).
    Approve {
        issue: u64,
        comment_id: u64,
        rule: String,
        actor: User,
    },
    /// A dispatch (`deckhand_rule`, `pull_request`) that applies a team rule
    /// learned on a sibling of a campaign to this pull request.
    ApplyRule {
        pr: u64,
        rule: String,
        repository: Option<String>,
        actor: User,
    },
    /// Nothing to do, and why.
    Ignore(String),
}

/// Strips the trigger phrase; `None` when the text does not start with it.
pub fn after_phrase<'a>(body: &'a str, phrase: &str) -> Option<&'a str> {
    let rest = body.trim_start().strip_prefix(phrase)?;
    if rest.is_empty() || rest.starts_with(char::is_whitespace) {
        Some(rest.trim())
    } else {
        None
    }
}

/// The rule id of `approve <id>` (exactly two words).
fn approval_of(text: &str) -> Option<&str> {
    let mut words = text.split_whitespace();
    let verb = words.next()?;
    let id = words.next()?;
    (verb.eq_ignore_ascii_case("approve") && words.next().is_none()).then_some(id)
}

fn control_of(text: &str) -> Option<Control> {
    match text
        .split_whitespace()
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("cancel") if text.split_whitespace().count() == 1 => Some(Control::Cancel),
        Some("pause") if text.split_whitespace().count() == 1 => Some(Control::Pause),
        Some("resume") if text.split_whitespace().count() == 1 => Some(Control::Resume),
        _ => None,
    }
}

pub fn route(event: &Event, inputs: &ActionInputs) -> Route {
    // A task given as an input (dispatch form, matrix job) wins.
    if inputs.task.is_some() && !matches!(event, Event::IssueComment { .. } | Event::Issues { .. })
    {
        return Route::Dispatch {
            task: inputs.task.clone(),
            repository: inputs.repository.clone(),
            resume: None,
            actor: sender_of(event).cloned(),
        };
    }
    match event {
        Event::Issues {
            action,
            issue,
            label,
            sender,
            ..
        } => {
            if action != "labeled" {
                return Route::Ignore(format!(
                    "issue #{} was {action}; only labelling starts a task",
                    issue.number
                ));
            }
            match label {
                Some(l) if l.name == inputs.trigger_label => Route::IssueTask {
                    issue: issue.number,
                    actor: sender.clone(),
                },
                Some(l) => Route::Ignore(format!(
                    "issue #{} got label `{}`, not the trigger label `{}`",
                    issue.number, l.name, inputs.trigger_label
                )),
                None => Route::Ignore(format!(
                    "issue #{} was labelled, but the payload names no label",
                    issue.number
                )),
            }
        }
        Event::IssueComment {
            action,
            issue,
            comment,
            sender,
            ..
        } => {
            if action != "created" {
                return Route::Ignore(format!(
                    "a comment was {action}; only new comments are read"
                ));
            }
            let phrased = after_phrase(&comment.body, &inputs.trigger_phrase);
            if let Some(rule) = phrased.and_then(approval_of) {
                return Route::Approve {
                    issue: issue.number,
                    comment_id: comment.id,
                    rule: rule.to_string(),
                    actor: sender.clone(),
                };
            }
            if issue.is_pull_request() {
                // On a pull request any comment is feedback (the PR must be
                // Deckhand's; that is checked when it is read).
                let text = phrased.unwrap_or(comment.body.trim());
                if text.is_empty() {
                    return Route::Ignore(format!("the comment on #{} is empty", issue.number));
                }
                return Route::Feedback {
                    pr: issue.number,
                    branch: None,
                    feedback: Feedback::PrComment {
                        id: comment.id,
                        body: text.to_string(),
                    },
                    url: comment.html_url.clone(),
                    actor: sender.clone(),
                };
            }
            let Some(text) = phrased else {
                return Route::Ignore(format!(
                    "the comment on #{} does not start with `{}`",
                    issue.number, inputs.trigger_phrase
                ));
            };
            Route::IssueComment {
                issue: issue.number,
                comment_id: comment.id,
                text: text.to_string(),
                control: control_of(text),
                actor: sender.clone(),
            }
        }
        Event::WorkflowDispatch {
            inputs: given,
            sender,
            ..
        } => {
            let text = |k: &str| {
                given
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            if let Some(rule) = text("deckhand_rule") {
                let pr = text("pull_request");
                return match pr.as_deref().map(|p| p.trim_start_matches('#').parse::<u64>()) {
                    Some(Ok(pr)) => Route::ApplyRule {
                        pr,
                        rule,
                        repository: inputs.repository.clone().or_else(|| text("repository")),
                        actor: sender.clone(),
                    },
                    _ => Route::Ignore(format!(
                        "workflow_dispatch input `pull_request`: `{}` is not a pull request number (needed with `deckhand_rule`)",
                        pr.unwrap_or_default()
                    )),
                };
            }
            let resume = text("deckhand_task_id");
            let task = inputs.task.clone().or_else(|| text("task"));
            if task.is_none() && resume.is_none() {
                return Route::Ignore("workflow_dispatch without a `task` input".into());
            }
            Route::Dispatch {
                task,
                repository: inputs.repository.clone().or_else(|| text("repository")),
                resume,
                actor: Some(sender.clone()),
            }
        }
        Event::Schedule { schedule } => Route::Schedule {
            cron: schedule.clone(),
        },
        Event::PullRequestReview {
            action,
            review,
            pull_request,
            sender,
            ..
        } => {
            if action != "submitted" {
                return Route::Ignore(format!(
                    "a review was {action}; only submitted reviews are read"
                ));
            }
            if let Some(why) = not_ours(pull_request) {
                return Route::Ignore(why);
            }
            let body = review.body.clone().unwrap_or_default();
            if review.state.eq_ignore_ascii_case("approved") {
                return Route::Ignore(format!(
                    "review {} on #{} approves; an approval asks for no change",
                    review.id, pull_request.number
                ));
            }
            if body.trim().is_empty() && review.state != "changes_requested" {
                return Route::Ignore(format!(
                    "review {} on #{} has no text",
                    review.id, pull_request.number
                ));
            }
            Route::Feedback {
                pr: pull_request.number,
                branch: Some(pull_request.head.name.clone()),
                feedback: Feedback::Review {
                    id: review.id,
                    body,
                },
                url: review.html_url.clone(),
                actor: sender.clone(),
            }
        }
        Event::PullRequestReviewComment {
            action,
            comment,
            pull_request,
            sender,
            ..
        } => {
            if action != "created" {
                return Route::Ignore(format!(
                    "a review comment was {action}; only new ones are read"
                ));
            }
            if let Some(why) = not_ours(pull_request) {
                return Route::Ignore(why);
            }
            Route::Feedback {
                pr: pull_request.number,
                branch: Some(pull_request.head.name.clone()),
                feedback: Feedback::ReviewComment {
                    id: comment.id,
                    body: comment.body.clone(),
                    path: comment.path.clone(),
                    line: comment.line.or(comment.original_line),
                },
                url: comment.html_url.clone(),
                actor: sender.clone(),
            }
        }
        Event::Other { name } => Route::Ignore(format!("the `{name}` event starts nothing")),
    }
}

/// Why Deckhand leaves this pull request alone, if the payload already
/// says (a fork's). Whether Deckhand opened it (its author is Deckhand's
/// account) is checked when the pull request is read.
fn not_ours(pr: &crate::github::events::PullRequest) -> Option<String> {
    pr.from_fork().then(|| {
        format!(
            "#{} comes from a fork; its events never get secrets",
            pr.number
        )
    })
}

fn sender_of(event: &Event) -> Option<&User> {
    match event {
        Event::Issues { sender, .. }
        | Event::IssueComment { sender, .. }
        | Event::WorkflowDispatch { sender, .. }
        | Event::PullRequestReview { sender, .. }
        | Event::PullRequestReviewComment { sender, .. } => Some(sender),
        Event::Schedule { .. } | Event::Other { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::events::{parse_event, test_fixture as fixture};

    fn inputs() -> ActionInputs {
        ActionInputs {
            trigger_label: "deckhand".into(),
            trigger_phrase: "/deckhand".into(),
            ..ActionInputs::default()
        }
    }

    #[test]
    fn labelling_with_the_trigger_label_starts_the_issue_task() {
        let text = fixture("issues/09-labeled.json");
        let e = parse_event("issues", &text, "x").unwrap();
        assert!(matches!(route(&e, &inputs()), Route::Ignore(why) if why.contains("`bug`")));
        let e = parse_event(
            "issues",
            &text.replace("\"name\": \"bug\"", "\"name\": \"deckhand\""),
            "x",
        )
        .unwrap();
        assert!(matches!(
            route(&e, &inputs()),
            Route::IssueTask { issue: 1, .. }
        ));
        let e = parse_event("issues", &fixture("issues/15-opened.json"), "x").unwrap();
        assert!(matches!(route(&e, &inputs()), Route::Ignore(_)));
    }

    #[test]
    fn comments_need_the_phrase_and_carry_controls() {
        let text = fixture("issue_comment/00-created.json");
        let e = parse_event("issue_comment", &text, "x").unwrap();
        assert!(matches!(route(&e, &inputs()), Route::Ignore(_)));
        let body = "You are totally right! I'll get this fixed right away.";
        for (said, control) in [
            ("/deckhand cancel", Some(Control::Cancel)),
            ("/deckhand pause", Some(Control::Pause)),
            ("/deckhand add tests please", None),
        ] {
            let e = parse_event("issue_comment", &text.replace(body, said), "x").unwrap();
            match route(&e, &inputs()) {
                Route::IssueComment {
                    control: c, text, ..
                } => {
                    assert_eq!(c, control);
                    assert_eq!(text, said.trim_start_matches("/deckhand ").to_string());
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(after_phrase("/deckhandx", "/deckhand"), None);
    }

    #[test]
    fn approve_with_one_id_approves_a_rule_on_issues_and_pull_requests() {
        let text = fixture("issue_comment/00-created.json");
        let body = "You are totally right! I'll get this fixed right away.";
        let on_pr = text.replace(
            "\"number\": 1,",
            "\"number\": 2, \"pull_request\": {\"url\": \"x\"},",
        );
        for (payload, issue) in [(&text, 1), (&on_pr, 2)] {
            let e = parse_event(
                "issue_comment",
                &payload.replace(body, "/deckhand approve r-0a1b2c3d"),
                "x",
            )
            .unwrap();
            match route(&e, &inputs()) {
                Route::Approve {
                    issue: i,
                    comment_id: 492700400,
                    rule,
                    actor,
                } => {
                    assert_eq!(
                        (i, rule.as_str(), actor.login.as_str()),
                        (issue, "r-0a1b2c3d", "Codertocat")
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        // More words are a task; without the phrase it is not a command.
        let e = parse_event(
            "issue_comment",
            &text.replace(body, "/deckhand approve the plan and go"),
            "x",
        )
        .unwrap();
        assert!(matches!(
            route(&e, &inputs()),
            Route::IssueComment { control: None, .. }
        ));
        let e = parse_event(
            "issue_comment",
            &on_pr.replace(body, "approve r-0a1b2c3d"),
            "x",
        )
        .unwrap();
        assert!(matches!(route(&e, &inputs()), Route::Feedback { .. }));
    }

    #[test]
    fn review_comments_are_feedback_whatever_the_branch() {
        let text = fixture("pull_request_review_comment/00-created.json");
        let e = parse_event("pull_request_review_comment", &text, "x").unwrap();
        match route(&e, &inputs()) {
            Route::Feedback {
                pr: 2,
                feedback: Feedback::ReviewComment { path, .. },
                ..
            } => {
                assert_eq!(path.as_deref(), Some("README.md"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_approving_review_starts_nothing() {
        let text = fixture("pull_request_review/00-submitted.json");
        let approved = text.replace("\"state\": \"commented\"", "\"state\": \"approved\"");
        assert_ne!(approved, text, "the fixture has a commented review");
        let e = parse_event("pull_request_review", &approved, "x").unwrap();
        assert!(
            matches!(route(&e, &inputs()), Route::Ignore(why) if why.contains("approves")),
            "{:?}",
            route(&e, &inputs())
        );
    }

    #[test]
    fn dispatch_takes_the_task_input() {
        let text = fixture("workflow_dispatch/00-event.json");
        let e = parse_event("workflow_dispatch", &text, "x").unwrap();
        assert!(matches!(route(&e, &inputs()), Route::Ignore(_)));
        let with_task = text.replace("\"inputs\": {}", "\"inputs\": {\"task\": \"Bump lodash\"}");
        let e = parse_event("workflow_dispatch", &with_task, "x").unwrap();
        assert!(
            matches!(route(&e, &inputs()), Route::Dispatch { task: Some(t), .. } if t == "Bump lodash")
        );
    }
}
