//! The pre-commit secret scan: files about to be committed, searched for the task's secret values (every encoded form) and for hard-coded credentials.

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use super::redact::Redactor;

/// Secret forms shorter than this are not searched in files: they occur
/// in ordinary text by chance (the redactor still masks them in output).
const MIN_FORM: usize = 6;
/// Files larger than this are scanned in their first part only.
const MAX_SCAN: u64 = 8 * 1024 * 1024;
/// Bits per character above which an assigned string looks random.
const ENTROPY_THRESHOLD: f64 = 3.5;
/// The shortest assigned string judged by its entropy.
const MIN_ASSIGNED: usize = 12;

/// One credential found in a file about to be committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    /// Relative to the worktree, `/`-separated.
    pub file: String,
    pub line: u32,
    /// What was found: "a GitHub token", "one of the task's secrets".
    pub what: String,
}

impl Hit {
    /// `src/config.js:3: a GitHub token is hard-coded here; read it from the environment`.
    pub fn message(&self) -> String {
        format!("{}:{}: {}", self.file, self.line, self.advice())
    }

    /// The sentence without the location.
    pub fn advice(&self) -> String {
        format!(
            "{} is hard-coded here; read it from the environment",
            self.what
        )
    }
}

/// Searches texts for the task's secrets and for well-known credentials.
#[derive(Debug, Clone)]
pub struct Scanner {
    forms: Vec<String>,
}

struct Pattern {
    what: &'static str,
    re: Regex,
}

fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            (
                "a GitHub token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
            ),
            ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            ("a Slack token", r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
            ("a Stripe key", r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}"),
            ("a Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
            (
                "a private key",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
            ),
        ]
        .into_iter()
        .filter_map(|(what, re)| {
            Some(Pattern {
                what,
                re: Regex::new(re).ok()?,
            })
        })
        .collect()
    })
}

/// `password = "…"`, `api_key: '…'`, `"token": "…"`: the name and the value.
fn assignment() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)[\w.-]*(?:password|passwd|secret|token|api[_-]?key)[\w.-]*["']?\s*[:=]\s*["']([^"'\s]+)["']"#,
        )
        .ok()
    })
    .as_ref()
}

impl Scanner {
    /// Searches for every value (and encoded form) the redactor masks.
    pub fn new(redactor: &Redactor) -> Scanner {
        Scanner {
            forms: redactor
                .values()
                .iter()
                .filter(|f| f.len() >= MIN_FORM)
                .cloned()
                .collect(),
        }
    }

    /// Every hit in `text`, the content of `file`.
    pub fn scan_text(&self, file: &str, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut add = |offset: usize, what: &str| {
            let line = text[..offset].bytes().filter(|b| *b == b'\n').count() as u32 + 1;
            if !hits.iter().any(|h: &Hit| h.line == line) {
                hits.push(Hit {
                    file: file.to_string(),
                    line,
                    what: what.to_string(),
                });
            }
        };
        for form in &self.forms {
            if let Some(at) = text.find(form.as_str()) {
                add(at, "one of the task's secrets");
            }
        }
        for p in patterns() {
            for m in p.re.find_iter(text) {
                add(m.start(), p.what);
            }
        }
        if let Some(re) = assignment() {
            for c in re.captures_iter(text) {
                if let (Some(all), Some(value)) = (c.get(0), c.get(1)) {
                    if looks_random(value.as_str()) {
                        add(all.start(), "a credential");
                    }
                }
            }
        }
        hits.sort_by_key(|h| h.line);
        hits
    }

    /// Every hit in the files `paths` (relative to `root`); files that are
    /// not regular files (symlinks, directories, deleted) are skipped.
    pub fn scan_files(&self, root: &Path, paths: &[String]) -> Vec<Hit> {
        let mut hits = Vec::new();
        for rel in paths {
            let path = root.join(rel);
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if !regular {
                continue;
            }
            match read_prefix(&path) {
                Ok(bytes) => {
                    hits.extend(self.scan_text(rel, &String::from_utf8_lossy(&bytes)));
                }
                Err(e) => tracing::warn!(file = %rel, error = %e, "secret scan could not read"),
            }
        }
        hits
    }
}

fn read_prefix(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SCAN)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A value that looks generated, not a placeholder or a reference.
fn looks_random(value: &str) -> bool {
    const PLACEHOLDERS: &[&str] = &[
        "example",
        "changeme",
        "change_me",
        "placeholder",
        "your",
        "xxxx",
        "dummy",
        "redacted",
        "secret",
        "password",
        "token",
        "process.env",
        "os.environ",
        "getenv",
        "${",
        "{{",
        "<",
        "***",
    ];
    let lower = value.to_ascii_lowercase();
    value.len() >= MIN_ASSIGNED
        && !PLACEHOLDERS.iter().any(|p| lower.contains(p))
        && shannon_entropy(value) >= ENTROPY_THRESHOLD
}

/// Bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Vec<String> {
        Scanner::new(&Redactor::new(["hunter2-is-long"]))
            .scan_text("src/config.js", text)
            .iter()
            .map(Hit::message)
            .collect()
    }

    #[test]
    fn finds_each_kind_of_credential_with_its_line() {
        let gh = format!("ghp_{}", "aB3dE5fG7h".repeat(4).split_at(36).0);
        let hits = scan(&format!("const a = 1;\nconst t = \"{gh}\";\n"));
        assert_eq!(
            hits,
            ["src/config.js:2: a GitHub token is hard-coded here; read it from the environment"]
        );
        let aws = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
        assert_eq!(scan(&format!("key={aws}\n")).len(), 1);
        assert_eq!(scan(&format!("x = '{}'", "xoxb-1234567890-abc")).len(), 1);
        assert_eq!(scan(&format!("{}_live_{}", "sk", "a".repeat(24))).len(), 1);
        assert_eq!(scan(&format!("AIza{}", "B".repeat(35))).len(), 1);
        assert_eq!(
            scan(&format!("-----BEGIN {} PRIVATE KEY-----\n", "RSA")).len(),
            1
        );
    }

    #[test]
    fn secrets_in_any_form_and_random_assignments() {
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "hunter2-is-long",
        );
        assert_eq!(scan(&format!("a\nb\nc = \"{b64}\"")).len(), 1);
        assert_eq!(scan("password = \"q8Zr!v2LpX0wKe7T\"\n").len(), 1);
        assert_eq!(scan("api_key: 'kJ8s2LmQ9xVb4RtY'\n").len(), 1);
        assert!(scan("password = \"your-password-here\"\n").is_empty());
        assert!(scan("token = \"aaaaaaaaaaaaaaaaaaaa\"\n").is_empty());
        assert!(scan("const token = process.env.GITHUB_TOKEN;\n").is_empty());
        assert!(scan("module.exports = 1;\n").is_empty());
    }
}
