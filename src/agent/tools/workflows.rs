//! Workflow files a command changed: put back as HEAD has them when the task may not change `.github/workflows/`.

use std::path::Path;

use crate::git;
use crate::workspace::confined;

/// The folder the rule covers.
pub const WORKFLOWS: &str = ".github/workflows/";

/// Restores every file under `.github/workflows/` that differs from HEAD
/// (removing the new ones); returns the paths it put back.
pub fn revert(root: &Path, owner: Option<(u32, u32)>) -> Result<Vec<String>, String> {
    let changed = git::changed_under(root, WORKFLOWS).map_err(|e| e.to_string())?;
    let mut reverted = Vec::new();
    for (path, content) in changed {
        let rel = Path::new(&path);
        // Whatever is there (a file, a link, a file with more links) goes first.
        confined::remove(root, rel, &path).map_err(|e| e.to_string())?;
        if let Some(content) = content {
            confined::write(root, rel, &path, &content, owner).map_err(|e| e.to_string())?;
        }
        reverted.push(path);
    }
    Ok(reverted)
}
