//! Review feedback on a pull request Deckhand opened: the reviewer's words
//! become the task, code fixes the PR on its own branch, verify checks it,
//! and the reply goes on the thread the feedback came from (naming the team
//! rules learned from it).

use super::identity::Identity;
use super::job::{self, Job, JobKind, Outputs};
use super::route::Feedback;
use super::trusted::Readers;
use super::Ctx;
use crate::github::client::{Pull, RepoRef};

/// Why Deckhand leaves `pull` alone: Deckhand's account did not open it
/// (whatever its branch is called), or it comes from another repository.
pub fn not_deckhands(pull: &Pull, repo: &RepoRef, me: &Identity) -> Option<String> {
    let same_repo = pull.head_repo_full_name.as_deref() == Some(repo.to_string().as_str());
    if me.is_me(&pull.user.login) && same_repo {
        None
    } else {
        Some(format!(
            "#{} was not opened by Deckhand (author @{}, branch `{}`)",
            pull.number, pull.user.login, pull.head_ref
        ))
    }
}

pub async fn run(
    ctx: &Ctx,
    pr: u64,
    branch: Option<String>,
    feedback: Feedback,
    source: job::FeedbackSource,
) -> anyhow::Result<Outputs> {
    let pull = ctx.github.pull(&ctx.repo, pr).await?;
    if let Some(why) = not_deckhands(&pull, &ctx.repo, &ctx.identity) {
        println!("Deckhand: nothing to do: {why}.");
        return Ok(Outputs::skipped(&why));
    }
    let branch = branch.unwrap_or_else(|| pull.head_ref.clone());
    let id = job::task_of_fix(&ctx.repo, &pull, &branch);
    // A comment on the PR may answer the question the fix waits on: the
    // same feedback job goes on, and replies where its feedback came from.
    if let Some(mut saved) = super::load_checkpoint(ctx, &id).await? {
        let same_pr = matches!(&saved.kind, Some(JobKind::Feedback { pr: p, .. }) if *p == pr);
        if same_pr
            && matches!(feedback, Feedback::PrComment { .. })
            && saved
                .state
                .role
                .as_mut()
                .is_some_and(|r| r.answer(feedback.body()))
        {
            println!("Deckhand: the comment answers the question of task {id}; resuming it.");
            saved.continuations = 0;
            return job::run(ctx, Job::resuming(saved)).await;
        }
    }
    let mut task = format!(
        "Address review feedback on pull request #{pr} (\"{}\") on branch `{branch}`.\n\n",
        pull.title
    );
    match &feedback {
        Feedback::ReviewComment {
            body, path, line, ..
        } => {
            let at = match (path, line) {
                (Some(p), Some(l)) => format!(" on {p}:{l}"),
                (Some(p), None) => format!(" on {p}"),
                _ => String::new(),
            };
            task.push_str(&format!(
                "A reviewer commented{at}:\n> {}\n",
                body.replace('\n', "\n> ")
            ));
        }
        Feedback::Rule { text, source, .. } => {
            task.push_str(&format!(
                "A team rule learned on a sibling pull request ({source}) applies:\n> {}\n",
                text.replace('\n', "\n> ")
            ));
        }
        Feedback::Review { body, .. } | Feedback::PrComment { body, .. } => {
            task.push_str(&format!(
                "A reviewer wrote:\n> {}\n",
                body.replace('\n', "\n> ")
            ));
            let mut readers = Readers::new(
                &ctx.github,
                &ctx.repo,
                &ctx.inputs.allowed_bots,
                &ctx.identity,
            );
            let mut open = Vec::new();
            for c in ctx.github.review_comments(&ctx.repo, pr).await? {
                if c.in_reply_to_id.is_none()
                    && readers
                        .admit(&c.user.login, c.user.is_bot(), &c.body)
                        .await?
                {
                    open.push(c);
                }
            }
            if !open.is_empty() {
                task.push_str("\nReview comments on the diff:\n");
                for c in open {
                    let line = c.line.map(|l| format!(":{l}")).unwrap_or_default();
                    task.push_str(&format!("- {}{line}: {}\n", c.path, c.body.trim()));
                }
            }
        }
    }
    task.push_str("\nChange only what the feedback asks for, keep the tests passing, and say what you changed.");
    job::run(
        ctx,
        Job::fixing(id, &pull, branch, task, feedback, Some(source)),
    )
    .await
}
