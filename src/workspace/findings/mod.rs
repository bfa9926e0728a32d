//! Parses command output into findings with file:line, and test counts.
//!
//! Each output format has its own small parser that returns findings tagged
//! with the output line they came from; the results are merged in order of
//! appearance, their paths made relative to the repository root (anything
//! outside it, in dependencies or in the runtime is dropped) and
//! deduplicated by file, line and column.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

mod runners;

/// One problem at a place in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Relative to the repository root, `/`-separated.
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
    pub message: String,
}

/// How many tests passed, failed and were skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl std::ops::AddAssign for TestCounts {
    fn add_assign(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Longest message kept for one finding.
const MAX_MESSAGE_CHARS: usize = 400;
/// Most files indexed when resolving a bare file name (Go prints test file
/// names relative to the package directory).
const MAX_INDEXED_FILES: usize = 50_000;

/// A finding before its path is checked against the root.
struct Raw {
    /// Index of the output line it came from.
    at: usize,
    path: String,
    line: u32,
    column: Option<u32>,
    message: String,
    /// pytest's `FAILED file::test` summaries name a test, not a line; the
    /// line is looked up from the test's `def` (and `line` is ignored).
    test: Option<String>,
}

#[expect(
    clippy::expect_used,
    reason = "the patterns are constants, each exercised by the tests"
)]
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid constant regex")
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| regex($pattern));
    };
}

re!(ANSI, r"\x1b\[[0-9;?]*[A-Za-z]");
// `at fn (/abs/file.js:12:5)`, `at /abs/file.js:12:5`, `at async fn (…)`,
// and Rust backtraces' `at ./src/lib.rs:6:17`.
re!(
    AT_FRAME,
    r"^\s*at\s+(?:.*?\()?((?:file://)?[^\s()]+?):(\d+):(\d+)\)?\s*\{?$"
);
// The same inside node --test's TAP `stack: |-` block, without `at`.
re!(
    BARE_FRAME,
    r"^\s*(?:.*?\()?((?:file://)?[^\s()]+?):(\d+):(\d+)\)?$"
);
// Rust backtrace symbol lines (`   4: rs::tests::adds`) between frames.
re!(BACKTRACE_SYMBOL, r"^\s+\d+: \S");
re!(
    ERROR_HEADER,
    r"^\s*(?:Uncaught\s+)?(?:[\w$]+\.)*[\w$]*(?:Error|Exception|Failure)\w*(?:\s\[[^\]]*\])?:\s"
);
re!(PY_FRAME, r#"^\s*File "([^"]+)", line (\d+)(?:, in .*)?$"#);
re!(
    PY_EXCEPTION,
    r"^[\w.]+(?:Error|Exception|Exit|Interrupt|Warning|Iteration)\b|^\w[\w.]*:\s"
);
re!(
    PYTEST_SUMMARY,
    r"^(FAILED|ERROR) ([^\s:]+\.py)(?:::(\S+))?(?: - (.*))?$"
);
re!(
    RUST_PANIC_NEW,
    r"panicked at ([^\s:]+):(\d+):(\d+):\s*(.*)$"
);
re!(
    RUST_PANIC_OLD,
    r"panicked at '(.*)', ([^\s:]+):(\d+):(\d+)$"
);
re!(RUST_ARROW, r"^\s*--> ([^\s:]+):(\d+):(\d+)$");
re!(RUST_HEADER, r"^(?:error|warning)(?:\[\w+\])?: .+$");
re!(
    TSC_PAREN,
    r"^(\S+?)\((\d+),(\d+)\): ((?:error|warning) TS\d+: .*)$"
);
re!(
    TSC_PRETTY,
    r"^(\S+?):(\d+):(\d+) - ((?:error|warning) TS\d+: .*)$"
);
re!(
    ESLINT_ENTRY,
    r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(\S+))?$"
);
re!(
    ESLINT_COMPACT,
    r"^(\S.*?): line (\d+), col (\d+), (\w+) - (.+)$"
);
// `file:line:col: message` and `file:line: message`: ESLint unix, ruff,
// flake8, mypy, go vet / build, `go test` (indented), pytest, gcc.
re!(
    FILE_LINE,
    r"^\s*((?:[A-Za-z]:)?[^\s:]+\.[A-Za-z0-9]+):(\d+):(?:(\d+):)?\s+(.+)$"
);
re!(PYTEST_E, r"^E\s+(.*)$");
re!(CODE_FRAME, r"^\s*(?:>\s*)?\d+\s*\||^\s*\|\s*\^");
re!(GO_PANIC_FRAME, r"^\t(/\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$");

/// Failures with a place in the repository, in order of appearance.
pub fn parse_findings(output: &str, root: &Path) -> Vec<Finding> {
    let clean = plain_text(output);
    let lines: Vec<&str> = clean.lines().collect();
    let mut raw = Vec::new();
    let mut resolver = Resolver::new(root);
    // First come the parsers that know a runner's whole block: at the same
    // line, the first one wins.
    raw.extend(runners::jest(&lines, &mut resolver));
    raw.extend(runners::vitest(&lines, &mut resolver));
    raw.extend(runners::ruff_full(&lines));
    raw.extend(runners::at_line(&lines, &mut resolver));
    raw.extend(stack_traces(&lines, &mut resolver));
    raw.extend(node_tap(&lines, &mut resolver));
    raw.extend(python_tracebacks(&lines, &mut resolver));
    raw.extend(pytest_summary(&lines));
    raw.extend(rust(&lines));
    raw.extend(typescript(&lines));
    raw.extend(eslint(&lines));
    raw.extend(file_line(&lines));
    raw.extend(go_panics(&lines, &mut resolver));
    raw.sort_by_key(|r| r.at);

    let mut seen = HashSet::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut summaries = Vec::new();
    for r in raw {
        let Some(file) = resolver.resolve(&r.path) else {
            continue;
        };
        let summary = r.test.is_some();
        let line = match &r.test {
            Some(test) => match test_line(&resolver, &file, test) {
                Some(line) => line,
                None => continue,
            },
            None => r.line,
        };
        if !seen.insert((file.clone(), line, r.column)) {
            continue;
        }
        let finding = Finding {
            file,
            line,
            column: r.column,
            message: shorten(r.message.trim()),
        };
        if summary {
            summaries.push(finding);
        } else {
            findings.push(finding);
        }
    }
    // pytest's `FAILED file::test` lines only matter when nothing more
    // precise was reported for that file.
    for s in summaries {
        if !findings.iter().any(|f| f.file == s.file) {
            findings.push(s);
        }
    }
    findings
}

/// The output without colours, and `go test -json` turned back into text.
fn plain_text(output: &str) -> String {
    let clean = ANSI.replace_all(output, "");
    let lines: Vec<&str> = clean.lines().collect();
    runners::go_json_text(&lines).unwrap_or_else(|| clean.into_owned())
}

fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{cut}…")
}

fn number(text: &str) -> Option<u32> {
    text.parse().ok()
}

/// Turns paths from tool output into paths relative to the root.
struct Resolver {
    roots: Vec<PathBuf>,
    /// Lazily built list of relative file paths, for bare names.
    index: Option<Vec<String>>,
}

impl Resolver {
    fn new(root: &Path) -> Self {
        let mut roots = vec![root.to_path_buf()];
        if let Ok(canonical) = root.canonicalize() {
            if canonical != root {
                roots.push(canonical);
            }
        }
        Resolver { roots, index: None }
    }

    fn root(&self) -> &Path {
        &self.roots[0]
    }

    fn is_foreign(path: &str) -> bool {
        path.starts_with("node:")
            || path.starts_with('<')
            || path.starts_with('[')
            || [
                "node_modules/",
                "site-packages/",
                "dist-packages/",
                "/rustc/",
                "/.cargo/registry/",
                "/.cargo/git/",
                "/.rustup/",
                "/lib/python",
                "/usr/local/go/",
            ]
            .iter()
            .any(|p| path.contains(p))
    }

    /// The path relative to the root, or `None` when it is outside the
    /// root, in dependencies, or (for relative paths) not a file.
    fn resolve(&mut self, raw: &str) -> Option<String> {
        let raw = raw.strip_prefix("file://").unwrap_or(raw);
        if Self::is_foreign(raw) {
            return None;
        }
        let path = Path::new(raw);
        if path.is_absolute() {
            let rel = self.roots.iter().find_map(|r| path.strip_prefix(r).ok())?;
            return normalise(rel);
        }
        let rel = normalise(path)?;
        if self.root().join(&rel).is_file() {
            return Some(rel);
        }
        self.by_suffix(&rel)
    }

    /// A unique file in the repository whose path ends with `rel`.
    fn by_suffix(&mut self, rel: &str) -> Option<String> {
        let root = self.root().to_path_buf();
        let index = self.index.get_or_insert_with(|| {
            ignore::WalkBuilder::new(&root)
                .build()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
                .take(MAX_INDEXED_FILES)
                .filter_map(|e| e.path().strip_prefix(&root).ok().and_then(normalise))
                .collect()
        });
        let suffix = format!("/{rel}");
        let mut matches = index.iter().filter(|p| p.ends_with(&suffix));
        let first = matches.next()?;
        matches.next().is_none().then(|| first.clone())
    }
}

impl Resolver {
    /// The source file that defines `name` (a test function), preferring
    /// one long enough to have `line`, with that line's text.
    fn defining(&mut self, name: &str, line: u32) -> Option<(String, String)> {
        const SOURCE: [&str; 9] = [".c", ".h", ".cc", ".cpp", ".py", ".sh", ".js", ".ts", ".go"];
        self.by_suffix("\u{0}");
        let root = self.root().to_path_buf();
        let word = Regex::new(&format!(r"\b{}\b", regex::escape(name))).ok()?;
        let mut best: Option<(String, String)> = None;
        for path in self.index.iter().flatten() {
            if !SOURCE.iter().any(|e| path.ends_with(e)) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(root.join(path)) else {
                continue;
            };
            if !word.is_match(&text) {
                continue;
            }
            match text.lines().nth(line.saturating_sub(1) as usize) {
                Some(l) => return Some((path.clone(), l.trim().to_string())),
                None => {
                    best.get_or_insert((path.clone(), String::new()));
                }
            }
        }
        best
    }
}

/// `a/./b` → `a/b`; `None` when the path climbs out or is empty.
fn normalise(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The line of `def <test>` in `file`, or 1 when the test is not found
/// (or unnamed, as in a collection error).
fn test_line(resolver: &Resolver, file: &str, test: &str) -> Option<u32> {
    if test.is_empty() {
        return Some(1);
    }
    let text = std::fs::read_to_string(resolver.root().join(file)).ok()?;
    let needle = format!("def {test}(");
    let found = text.lines().position(|l| {
        l.trim_start()
            .trim_start_matches("async ")
            .starts_with(&needle)
    });
    Some(found.map_or(1, |i| i as u32 + 1))
}

/// JavaScript stack traces (and Rust backtraces, which share the `at`
/// form): the first frame inside the repository, with the error line above.
fn stack_traces(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !AT_FRAME.is_match(lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut frames = Vec::new();
        while i < lines.len()
            && (AT_FRAME.is_match(lines[i]) || BACKTRACE_SYMBOL.is_match(lines[i]))
        {
            if let Some(c) = AT_FRAME.captures(lines[i]) {
                if let Some(rel) = resolver.resolve(&c[1]) {
                    frames.push((i, rel, number(&c[2]), number(&c[3])));
                }
            }
            i += 1;
        }
        out.extend(runners::place(
            frames,
            Some(error_above(lines, start)),
            None,
        ));
    }
    out
}

/// The error message printed above a stack trace starting at `start`.
fn error_above(lines: &[&str], start: usize) -> String {
    let from = start.saturating_sub(12);
    let header = (from..start)
        .rev()
        .find(|&j| ERROR_HEADER.is_match(lines[j]));
    match header {
        Some(h) => lines[h..start]
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        None => (from..start)
            .rev()
            .map(|j| lines[j].trim())
            .find(|l| !l.is_empty() && !CODE_FRAME.is_match(l))
            .unwrap_or("stack trace")
            .to_string(),
    }
}

/// node --test TAP output: each `not ok` block's YAML gives the test's
/// location, the error and a stack without `at`.
fn node_tap(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = tap_failure_name(lines[i]) else {
            i += 1;
            continue;
        };
        let mut location = None;
        let mut error = Vec::new();
        let mut error_name = None;
        let mut frame = None;
        let mut section = "";
        i += 1;
        while i < lines.len() && lines[i].trim() != "..." && tap_failure_name(lines[i]).is_none() {
            let line = lines[i];
            let trimmed = line.trim();
            if let Some(v) = trimmed.strip_prefix("location: ") {
                location = Some((i, v.trim_matches('\'').to_string()));
                section = "";
            } else if let Some(v) = trimmed.strip_prefix("error: ") {
                if v != "|-" && v != "|" {
                    error.push(v.trim_matches('\'').to_string());
                }
                section = "error";
            } else if let Some(v) = trimmed.strip_prefix("name: ") {
                error_name = Some(v.trim_matches('\'').to_string());
                section = "";
            } else if trimmed.starts_with("stack: ") {
                section = "stack";
            } else if line.starts_with("    ") && section == "error" {
                if !trimmed.is_empty() {
                    error.push(trimmed.to_string());
                }
            } else if line.starts_with("    ") && section == "stack" {
                if frame.is_none() {
                    if let Some(c) = BARE_FRAME.captures(line) {
                        if resolver.resolve(&c[1]).is_some() {
                            frame = Some((i, c[1].to_string(), number(&c[2]), number(&c[3])));
                        }
                    }
                }
            } else {
                section = "";
            }
            i += 1;
        }
        let what = match error_name {
            Some(n) => format!("{n}: {}", error.join(" ")),
            None => error.join(" "),
        };
        let message = format!("test '{name}' failed: {what}");
        let place = frame.or_else(|| {
            location.and_then(|(at, loc)| {
                let c = BARE_FRAME.captures(&loc)?;
                Some((at, c[1].to_string(), number(&c[2]), number(&c[3])))
            })
        });
        if let Some((at, path, Some(line), column)) = place {
            out.push(Raw {
                test: None,
                at,
                path,
                line,
                column,
                message,
            });
        }
    }
    out
}

fn tap_failure_name(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("not ok ")?;
    let (_, name) = rest.split_once(" - ")?;
    Some(name.split(" # ").next().unwrap_or(name))
}

/// Python tracebacks: the innermost frame inside the repository, with the
/// exception line that ends the traceback. A frame without a `Traceback`
/// header (as `SyntaxError` prints) starts one too.
fn python_tracebacks(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let starts = lines[i]
            .trim_start()
            .starts_with("Traceback (most recent call last)")
            || PY_FRAME.is_match(lines[i]);
        if !starts {
            i += 1;
            continue;
        }
        let indent = indentation(lines[i]);
        let mut innermost = None;
        let mut message = None;
        if !PY_FRAME.is_match(lines[i]) {
            i += 1;
        }
        while i < lines.len() {
            let line = lines[i];
            if let Some(c) = PY_FRAME.captures(line) {
                if resolver.resolve(&c[1]).is_some() {
                    innermost = Some((i, c[1].to_string(), number(&c[2])));
                }
            } else if indentation(line) <= indent && !line.trim().is_empty() {
                if PY_EXCEPTION.is_match(line.trim_start()) {
                    message = Some(line.trim().to_string());
                }
                break;
            }
            i += 1;
        }
        if let Some((at, path, Some(line))) = innermost {
            out.push(Raw {
                test: None,
                at,
                path,
                line,
                column: None,
                message: message.unwrap_or_else(|| "exception".to_string()),
            });
        }
        i += 1;
    }
    out
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// pytest's short summary: `FAILED tests/test_x.py::test_y - msg`. The
/// line is found later from the test's `def`; `line: 0` marks these.
fn pytest_summary(lines: &[&str]) -> Vec<Raw> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(at, l)| {
            let c = PYTEST_SUMMARY.captures(l.trim_end())?;
            let test = c
                .get(3)
                .map(|t| t.as_str().rsplit("::").next().unwrap_or(""))
                .map(|t| t.split('[').next().unwrap_or(t))
                .unwrap_or("");
            let detail = c.get(4).map_or("", |m| m.as_str());
            let label = if test.is_empty() {
                format!("{}: {detail}", &c[1])
            } else {
                format!("{test} {}: {detail}", c[1].to_ascii_lowercase())
            };
            Some(Raw {
                test: Some(test.to_string()),
                at,
                path: c[2].to_string(),
                line: 0,
                column: None,
                message: label,
            })
        })
        .collect()
}

/// Rust panics (`panicked at src/lib.rs:10:5:` with the message on the
/// next line, or the older `panicked at 'msg', src/lib.rs:10:5`) and
/// rustc/clippy diagnostics (`--> src/lib.rs:3:5` under `error[E…]: …`).
fn rust(lines: &[&str]) -> Vec<Raw> {
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if let Some(c) = RUST_PANIC_NEW.captures(line) {
            let mut message = c[4].trim().to_string();
            if message.is_empty() {
                message = lines[at + 1..]
                    .iter()
                    .take_while(|l| !l.trim().is_empty() && !l.starts_with("stack backtrace:"))
                    .take(3)
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            if let Some(line) = number(&c[2]) {
                out.push(Raw {
                    test: None,
                    at,
                    path: c[1].to_string(),
                    line,
                    column: number(&c[3]),
                    message: format!("panicked: {message}"),
                });
            }
        } else if let Some(c) = RUST_PANIC_OLD.captures(line) {
            if let Some(l) = number(&c[3]) {
                out.push(Raw {
                    test: None,
                    at,
                    path: c[2].to_string(),
                    line: l,
                    column: number(&c[4]),
                    message: format!("panicked: {}", &c[1]),
                });
            }
        } else if let Some(c) = RUST_ARROW.captures(line) {
            let header = lines[at.saturating_sub(3)..at]
                .iter()
                .rev()
                .find(|l| RUST_HEADER.is_match(l));
            if let (Some(header), Some(l)) = (header, number(&c[2])) {
                out.push(Raw {
                    test: None,
                    at,
                    path: c[1].to_string(),
                    line: l,
                    column: number(&c[3]),
                    message: header.trim().to_string(),
                });
            }
        }
    }
    out
}

/// tsc: `src/a.ts(3,5): error TS2322: …` and `src/a.ts:3:5 - error …`.
fn typescript(lines: &[&str]) -> Vec<Raw> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(at, l)| {
            let c = TSC_PAREN.captures(l).or_else(|| TSC_PRETTY.captures(l))?;
            Some(Raw {
                test: None,
                at,
                path: c[1].to_string(),
                line: number(&c[2])?,
                column: number(&c[3]),
                message: c[4].to_string(),
            })
        })
        .collect()
}

/// ESLint's stylish format (a file header followed by indented
/// `line:col  severity  message  rule` rows) and its compact format.
fn eslint(lines: &[&str]) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut header: Option<&str> = None;
    for (at, line) in lines.iter().enumerate() {
        if let Some(c) = ESLINT_COMPACT.captures(line) {
            if let Some(l) = number(&c[2]) {
                out.push(Raw {
                    test: None,
                    at,
                    path: c[1].to_string(),
                    line: l,
                    column: number(&c[3]),
                    message: format!("{}: {}", c[4].to_ascii_lowercase(), &c[5]),
                });
            }
            continue;
        }
        if let (Some(file), Some(c)) = (header, ESLINT_ENTRY.captures(line)) {
            if let Some(l) = number(&c[1]) {
                let rule = c
                    .get(5)
                    .map(|r| format!(" ({})", r.as_str()))
                    .unwrap_or_default();
                out.push(Raw {
                    test: None,
                    at,
                    path: file.to_string(),
                    line: l,
                    column: number(&c[2]),
                    message: format!("{}: {}{rule}", &c[3], c[4].trim()),
                });
            }
            continue;
        }
        let next_is_entry = lines.get(at + 1).is_some_and(|n| ESLINT_ENTRY.is_match(n));
        header = (!line.starts_with(char::is_whitespace) && next_is_entry && !line.is_empty())
            .then(|| line.trim_end());
    }
    out
}

/// The common `file:line[:col]: message` shape; a pytest
/// `tests/test_x.py:12: AssertionError` takes its detail from the `E` lines
/// above it.
fn file_line(lines: &[&str]) -> Vec<Raw> {
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if TSC_PRETTY.is_match(line) || ESLINT_COMPACT.is_match(line) {
            continue;
        }
        let Some(c) = FILE_LINE.captures(line) else {
            continue;
        };
        let Some(l) = number(&c[2]) else { continue };
        let mut message = c[4].trim().to_string();
        if c[1].ends_with(".py") && !message.contains(' ') {
            let details: Vec<&str> = lines[at.saturating_sub(20)..at]
                .iter()
                .filter_map(|l| PYTEST_E.captures(l).and_then(|e| e.get(1)))
                .map(|m| m.as_str().trim())
                .filter(|m| !m.is_empty())
                .collect();
            if let Some(first) = details.first() {
                // `E   AssertionError: 3 != 4` above `x.py:5: AssertionError`
                // says it once.
                message = if first.starts_with(&message) {
                    first.to_string()
                } else {
                    format!("{message}: {first}")
                };
            }
        }
        out.push(Raw {
            test: None,
            at,
            path: c[1].to_string(),
            line: l,
            column: c.get(3).and_then(|m| number(m.as_str())),
            message,
        });
    }
    out
}

/// Go panics: the first frame inside the repository of each goroutine's
/// stack (`\t/abs/pkg/x.go:12 +0x1d`), with the `panic:` line as message.
fn go_panics(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut message = None;
    let mut taken = false;
    for (at, line) in lines.iter().enumerate() {
        if line.starts_with("panic: ") {
            message = Some(line.trim().to_string());
        } else if line.starts_with("goroutine ") {
            taken = false;
        } else if let (Some(msg), false, Some(c)) = (&message, taken, GO_PANIC_FRAME.captures(line))
        {
            if let (Some(_), Some(l)) = (resolver.resolve(&c[1]), number(&c[2])) {
                taken = true;
                out.push(Raw {
                    test: None,
                    at,
                    path: c[1].to_string(),
                    line: l,
                    column: None,
                    message: msg.clone(),
                });
            }
        }
    }
    out
}

re!(
    TAP_COUNT,
    r"^(?:#|ℹ)\s+(pass|fail|skipped|todo|cancelled)\s+(\d+)\s*$"
);
re!(
    PYTEST_COUNTS,
    r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)"
);
re!(
    PYTEST_LINE,
    r"^=*\s*(?:\d+ \w+(?:, )?)+ in [\d.]+s(?: \([^)]*\))?\s*=*$"
);
re!(UNITTEST_RAN, r"^Ran (\d+) tests? in ");
re!(UNITTEST_RESULT, r"^(OK|FAILED)(?: \((.*)\))?$");
re!(
    CARGO_RESULT,
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored"
);
re!(JEST_LINE, r"^\s*Tests:?\s+(.*)$");
re!(JEST_COUNTS, r"(\d+) (passed|failed|skipped|todo|pending)");
re!(
    MOCHA,
    r"^\s*(\d+) (passing|failing|pending)(?: \(\d+\w*\))?\s*$"
);

/// Reads one runner's summary lines.
type CountParser = fn(&[&str]) -> Option<TestCounts>;

/// The test counts a runner printed, summed over every run in the output;
/// `None` when no known summary is present.
pub fn parse_test_counts(output: &str) -> Option<TestCounts> {
    let clean = plain_text(output);
    let lines: Vec<&str> = clean.lines().map(str::trim_end).collect();
    let parsers: [CountParser; 7] = [
        node_counts,
        pytest_counts,
        unittest_counts,
        cargo_counts,
        runners::go_verbose,
        jest_counts,
        mocha_counts,
    ];
    let mut total: Option<TestCounts> = None;
    for parse in parsers {
        if let Some(counts) = parse(&lines) {
            *total.get_or_insert_with(TestCounts::default) += counts;
        }
    }
    total
}

/// Folds matching lines into counts; `None` when none matched.
fn fold_counts<'a>(
    lines: &[&'a str],
    mut each: impl FnMut(usize, &'a str, &mut TestCounts) -> bool,
) -> Option<TestCounts> {
    let mut counts = TestCounts::default();
    let mut any = false;
    for (i, line) in lines.iter().enumerate() {
        any |= each(i, line, &mut counts);
    }
    any.then_some(counts)
}

/// node --test: TAP `# pass N` or the spec reporter's `ℹ pass N`.
fn node_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |_, line, counts| {
        let Some(c) = TAP_COUNT.captures(line) else {
            return false;
        };
        let n = number(&c[2]).unwrap_or(0);
        match &c[1] {
            "pass" => counts.passed += n,
            "fail" | "cancelled" => counts.failed += n,
            _ => counts.skipped += n,
        }
        true
    })
}

fn pytest_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |_, line, counts| {
        if !PYTEST_LINE.is_match(line.trim()) {
            return false;
        }
        for c in PYTEST_COUNTS.captures_iter(line) {
            let n = number(&c[1]).unwrap_or(0);
            match &c[2] {
                "passed" | "xpassed" => counts.passed += n,
                "failed" | "error" | "errors" => counts.failed += n,
                _ => counts.skipped += n,
            }
        }
        true
    })
}

/// unittest: `Ran N tests` then `OK (skipped=1)` or
/// `FAILED (failures=1, errors=1, skipped=1)`.
fn unittest_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |i, line, counts| {
        let Some(ran) = UNITTEST_RAN.captures(line).and_then(|c| number(&c[1])) else {
            return false;
        };
        let result = lines[i + 1..]
            .iter()
            .take(3)
            .find_map(|l| UNITTEST_RESULT.captures(l));
        let (mut failed, mut skipped) = (0, 0);
        if let Some(details) = result.as_ref().and_then(|c| c.get(2)) {
            for part in details.as_str().split(", ") {
                let Some((key, value)) = part.split_once('=') else {
                    continue;
                };
                let n = number(value).unwrap_or(0);
                match key {
                    "failures" | "errors" | "unexpected successes" => failed += n,
                    "skipped" | "expected failures" => skipped += n,
                    _ => {}
                }
            }
        }
        counts.failed += failed;
        counts.skipped += skipped;
        counts.passed += ran.saturating_sub(failed + skipped);
        true
    })
}

fn cargo_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |_, line, counts| {
        let Some(c) = CARGO_RESULT.captures(line) else {
            return false;
        };
        counts.passed += number(&c[1]).unwrap_or(0);
        counts.failed += number(&c[2]).unwrap_or(0);
        counts.skipped += number(&c[3]).unwrap_or(0);
        true
    })
}

/// jest `Tests: 2 failed, 14 passed, 16 total`, vitest
/// `Tests  2 failed | 14 passed (16)`.
fn jest_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |_, line, counts| {
        let Some(c) = JEST_LINE.captures(line) else {
            return false;
        };
        let mut any = false;
        for m in JEST_COUNTS.captures_iter(&c[1]) {
            any = true;
            let n = number(&m[1]).unwrap_or(0);
            match &m[2] {
                "passed" => counts.passed += n,
                "failed" => counts.failed += n,
                _ => counts.skipped += n,
            }
        }
        any
    })
}

fn mocha_counts(lines: &[&str]) -> Option<TestCounts> {
    fold_counts(lines, |_, line, counts| {
        let Some(c) = MOCHA.captures(line) else {
            return false;
        };
        let n = number(&c[1]).unwrap_or(0);
        match &c[2] {
            "passing" => counts.passed += n,
            "failing" => counts.failed += n,
            _ => counts.skipped += n,
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo;

    /// A repository with these (empty) files; returns it and its path.
    fn repo(files: &[&str]) -> (tempfile::TempDir, String) {
        let files: Vec<(&str, &str)> = files.iter().map(|path| (*path, "")).collect();
        let dir = temp_repo(&files);
        let root = dir.path().to_string_lossy().into_owned();
        (dir, root)
    }

    fn finding(file: &str, line: u32, column: Option<u32>, message: &str) -> Finding {
        Finding {
            file: file.into(),
            line,
            column,
            message: message.into(),
        }
    }

    // Real `node --test` (Node 20, spec reporter) output.
    const NODE_SPEC: &str = "\
✖ adds (2.06927ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  -1 !== 3
  
      at TestContext.<anonymous> (ROOT/test/add.test.js:5:10)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at Test.run (node:internal/test_runner/test:796:25)
      at node:internal/test_runner/harness:255:12
      at AsyncResource.runMicrotask (node:internal/process/task_queues:137:8) {
    generatedMessage: true,
    code: 'ERR_ASSERTION',
    actual: -1,
    expected: 3,
    operator: 'strictEqual'
  }

✖ throws (0.236772ms)
  TypeError [Error]: cannot read x
      at boom (ROOT/src.js:2:25)
      at TestContext.<anonymous> (ROOT/test/add.test.js:8:3)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at async Test.processPendingSubtests (node:internal/test_runner/test:526:7)

✔ ok (0.204064ms)
﹣ skipme (0.099308ms) # SKIP
ℹ tests 4
ℹ suites 0
ℹ pass 1
ℹ fail 2
ℹ cancelled 0
ℹ skipped 1
ℹ todo 0
ℹ duration_ms 92.968659

✖ failing tests:

test at test/add.test.js:4:1
✖ adds (2.06927ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  -1 !== 3
  
      at TestContext.<anonymous> (ROOT/test/add.test.js:5:10)
      at Test.runInAsyncScope (node:async_hooks:206:9)
";

    // Real `node --test` (Node 20, TAP reporter, the default off a TTY).
    const NODE_TAP: &str = "\
TAP version 13
# Subtest: adds
not ok 1 - adds
  ---
  duration_ms: 2.063722
  location: 'ROOT/test/add.test.js:4:1'
  failureType: 'testCodeFailure'
  error: |-
    Expected values to be strictly equal:
    
    -1 !== 3
    
  code: 'ERR_ASSERTION'
  name: 'AssertionError'
  expected: 3
  actual: -1
  operator: 'strictEqual'
  stack: |-
    TestContext.<anonymous> (ROOT/test/add.test.js:5:10)
    Test.runInAsyncScope (node:async_hooks:206:9)
    node:internal/test_runner/harness:255:12
  ...
# Subtest: throws
not ok 2 - throws
  ---
  duration_ms: 0.154921
  location: 'ROOT/test/add.test.js:7:1'
  failureType: 'testCodeFailure'
  error: 'cannot read x'
  code: 'ERR_TEST_FAILURE'
  name: 'TypeError'
  stack: |-
    boom (ROOT/src.js:2:25)
    TestContext.<anonymous> (ROOT/test/add.test.js:8:3)
    Test.run (node:internal/test_runner/test:796:25)
  ...
# Subtest: timing
not ok 3 - timing
  ---
  duration_ms: 0.1
  location: 'ROOT/test/add.test.js:12:1'
  failureType: 'testTimeoutFailure'
  error: 'test timed out after 10ms'
  code: 'ERR_TEST_FAILURE'
  ...
# Subtest: ok
ok 4 - ok
  ---
  duration_ms: 0.209252
  ...
# Subtest: skipme
ok 5 - skipme # SKIP
  ---
  duration_ms: 0.099508
  ...
1..5
# tests 5
# suites 0
# pass 1
# fail 3
# cancelled 0
# skipped 1
# todo 0
# duration_ms 162.574104
";

    #[test]
    fn node_test_spec_reporter() {
        let (_d, root) = repo(&["src.js", "test/add.test.js"]);
        let out = NODE_SPEC.replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![
                finding(
                    "test/add.test.js",
                    5,
                    Some(10),
                    "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal: -1 !== 3"
                ),
                finding(
                    "test/add.test.js",
                    8,
                    Some(3),
                    "TypeError [Error]: cannot read x (thrown at src.js:2)"
                ),
            ]
        );
        assert_eq!(
            parse_test_counts(&out),
            Some(TestCounts {
                passed: 1,
                failed: 2,
                skipped: 1
            })
        );
    }

    #[test]
    fn node_test_tap_reporter() {
        let (_d, root) = repo(&["src.js", "test/add.test.js"]);
        let out = NODE_TAP.replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![
                finding(
                    "test/add.test.js",
                    5,
                    Some(10),
                    "test 'adds' failed: AssertionError: Expected values to be strictly equal: -1 !== 3"
                ),
                finding(
                    "src.js",
                    2,
                    Some(25),
                    "test 'throws' failed: TypeError: cannot read x"
                ),
                finding(
                    "test/add.test.js",
                    12,
                    Some(1),
                    "test 'timing' failed: test timed out after 10ms"
                ),
            ]
        );
        assert_eq!(
            parse_test_counts(&out),
            Some(TestCounts {
                passed: 1,
                failed: 3,
                skipped: 1
            })
        );
    }

    #[test]
    fn node_uncaught_exception_and_foreign_frames() {
        let (_d, root) = repo(&["src.js"]);
        let out = "\
ROOT/src.js:2
function boom() { throw new TypeError('cannot read x'); }
                  ^

TypeError: cannot read x
    at Object.boom (ROOT/node_modules/lib/index.js:2:25)
    at Object.<anonymous> (/elsewhere/app.js:1:1)
    at ROOT/src.js:9:3
    at node:internal/main/eval_string:51:3

Node.js v20.20.2
"
        .replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![finding("src.js", 9, Some(3), "TypeError: cannot read x")]
        );
    }

    // Real `python3 -m unittest discover -s tests` (Python 3.11) output.
    const UNITTEST: &str = "\
F.sE
======================================================================
ERROR: test_zero (test_calc.T.test_zero)
----------------------------------------------------------------------
Traceback (most recent call last):
  File \"ROOT/tests/test_calc.py\", line 7, in test_zero
    div(1, 0)
  File \"ROOT/calc.py\", line 2, in div
    return a / b
           ~~^~~
ZeroDivisionError: division by zero

======================================================================
FAIL: test_div (test_calc.T.test_div)
----------------------------------------------------------------------
Traceback (most recent call last):
  File \"ROOT/tests/test_calc.py\", line 5, in test_div
    self.assertEqual(div(4, 2), 3)
AssertionError: 2.0 != 3

----------------------------------------------------------------------
Ran 4 tests in 0.001s

FAILED (failures=1, errors=1, skipped=1)
";

    #[test]
    fn python_unittest_tracebacks() {
        let (_d, root) = repo(&["calc.py", "tests/test_calc.py"]);
        let out = UNITTEST.replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![
                finding("calc.py", 2, None, "ZeroDivisionError: division by zero"),
                finding("tests/test_calc.py", 5, None, "AssertionError: 2.0 != 3"),
            ]
        );
        assert_eq!(
            parse_test_counts(&out),
            Some(TestCounts {
                passed: 1,
                failed: 2,
                skipped: 1
            })
        );
        assert_eq!(
            parse_test_counts("Ran 3 tests in 0.000s\n\nOK (skipped=1)\n"),
            Some(TestCounts {
                passed: 2,
                failed: 0,
                skipped: 1
            })
        );
    }

    #[test]
    fn python_traceback_outside_repo_and_syntax_error() {
        let (_d, root) = repo(&["app.py"]);
        let out = "\
Traceback (most recent call last):
  File \"<frozen runpy>\", line 198, in _run_module_as_main
  File \"ROOT/app.py\", line 4, in <module>
    main()
  File \"/usr/lib/python3.11/json/__init__.py\", line 346, in loads
    return _default_decoder.decode(s)
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
  File \"ROOT/app.py\", line 9
    def f(
         ^
SyntaxError: '(' was never closed
"
        .replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![
                finding(
                    "app.py",
                    4,
                    None,
                    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
                ),
                finding("app.py", 9, None, "SyntaxError: '(' was never closed"),
            ]
        );
    }

    // pytest's documented default output (`--tb=auto`, short summary).
    const PYTEST: &str = "\
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0
rootdir: /repo
collected 4 items

tests/test_calc.py F.s                                                   [ 75%]
tests/test_other.py F                                                    [100%]

=================================== FAILURES ===================================
___________________________________ test_div ___________________________________

    def test_div():
>       assert div(4, 2) == 3
E       assert 2.0 == 3
E        +  where 2.0 = div(4, 2)

tests/test_calc.py:5: AssertionError
=========================== short test summary info ============================
FAILED tests/test_calc.py::test_div - assert 2.0 == 3
FAILED tests/test_other.py::TestX::test_y[1-2] - KeyError: 'a'
==================== 2 failed, 1 passed, 1 skipped in 0.12s ====================
";

    #[test]
    fn pytest_locations_and_summary() {
        let dir = temp_repo(&[
            ("tests/test_calc.py", ""),
            (
                "tests/test_other.py",
                "import pytest\n\nclass TestX:\n    def test_y(self, a):\n        pass\n",
            ),
        ]);
        assert_eq!(
            parse_findings(PYTEST, dir.path()),
            vec![
                finding(
                    "tests/test_calc.py",
                    5,
                    None,
                    "AssertionError: assert 2.0 == 3"
                ),
                finding(
                    "tests/test_other.py",
                    4,
                    None,
                    "test_y failed: KeyError: 'a'"
                ),
            ]
        );
        assert_eq!(
            parse_test_counts(PYTEST),
            Some(TestCounts {
                passed: 1,
                failed: 2,
                skipped: 1
            })
        );
    }

    // Real `cargo test` output of a failing crate (with RUST_BACKTRACE=1).
    const CARGO_TEST: &str = "\
   Compiling rs v0.1.0 (/tmp/rs)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.35s
     Running unittests src/lib.rs (target/debug/deps/rs-a35a48c092d3f767)

running 3 tests
test tests::later ... ignored
test tests::ok ... ok
test tests::adds ... FAILED

failures:

---- tests::adds stdout ----

thread 'tests::adds' (18879) panicked at src/lib.rs:6:17:
assertion `left == right` failed
  left: -1
 right: 3
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_fmt
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14
   4: rs::tests::adds
             at ./src/lib.rs:6:17
   5: rs::tests::adds::{{closure}}
             at ./src/lib.rs:6:14
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    tests::adds

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.13s

     Running tests/api.rs (target/debug/deps/api-0f1e2d3c4b5a6978)

running 2 tests
test works ... ok
test also ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
";

    #[test]
    fn cargo_test_panics_and_counts() {
        let (_d, root) = repo(&["src/lib.rs"]);
        assert_eq!(
            parse_findings(CARGO_TEST, Path::new(&root)),
            vec![finding(
                "src/lib.rs",
                6,
                Some(17),
                "panicked: assertion `left == right` failed left: -1 right: 3"
            )]
        );
        assert_eq!(
            parse_test_counts(CARGO_TEST),
            Some(TestCounts {
                passed: 3,
                failed: 1,
                skipped: 1
            })
        );
        let old = "thread 'main' panicked at 'index out of bounds', src/lib.rs:3:9\n";
        assert_eq!(
            parse_findings(old, Path::new(&root)),
            vec![finding(
                "src/lib.rs",
                3,
                Some(9),
                "panicked: index out of bounds"
            )]
        );
    }

    #[test]
    fn rustc_and_clippy_diagnostics() {
        let (_d, root) = repo(&["src/lib.rs", "src/main.rs"]);
        let out = "\
   Compiling rs v0.1.0 (/tmp/rs)
error[E0308]: mismatched types
  --> src/lib.rs:13:32
   |
13 | pub fn f() -> u32 { let x = 1; \"a\" }
   |               ---              ^^^ expected `u32`, found `&str`

warning: unused variable: `x`
 --> src/main.rs:2:9
  |
2 |     let x = 1;
  |         ^ help: if this is intentional, prefix it with an underscore: `_x`
error: this `if` has identical blocks
   --> /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/foo-1.0.0/src/lib.rs:5:1
error: could not compile `rs` (lib) due to 1 previous error
";
        assert_eq!(
            parse_findings(out, Path::new(&root)),
            vec![
                finding("src/lib.rs", 13, Some(32), "error[E0308]: mismatched types"),
                finding("src/main.rs", 2, Some(9), "warning: unused variable: `x`"),
            ]
        );
    }

    #[test]
    fn go_test_vet_and_counts() {
        let (_d, root) = repo(&["pkg/calc/add_test.go", "pkg/calc/add.go", "main.go"]);
        let out = "\
=== RUN   TestAdd
    add_test.go:12: Add(1, 2) = -1; want 3
--- FAIL: TestAdd (0.00s)
=== RUN   TestSub
--- PASS: TestSub (0.00s)
=== RUN   TestSkip
    add_test.go:30: not on linux
--- SKIP: TestSkip (0.00s)
FAIL
panic: runtime error: index out of range [3] with length 3 [recovered]

goroutine 7 [running]:
example.com/m/pkg/calc.Get(...)
\tROOT/pkg/calc/add.go:20
example.com/m/pkg/calc.TestGet(0xc000007860)
\tROOT/pkg/calc/add_test.go:40 +0x1d
testing.tRunner(0xc000007860, 0x5a2e28)
\t/usr/local/go/src/testing/testing.go:1689 +0xfb
FAIL\texample.com/m/pkg/calc\t0.002s
# example.com/m
./main.go:7:2: declared and not used: x
"
        .replace("ROOT", &root);
        assert_eq!(
            parse_findings(&out, Path::new(&root)),
            vec![
                finding("pkg/calc/add_test.go", 12, None, "Add(1, 2) = -1; want 3"),
                finding("pkg/calc/add_test.go", 30, None, "not on linux"),
                finding(
                    "pkg/calc/add.go",
                    20,
                    None,
                    "panic: runtime error: index out of range [3] with length 3 [recovered]"
                ),
                finding("main.go", 7, Some(2), "declared and not used: x"),
            ]
        );
        assert_eq!(
            parse_test_counts(&out),
            Some(TestCounts {
                passed: 1,
                failed: 1,
                skipped: 1
            })
        );
    }

    #[test]
    fn typescript_both_formats() {
        let (_d, root) = repo(&["src/a.ts", "src/b.tsx"]);
        let out = "\
src/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.
\x1b[96msrc/b.tsx\x1b[0m:\x1b[93m10\x1b[0m:\x1b[93m7\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2304: \x1b[0mCannot find name 'foo'.

\x1b[7m10\x1b[0m   foo();

Found 2 errors in 2 files.
";
        assert_eq!(
            parse_findings(out, Path::new(&root)),
            vec![
                finding(
                    "src/a.ts",
                    3,
                    Some(5),
                    "error TS2322: Type 'string' is not assignable to type 'number'."
                ),
                finding(
                    "src/b.tsx",
                    10,
                    Some(7),
                    "error TS2304: Cannot find name 'foo'."
                ),
            ]
        );
    }

    #[test]
    fn eslint_stylish_unix_and_compact() {
        let (_d, root) = repo(&["src/a.js", "src/b.js"]);
        let stylish = "
ROOT/src/a.js
   3:5   error    'x' is assigned a value but never used  no-unused-vars
   3:12  warning  Missing semicolon                        semi
  10:1   error    Parsing error: Unexpected token

ROOT/src/b.js
  1:1  error  Unexpected var, use let or const instead  no-var

✖ 4 problems (3 errors, 1 warning)
"
        .replace("ROOT", &root);
        assert_eq!(
            parse_findings(&stylish, Path::new(&root)),
            vec![
                finding(
                    "src/a.js",
                    3,
                    Some(5),
                    "error: 'x' is assigned a value but never used (no-unused-vars)"
                ),
                finding("src/a.js", 3, Some(12), "warning: Missing semicolon (semi)"),
                finding(
                    "src/a.js",
                    10,
                    Some(1),
                    "error: Parsing error: Unexpected token"
                ),
                finding(
                    "src/b.js",
                    1,
                    Some(1),
                    "error: Unexpected var, use let or const instead (no-var)"
                ),
            ]
        );
        let unix = "ROOT/src/a.js:3:5: 'x' is defined but never used. [Error/no-unused-vars]\n\
                    ROOT/src/b.js: line 2, col 1, Warning - Missing semicolon. (semi)\n\
                    \n2 problems\n"
            .replace("ROOT", &root);
        assert_eq!(
            parse_findings(&unix, Path::new(&root)),
            vec![
                finding(
                    "src/a.js",
                    3,
                    Some(5),
                    "'x' is defined but never used. [Error/no-unused-vars]"
                ),
                finding("src/b.js", 2, Some(1), "warning: Missing semicolon. (semi)"),
            ]
        );
    }

    #[test]
    fn ruff_flake8_and_mypy_share_the_file_line_shape() {
        let (_d, root) = repo(&["pkg/mod.py"]);
        let out = "\
pkg/mod.py:1:8: F401 [*] `os` imported but unused
./pkg/mod.py:3:80: E501 line too long (88 > 79 characters)
pkg/mod.py:7: error: Incompatible return value type (got \"str\", expected \"int\")  [return-value]
Found 1 error in 1 file (checked 1 source file)
missing.py:3:1: F401 not in the repository
";
        assert_eq!(
            parse_findings(out, Path::new(&root)),
            vec![
                finding("pkg/mod.py", 1, Some(8), "F401 [*] `os` imported but unused"),
                finding(
                    "pkg/mod.py",
                    3,
                    Some(80),
                    "E501 line too long (88 > 79 characters)"
                ),
                finding(
                    "pkg/mod.py",
                    7,
                    None,
                    "error: Incompatible return value type (got \"str\", expected \"int\")  [return-value]"
                ),
            ]
        );
    }

    #[test]
    fn paths_outside_the_root_are_dropped() {
        let (_d, root) = repo(&["a.js"]);
        let out = "\
../outside.js:1:1: escapes
/etc/passwd.js:1:1: absolute elsewhere
    at f (ROOT/../x.js:1:1)
";
        assert!(parse_findings(&out.replace("ROOT", &root), Path::new(&root)).is_empty());
    }

    #[test]
    fn jest_vitest_and_mocha_counts() {
        let jest = "Test Suites: 1 failed, 3 passed, 4 total\n\
                    Tests:       2 failed, 1 skipped, 14 passed, 17 total\n\
                    Snapshots:   0 total\nTime:        1.2 s\n";
        assert_eq!(
            parse_test_counts(jest),
            Some(TestCounts {
                passed: 14,
                failed: 2,
                skipped: 1
            })
        );
        let vitest = " \x1b[2m Test Files \x1b[22m \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[1m\x1b[32m3 passed\x1b[39m\x1b[22m\x1b[90m (4)\x1b[39m\n\
                      \x1b[2m      Tests \x1b[22m \x1b[1m\x1b[31m2 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[1m\x1b[32m14 passed\x1b[39m\x1b[22m\x1b[90m (16)\x1b[39m\n";
        assert_eq!(
            parse_test_counts(vitest),
            Some(TestCounts {
                passed: 14,
                failed: 2,
                skipped: 0
            })
        );
        let mocha = "  14 passing (20ms)\n  1 pending\n  2 failing\n\n  1) adds:\n";
        assert_eq!(
            parse_test_counts(mocha),
            Some(TestCounts {
                passed: 14,
                failed: 2,
                skipped: 1
            })
        );
        assert_eq!(parse_test_counts("nothing to see\nall good\n"), None);
    }
}
