//! `read_file`: a text file's lines, numbered, within the output caps.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{
    binary, for_model, io_error, open_confined, redacted, resolve, BINARY_PROBE_BYTES,
    MAX_LINE_CHARS,
};
use super::{parse_args, Tool, ToolContext, ToolError, ToolLimits, ToolOutput};

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
    let start = args.start_line.unwrap_or(1);
    if start == 0 {
        return Err(for_model("start_line is 1-based; the first line is 1"));
    }
    let (file, size) = open_confined(ctx, &abs, path)?;
    let scan = scan_lines(file, size, path, start, args.end_line, ctx.limits)?;
    let total = scan.total;
    if total == 0 {
        return Ok(ToolOutput::Text(format!("`{path}` is empty (0 lines)")));
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
    let shown = scan.lines.len();
    let last = start + shown - 1;
    let mut out = numbered_clipped(&scan.lines, start, last);
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

/// Bytes read from the file at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Bytes of one line kept: enough for [`MAX_LINE_CHARS`] characters.
const LINE_KEEP_BYTES: usize = MAX_LINE_CHARS * 4 + 4;

/// What one pass over a file found: its line count and the (clipped)
/// lines shown, within the caps.
struct Scan {
    total: usize,
    lines: Vec<String>,
    /// A shown line is not UTF-8.
    invalid: bool,
}

/// Reads `file` in bounded pieces: keeps at most [`LINE_KEEP_BYTES`] of each
/// line from `start` on until a cap is reached, and only counts the rest.
fn scan_lines(
    mut file: std::fs::File,
    size: u64,
    path: &str,
    start: usize,
    end: Option<usize>,
    limits: ToolLimits,
) -> Result<Scan, ToolError> {
    let size_shown = usize::try_from(size).unwrap_or(usize::MAX);
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut scan = Scan {
        total: 0,
        lines: Vec::new(),
        invalid: false,
    };
    // The line being read: its kept bytes, its length in characters, and
    // whether any byte of it was seen.
    let mut kept: Vec<u8> = Vec::new();
    let mut chars = 0usize;
    let mut open_line = false;
    let mut shown_bytes = 0usize;
    let mut collecting = true;
    let mut offset = 0usize;
    let mut finish_line = |kept: &mut Vec<u8>, chars: &mut usize, scan: &mut Scan| {
        scan.total += 1;
        let number = scan.total;
        let wanted = number >= start && end.is_none_or(|e| number <= e);
        if collecting && wanted {
            if kept.last() == Some(&b'\r') && *chars <= MAX_LINE_CHARS {
                kept.pop();
                *chars -= 1;
            }
            let Some(line) = clipped(kept, *chars) else {
                scan.invalid = true;
                return;
            };
            let cost = line.len() + 8;
            if scan.lines.len() == limits.max_output_lines
                || (!scan.lines.is_empty() && shown_bytes + cost > limits.max_output_bytes)
            {
                collecting = false;
            } else {
                shown_bytes += cost;
                scan.lines.push(line);
            }
        }
        kept.clear();
        *chars = 0;
    };
    loop {
        let n = match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(path, &e)),
        };
        let bytes = &chunk[..n];
        if offset < BINARY_PROBE_BYTES {
            let probe = &bytes[..n.min(BINARY_PROBE_BYTES - offset)];
            if probe.contains(&0) {
                return Err(binary(path, size_shown));
            }
        }
        offset += n;
        for &b in bytes {
            if b == b'\n' {
                finish_line(&mut kept, &mut chars, &mut scan);
                open_line = false;
                continue;
            }
            open_line = true;
            if b & 0xC0 != 0x80 {
                chars += 1;
            }
            if kept.len() < LINE_KEEP_BYTES {
                kept.push(b);
            }
        }
        if scan.invalid {
            return Err(binary(path, size_shown));
        }
    }
    if open_line {
        finish_line(&mut kept, &mut chars, &mut scan);
    }
    if scan.invalid {
        return Err(binary(path, size_shown));
    }
    Ok(scan)
}

/// A line's kept bytes as text clipped to [`MAX_LINE_CHARS`] characters,
/// saying how many of its `chars` characters were cut; `None` when they are
/// not UTF-8 (a character cut by the kept length aside).
fn clipped(kept: &[u8], chars: usize) -> Option<String> {
    let text = match std::str::from_utf8(kept) {
        Ok(text) => text,
        Err(e) if kept.len() >= LINE_KEEP_BYTES && e.error_len().is_none() => {
            std::str::from_utf8(&kept[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if chars <= MAX_LINE_CHARS {
        return Some(text.to_string());
    }
    let cut: String = text.chars().take(MAX_LINE_CHARS).collect();
    Some(format!(
        "{cut}… [{} more characters]",
        chars - MAX_LINE_CHARS
    ))
}

/// Already clipped lines numbered from `first`.
fn numbered_clipped(lines: &[String], first: usize, last: usize) -> String {
    let width = last.max(1).to_string().len();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(&format!("{:>width$}\t{line}\n", first + i));
    }
    out
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
