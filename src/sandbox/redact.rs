//! The redactor: replaces every secret value in a text before it leaves the
//! process (stdout, stderr, files, PR text, tool output sent to the model).

use std::borrow::Cow;
use std::sync::Arc;

/// Shorter values are not treated as secrets: replacing them would mangle
/// ordinary text and they protect nothing.
const MIN_SECRET_LEN: usize = 6;
pub const MASK: &str = "***";

/// Cheap to clone; shares its list.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = Vec::new();
        for value in values.into_iter().map(Into::into) {
            let value = value.trim().to_string();
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            // Inside JSON (events, checkpoints) a secret with quotes,
            // backslashes or control characters appears escaped.
            if let Ok(quoted) = serde_json::to_string(&value) {
                let escaped = &quoted[1..quoted.len() - 1];
                if escaped != value {
                    secrets.push(escaped.to_string());
                }
            }
            secrets.push(value);
        }
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: Arc::new(secrets),
        }
    }

    /// The values being masked (for `::add-mask::`).
    pub fn values(&self) -> &[String] {
        &self.secrets
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_escaped_inside_json() {
        let r = Redactor::new(["pa\"ss\\word"]);
        let json = serde_json::to_string(&serde_json::json!({"v": "pa\"ss\\word"})).unwrap();
        assert_eq!(r.redact(&json), "{\"v\":\"***\"}");
    }

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new(["sk-secret-123", "sk-secret-123-long", "abc"]);
        assert_eq!(
            r.redact("a sk-secret-123-long b sk-secret-123 abc"),
            "a *** b *** abc"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }
}
