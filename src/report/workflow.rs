//! GitHub Actions conventions: workflow commands (`::add-mask::`,
//! `::group::`, `::error file=…,line=…::`), step outputs in `$GITHUB_OUTPUT`
//! (multi-line values with a random delimiter) and the job summary in
//! `$GITHUB_STEP_SUMMARY` (kept under its 1 MiB limit).

use std::io::Write;
use std::path::Path;

use rand::Rng;

use crate::sandbox::Redactor;

/// GitHub refuses step summaries over 1 MiB; stay well below.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 4096;

/// Escapes data for a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::add-mask::VALUE`, one line per line of the value.
pub fn add_mask(value: &str) -> String {
    value
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("::add-mask::{}\n", escape_data(l)))
        .collect()
}

/// `::error file=F,line=N,col=C,title=T::message`.
pub fn error_annotation(
    file: &str,
    line: u32,
    col: Option<u32>,
    title: &str,
    message: &str,
) -> String {
    let col = col.map(|c| format!(",col={c}")).unwrap_or_default();
    format!(
        "::error file={},line={line}{col},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

/// `::warning title=T::message`.
pub fn warning(title: &str, message: &str) -> String {
    format!(
        "::warning title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub const END_GROUP: &str = "::endgroup::";

/// `name<<DELIM\nvalue\nDELIM\n` with a delimiter that is not in the value.
pub fn output_entry(name: &str, value: &str) -> String {
    let mut rng = rand::thread_rng();
    loop {
        let delimiter = format!("ghadelimiter_{:016x}", rng.gen::<u64>());
        if !value.contains(&delimiter) {
            return format!("{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
    }
}

/// Output values Deckhand chooses from a fixed vocabulary (a status, a
/// number): they carry nothing of a secret, and a one-character secret must
/// not turn `done` into `d***ne`.
fn is_fixed_word(value: &str) -> bool {
    const STATUSES: &[&str] = &[
        "done",
        "needs-review",
        "waiting",
        "paused",
        "continued",
        "cancelled",
        "skipped",
        "error",
    ];
    STATUSES.contains(&value) || value.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Appends step outputs to the `$GITHUB_OUTPUT` file, every free-text value
/// redacted.
pub fn write_outputs(
    path: &Path,
    outputs: &[(&str, String)],
    redactor: &Redactor,
) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    for (name, value) in outputs {
        let value = if is_fixed_word(value) {
            value.into()
        } else {
            redactor.redact(value)
        };
        file.write_all(output_entry(name, &value).as_bytes())?;
    }
    Ok(())
}

/// Appends Markdown, redacted, to the `$GITHUB_STEP_SUMMARY` file, cut to
/// stay under GitHub's limit with a note saying so.
pub fn write_summary(path: &Path, markdown: &str, redactor: &Redactor) -> std::io::Result<()> {
    let existing = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let room = SUMMARY_LIMIT.saturating_sub(existing);
    let text = truncate_markdown(&redactor.redact(markdown), room);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// `text` cut at a line boundary to at most `max` bytes, with a marker.
pub fn truncate_markdown(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const NOTE: &str = "\n\n_… cut to fit GitHub's size limit; the full text is in the job log._\n";
    if max < NOTE.len() {
        return String::new();
    }
    let budget = max.saturating_sub(NOTE.len());
    let mut end = budget.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').unwrap_or(end);
    format!("{}{NOTE}", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_their_data() {
        assert_eq!(add_mask("a%b\nc"), "::add-mask::a%25b\n::add-mask::c\n");
        assert_eq!(
            error_annotation(
                "src/a,b.js",
                3,
                Some(5),
                "npm test",
                "expected 1\nbut got 2"
            ),
            "::error file=src/a%2Cb.js,line=3,col=5,title=npm test::expected 1%0Abut got 2"
        );
        assert_eq!(
            warning("Deckhand: team", "50% lost\nretry"),
            "::warning title=Deckhand%3A team::50%25 lost%0Aretry"
        );
    }

    #[test]
    fn outputs_use_a_delimiter_absent_from_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_outputs(
            &path,
            &[("status", "done".into()), ("body", "line1\nline2".into())],
            &Redactor::default(),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("status<<ghadelimiter_"));
        let delim = lines[0].trim_start_matches("status<<");
        assert_eq!(lines[1], "done");
        assert_eq!(lines[2], delim);
        assert!(lines[3].starts_with("body<<"));
        assert_eq!(&lines[4..6], ["line1", "line2"]);
    }

    #[test]
    fn summary_is_cut_under_the_limit() {
        let long = "x\n".repeat(1_000_000);
        let cut = truncate_markdown(&long, 1000);
        assert!(cut.len() <= 1000);
        assert!(cut.ends_with("job log._\n"));
        assert_eq!(truncate_markdown("short", 1000), "short");
        assert_eq!(truncate_markdown(&long, 10), "");
    }
}
