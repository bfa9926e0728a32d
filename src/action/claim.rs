//! Two triggers at once run a task once: after writing its progress comment,
//! a job looks again, and yields to an older live claim on the same task.

use super::progress::Marker;
use super::{live_elsewhere, Ctx, Liveness};

/// The run holding an older claim on `task` (a progress comment before
/// `mine`, by Deckhand, marked running by a run that is still going).
pub async fn earlier_claim(
    ctx: &Ctx,
    issue: u64,
    task: &str,
    mine: u64,
) -> anyhow::Result<Option<u64>> {
    let comments = ctx.github.comments(&ctx.repo, issue, None).await?;
    for c in comments.iter().filter(|c| c.id < mine) {
        let Some(marker) = Marker::find(&c.body).filter(|m| m.task == task) else {
            continue;
        };
        if !ctx.identity.wrote(&c.user.login, &c.body) {
            continue;
        }
        if let Liveness::Running = live_elsewhere(ctx, &marker).await? {
            return Ok(marker.run);
        }
    }
    Ok(None)
}

/// Turns this job's progress comment into a note that it left the task to
/// `run` (no progress marker: later jobs find the other run's comment).
pub async fn step_aside(ctx: &Ctx, comment: u64, task: &str, run: u64) -> anyhow::Result<()> {
    let this = ctx
        .runner
        .run_id
        .map(|r| format!("Run {r}"))
        .unwrap_or_else(|| "This run".into());
    let body = format!(
        "<!-- deckhand:yielded task={task} run={run} -->\n{this} of Deckhand stepped aside: run {run} had already started task `{task}`."
    );
    ctx.github.update_comment(&ctx.repo, comment, &body).await?;
    Ok(())
}
