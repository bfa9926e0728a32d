//! The repo map: a compact, ranked list of the repository's files with the
//! signature lines of their definitions, so the model knows where things are
//! before it reads anything.
//!
//! As in Aider, files that the rest of the code refers to most (by the names
//! they define, or by their file stem as in imports) come first. The work is
//! bounded for large repositories: the walk honours ignore files and stops
//! after [`MAX_FILES`]; each file is read up to [`MAX_READ_PER_FILE`] bytes,
//! all files together up to [`MAX_READ_TOTAL`] and for at most
//! [`MAX_SCAN_TIME`]; files past that are listed by name only.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

/// Most files looked at.
pub const MAX_FILES: usize = 100_000;
/// Files larger than this are left out (generated or data).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Bytes read from one file for signatures and references.
pub const MAX_READ_PER_FILE: usize = 32 * 1024;
/// Bytes read from all files together.
pub const MAX_READ_TOTAL: usize = 16 * 1024 * 1024;
/// Time spent reading files before the rest are listed by name only.
pub const MAX_SCAN_TIME: Duration = Duration::from_millis(500);
/// Longest signature line shown.
const MAX_SIGNATURE_CHARS: usize = 120;
/// Most signature lines shown for one file.
const MAX_SIGNATURES_PER_FILE: usize = 12;
/// Names defined in more files than this say nothing about centrality.
const MAX_DEFINITIONS_PER_NAME: usize = 3;
/// Shortest name or stem counted as a reference.
const MIN_NAME_LEN: usize = 3;

const BINARY_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "webp", "pdf", "zip", "gz", "tgz", "bz2", "xz",
    "7z", "tar", "jar", "war", "class", "so", "dylib", "dll", "exe", "o", "a", "lib", "bin",
    "wasm", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "mov", "avi", "webm", "wav", "ogg",
    "sqlite", "db", "pyc", "node",
];

#[expect(
    clippy::expect_used,
    reason = "the patterns are constants, each exercised by the tests"
)]
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid constant regex")
}

/// How to find definitions in one language: a cheap first-word filter,
/// then a pattern whose first matching group is the defined name.
struct Language {
    starts: &'static [&'static str],
    pattern: &'static LazyLock<Regex>,
}

static RUST: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|const|unsafe|extern\s+"[^"]*")\s+)*(?:(?:fn|struct|enum|trait|type|union)\s+(?P<name>\w+)|impl\b|macro_rules!\s*(?P<mac>\w+))"#,
    )
});
static PYTHON: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*(?:async\s+)?(?:def|class)\s+(?P<name>\w+)"));
static SCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^\s*(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:(?:async\s+)?function\*?\s*(?P<name>[\w$]+)|(?:abstract\s+)?class\s+(?P<class>[\w$]+)|interface\s+(?P<iface>[\w$]+)|type\s+(?P<alias>[\w$]+)\s*(?:<[^=]*>)?\s*=|enum\s+(?P<enm>[\w$]+)|(?:const|let|var)\s+(?P<var>[\w$]+))",
    )
});
static GO: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:func\s+(?:\([^)]*\)\s*)?(?P<name>\w+)|type\s+(?P<tname>\w+))"));

static RUST_LANG: Language = Language {
    starts: &[
        "pub",
        "fn ",
        "struct ",
        "enum ",
        "trait ",
        "type ",
        "union ",
        "impl",
        "async ",
        "const ",
        "unsafe ",
        "extern ",
        "macro_rules!",
    ],
    pattern: &RUST,
};
static PYTHON_LANG: Language = Language {
    starts: &["def ", "class ", "async "],
    pattern: &PYTHON,
};
// `const`/`let`/`var` only count when exported, hence no bare "const ".
static SCRIPT_LANG: Language = Language {
    starts: &[
        "export ",
        "function",
        "async ",
        "class ",
        "abstract ",
        "interface ",
        "type ",
        "declare ",
        "enum ",
    ],
    pattern: &SCRIPT,
};
static GO_LANG: Language = Language {
    starts: &["func ", "type "],
    pattern: &GO,
};

fn language(path: &str) -> Option<&'static Language> {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "rs" => Some(&RUST_LANG),
        "py" | "pyi" => Some(&PYTHON_LANG),
        "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts" => Some(&SCRIPT_LANG),
        "go" => Some(&GO_LANG),
        _ => None,
    }
}

/// One file as the map sees it.
struct FileEntry {
    path: String,
    signatures: Vec<String>,
    defines: Vec<String>,
    /// The start of the file, for references to other files.
    text: String,
    score: usize,
}

fn is_binary_name(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, e)| BINARY_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Signature lines and defined names of a source file.
fn extract(path: &str, text: &str) -> (Vec<String>, Vec<String>) {
    let mut signatures = Vec::new();
    let mut defines = Vec::new();
    let Some(lang) = language(path) else {
        return (signatures, defines);
    };
    for line in text.lines() {
        let start = line.trim_start();
        if !lang.starts.iter().any(|s| start.starts_with(s)) {
            continue;
        }
        let Some(c) = lang.pattern.captures(line) else {
            continue;
        };
        let name = c
            .iter()
            .skip(1)
            .flatten()
            .next()
            .map(|m| m.as_str().to_string());
        if let Some(name) = name {
            defines.push(name);
        }
        signatures.push(signature(line));
    }
    (signatures, defines)
}

fn signature(line: &str) -> String {
    let s = line.trim_end().trim_end_matches('{').trim_end();
    let indent = line.len() - line.trim_start().len();
    let s = format!("{}{}", " ".repeat(indent.min(8)), s.trim_start());
    if s.chars().count() <= MAX_SIGNATURE_CHARS {
        return s;
    }
    let cut: String = s.chars().take(MAX_SIGNATURE_CHARS).collect();
    format!("{cut}…")
}

fn stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file)
}

/// Identifiers in `text` (ASCII letters, digits, `_`, `$`), without regex:
/// this runs over every byte read.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| w.len() >= MIN_NAME_LEN && !w.starts_with(|c: char| c.is_ascii_digit()))
}

/// Reads the start of a file; `None` for binary content.
fn read_head(path: &Path, budget: usize) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(budget as u64).read_to_end(&mut bytes).ok()?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Walks the repository and reads what the budgets allow.
fn collect(root: &Path) -> Vec<FileEntry> {
    let started = Instant::now();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut read_total = 0usize;
    let mut files = Vec::new();
    for entry in walker.filter_map(Result::ok).take(MAX_FILES) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(path) = entry
            .path()
            .strip_prefix(root)
            .ok()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
        else {
            continue;
        };
        let size = entry.metadata().map_or(0, |m| m.len());
        if is_binary_name(&path) || size > MAX_FILE_SIZE {
            continue;
        }
        let mut file = FileEntry {
            path,
            signatures: Vec::new(),
            defines: Vec::new(),
            text: String::new(),
            score: 0,
        };
        if read_total < MAX_READ_TOTAL && started.elapsed() < MAX_SCAN_TIME {
            let budget = MAX_READ_PER_FILE.min(MAX_READ_TOTAL - read_total);
            match read_head(entry.path(), budget) {
                Some(text) => {
                    read_total += text.len();
                    (file.signatures, file.defines) = extract(&file.path, &text);
                    file.text = text;
                }
                None if size > 0 => continue,
                None => {}
            }
        }
        files.push(file);
    }
    files
}

/// Scores each file by how many (other file, name) pairs refer to it.
fn rank(files: &mut [FileEntry]) {
    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let names: HashSet<&str> = f
            .defines
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(stem(&f.path)))
            .filter(|n| n.len() >= MIN_NAME_LEN)
            .collect();
        for name in names {
            owners.entry(name).or_default().push(i);
        }
    }
    owners.retain(|_, v| v.len() <= MAX_DEFINITIONS_PER_NAME);
    let mut scores = vec![0usize; files.len()];
    for (i, f) in files.iter().enumerate() {
        let used: HashSet<&str> = identifiers(&f.text)
            .filter(|w| owners.contains_key(w))
            .collect();
        for word in used {
            for &j in owners.get(word).into_iter().flatten() {
                if j != i {
                    scores[j] += 1;
                }
            }
        }
    }
    for (f, s) in files.iter_mut().zip(scores) {
        f.score = s;
    }
}

/// The ranked map within `budget_bytes`, ending with a line that says how
/// many files were left out.
pub fn repo_map(root: &Path, budget_bytes: usize) -> String {
    let mut files = collect(root);
    rank(&mut files);
    files.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.signatures.is_empty().cmp(&b.signatures.is_empty()))
            .then(
                a.path
                    .matches('/')
                    .count()
                    .cmp(&b.path.matches('/').count()),
            )
            .then(a.path.cmp(&b.path))
    });
    let total = files.len();
    let footer = |left: usize| format!("[{left} of {total} files left out]\n");
    let reserve = footer(total).len();
    let mut out = String::new();
    let mut shown = 0;
    for file in &files {
        let room = budget_bytes.saturating_sub(reserve + out.len());
        let header = format!("{}\n", file.path);
        if header.len() > room {
            break;
        }
        let mut entry = header;
        let mut listed = 0;
        for sig in file.signatures.iter().take(MAX_SIGNATURES_PER_FILE) {
            let line = format!("  {sig}\n");
            if entry.len() + line.len() > room {
                break;
            }
            entry.push_str(&line);
            listed += 1;
        }
        let more = file.signatures.len() - listed;
        if more > 0 {
            let line = format!("  … {more} more definitions\n");
            if entry.len() + line.len() <= room {
                entry.push_str(&line);
            }
        }
        out.push_str(&entry);
        shown += 1;
    }
    out.push_str(&footer(total - shown));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo as repo;

    #[test]
    fn central_files_come_first_with_their_signatures() {
        let dir = repo(&[
            (
                "src/util.rs",
                "pub fn parse_config(s: &str) -> Config {\n    todo\n}\npub struct Config {\n}\n",
            ),
            (
                "src/main.rs",
                "use util::parse_config;\nfn main() {\n    let c: Config = parse_config(\"\");\n}\n",
            ),
            (
                "src/other.rs",
                "fn other() { parse_config(\"x\"); }\nimpl Config {\n    pub async fn load() {}\n}\n",
            ),
            ("app/models.py", "class User:\n    def save(self):\n        pass\n"),
            ("web/index.ts", "import { thing } from './lib';\nexport const answer = 42;\nexport interface Shape { x: number }\nexport default function render(x: User) {}\n"),
            ("go/main.go", "package main\nfunc (s *Server) Start() error {\n}\ntype Server struct{}\n"),
        ]);
        // util.rs: five references (parse_config and Config from two files,
        // the stem `util` from main.rs); models.py: `User` from index.ts;
        // go/main.go and src/main.rs refer to each other through `main`.
        let map = repo_map(dir.path(), 10_000);
        assert_eq!(
            map,
            "src/util.rs\n  pub fn parse_config(s: &str) -> Config\n  pub struct Config\n\
             app/models.py\n  class User:\n      def save(self):\n\
             go/main.go\n  func (s *Server) Start() error\n  type Server struct{}\n\
             src/main.rs\n  fn main()\n\
             src/other.rs\n  fn other() { parse_config(\"x\"); }\n  impl Config\n      pub async fn load() {}\n\
             web/index.ts\n  export const answer = 42;\n  export interface Shape { x: number }\n  export default function render(x: User) {}\n\
             [0 of 6 files left out]\n"
        );
    }

    #[test]
    fn budget_is_respected_and_left_out_files_counted() {
        let files: Vec<(String, String)> = (0..50)
            .map(|i| {
                (
                    format!("src/mod{i:02}.py"),
                    format!("def function_number_{i}():\n    pass\n"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let dir = repo(&refs);
        let map = repo_map(dir.path(), 300);
        assert!(map.len() <= 300, "{} bytes:\n{map}", map.len());
        let shown = map.lines().filter(|l| l.starts_with("src/")).count();
        assert!(shown > 0);
        assert!(map.ends_with(&format!("[{} of 50 files left out]\n", 50 - shown)));
        assert_eq!(repo_map(dir.path(), 10), "[50 of 50 files left out]\n");
    }

    #[test]
    fn ignored_binary_and_git_files_are_left_out() {
        let dir = repo(&[
            (".gitignore", "build/\n*.log\n"),
            ("build/out.js", "function built() {}\n"),
            ("debug.log", "log\n"),
            (".git/config", "[core]\n"),
            ("logo.png", "png"),
            ("data.dat", "a\0b"),
            ("src/a.js", "function kept() {}\n"),
        ]);
        let map = repo_map(dir.path(), 10_000);
        assert_eq!(
            map,
            "src/a.js\n  function kept() {}\n.gitignore\n[0 of 2 files left out]\n"
        );
    }
}
