//! Commits that pass the secret scan: files holding a secret or a hard-coded credential are kept out, and become a verify failure with file:line for the code role.

use std::path::Path;

use crate::git::{self, GitError};
use crate::sandbox::scan::{Hit, Scanner};
use crate::workspace::checks::{CheckResult, Status};
use crate::workspace::detect::CheckKind;
use crate::workspace::findings::Finding;

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
pub fn check_run(hits: &[Hit]) -> Option<CheckResult> {
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
    Some(CheckResult {
        kind: CheckKind::Lint,
        command: SCAN_COMMAND.to_string(),
        source: "Deckhand's pre-commit secret scan".to_string(),
        status: Status::Failed,
        missing: None,
        exit_code: Some(1),
        duration_ms: 0,
        counts: None,
        findings: hits
            .iter()
            .map(|h| Finding {
                file: h.file.clone(),
                line: h.line,
                column: None,
                message: h.advice(),
            })
            .collect(),
        output,
        wrote: Vec::new(),
    })
}
