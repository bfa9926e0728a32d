//! `write_file`: creates or overwrites a whole file inside the workspace.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{count, for_model, redacted, resolve_writable, write_confined};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct WriteFile;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    content: String,
}

#[async_trait]
impl Tool for WriteFile {
    fn name(&self) -> &'static str {
        "write_file"
    }

    fn description(&self) -> &'static str {
        "Create a file, or replace a file's whole content. Creates missing parent directories. Paths are relative to the repository root and must stay inside it; `.git/` cannot be written. To change part of an existing file, use edit_file."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the repository root, e.g. `src/lib/rate.js`."},
                "content": {"type": "string", "description": "The complete new content of the file (end it with a newline)."}
            },
            "required": ["path", "content"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| write(ctx, &args));
        redacted(ctx, result)
    }
}

fn write(ctx: &ToolContext<'_>, args: &Args) -> Result<ToolOutput, ToolError> {
    let path = args.path.as_str();
    let abs = resolve_writable(ctx, path)?;
    if abs.is_dir() {
        return Err(for_model(format!(
            "`{path}` is a directory; give the path of a file"
        )));
    }
    let existed = write_confined(ctx, &abs, path, &args.content)?;
    Ok(ToolOutput::Text(format!(
        "{} `{}`: {}, {}",
        if existed { "overwrote" } else { "created" },
        ctx.workspace.relative(&abs),
        count(args.content.len(), "byte", "bytes"),
        count(args.content.lines().count(), "line", "lines"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::Fixture;

    #[tokio::test]
    async fn creates_parents_and_reports_size() {
        let mut f = Fixture::new();
        let text = f
            .ok(
                &WriteFile,
                json!({"path": "src/deep/a.txt", "content": "one\ntwo\n"}),
            )
            .await;
        assert_eq!(text, "created `src/deep/a.txt`: 8 bytes, 2 lines");
        assert_eq!(f.read("src/deep/a.txt"), "one\ntwo\n");
        let text = f
            .ok(
                &WriteFile,
                json!({"path": "./src/deep/a.txt", "content": "x"}),
            )
            .await;
        assert_eq!(text, "overwrote `src/deep/a.txt`: 1 byte, 1 line");
        assert_eq!(f.read("src/deep/a.txt"), "x");
    }

    #[tokio::test]
    async fn refuses_git_directories_and_the_root() {
        let mut f = Fixture::new();
        f.write(".git/HEAD", "ref: refs/heads/main\n");
        f.write("sub/.git/config", "");
        for path in [".git/HEAD", ".git/hooks/pre-commit", "sub/.git/config"] {
            let err = f
                .err(&WriteFile, json!({"path": path, "content": "x"}))
                .await;
            assert!(err.contains("inside `.git/`"), "{err}");
        }
        assert_eq!(f.read(".git/HEAD"), "ref: refs/heads/main\n");
        assert!(!f.root().join(".git/hooks").exists());
        std::fs::create_dir(f.root().join("dir")).unwrap();
        let err = f
            .err(&WriteFile, json!({"path": "dir", "content": "x"}))
            .await;
        assert!(err.contains("is a directory"), "{err}");
        let err = f
            .err(&WriteFile, json!({"path": ".", "content": "x"}))
            .await;
        assert!(err.contains("repository root"), "{err}");
    }

    #[tokio::test]
    async fn stays_inside_the_repository() {
        let mut f = Fixture::new();
        f.assert_confined(&WriteFile, |p| json!({"path": p, "content": "pwned"}))
            .await;
    }
}
