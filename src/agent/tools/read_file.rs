//! `read_file`: a text file's lines, numbered, within the output caps.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{clip_line, for_model, numbered, read_text, redacted, resolve};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct ReadFile;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    start_line: Option<usize>,
    end_line: Option<usize>,
}

#[async_trait]
impl Tool for ReadFile {
    fn name(&self) -> &'static str {
        "read_file"
    }

    fn description(&self) -> &'static str {
        "Read a text file; each line is prefixed with its number and a tab (the number is not part of the file). Optionally a 1-based inclusive line range. Output is capped (about 400 lines / 30 KB; very long lines are clipped); a note says how to read the rest. Binary files are refused. Paths are relative to the repository root and must stay inside it."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the repository root."},
                "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (1-based, inclusive). Default 1."},
                "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (inclusive). Default: the end of the file, within the cap."}
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
        let result = parse_args::<Args>(self.name(), input).and_then(|args| read(ctx, &args));
        redacted(ctx, result)
    }
}

fn read(ctx: &ToolContext<'_>, args: &Args) -> Result<ToolOutput, ToolError> {
    let path = args.path.as_str();
    let abs = resolve(ctx, path)?;
    let text = read_text(&abs, path)?;
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    if total == 0 {
        return Ok(ToolOutput::Text(format!("`{path}` is empty (0 lines)")));
    }
    let start = args.start_line.unwrap_or(1);
    if start == 0 {
        return Err(for_model("start_line is 1-based; the first line is 1"));
    }
    if start > total {
        return Err(for_model(format!(
            "start_line {start} is past the end of `{path}`, which has {total} lines"
        )));
    }
    let end = args.end_line.unwrap_or(total).min(total);
    if end < start {
        return Err(for_model(format!(
            "end_line {end} is before start_line {start}"
        )));
    }
    // Take lines until either cap is reached.
    let mut shown = 0;
    let mut bytes = 0;
    for line in &lines[start - 1..end] {
        let size = clip_line(line).len() + 8;
        if shown == ctx.limits.max_output_lines
            || (shown > 0 && bytes + size > ctx.limits.max_output_bytes)
        {
            break;
        }
        shown += 1;
        bytes += size;
    }
    let last = start + shown - 1;
    let mut out = numbered(lines[start - 1..last].iter().copied(), start, last);
    if last < end {
        out.push_str(&format!(
            "[showing lines {start}-{last} of {total}; output is capped. Call read_file again with start_line={} to read on]\n",
            last + 1
        ));
    } else if start > 1 || end < total {
        out.push_str(&format!("[lines {start}-{end} of {total}]\n"));
    }
    Ok(ToolOutput::Text(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[tokio::test]
    async fn numbers_lines_and_reads_ranges() {
        let mut f = Fixture::new();
        f.write("a.txt", &lines(12));
        let text = f.ok(&ReadFile, json!({"path": "a.txt"})).await;
        assert!(text.starts_with(" 1\tline 1\n 2\tline 2\n"), "{text}");
        assert!(text.ends_with("12\tline 12\n"), "{text}");
        let text = f
            .ok(
                &ReadFile,
                json!({"path": "a.txt", "start_line": 9, "end_line": 10}),
            )
            .await;
        assert_eq!(text, " 9\tline 9\n10\tline 10\n[lines 9-10 of 12]\n");
        let text = f
            .ok(
                &ReadFile,
                json!({"path": "a.txt", "start_line": 12, "end_line": 99}),
            )
            .await;
        assert_eq!(text, "12\tline 12\n[lines 12-12 of 12]\n");
    }

    #[tokio::test]
    async fn caps_lines_and_bytes_with_a_note_to_read_on() {
        let mut f = Fixture::new();
        f.write("a.txt", &lines(50));
        f.limits.max_output_lines = 5;
        let text = f
            .ok(&ReadFile, json!({"path": "a.txt", "start_line": 3}))
            .await;
        assert!(text.starts_with("3\tline 3\n"), "{text}");
        assert!(
            text.contains("\n7\tline 7\n[showing lines 3-7 of 50;"),
            "{text}"
        );
        assert!(text.contains("start_line=8"), "{text}");
        f.limits.max_output_lines = 400;
        f.limits.max_output_bytes = 40;
        let text = f.ok(&ReadFile, json!({"path": "a.txt"})).await;
        assert!(text.contains("[showing lines 1-2 of 50;"), "{text}");
    }

    #[tokio::test]
    async fn refuses_binary_files_with_their_size() {
        let mut f = Fixture::new();
        std::fs::write(f.root().join("img.png"), [0x89, b'P', 0, 1, 2]).unwrap();
        std::fs::write(f.root().join("latin1.txt"), [b'c', b'a', 0xe9]).unwrap();
        let err = f.err(&ReadFile, json!({"path": "img.png"})).await;
        assert!(
            err.starts_with("`img.png` is a binary file (5 bytes)"),
            "{err}"
        );
        let err = f.err(&ReadFile, json!({"path": "latin1.txt"})).await;
        assert!(
            err.starts_with("`latin1.txt` is a binary file (3 bytes)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn errors_for_bad_ranges_directories_and_missing_files() {
        let mut f = Fixture::new();
        f.write("a.txt", &lines(3));
        f.write("d/x", "");
        let err = f
            .err(&ReadFile, json!({"path": "a.txt", "start_line": 4}))
            .await;
        assert!(err.contains("has 3 lines"), "{err}");
        let err = f
            .err(&ReadFile, json!({"path": "a.txt", "start_line": 0}))
            .await;
        assert!(err.contains("1-based"), "{err}");
        let err = f
            .err(
                &ReadFile,
                json!({"path": "a.txt", "start_line": 3, "end_line": 2}),
            )
            .await;
        assert!(err.contains("before start_line"), "{err}");
        let err = f.err(&ReadFile, json!({"path": "d"})).await;
        assert!(err.contains("is a directory; use list_dir"), "{err}");
        let err = f.err(&ReadFile, json!({"path": "nope.txt"})).await;
        assert!(
            err.contains("does not exist; use list_dir or search"),
            "{err}"
        );
        assert_eq!(
            f.ok(&ReadFile, json!({"path": "d/x"})).await,
            "`d/x` is empty (0 lines)"
        );
        f.assert_confined(&ReadFile, |p| json!({"path": p})).await;
    }

    #[tokio::test]
    async fn secrets_in_files_are_masked() {
        let mut f = Fixture::new();
        f.write(".env", &format!("TOKEN={SECRET}\n"));
        assert_eq!(
            f.ok(&ReadFile, json!({"path": ".env"})).await,
            "1\tTOKEN=***\n"
        );
    }
}
