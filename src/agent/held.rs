//! Commits that pass the secret scan: files holding a secret or a hard-coded credential are kept out, and become a verify failure with file:line for the code role.

use std::path::Path;

use crate::agent::verify::{CheckRun, Location};
use crate::git::{self, GitError};
use crate::sandbox::scan::{Hit, Scanner};
use crate::workspace::detect::CheckKind;

/// The name the failure carries in reports.
pub const SCAN_COMMAND: &str = "deckhand secret scan";

/// Scans the files about to be committed, then commits all but those with
/// a hit. Returns the new commit (if any) and the hits.
pub fn commit_scanned(
    worktree: &Path,
    branch: &str,
    author: (&str, &str),
    message: &str,
    scanner: &Scanner,
) -> Result<(Option<String>, Vec<Hit>), GitError> {
    let pending = git::pending_paths(worktree, branch)?;
    let hits = scanner.scan_files(worktree, &pending);
    let mut held: Vec<String> = hits.iter().map(|h| h.file.clone()).collect();
    held.sort();
    held.dedup();
    for file in &held {
        tracing::warn!(file = %file, "secret scan: file held back from the commit");
    }
    let id = git::commit_all_except(worktree, branch, author, message, &held)?;
    Ok((id, hits))
}

/// The hits as a failed check: what the code role reads and fixes.
pub fn check_run(hits: &[Hit]) -> Option<CheckRun> {
    if hits.is_empty() {
        return None;
    }
    let mut output = String::from(
        "These files were kept out of the commit (they stay in the worktree, unstaged):\n",
    );
    for h in hits {
        output.push_str(&h.message());
        output.push('\n');
    }
    Some(CheckRun {
        kind: CheckKind::Lint,
        command: SCAN_COMMAND.to_string(),
        exit_code: Some(1),
        timed_out: false,
        duration_ms: 0,
        counts: None,
        findings: hits
            .iter()
            .map(|h| Location {
                file: h.file.clone(),
                line: h.line,
                column: None,
                message: h.advice(),
            })
            .collect(),
        output,
    })
}
