//! Memory-branch fixtures: rule files written and committed by hand, as a
//! person editing the branch would, and terminal output made plain.

use std::path::Path;

use crate::support::repos::git;

pub const MEMORY_BRANCH: &str = "deckhand/memory";

/// `rules/<id>.md` with the given front matter (`extra`: more lines, each
/// ending in a newline) and text.
pub fn rule_file(id: &str, scope: &str, status: &str, extra: &str, text: &str) -> (String, String) {
    (
        format!("rules/{id}.md"),
        format!(
            "---\nid: {id}\nscope: {scope}\nstatus: {status}\nsource: local:fixture\n\
author: fixture (owner)\ncreated: 2026-01-01T00:00:00Z\n{extra}---\n{text}\n"
        ),
    )
}

/// Commits `files` onto the memory branch of `remote` (a bare repository
/// or a checkout whose current branch is another) through a clone at
/// `scratch`, creating the branch without history when it is missing.
pub fn plant(remote: &Path, scratch: &Path, files: &[(String, String)]) {
    let _ = std::fs::remove_dir_all(scratch);
    let parent = scratch.parent().unwrap();
    git(
        parent,
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            scratch.to_str().unwrap(),
        ],
    );
    let has_branch = !git(scratch, &["ls-remote", "origin", MEMORY_BRANCH]).is_empty();
    if has_branch {
        git(scratch, &["checkout", "-q", MEMORY_BRANCH]);
    } else {
        git(scratch, &["checkout", "-q", "--orphan", MEMORY_BRANCH]);
        git(scratch, &["rm", "-rqf", "--ignore-unmatch", "."]);
    }
    for (path, content) in files {
        let full = scratch.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    git(scratch, &["add", "-A"]);
    git(scratch, &["commit", "-qm", "Edit rules by hand"]);
    git(scratch, &["push", "-q", "origin", MEMORY_BRANCH]);
}

/// `text` without terminal colour codes.
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
