//! Helpers shared by the tools: confined paths, redaction, line numbering and clipping.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::{ToolContext, ToolError, ToolOutput};
use crate::workspace::confined::{self, ConfinedError};

/// Longest line (in characters) shown to the model before it is clipped.
pub(crate) const MAX_LINE_CHARS: usize = 500;
/// How much of a file is inspected for NUL bytes to call it binary.
pub(crate) const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Resolves a model-given path inside the workspace; refusals are for the model.
pub(crate) fn resolve(ctx: &ToolContext<'_>, path: &str) -> Result<PathBuf, ToolError> {
    ctx.workspace
        .resolve(path)
        .map_err(|e| ToolError::ForModel(e.to_string()))
}

/// Resolves a path the tool will write to: confined, and never inside `.git/`.
pub(crate) fn resolve_writable(ctx: &ToolContext<'_>, path: &str) -> Result<PathBuf, ToolError> {
    let abs = resolve(ctx, path)?;
    if in_git_dir(&ctx.workspace.relative(&abs)) {
        return Err(ToolError::ForModel(format!(
            "`{path}` is inside `.git/`; the repository's git data cannot be changed with this tool"
        )));
    }
    if abs == ctx.workspace.root() {
        return Err(ToolError::ForModel(format!(
            "`{path}` is the repository root, not a file"
        )));
    }
    if !ctx.limits.allow_workflow_changes && is_workflow(&ctx.workspace.relative(&abs)) {
        return Err(ToolError::ForModel(format!(
            "`{path}` is a GitHub Actions workflow; changes to `.github/workflows/` are not allowed for this repository (`allow_workflow_changes: true` in .github/deckhand.yml allows them). Leave the workflow as it is and describe the change it needs under \"Decisions needing review\" with update_spec"
        )));
    }
    Ok(abs)
}

/// Whether a workspace-relative path is in `.github/workflows/`.
pub(crate) fn is_workflow(rel: &str) -> bool {
    let rel = rel.trim_start_matches("./");
    rel == ".github/workflows" || rel.starts_with(".github/workflows/")
}

/// Whether a workspace-relative path is `.git` or lies inside a `.git/`.
pub(crate) fn in_git_dir(rel: &str) -> bool {
    rel.split('/').any(|part| part == ".git")
}

/// Masks secrets in whatever the tool gives back: text, question or error.
pub(crate) fn redacted(
    ctx: &ToolContext<'_>,
    result: Result<ToolOutput, ToolError>,
) -> Result<ToolOutput, ToolError> {
    let r = |s: String| match ctx.redactor.redact(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(masked) => masked,
    };
    match result {
        Ok(ToolOutput::Text(t)) => Ok(ToolOutput::Text(r(t))),
        Ok(ToolOutput::Question(q)) => Ok(ToolOutput::Question(r(q))),
        Err(ToolError::ForModel(m)) => Err(ToolError::ForModel(r(m))),
        Err(ToolError::Fatal(m)) => Err(ToolError::Fatal(r(m))),
    }
}

/// Shorthand for a model-facing error.
pub(crate) fn for_model(message: impl Into<String>) -> ToolError {
    ToolError::ForModel(message.into())
}

/// An I/O failure on `path`, worded for the model.
pub(crate) fn io_error(path: &str, e: &std::io::Error) -> ToolError {
    ToolError::ForModel(format!("`{path}`: {e}"))
}

/// Cuts a line to [`MAX_LINE_CHARS`] characters, saying how much was cut.
pub(crate) fn clip_line(line: &str) -> Cow<'_, str> {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        None => Cow::Borrowed(line),
        Some((end, _)) => {
            let rest = line[end..].chars().count();
            Cow::Owned(format!("{}… [{rest} more characters]", &line[..end]))
        }
    }
}

/// Lines numbered from `first`: right-aligned number, a tab, the (clipped) text.
pub(crate) fn numbered<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    first: usize,
    last: usize,
) -> String {
    let width = last.max(1).to_string().len();
    let mut out = String::new();
    for (i, line) in lines.into_iter().enumerate() {
        out.push_str(&format!("{:>width$}\t{}\n", first + i, clip_line(line)));
    }
    out
}

/// `abs` (inside the workspace) as a path relative to its root.
pub(crate) fn relative_path<'a>(ctx: &ToolContext<'_>, abs: &'a Path) -> &'a Path {
    abs.strip_prefix(ctx.workspace.root()).unwrap_or(abs)
}

/// A refused confined open, worded for the model.
pub(crate) fn confined_error(e: ConfinedError, path: &str) -> ToolError {
    match e {
        ConfinedError::NotFound { .. } => for_model(format!(
            "`{path}` does not exist; use list_dir or search to find the right path"
        )),
        ConfinedError::Directory { .. } => for_model(format!(
            "`{path}` is a directory; use list_dir to see what it contains"
        )),
        other => for_model(other.to_string()),
    }
}

/// Opens a file of the workspace for reading without following any link.
pub(crate) fn open_confined(
    ctx: &ToolContext<'_>,
    abs: &Path,
    path: &str,
) -> Result<(std::fs::File, u64), ToolError> {
    confined::open_read(ctx.workspace.root(), relative_path(ctx, abs), path)
        .map_err(|e| confined_error(e, path))
}

/// The text of a file that must be UTF-8 and not binary; anything else is
/// refused with a reason the model can act on.
pub(crate) fn read_text(
    ctx: &ToolContext<'_>,
    abs: &Path,
    path: &str,
) -> Result<String, ToolError> {
    let (file, size) = open_confined(ctx, abs, path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::io::Read::read_to_end(&mut std::io::BufReader::new(file), &mut bytes)
        .map_err(|e| io_error(path, &e))?;
    let probe = &bytes[..bytes.len().min(BINARY_PROBE_BYTES)];
    if probe.contains(&0) {
        return Err(binary(path, bytes.len()));
    }
    String::from_utf8(bytes).map_err(|e| binary(path, e.as_bytes().len()))
}

/// Writes a whole file of the workspace without following any link; new
/// files and folders go to the workspace's owner. Whether it existed.
pub(crate) fn write_confined(
    ctx: &ToolContext<'_>,
    abs: &Path,
    path: &str,
    content: &str,
) -> Result<bool, ToolError> {
    confined::write(
        ctx.workspace.root(),
        relative_path(ctx, abs),
        path,
        content.as_bytes(),
        ctx.workspace.owner(),
    )
    .map(|w| w == confined::Written::Overwrote)
    .map_err(|e| confined_error(e, path))
}

pub(crate) fn binary(path: &str, size: usize) -> ToolError {
    for_model(format!(
        "`{path}` is a binary file ({size} bytes); it is not shown. Inspect it with run_command if you must (e.g. `file`, `xxd | head`)"
    ))
}

/// `n` followed by a noun, in the singular when `n` is 1.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_long_lines_on_char_boundaries() {
        let line = "é".repeat(MAX_LINE_CHARS + 7);
        let clipped = clip_line(&line);
        assert!(clipped.ends_with("… [7 more characters]"), "{clipped}");
        assert_eq!(clip_line("short"), "short");
    }

    #[test]
    fn numbers_lines_right_aligned() {
        assert_eq!(numbered(["a", "b"], 9, 10), " 9\ta\n10\tb\n");
    }

    #[tokio::test]
    async fn workflow_files_need_allow_workflow_changes() {
        use crate::agent::tools::testing::Fixture;
        use crate::agent::tools::write_file::WriteFile;
        let mut f = Fixture::new();
        let input =
            serde_json::json!({"path": ".github/workflows/ci.yml", "content": "on: push\n"});
        let err = f.err(&WriteFile, input.clone()).await;
        assert!(err.contains("allow_workflow_changes: true"), "{err}");
        assert!(!f.root().join(".github/workflows/ci.yml").exists());
        f.limits.allow_workflow_changes = true;
        f.ok(&WriteFile, input).await;
        assert_eq!(f.read(".github/workflows/ci.yml"), "on: push\n");
        assert!(
            !is_workflow(".github/workflows-old/x") && is_workflow("./.github/workflows/a.yml")
        );
    }

    #[test]
    fn counts_in_singular_and_plural() {
        assert_eq!(count(1, "line", "lines"), "1 line");
        assert_eq!(count(3, "line", "lines"), "3 lines");
    }
}
