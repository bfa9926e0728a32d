//! The redactor: replaces every secret value, whatever its length, and its
//! base64, base64url, URL-encoded, hex, reversed and JSON-escaped forms in a
//! text before it leaves the process (stdout, stderr, files, PR text, model
//! requests).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;

pub const MASK: &str = "***";

/// Every form in which `value` may leave the process.
pub fn encoded_forms(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = value.as_bytes();
    let mut forms = vec![
        value.to_string(),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
        bytes.iter().map(|b| format!("{b:02X}")).collect(),
        value.chars().rev().collect(),
    ];
    // Inside JSON (events, checkpoints, requests) a secret with quotes,
    // backslashes or control characters appears escaped.
    if let Ok(quoted) = serde_json::to_string(value) {
        forms.push(quoted[1..quoted.len() - 1].to_string());
    }
    // A form (`+` in a URL) often goes through as a plain space too.
    forms.push(
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%20", "+"),
    );
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

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
            let trimmed = value.trim();
            // A value of only spaces is masked as it is.
            let value = if trimmed.is_empty() {
                value.as_str()
            } else {
                trimmed
            };
            if value.is_empty() {
                continue;
            }
            secrets.extend(encoded_forms(value));
        }
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: Arc::new(secrets),
        }
    }

    /// The values being masked, with their encoded forms (for `::add-mask::`).
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

impl Redactor {
    /// Masks every string value inside `value` (object keys stay as they
    /// are), so the document stays valid JSON whatever the secrets are.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.redact(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// `value` as one line of JSON with every string value masked.
    pub fn to_json<T: serde::Serialize>(&self, value: &T) -> serde_json::Result<String> {
        let mut v = serde_json::to_value(value)?;
        self.redact_json(&mut v);
        serde_json::to_string(&v)
    }

    /// [`Redactor::to_json`], indented.
    pub fn to_json_pretty<T: serde::Serialize>(&self, value: &T) -> serde_json::Result<String> {
        let mut v = serde_json::to_value(value)?;
        self.redact_json(&mut v);
        serde_json::to_string_pretty(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_valid_whatever_the_secret() {
        for secret in ["\"", ":", "{", "e", "1", "\\", ","] {
            let r = Redactor::new([secret]);
            let doc = serde_json::json!({"event": "tool", "n": 12, "ok": true, "text": format!("a{secret}b")});
            let line = r.to_json(&doc).unwrap();
            let back: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(back["text"], "a***b", "{secret:?}: {line}");
            assert_eq!(back["n"], 12);
        }
    }

    #[test]
    fn masks_secrets_escaped_inside_json() {
        let r = Redactor::new(["pa\"ss\\word"]);
        let json = serde_json::to_string(&serde_json::json!({"v": "pa\"ss\\word"})).unwrap();
        assert_eq!(r.redact(&json), "{\"v\":\"***\"}");
    }

    #[test]
    fn masks_short_values_and_every_encoded_form() {
        let r = Redactor::new(["q7", "p@ss w/rd"]);
        assert_eq!(r.redact("x q7 x"), "x *** x");
        assert_eq!(
            encoded_forms("p@ss w/rd")
                .iter()
                .filter(|f| r.redact(f) != MASK)
                .count(),
            0
        );
        assert_eq!(r.redact("cEBzcyB3L3Jk"), MASK);
        assert_eq!(r.redact("dr/w ss@p"), MASK);
        assert_eq!(r.redact("p%40ss%20w%2Frd"), MASK);
        assert_eq!(r.redact("7040737320772f7264"), MASK);
    }

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new(["sk-secret-123", "sk-secret-123-long"]);
        assert_eq!(
            r.redact("a sk-secret-123-long b sk-secret-123 abc"),
            "a *** b *** abc"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }
}
