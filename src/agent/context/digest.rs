//! Bounds what the history keeps of tool calls and results: a large
//! argument (a whole file for `write_file`) or result is kept as a digest
//! (size and sha256) or a head-and-tail cut, never resent in full.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::llm::{ContentBlock, Message};

/// A string argument longer than this is kept as a digest.
pub const ARG_LIMIT: usize = 8 * 1024;
/// A tool result longer than this keeps only its head and tail.
pub const RESULT_LIMIT: usize = 32 * 1024;

/// `10.0 MB`, `512 B`.
pub fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// `write_file src/x.js: 10.0 MB, sha256 ab12…` for the argument `field`
/// of a call to `tool`.
fn describe(tool: &str, input: &Value, field: &str, text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let target = input
        .get("path")
        .and_then(Value::as_str)
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    format!(
        "[{tool}{target}: `{field}` of {}, sha256 {hex}…; kept out of the history]",
        human_size(text.len())
    )
}

/// The call's input with every long string argument replaced by its digest.
pub fn bound_input(tool: &str, input: &Value) -> Value {
    let Some(fields) = input.as_object() else {
        return input.clone();
    };
    let mut out = fields.clone();
    for (key, value) in out.iter_mut() {
        if let Value::String(text) = value {
            if text.len() > ARG_LIMIT {
                *value = Value::String(describe(tool, input, key, text));
            }
        }
    }
    Value::Object(out)
}

/// A result cut to its first and last part when it is longer than
/// [`RESULT_LIMIT`].
pub fn bound_result(text: &str) -> String {
    if text.len() <= RESULT_LIMIT {
        return text.to_string();
    }
    let mut head = RESULT_LIMIT * 3 / 4;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - RESULT_LIMIT / 4;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[… {} cut from the middle of this result …]\n{}",
        &text[..head],
        human_size(tail - head),
        &text[tail..]
    )
}

/// The message as the history keeps it: tool arguments and results bounded.
pub fn bound_message(message: &Message) -> Message {
    let content = message
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::ToolUse { id, name, input } => ContentBlock::ToolUse {
                id: id.clone(),
                name: name.clone(),
                input: bound_input(name, input),
            },
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => ContentBlock::ToolResult {
                tool_use_id: tool_use_id.clone(),
                content: bound_result(content),
                is_error: *is_error,
            },
            other => other.clone(),
        })
        .collect();
    Message {
        role: message.role,
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_large_argument_becomes_a_digest_and_small_ones_stay() {
        let big = "x".repeat(10_000_000);
        let input = json!({"path": "src/x.js", "content": big});
        let kept = bound_input("write_file", &input);
        let text = kept["content"].as_str().unwrap();
        assert!(
            text.starts_with("[write_file src/x.js: `content` of 10.0 MB, sha256 "),
            "{text}"
        );
        assert!(text.len() < 200);
        assert_eq!(kept["path"], json!("src/x.js"));
        let small = json!({"path": "a", "content": "hello"});
        assert_eq!(bound_input("write_file", &small), small);
    }

    #[test]
    fn a_long_result_keeps_head_and_tail() {
        let text = format!("HEAD{}TAIL", "é".repeat(RESULT_LIMIT));
        let cut = bound_result(&text);
        assert!(cut.len() <= RESULT_LIMIT + 100, "{}", cut.len());
        assert!(cut.starts_with("HEAD") && cut.ends_with("TAIL"));
        assert!(cut.contains("cut from the middle"));
        assert_eq!(bound_result("short"), "short");
    }
}
