//! `edit_file`: replaces one unique occurrence of a text in a file, exactly or ignoring whitespace.
//!
//! Matching is exact first; when that fails, line by line ignoring leading
//! and trailing whitespace and runs of spaces (what models get wrong most),
//! re-indenting the new text to the file's indentation. Several matches are
//! refused with their line numbers; no match shows the most similar region
//! so the model can copy the real text and retry.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{
    count, for_model, numbered, read_text, redacted, resolve_writable, write_confined,
};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct EditFile;

/// Lines of context shown around an edit or a near miss.
const CONTEXT_LINES: usize = 3;
/// Lines of old_text compared when looking for the closest region.
const MAX_SCORED_LINES: usize = 20;
/// Most lines of the edited region shown back.
const MAX_SHOWN_LINES: usize = 40;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    old_text: String,
    new_text: String,
}

#[async_trait]
impl Tool for EditFile {
    fn name(&self) -> &'static str {
        "edit_file"
    }

    fn description(&self) -> &'static str {
        "Replace one occurrence of `old_text` in a file with `new_text`. `old_text` must match exactly one place: copy it from read_file output (without the line-number prefixes) and include enough surrounding lines to be unique. If there is no exact match, a match ignoring indentation and spacing differences is tried. Empty `old_text` creates a new file. Paths are relative to the repository root and must stay inside it; `.git/` cannot be edited."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the repository root."},
                "old_text": {"type": "string", "description": "The exact text to replace (whole lines are best), unique in the file. Empty only to create a file that does not exist yet."},
                "new_text": {"type": "string", "description": "The replacement text; empty to delete `old_text`."}
            },
            "required": ["path", "old_text", "new_text"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| edit(ctx, args));
        redacted(ctx, result)
    }
}

fn edit(ctx: &ToolContext<'_>, args: Args) -> Result<ToolOutput, ToolError> {
    let path = args.path.as_str();
    let abs = resolve_writable(ctx, path)?;
    let exists = abs.exists();
    if args.old_text.is_empty() {
        if exists && (abs.is_dir() || std::fs::metadata(&abs).is_ok_and(|m| m.len() > 0)) {
            return Err(for_model(format!(
                "old_text is empty but `{path}` already exists with content; give the exact text to replace (read_file shows it), or use write_file to replace the whole file"
            )));
        }
        write_confined(ctx, &abs, path, &args.new_text)?;
        return Ok(ToolOutput::Text(format!(
            "created `{}` ({})",
            ctx.workspace.relative(&abs),
            count(args.new_text.lines().count(), "line", "lines")
        )));
    }
    if !exists {
        return Err(for_model(format!(
            "`{path}` does not exist; check the path with list_dir, or create the file with empty old_text or write_file"
        )));
    }
    let content = read_text(ctx, &abs, path)?;
    let (mut old, mut new) = (args.old_text, args.new_text);
    // Files with CRLF endings: the model usually sends LF.
    if content.contains("\r\n") && !old.contains("\r\n") {
        old = old.replace('\n', "\r\n");
        new = new.replace('\n', "\r\n");
    }
    let mut found = find(&content, &old, &new);
    let mut how = "";
    // Text copied from read_file with its line-number prefixes.
    if let (Found::None, Some(bare_old)) = (&found, strip_line_numbers(&old)) {
        let bare_new = strip_line_numbers(&new).unwrap_or_else(|| new.clone());
        let retry = find(&content, &bare_old, &bare_new);
        if !matches!(retry, Found::None) {
            found = retry;
            how = " (line-number prefixes removed from old_text)";
        }
    }
    let (start, end, replacement, fuzzy) = match found {
        Found::One {
            start,
            end,
            replacement,
            fuzzy,
        } => (start, end, replacement, fuzzy),
        Found::Many { lines, fuzzy } => {
            return Err(for_model(format!(
                "old_text matches {} places in `{path}`{} (starting at lines {}); include more surrounding lines in old_text so that it matches exactly one",
                lines.len(),
                if fuzzy { " when whitespace is ignored" } else { "" },
                lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
            )))
        }
        Found::None => return Err(closest_region_hint(&content, &old, path)),
    };
    let mut updated = String::with_capacity(content.len() + replacement.len());
    updated.push_str(&content[..start]);
    updated.push_str(&replacement);
    updated.push_str(&content[end..]);
    write_confined(ctx, &abs, path, &updated)?;
    Ok(ToolOutput::Text(summary(
        &ctx.workspace.relative(&abs),
        &content,
        &updated,
        start,
        end,
        replacement.len(),
        if fuzzy {
            " (matched ignoring whitespace differences)"
        } else {
            how
        },
    )))
}

enum Found {
    /// Replace `start..end` (bytes) of the content with `replacement`.
    One {
        start: usize,
        end: usize,
        replacement: String,
        fuzzy: bool,
    },
    /// Several places match; their first lines.
    Many {
        lines: Vec<usize>,
        fuzzy: bool,
    },
    None,
}

fn find(content: &str, old: &str, new: &str) -> Found {
    let exact: Vec<usize> = content.match_indices(old).map(|(i, _)| i).collect();
    match exact.as_slice() {
        [start] => {
            return Found::One {
                start: *start,
                end: start + old.len(),
                replacement: new.to_string(),
                fuzzy: false,
            }
        }
        [] => {}
        many => {
            return Found::Many {
                lines: many.iter().map(|&i| line_of(content, i)).collect(),
                fuzzy: false,
            }
        }
    }
    let file_lines: Vec<&str> = content.split_inclusive('\n').collect();
    let old_lines = significant_lines(old);
    if old_lines.is_empty() || old_lines.len() > file_lines.len() {
        return Found::None;
    }
    let wanted: Vec<String> = old_lines.iter().map(|l| normalize(l)).collect();
    let have: Vec<String> = file_lines.iter().map(|l| normalize(l)).collect();
    let k = wanted.len();
    let hits: Vec<usize> = (0..=have.len() - k)
        .filter(|&i| have[i..i + k] == wanted[..])
        .collect();
    match hits.as_slice() {
        [] => Found::None,
        [i] => {
            let start: usize = file_lines[..*i].iter().map(|l| l.len()).sum();
            let end: usize = start
                + file_lines[*i..*i + k]
                    .iter()
                    .map(|l| l.len())
                    .sum::<usize>();
            let mut replacement = reindent(new, indent(old_lines[0]), indent(file_lines[*i]));
            let replaced_ends_line = content[..end].ends_with('\n');
            if replaced_ends_line && !replacement.is_empty() && !replacement.ends_with('\n') {
                replacement.push_str(if content[..end].ends_with("\r\n") {
                    "\r\n"
                } else {
                    "\n"
                });
            }
            Found::One {
                start,
                end,
                replacement,
                fuzzy: true,
            }
        }
        many => Found::Many {
            lines: many.iter().map(|i| i + 1).collect(),
            fuzzy: true,
        },
    }
}

/// The lines of `text` without leading and trailing blank lines.
fn significant_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].to_vec(),
        _ => Vec::new(),
    }
}

/// `text` without the `  12\t` prefixes read_file adds, when every
/// non-blank line has one.
fn strip_line_numbers(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut any = false;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        let rest = line.trim_start_matches(' ');
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(rest[digits..].strip_prefix('\t').filter(|_| digits > 0)?);
        any = true;
    }
    any.then_some(out)
}

/// A line with leading/trailing whitespace removed and inner runs collapsed.
fn normalize(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Moves `text` from the indentation the model used to the file's.
fn reindent(text: &str, from: &str, to: &str) -> String {
    if from == to {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|line| match line.strip_prefix(from) {
            Some(rest) if !line.trim().is_empty() => format!("{to}{rest}"),
            _ => line.to_string(),
        })
        .collect()
}

/// 1-based line of byte offset `at`.
fn line_of(content: &str, at: usize) -> usize {
    content[..at].matches('\n').count() + 1
}

/// How many lines `text` spans, not counting a final line break.
fn span(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        text.trim_end_matches('\n').matches('\n').count() + 1
    }
}

fn summary(
    path: &str,
    before: &str,
    after: &str,
    start: usize,
    end: usize,
    new_len: usize,
    how: &str,
) -> String {
    let first = line_of(before, start);
    let old_span = span(&before[start..end]);
    let new_span = span(&after[start..start + new_len]);
    let what = match new_span {
        0 => format!("removed lines {first}-{}", first + old_span.max(1) - 1),
        n => format!(
            "replaced lines {first}-{} with lines {first}-{}",
            first + old_span.max(1) - 1,
            first + n - 1
        ),
    };
    let lines: Vec<&str> = after.lines().collect();
    let from = first.saturating_sub(CONTEXT_LINES).max(1);
    let to = (first + new_span + CONTEXT_LINES)
        .min(lines.len())
        .min(from + MAX_SHOWN_LINES - 1);
    let shown = if from <= to {
        numbered(lines[from - 1..to].iter().copied(), from, to)
    } else {
        String::from("(the file is now empty)\n")
    };
    format!(
        "edited `{path}`: {what}{how}; the file now has {}:\n{shown}",
        count(lines.len(), "line", "lines")
    )
}

/// The error for a miss: the window of the file most like `old`.
fn closest_region_hint(content: &str, old: &str, path: &str) -> ToolError {
    let file_lines: Vec<&str> = content.lines().collect();
    let old_lines = significant_lines(old);
    if file_lines.is_empty() {
        return for_model(format!(
            "old_text was not found: `{path}` is empty; use write_file to give it content"
        ));
    }
    let k = old_lines.len().clamp(1, file_lines.len());
    let wanted: Vec<Vec<(char, char)>> = old_lines.iter().map(|l| bigrams(l)).collect();
    let have: Vec<Vec<(char, char)>> = file_lines.iter().map(|l| bigrams(l)).collect();
    // Scoring only the first lines keeps a huge file and a long old_text
    // from taking long; they decide where the region is anyway.
    let scored = k.min(MAX_SCORED_LINES);
    let mut best = (0usize, -1.0f64);
    for i in 0..=file_lines.len() - k {
        let score: f64 = (0..scored)
            .map(|j| wanted.get(j).map_or(0.0, |w| dice(w, &have[i + j])))
            .sum();
        if score > best.1 {
            best = (i, score);
        }
    }
    let from = best.0.saturating_sub(CONTEXT_LINES - 1);
    let to = (best.0 + k + CONTEXT_LINES - 1)
        .min(file_lines.len())
        .min(from + MAX_SHOWN_LINES);
    for_model(format!(
        "old_text was not found in `{path}`, not even ignoring whitespace. The most similar region is lines {}-{}:\n{}Copy the exact current text from the file (without line-number prefixes) into old_text and retry, or read_file to see more.",
        from + 1,
        to,
        numbered(file_lines[from..to].iter().copied(), from + 1, to)
    ))
}

/// Sorted character bigrams of a normalised line.
fn bigrams(line: &str) -> Vec<(char, char)> {
    let chars: Vec<char> = normalize(line).chars().collect();
    let mut pairs: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
    pairs.sort_unstable();
    pairs
}

/// Dice similarity of two sorted bigram multisets, 0 to 1.
fn dice(a: &[(char, char)], b: &[(char, char)]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{error, text, Fixture, SECRET};

    const CODE: &str =
        "fn main() {\n    let a = 1;\n    let b = 2;\n    println!(\"{}\", a + b);\n}\n";

    async fn edit(
        f: &mut Fixture,
        path: &str,
        old: &str,
        new: &str,
    ) -> Result<ToolOutput, ToolError> {
        f.call(
            &EditFile,
            json!({"path": path, "old_text": old, "new_text": new}),
        )
        .await
    }

    #[tokio::test]
    async fn replaces_an_exact_unique_match_and_shows_the_region() {
        let mut f = Fixture::new();
        f.write("src/main.rs", CODE);
        let out = text(
            edit(
                &mut f,
                "src/main.rs",
                "    let b = 2;\n",
                "    let b = 3;\n    let c = 4;\n",
            )
            .await,
        );
        assert_eq!(
            f.read("src/main.rs"),
            "fn main() {\n    let a = 1;\n    let b = 3;\n    let c = 4;\n    println!(\"{}\", a + b);\n}\n"
        );
        assert!(
            out.starts_with("edited `src/main.rs`: replaced lines 3-3 with lines 3-4; the file now has 6 lines:\n"),
            "{out}"
        );
        assert!(out.contains("1\tfn main() {\n"), "{out}");
        assert!(out.contains("4\t    let c = 4;\n"), "{out}");
        assert!(out.ends_with("6\t}\n"), "{out}");
    }

    #[tokio::test]
    async fn deletes_when_new_text_is_empty() {
        let mut f = Fixture::new();
        f.write("a.rs", CODE);
        let out = text(edit(&mut f, "a.rs", "    let a = 1;\n", "").await);
        assert!(
            out.starts_with("edited `a.rs`: removed lines 2-2;"),
            "{out}"
        );
        assert!(!f.read("a.rs").contains("let a"));
    }

    #[tokio::test]
    async fn refuses_ambiguous_matches_with_their_lines() {
        let mut f = Fixture::new();
        f.write("a.txt", "x = 1\ny = 2\nx = 1\n");
        let err = error(edit(&mut f, "a.txt", "x = 1", "x = 5").await);
        assert_eq!(
            err,
            "old_text matches 2 places in `a.txt` (starting at lines 1, 3); include more surrounding lines in old_text so that it matches exactly one"
        );
        let err = error(edit(&mut f, "a.txt", "  x  =   1  \n", "x = 5").await);
        assert!(
            err.contains(
                "matches 2 places in `a.txt` when whitespace is ignored (starting at lines 1, 3)"
            ),
            "{err}"
        );
        assert_eq!(f.read("a.txt"), "x = 1\ny = 2\nx = 1\n");
    }

    #[tokio::test]
    async fn tolerates_whitespace_and_reindents_the_new_text() {
        let mut f = Fixture::new();
        f.write("a.rs", CODE);
        let out = text(
            edit(
                &mut f,
                "a.rs",
                "let a  = 1;\nlet b = 2;",
                "let a = 10;\nif a > 1 {\n    let b = 20;\n}",
            )
            .await,
        );
        assert!(
            out.contains("(matched ignoring whitespace differences)"),
            "{out}"
        );
        assert_eq!(
            f.read("a.rs"),
            "fn main() {\n    let a = 10;\n    if a > 1 {\n        let b = 20;\n    }\n    println!(\"{}\", a + b);\n}\n"
        );
    }

    #[tokio::test]
    async fn accepts_text_copied_with_line_numbers() {
        let mut f = Fixture::new();
        f.write("a.rs", CODE);
        let out = text(
            edit(
                &mut f,
                "a.rs",
                "2\t    let a = 1;\n3\t    let b = 2;\n",
                "2\t    let a = 5;\n",
            )
            .await,
        );
        assert!(
            out.starts_with("edited `a.rs`: replaced lines 2-3 with lines 2-2 (line-number prefixes removed from old_text);"),
            "{out}"
        );
        assert_eq!(
            f.read("a.rs"),
            "fn main() {\n    let a = 5;\n    println!(\"{}\", a + b);\n}\n"
        );
        assert_eq!(strip_line_numbers("12\tx\nno prefix\n"), None);
        assert_eq!(strip_line_numbers("plain"), None);
    }

    #[tokio::test]
    async fn keeps_crlf_line_endings() {
        let mut f = Fixture::new();
        f.write("w.txt", "one\r\ntwo\r\nthree\r\n");
        text(edit(&mut f, "w.txt", "two\nthree\n", "2\n3\n").await);
        assert_eq!(f.read("w.txt"), "one\r\n2\r\n3\r\n");
    }

    #[tokio::test]
    async fn a_miss_shows_the_closest_region() {
        let mut f = Fixture::new();
        let mut content: String = (1..=30).map(|i| format!("filler line {i}\n")).collect();
        content.push_str("fn total(items: &[u32]) -> u32 {\n    items.iter().sum()\n}\n");
        f.write("lib.rs", &content);
        let err = error(
            edit(
                &mut f,
                "lib.rs",
                "fn total(items: &[u64]) -> u64 {\n    items.iter().sum()\n}\n",
                "x",
            )
            .await,
        );
        assert!(err.starts_with("old_text was not found in `lib.rs`, not even ignoring whitespace. The most similar region is lines 29-33:\n"), "{err}");
        assert!(
            err.contains("31\tfn total(items: &[u32]) -> u32 {\n32\t    items.iter().sum()\n"),
            "{err}"
        );
        assert!(err.ends_with("or read_file to see more."), "{err}");
        assert_eq!(f.read("lib.rs"), content);
    }

    #[tokio::test]
    async fn creates_files_with_empty_old_text_only_when_missing_or_empty() {
        let mut f = Fixture::new();
        let out = text(edit(&mut f, "new/dir/a.txt", "", "hello\n").await);
        assert_eq!(out, "created `new/dir/a.txt` (1 line)");
        assert_eq!(f.read("new/dir/a.txt"), "hello\n");
        let err = error(edit(&mut f, "new/dir/a.txt", "", "again\n").await);
        assert!(err.contains("already exists with content"), "{err}");
        f.write("empty.txt", "");
        text(edit(&mut f, "empty.txt", "", "filled\n").await);
        assert_eq!(f.read("empty.txt"), "filled\n");
        let err = error(edit(&mut f, "missing.txt", "x", "y").await);
        assert!(err.contains("does not exist"), "{err}");
        assert!(!f.root().join("missing.txt").exists());
    }

    #[tokio::test]
    async fn refuses_binary_files_git_and_paths_outside() {
        let mut f = Fixture::new();
        std::fs::write(f.root().join("bin"), [1, 0, 2]).unwrap();
        let err = error(edit(&mut f, "bin", "a", "b").await);
        assert!(err.contains("binary file (3 bytes)"), "{err}");
        f.write(".git/config", "[core]\n");
        let err = error(edit(&mut f, ".git/config", "[core]", "[x]").await);
        assert!(err.contains("inside `.git/`"), "{err}");
        assert_eq!(f.read(".git/config"), "[core]\n");
        f.assert_confined(
            &EditFile,
            |p| json!({"path": p, "old_text": "", "new_text": "pwned"}),
        )
        .await;
        f.assert_confined(
            &EditFile,
            |p| json!({"path": p, "old_text": "outside", "new_text": "pwned"}),
        )
        .await;
    }

    #[tokio::test]
    async fn shown_text_is_redacted() {
        let mut f = Fixture::new();
        f.write("cfg.txt", &format!("key = {SECRET}\nport = 1\n"));
        let out = text(edit(&mut f, "cfg.txt", "port = 1", "port = 2").await);
        assert!(out.contains("1\tkey = ***\n"), "{out}");
        let err = error(edit(&mut f, "cfg.txt", "key = nothing-like-it", "x").await);
        assert!(err.contains("key = ***"), "{err}");
        assert!(!err.contains(SECRET));
    }
}
