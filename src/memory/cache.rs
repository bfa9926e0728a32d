//! The parsed-rule cache file: a compact binary form of one `rules/` tree's rules, their BM25 terms and the files skipped, read back without YAML or JSON.
//!
//! Layout (integers little-endian; a string is a `u32` byte length and its
//! UTF-8 bytes): the magic `DHRC`, `u32` version, the tree id, `u32` rule
//! count, `u32` skipped count; each skipped file as `file`, `reason`; each
//! rule as `id`, status (`u8`: 0 active, 1 proposed), `scope`, `source`,
//! author `login`, `permission`, created (`i64` seconds, `u32` nanoseconds),
//! `evidence` and `replaces` (empty when absent), `text`, `terms`.

use chrono::DateTime;

use super::rules::{Evidence, Rule, RuleAuthor, Status, PERMISSIONS};

/// The first bytes of every cache file.
const MAGIC: &[u8; 4] = b"DHRC";

/// A rule file that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// The cache of one `rules/` tree.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCache {
    pub version: u32,
    pub tree: String,
    /// The rules as parsed (they passed the check), sorted by id.
    pub rules: Vec<Rule>,
    /// `recall::terms` of each rule, in the same order.
    pub terms: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// What is wrong with a cache file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {field}: {problem}")]
pub struct CacheError {
    pub offset: usize,
    pub field: String,
    pub problem: String,
}

/// What a cache file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Another version or tree: outdated, not corrupt.
    Outdated,
    Current,
}

/// The cache's bytes.
pub fn encode(cache: &RuleCache) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + cache.rules.len() * 256);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&cache.version.to_le_bytes());
    put_str(&mut out, &cache.tree);
    put_len(&mut out, cache.rules.len());
    put_len(&mut out, cache.skipped.len());
    for s in &cache.skipped {
        put_str(&mut out, &s.file);
        put_str(&mut out, &s.reason);
    }
    for (rule, terms) in cache.rules.iter().zip(&cache.terms) {
        put_str(&mut out, &rule.id);
        out.push(match rule.status {
            Status::Active => 0,
            Status::Proposed => 1,
        });
        put_str(&mut out, &rule.scope.to_string());
        put_str(&mut out, &rule.source);
        put_str(&mut out, &rule.author.login);
        put_str(&mut out, &rule.author.permission);
        out.extend_from_slice(&rule.created.timestamp().to_le_bytes());
        out.extend_from_slice(&rule.created.timestamp_subsec_nanos().to_le_bytes());
        put_str(
            &mut out,
            &rule
                .evidence
                .as_ref()
                .map(Evidence::to_string)
                .unwrap_or_default(),
        );
        put_str(&mut out, rule.replaces.as_deref().unwrap_or_default());
        put_str(&mut out, &rule.text);
        put_str(&mut out, terms);
    }
    out
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Rule files and their count are far below 4 GiB; a larger one would
    // not decode, which only costs a cold read.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Whether `bytes` are a cache of `version` for `tree`, without decoding
/// the rules.
pub fn header(bytes: &[u8], version: u32, tree: &str) -> Result<Header, CacheError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(r.error("magic", "not a rule cache".into()));
    }
    if r.u32("version")? != version || r.str("tree")? != tree {
        return Ok(Header::Outdated);
    }
    Ok(Header::Current)
}

/// Decodes a whole cache file.
pub fn decode(bytes: &[u8]) -> Result<RuleCache, CacheError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(r.error("magic", "not a rule cache".into()));
    }
    let version = r.u32("version")?;
    let tree = r.str("tree")?.to_string();
    let n_rules = r.count("rule count", 16)?;
    let n_skipped = r.count("skipped count", 8)?;
    let mut skipped = Vec::with_capacity(n_skipped);
    for _ in 0..n_skipped {
        skipped.push(Skipped {
            file: r.str("skipped file")?.to_string(),
            reason: r.str("skipped reason")?.to_string(),
        });
    }
    let mut rules = Vec::with_capacity(n_rules);
    let mut terms = Vec::with_capacity(n_rules);
    for _ in 0..n_rules {
        let (rule, t) = r.rule()?;
        rules.push(rule);
        terms.push(t);
    }
    if r.at != bytes.len() {
        return Err(r.error("end", "bytes after the last rule".into()));
    }
    Ok(RuleCache {
        version,
        tree,
        rules,
        terms,
        skipped,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, field: &str, problem: String) -> CacheError {
        CacheError {
            offset: self.at,
            field: field.to_string(),
            problem,
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], CacheError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.error(field, "the file ends early".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], CacheError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u32(&mut self, field: &str) -> Result<u32, CacheError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A count of items that take at least `min_size` bytes each, checked
    /// against what is left so that a corrupt count allocates nothing.
    fn count(&mut self, field: &str, min_size: usize) -> Result<usize, CacheError> {
        let n = self.u32(field)? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.at {
            return Err(self.error(field, format!("{n} items do not fit in the file")));
        }
        Ok(n)
    }

    fn str(&mut self, field: &str) -> Result<&'a str, CacheError> {
        let len = self.u32(field)? as usize;
        let start = self.at;
        let bytes = self.take(len, field)?;
        std::str::from_utf8(bytes).map_err(|_| CacheError {
            offset: start,
            field: field.to_string(),
            problem: "not UTF-8".into(),
        })
    }

    fn rule(&mut self) -> Result<(Rule, String), CacheError> {
        let id = self.str("id")?.to_string();
        let bad = |r: &Self, field: &str, problem: String| {
            r.error(field, format!("rule {id}: {problem}"))
        };
        let status = match self.take(1, "status")?[0] {
            0 => Status::Active,
            1 => Status::Proposed,
            other => return Err(bad(self, "status", format!("{other} is not 0 or 1"))),
        };
        let scope = self.str("scope")?;
        let scope = scope.parse().map_err(|e| bad(self, "scope", e))?;
        let source = self.str("source")?.to_string();
        let login = self.str("author login")?.to_string();
        let permission = self.str("author permission")?;
        if !PERMISSIONS.contains(&permission) {
            return Err(bad(
                self,
                "author permission",
                format!("`{permission}` is not a permission"),
            ));
        }
        let permission = permission.to_string();
        let secs = i64::from_le_bytes(self.array("created")?);
        let nanos = self.u32("created")?;
        let created = DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| bad(self, "created", format!("{secs}.{nanos} is not a time")))?;
        let evidence = match self.str("evidence")? {
            "" => None,
            e => Some(e.parse().map_err(|e| bad(self, "evidence", e))?),
        };
        let replaces = match self.str("replaces")? {
            "" => None,
            r => Some(r.to_string()),
        };
        let text = self.str("text")?.to_string();
        let terms = self.str("terms")?.to_string();
        let rule = Rule {
            id,
            scope,
            status,
            source,
            author: RuleAuthor { login, permission },
            created,
            evidence,
            replaces,
            text,
        };
        Ok((rule, terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::rules::Scope;

    fn rule(id: &str, scope: &str, evidence: Option<&str>) -> Rule {
        Rule {
            id: id.into(),
            scope: scope.parse().unwrap(),
            status: Status::Proposed,
            source: "https://github.com/acme/x/pull/1#discussion_r1".into(),
            author: RuleAuthor {
                login: "octocat".into(),
                permission: "write".into(),
            },
            created: DateTime::from_timestamp(1_764_000_000, 5).unwrap(),
            evidence: evidence.map(|e| e.parse().unwrap()),
            replaces: Some("r-00000001".into()),
            text: "Use the pool — for queries.\nAlways.".into(),
        }
    }

    fn cache() -> RuleCache {
        RuleCache {
            version: 3,
            tree: "abc123".into(),
            rules: vec![
                rule("r-0000000a", "path:src/**/*.ts", Some("src/a.ts:4@3be2a1f")),
                rule("r-0000000b", "org", None),
            ],
            terms: vec!["pool query src ts".into(), "pool query".into()],
            skipped: vec![Skipped {
                file: "rules/bad.md".into(),
                reason: "field `id`: missing".into(),
            }],
        }
    }

    #[test]
    fn a_cache_reads_back_as_written() {
        let c = cache();
        let bytes = encode(&c);
        assert_eq!(decode(&bytes).unwrap(), c);
        assert!(matches!(header(&bytes, 3, "abc123"), Ok(Header::Current)));
        assert!(matches!(header(&bytes, 2, "abc123"), Ok(Header::Outdated)));
        assert!(matches!(header(&bytes, 3, "other"), Ok(Header::Outdated)));
        assert_eq!(c.rules[1].scope, Scope::Org);
    }

    #[test]
    fn damaged_bytes_are_an_error_naming_the_field() {
        let bytes = encode(&cache());
        // Every truncation fails; none panics.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let e = header(b"{\"version\": 2}", 3, "abc123").unwrap_err();
        assert_eq!(e.field, "magic");
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode(&extra).unwrap_err().field, "end");
        // The first rule's status byte comes right after its id.
        let at = bytes.windows(10).position(|w| w == b"r-0000000a").unwrap() + 10;
        let mut bad = bytes.clone();
        bad[at] = 7;
        let e = decode(&bad).unwrap_err();
        assert_eq!(e.field, "status");
        assert!(e.problem.contains("r-0000000a"), "{e}");
    }
}
