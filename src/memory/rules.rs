//! A learned rule's file format: `rules/<id>.md`, YAML front matter (id, scope, status, source, author, created, evidence, replaces) and the rule text.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Directory of the rule files on the memory branch.
pub const RULES_DIR: &str = "rules";

/// Why a rule file was not read; names the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: field `{field}`: {problem}")]
pub struct RuleError {
    pub file: String,
    pub field: String,
    pub problem: String,
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every repository sharing the memory branch.
    Org,
    /// One repository, `owner/name` (compared without regard to case).
    Repo(String),
    /// Files matching a glob.
    Path(String),
    /// Code in one language (lower case).
    Lang(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Org => f.write_str("org"),
            Scope::Repo(r) => write!(f, "repo:{r}"),
            Scope::Path(g) => write!(f, "path:{g}"),
            Scope::Lang(l) => write!(f, "lang:{l}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        let s = s.trim();
        if s == "org" {
            return Ok(Scope::Org);
        }
        let bad =
            || format!("`{s}` is not a scope (org, repo:OWNER/NAME, path:GLOB or lang:LANGUAGE)");
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(bad());
        }
        match kind {
            "repo" => {
                let parts: Vec<&str> = value.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.contains(' ')) {
                    return Err(format!("`{s}`: a repository is OWNER/NAME"));
                }
                Ok(Scope::Repo(value.to_string()))
            }
            "path" => {
                globset::Glob::new(value).map_err(|e| format!("`{s}`: {e}"))?;
                Ok(Scope::Path(value.to_string()))
            }
            "lang"
                if value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+#-_".contains(c)) =>
            {
                Ok(Scope::Lang(value.to_ascii_lowercase()))
            }
            _ => Err(bad()),
        }
    }
}

/// Whether a rule is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Proposed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Active => "active",
            Status::Proposed => "proposed",
        })
    }
}

/// The permission an author had when teaching a rule. `owner` is the
/// person running Deckhand on their own checkout.
pub const PERMISSIONS: &[&str] = &["owner", "admin", "maintain", "write", "triage", "read"];

/// Who taught a rule: `login (permission)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAuthor {
    pub login: String,
    pub permission: String,
}

impl fmt::Display for RuleAuthor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.login, self.permission)
    }
}

impl FromStr for RuleAuthor {
    type Err = String;

    fn from_str(s: &str) -> Result<RuleAuthor, String> {
        let bad = || format!("`{s}` is not `LOGIN (PERMISSION)`");
        let (login, rest) = s.trim().split_once(" (").ok_or_else(bad)?;
        let permission = rest.strip_suffix(')').ok_or_else(bad)?;
        if login.trim().is_empty() {
            return Err(bad());
        }
        if !PERMISSIONS.contains(&permission) {
            return Err(format!(
                "permission `{permission}` is not one of {}",
                PERMISSIONS.join(", ")
            ));
        }
        Ok(RuleAuthor {
            login: login.trim().to_string(),
            permission: permission.to_string(),
        })
    }
}

/// `path:line@commit`: the code a rule was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub path: String,
    pub line: Option<u32>,
    pub commit: Option<String>,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(commit) = &self.commit {
            write!(f, "@{commit}")?;
        }
        Ok(())
    }
}

impl FromStr for Evidence {
    type Err = String;

    fn from_str(s: &str) -> Result<Evidence, String> {
        let s = s.trim();
        let (location, commit) = match s.rsplit_once('@') {
            Some((loc, c)) if !c.is_empty() && c.chars().all(|c| c.is_ascii_hexdigit()) => {
                (loc, Some(c.to_string()))
            }
            Some(_) => return Err(format!("`{s}`: the part after `@` is not a commit")),
            None => (s, None),
        };
        let (path, line) = match location.rsplit_once(':') {
            Some((path, line)) => (
                path,
                Some(
                    line.parse::<u32>()
                        .map_err(|_| format!("`{s}`: `{line}` is not a line number"))?,
                ),
            ),
            None => (location, None),
        };
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == "..") {
            return Err(format!(
                "`{s}`: the path must be relative to the repository"
            ));
        }
        Ok(Evidence {
            path: path.to_string(),
            line,
            commit,
        })
    }
}

/// One learned rule (its JSON form is what `memory list --json` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub scope: Scope,
    pub status: Status,
    /// A link to the review comment, or `local:<task id>`.
    pub source: String,
    pub author: RuleAuthor,
    pub created: DateTime<Utc>,
    pub evidence: Option<Evidence>,
    pub replaces: Option<String>,
    /// The rule itself: one imperative sentence (or a short paragraph).
    pub text: String,
}

/// The front matter as written: field order is the file's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<String>,
    scope: Option<String>,
    status: Option<String>,
    source: Option<String>,
    author: Option<String>,
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaces: Option<String>,
}

/// Serializes a type as its `Display` text and reads it back with `FromStr`.
macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Scope);
string_serde!(RuleAuthor);
string_serde!(Evidence);

/// The path of rule `id` on the branch.
pub fn rule_path(id: &str) -> String {
    format!("{RULES_DIR}/{id}.md")
}

/// Whether `id` looks like a rule id (`r-` and 8 to 16 lower-case hex digits).
pub fn is_rule_id(id: &str) -> bool {
    id.strip_prefix("r-").is_some_and(|hex| {
        (8..=16).contains(&hex.len())
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// The id of a rule with this text and scope: the same rule taught twice
/// gets the same id (and so one file). `width` hex digits (8 by default,
/// more when 8 collide with a different rule).
pub fn rule_id(text: &str, scope: &Scope, width: usize) -> String {
    let normalized: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let digest = Sha256::digest(format!("{scope}\n{normalized}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("r-{}", &hex[..width.clamp(8, 16)])
}

impl Rule {
    /// Parses a rule file; `file` is its path on the branch, for errors.
    pub fn parse(file: &str, text: &str) -> Result<Rule, RuleError> {
        let err = |field: &str, problem: String| RuleError {
            file: file.to_string(),
            field: field.to_string(),
            problem,
        };
        let (yaml, body) = split_front_matter(text).ok_or_else(|| {
            err(
                "front matter",
                "the file does not start with `---` front matter closed by `---`".into(),
            )
        })?;
        let de = serde_yaml::Deserializer::from_str(yaml);
        let fm: FrontMatter = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                unknown_field(e.inner()).unwrap_or_else(|| "front matter".into())
            } else {
                path
            };
            err(&field, e.inner().to_string())
        })?;
        let required = |field: &str, value: Option<String>| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| err(field, "missing".into()))
        };
        let id = required("id", fm.id)?;
        if !is_rule_id(&id) {
            return Err(err("id", format!("`{id}` is not a rule id (r-<hex>)")));
        }
        let expected = format!("{RULES_DIR}/{id}.md");
        if file.starts_with(&format!("{RULES_DIR}/")) && file != expected {
            return Err(err("id", format!("`{id}` does not match the file name")));
        }
        let scope = required("scope", fm.scope)?
            .parse::<Scope>()
            .map_err(|e| err("scope", e))?;
        let status = match required("status", fm.status)?.as_str() {
            "active" => Status::Active,
            "proposed" => Status::Proposed,
            other => {
                return Err(err(
                    "status",
                    format!("`{other}` is not active or proposed"),
                ))
            }
        };
        let source = required("source", fm.source)?;
        let author = required("author", fm.author)?
            .parse::<RuleAuthor>()
            .map_err(|e| err("author", e))?;
        let created = required("created", fm.created)?;
        let created = DateTime::parse_from_rfc3339(&created)
            .map_err(|e| {
                err(
                    "created",
                    format!("`{created}` is not an RFC 3339 time: {e}"),
                )
            })?
            .with_timezone(&Utc);
        let evidence = fm
            .evidence
            .map(|e| e.parse::<Evidence>())
            .transpose()
            .map_err(|e| err("evidence", e))?;
        let replaces = fm.replaces.filter(|r| !r.trim().is_empty());
        if let Some(r) = &replaces {
            if !is_rule_id(r) {
                return Err(err("replaces", format!("`{r}` is not a rule id")));
            }
        }
        let text = body.trim().to_string();
        if text.is_empty() {
            return Err(err(
                "text",
                "the rule has no text after the front matter".into(),
            ));
        }
        Ok(Rule {
            id,
            scope,
            status,
            source,
            author,
            created,
            evidence,
            replaces,
            text,
        })
    }

    /// The file's content.
    pub fn render(&self) -> String {
        let fm = FrontMatter {
            id: Some(self.id.clone()),
            scope: Some(self.scope.to_string()),
            status: Some(self.status.to_string()),
            source: Some(self.source.clone()),
            author: Some(self.author.to_string()),
            created: Some(
                self.created
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            evidence: self.evidence.as_ref().map(Evidence::to_string),
            replaces: self.replaces.clone(),
        };
        // Serializing plain strings cannot fail; an empty header would not parse back.
        let yaml = serde_yaml::to_string(&fm).unwrap_or_default();
        format!("---\n{yaml}---\n{}\n", self.text.trim())
    }

    /// The path of this rule's file on the branch.
    pub fn path(&self) -> String {
        rule_path(&self.id)
    }
}

/// The YAML between the opening and closing `---` lines, and the body after.
fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// The field named by serde's "unknown field `x`" error.
fn unknown_field(e: &serde_yaml::Error) -> Option<String> {
    let msg = e.to_string();
    let rest = msg.split_once("unknown field `")?.1;
    Some(rest.split_once('`')?.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rule {
        Rule {
            id: "r-7f3a9c2e".into(),
            scope: Scope::Path("src/**/*.ts".into()),
            status: Status::Active,
            source: "https://github.com/acme/user-service/pull/12#discussion_r123".into(),
            author: RuleAuthor {
                login: "octocat".into(),
                permission: "maintain".into(),
            },
            created: DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            evidence: Some(Evidence {
                path: "src/routes/login.ts".into(),
                line: Some(42),
                commit: Some("3be2a1f".into()),
            }),
            replaces: Some("r-1c0d5e77".into()),
            text: "Use the standard error response format `{ error: string, code: string }`."
                .into(),
        }
    }

    #[test]
    fn the_design_example_round_trips() {
        let text = "---\nid: r-7f3a9c2e\nscope: path:src/**/*.ts\nstatus: active\n\
source: https://github.com/acme/user-service/pull/12#discussion_r123\nauthor: octocat (maintain)\n\
created: 2026-11-25T10:00:00Z\nevidence: src/routes/login.ts:42@3be2a1f\nreplaces: r-1c0d5e77\n---\n\
Use the standard error response format `{ error: string, code: string }`.\n";
        let rule = Rule::parse("rules/r-7f3a9c2e.md", text).unwrap();
        assert_eq!(rule, sample());
        assert_eq!(
            Rule::parse("rules/r-7f3a9c2e.md", &rule.render()).unwrap(),
            rule
        );
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let good = sample().render();
        let cases = [
            (good.replace("status: active", "status: maybe"), "status"),
            (
                good.replace("scope: path:src/**/*.ts", "scope: team"),
                "scope",
            ),
            (
                good.replace("author: octocat (maintain)", "author: octocat"),
                "author",
            ),
            (
                good.replace("created: 2026-11-25T10:00:00Z", "created: yesterday"),
                "created",
            ),
            (
                good.replace(
                    "source: https://github.com/acme/user-service/pull/12#discussion_r123\n",
                    "",
                ),
                "source",
            ),
            (
                good.replace("replaces: r-1c0d5e77", "colour: blue"),
                "colour",
            ),
            (
                good.replace(
                    "evidence: src/routes/login.ts:42@3be2a1f",
                    "evidence: src/x.ts:forty",
                ),
                "evidence",
            ),
            (good.replace("id: r-7f3a9c2e", "id: r-00000000"), "id"),
            (good.replace("status: active", "status: [active]"), "status"),
            (good.replace("status: active", "status: 'active"), "status"),
        ];
        for (text, field) in cases {
            let e = Rule::parse("rules/r-7f3a9c2e.md", &text).unwrap_err();
            assert_eq!(
                (e.file.as_str(), e.field.as_str()),
                ("rules/r-7f3a9c2e.md", field),
                "{e}"
            );
        }
        let e = Rule::parse("rules/r-7f3a9c2e.md", "just text").unwrap_err();
        assert_eq!(e.field, "front matter");
    }

    #[test]
    fn scopes_parse_and_print() {
        for s in [
            "org",
            "repo:acme/one",
            "path:src/**/*.rs",
            "lang:typescript",
        ] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        assert_eq!(
            "lang:Go".parse::<Scope>().unwrap(),
            Scope::Lang("go".into())
        );
        for bad in ["team", "repo:acme", "lang:", "path:[", "repo:a/b/c"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_stable_per_text_and_scope() {
        let a = rule_id("Use  snake_case names.", &Scope::Org, 8);
        assert_eq!(a, rule_id("use snake_case names.", &Scope::Org, 8));
        assert_ne!(
            a,
            rule_id("use snake_case names.", &Scope::Lang("rust".into()), 8)
        );
        assert!(is_rule_id(&a));
        assert_eq!(rule_id("x", &Scope::Org, 12).len(), 14);
    }
}
