//! `--match FILE:REGEX` and the task's API identifiers: what a direct use looks like, and which call sites count.

use regex::Regex;

use super::lockfiles;
use super::CampaignError;

/// A `--match FILE:REGEX`: a manifest (`package.json`) and the pattern of a
/// direct use; or a source glob (`*.js`) and the pattern of a call site.
#[derive(Debug, Clone)]
pub struct Match {
    pub file: String,
    pub regex: Regex,
    /// The literal word code search looks for (the longest in the pattern).
    pub term: String,
}

impl Match {
    pub fn parse(spec: &str) -> Result<Match, CampaignError> {
        let (file, pattern) = spec
            .split_once(':')
            .filter(|(f, p)| !f.trim().is_empty() && !p.is_empty())
            .ok_or_else(|| CampaignError::InvalidMatch(spec.to_string()))?;
        let regex = Regex::new(pattern).map_err(|e| CampaignError::InvalidRegex {
            spec: spec.to_string(),
            detail: e.to_string(),
        })?;
        let term = literal_term(pattern).ok_or_else(|| CampaignError::InvalidRegex {
            spec: spec.to_string(),
            detail: "the pattern has no literal word of 3 or more characters to search for"
                .to_string(),
        })?;
        Ok(Match {
            file: file.trim().to_string(),
            regex,
            term,
        })
    }

    /// Whether it names a dependency manifest (else it is a call-site pattern).
    pub fn is_manifest(&self) -> bool {
        lockfiles::is_manifest(&self.file)
    }

    pub fn spec(&self) -> String {
        format!("{}:{}", self.file, self.regex.as_str())
    }
}

/// The longest literal word of a regular expression (escapes resolved,
/// operators as separators).
pub fn literal_term(pattern: &str) -> Option<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                // An escaped `.` or `-` is that character; `\(` and `\s` end the word.
                Some(e) if matches!(e, '.' | '-' | '@' | '/' | '_') => current.push(e),
                _ => words.push(std::mem::take(&mut current)),
            },
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '/' | '.') => {
                if c == '.' {
                    // An unescaped `.` is any character.
                    words.push(std::mem::take(&mut current));
                } else {
                    current.push(c);
                }
            }
            '?' | '*' => {
                // The previous character is optional: it ends the word before it.
                current.pop();
                words.push(std::mem::take(&mut current));
            }
            _ => words.push(std::mem::take(&mut current)),
        }
    }
    words.push(current);
    words
        .into_iter()
        .filter(|w| w.chars().filter(|c| c.is_ascii_alphanumeric()).count() >= 3)
        .max_by_key(String::len)
}

/// API identifiers named in the task (`_.chain`, `moment.utc`): a name, a
/// dot and a member, that are not file names or versions.
pub fn task_apis(task: &str) -> Vec<String> {
    const FILE_ENDINGS: &[&str] = &[
        "json", "js", "ts", "lock", "toml", "yaml", "yml", "md", "txt", "py", "rs", "go", "mod",
        "sum", "xml", "com", "org", "io",
    ];
    let Ok(re) = Regex::new(r"(?:^|[^\w$.])([A-Za-z_$][\w$]*\.[A-Za-z_][\w]*)") else {
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    for cap in re.captures_iter(task) {
        let ident = &cap[1];
        let member = ident.rsplit('.').next().unwrap_or_default();
        if FILE_ENDINGS.contains(&member.to_ascii_lowercase().as_str()) {
            continue;
        }
        if !found.iter().any(|f| f == ident) {
            found.push(ident.to_string());
        }
    }
    found
}

/// A call-site pattern for an API identifier: the identifier as a word.
pub fn api_regex(ident: &str) -> Result<Regex, CampaignError> {
    Regex::new(&format!(r"(?:^|[^\w$]){}\b", regex::escape(ident))).map_err(|e| {
        CampaignError::InvalidRegex {
            spec: ident.to_string(),
            detail: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_pattern_and_finds_the_search_term() {
        let m = Match::parse(r#"package.json:"lodash"\s*:"#).unwrap();
        assert_eq!(
            (m.file.as_str(), m.term.as_str(), m.is_manifest()),
            ("package.json", "lodash", true)
        );
        assert!(m.regex.is_match(r#"  "lodash": "^4.17.21""#));
        let m = Match::parse(r"*.js:_\.chain\(").unwrap();
        assert_eq!((m.term.as_str(), m.is_manifest()), ("_.chain", false));
        assert!(Match::parse("package.json").is_err());
        assert!(Match::parse("package.json:(").is_err());
        assert!(Match::parse("package.json:a.b").is_err());
    }

    #[test]
    fn finds_api_identifiers_in_the_task() {
        let task = "Upgrade lodash from 4.17 to 5.0 across all microservices. Handle breaking changes: _.chain removal, _.flatten signature change. Update package.json and yarn.lock.";
        assert_eq!(task_apis(task), vec!["_.chain", "_.flatten"]);
        let re = api_regex("_.chain").unwrap();
        assert!(re.is_match("const x = _.chain(list)"));
        assert!(!re.is_match("const x = my_.chainsaw"));
    }
}
