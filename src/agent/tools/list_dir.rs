//! `list_dir`: the sorted entries of one directory, never `.git`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{count, for_model, io_error, redacted, resolve};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct ListDir;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
}

#[async_trait]
impl Tool for ListDir {
    fn name(&self) -> &'static str {
        "list_dir"
    }

    fn description(&self) -> &'static str {
        "List one directory (not recursive): sorted names, directories end with `/`, symlinks with `@`; `.git` is never shown. Paths are relative to the repository root and must stay inside it. Long listings are cut (the note says how many entries were left out)."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Directory relative to the repository root; `.` for the root."}
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| list(ctx, &args.path));
        redacted(ctx, result)
    }
}

fn list(ctx: &ToolContext<'_>, path: &str) -> Result<ToolOutput, ToolError> {
    let abs = resolve(ctx, path)?;
    let meta = std::fs::metadata(&abs).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            for_model(format!(
                "`{path}` does not exist; list its parent directory or use search"
            ))
        } else {
            io_error(path, &e)
        }
    })?;
    if !meta.is_dir() {
        return Err(for_model(format!(
            "`{path}` is a file, not a directory; use read_file to read it"
        )));
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&abs).map_err(|e| io_error(path, &e))? {
        let entry = entry.map_err(|e| io_error(path, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let suffix = match entry.file_type() {
            Ok(t) if t.is_dir() => "/",
            Ok(t) if t.is_symlink() => "@",
            _ => "",
        };
        names.push(format!("{name}{suffix}"));
    }
    names.sort();
    if names.is_empty() {
        return Ok(ToolOutput::Text(format!(
            "`{}` is empty",
            ctx.workspace.relative(&abs)
        )));
    }
    let max = ctx.limits.max_output_lines;
    let more = names.len().saturating_sub(max);
    names.truncate(max);
    let mut text = names.join("\n");
    if more > 0 {
        text.push_str(&format!(
            "\n[… {} not shown; use search with a glob to narrow down]",
            count(more, "more entry", "more entries")
        ));
    }
    Ok(ToolOutput::Text(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    #[tokio::test]
    async fn lists_sorted_with_kinds_and_without_git() {
        let mut f = Fixture::new();
        f.write("b.txt", "");
        f.write("a/x.txt", "");
        f.write(".git/HEAD", "");
        f.write(".github/ci.yml", "");
        let text = f.ok(&ListDir, json!({"path": "."})).await;
        assert_eq!(text, ".github/\na/\nb.txt\nlink@\nup@");
        assert_eq!(f.ok(&ListDir, json!({"path": "a"})).await, "x.txt");
        std::fs::create_dir(f.root().join("empty")).unwrap();
        assert_eq!(
            f.ok(&ListDir, json!({"path": "empty/"})).await,
            "`empty` is empty"
        );
    }

    #[tokio::test]
    async fn caps_long_listings() {
        let mut f = Fixture::new();
        f.limits.max_output_lines = 3;
        for i in 0..7 {
            f.write(&format!("d/f{i}"), "");
        }
        let text = f.ok(&ListDir, json!({"path": "d"})).await;
        assert_eq!(
            text,
            "f0\nf1\nf2\n[… 4 more entries not shown; use search with a glob to narrow down]"
        );
    }

    #[tokio::test]
    async fn errors_for_files_missing_paths_and_outside() {
        let mut f = Fixture::new();
        f.write("a.txt", "");
        let err = f.err(&ListDir, json!({"path": "a.txt"})).await;
        assert!(err.contains("use read_file"), "{err}");
        let err = f.err(&ListDir, json!({"path": "nope"})).await;
        assert!(err.contains("does not exist"), "{err}");
        f.assert_confined(&ListDir, |p| json!({"path": p})).await;
    }

    #[tokio::test]
    async fn names_are_redacted() {
        let mut f = Fixture::new();
        f.write(&format!("d/{SECRET}.txt"), "");
        assert_eq!(f.ok(&ListDir, json!({"path": "d"})).await, "***.txt");
    }
}
