//! Every rule on a snapshot, read the way a task reads them: parsed, checked for injection, redacted; files that fail are skipped with a warning, never an error. Parsed rules and their BM25 terms are cached per `rules/` tree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::recall::{self, Query, Recall};
use super::rules::{Rule, RULES_DIR};
use super::{guard, MemoryError, MemoryStore};
use crate::sandbox::Redactor;

/// Bump when parsing, the injection check or the BM25 terms change, so old
/// caches are not trusted.
const CACHE_VERSION: u32 = 2;
/// The cache's file name in the cache directory.
pub const CACHE_FILE: &str = "rules-cache.json";

/// A rule file that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// The rules of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sorted by id.
    pub rules: Vec<Rule>,
    /// Each rule's BM25 terms (`recall::terms`), in the order of `rules`.
    terms: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Whether the parsed rules came from the cache.
    pub warm: bool,
}

impl Catalog {
    /// The rules `q` gets (see [`recall::recall`]), with the terms tokenised once.
    pub fn recall(&self, q: &Query<'_>) -> Recall {
        recall::recall_indexed(&self.rules, &self.terms, q)
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.rules[i])
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    tree: String,
    /// The rules as parsed (they passed the check).
    rules: Vec<Rule>,
    /// `recall::terms` of each rule, in the same order.
    terms: Vec<String>,
    skipped: Vec<Skipped>,
}

/// Reads `rules/*.md` from the store's snapshot. With `cache_dir`, parsed
/// rules are kept there keyed by the `rules/` tree's id, so a second read of
/// an unchanged branch skips git and YAML.
pub fn load(
    store: &MemoryStore,
    redactor: &Redactor,
    cache_dir: Option<&Path>,
) -> Result<Catalog, MemoryError> {
    let started = std::time::Instant::now();
    let Some(tree) = store.dir_tree(RULES_DIR)? else {
        return Ok(Catalog::default());
    };
    let tree_id = tree.id().to_string();
    let cache_path = cache_dir.map(|d| d.join(CACHE_FILE));
    let cached = cache_path.as_deref().and_then(|p| read_cache(p, &tree_id));
    let warm = cached.is_some();
    let mut cache = match cached {
        Some(c) => c,
        None => {
            let (mut rules, skipped) = read_tree(store, &tree)?;
            rules.sort_by(|a, b| a.id.cmp(&b.id));
            let cache = CacheFile {
                version: CACHE_VERSION,
                tree: tree_id,
                terms: rules.iter().map(recall::terms).collect(),
                rules,
                skipped,
            };
            if let Some(path) = &cache_path {
                write_cache(path, &cache);
            }
            cache
        }
    };
    for s in &cache.skipped {
        tracing::warn!(file = %s.file, reason = %s.reason, "rule skipped");
    }
    for (rule, terms) in cache.rules.iter_mut().zip(&mut cache.terms) {
        if let std::borrow::Cow::Owned(text) = redactor.redact(&rule.text) {
            rule.text = text;
            *terms = recall::terms(rule);
        }
    }
    tracing::debug!(
        rules = cache.rules.len(),
        warm,
        ms = started.elapsed().as_millis(),
        "rules read"
    );
    Ok(Catalog {
        rules: cache.rules,
        terms: cache.terms,
        skipped: cache.skipped,
        warm,
    })
}

/// Reads and checks every file of the `rules/` tree.
fn read_tree(
    store: &MemoryStore,
    tree: &git2::Tree<'_>,
) -> Result<(Vec<Rule>, Vec<Skipped>), MemoryError> {
    let raw = store.raw();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in tree.iter() {
        let Some(name) = entry.name() else { continue };
        let file = format!("{RULES_DIR}/{name}");
        if !name.ends_with(".md") || entry.kind() != Some(git2::ObjectType::Blob) {
            continue;
        }
        let skip = |reason: String| Skipped {
            file: file.clone(),
            reason,
        };
        let Ok(blob) = raw.find_blob(entry.id()) else {
            skipped.push(skip("the blob is missing".into()));
            continue;
        };
        let Ok(text) = std::str::from_utf8(blob.content()) else {
            skipped.push(skip("not UTF-8 text".into()));
            continue;
        };
        let rule = match Rule::parse(&file, text) {
            Ok(rule) => rule,
            Err(e) => {
                skipped.push(skip(e.to_string()));
                continue;
            }
        };
        if let Err(refusal) = guard::check(&rule.text) {
            let e = super::rules::RuleError {
                file: file.clone(),
                field: "text".into(),
                problem: format!("rule {} refused by the injection check: {refusal}", rule.id),
            };
            skipped.push(skip(e.to_string()));
            continue;
        }
        files.push(rule);
    }
    Ok((files, skipped))
}

/// The cache for `tree`, if there is one. A cache of another tree or
/// version is outdated (silently replaced); one that cannot be read or
/// parsed is ignored with a warning naming it, never an error.
fn read_cache(path: &Path, tree: &str) -> Option<CacheFile> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "rule cache not readable; reading the rules from git");
            return None;
        }
    };
    let cache: CacheFile = match serde_json::from_slice(&bytes) {
        Ok(cache) => cache,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "rule cache is corrupt; ignored, reading the rules from git");
            return None;
        }
    };
    if cache.version != CACHE_VERSION || cache.tree != tree {
        return None;
    }
    if cache.terms.len() != cache.rules.len() {
        tracing::warn!(file = %path.display(), "rule cache is corrupt (terms do not match the rules); ignored, reading the rules from git");
        return None;
    }
    Some(cache)
}

/// Best effort: a cache that cannot be written only costs time.
fn write_cache(path: &PathBuf, cache: &CacheFile) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
        let mut out = std::io::BufWriter::new(tmp.as_file());
        serde_json::to_writer(&mut out, cache).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::debug!(path = %path.display(), error = %e, "rule cache not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::rules::rule_path;
    use crate::memory::{Author, Change};
    use std::collections::BTreeSet;

    fn author() -> Author {
        Author {
            name: "Tester".into(),
            email: "tester@example.com".into(),
        }
    }

    fn rule_file(id: &str, text: &str) -> (String, Option<String>) {
        (
            rule_path(id),
            Some(format!(
                "---\nid: {id}\nscope: org\nstatus: active\nsource: local:test\n\
author: me (owner)\ncreated: 2026-01-01T00:00:00Z\n---\n{text}\n"
            )),
        )
    }

    async fn write(path: &Path, files: Vec<(String, Option<String>)>) {
        let mut store = MemoryStore::open_local(path, "mem").unwrap();
        store
            .update(author(), move |_| {
                Ok(Some(Change {
                    files: files.clone(),
                    message: "rules".into(),
                }))
            })
            .await
            .unwrap();
    }

    fn ids(c: &Catalog) -> Vec<&str> {
        c.rules.iter().map(|r| r.id.as_str()).collect()
    }

    type Ranked = Vec<(String, f64)>;

    /// What `task` recalls, as (id, score) pairs: from the catalog's
    /// cached terms, and from terms computed on the spot.
    fn recalled(c: &Catalog, task: &str) -> (Ranked, Ranked) {
        let languages = BTreeSet::new();
        let exists = |_: &str| true;
        let q = Query {
            task,
            repo: None,
            languages: &languages,
            paths: &[],
            exists: &exists,
            top_k: 5,
            token_budget: 1000,
        };
        let pairs =
            |r: Recall| -> Ranked { r.rules.into_iter().map(|r| (r.rule.id, r.score)).collect() };
        (pairs(c.recall(&q)), pairs(recall::recall(&c.rules, &q)))
    }

    #[tokio::test]
    async fn the_cache_follows_the_rules_tree_and_a_corrupt_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.git");
        git2::Repository::init_bare(&path).unwrap();
        write(
            &path,
            vec![
                rule_file("r-0000000a", "Return API errors with an error code."),
                rule_file("r-0000000b", "Log every request with its duration."),
            ],
        )
        .await;
        let cache = dir.path().join("cache");
        let redactor = Redactor::new(Vec::<String>::new());
        let open = || MemoryStore::open_local(&path, "mem").unwrap();

        let cold = load(&open(), &redactor, Some(&cache)).unwrap();
        assert!(!cold.warm);
        assert_eq!(ids(&cold), ["r-0000000a", "r-0000000b"]);
        let warm = load(&open(), &redactor, Some(&cache)).unwrap();
        assert!(warm.warm);
        assert_eq!(warm.rules, cold.rules);
        // Cached terms rank exactly as terms computed on the spot.
        let (cached, fresh) = recalled(&warm, "API error responses need a code");
        assert_eq!(cached, fresh);
        assert_eq!(cached.len(), 1);
        assert_eq!(cached[0].0, "r-0000000a");

        // A new rule on the branch: another tree, so the cache is not used.
        write(
            &path,
            vec![rule_file("r-0000000c", "Name booleans with is or has.")],
        )
        .await;
        let changed = load(&open(), &redactor, Some(&cache)).unwrap();
        assert!(!changed.warm);
        assert_eq!(ids(&changed), ["r-0000000a", "r-0000000b", "r-0000000c"]);

        // A corrupt cache costs time, never the rules.
        for garbage in ["{not json", "{\"version\": 2}", ""] {
            std::fs::write(cache.join(CACHE_FILE), garbage).unwrap();
            let read = load(&open(), &redactor, Some(&cache)).unwrap();
            assert!(!read.warm, "{garbage}");
            assert_eq!(read.rules, changed.rules);
            assert!(load(&open(), &redactor, Some(&cache)).unwrap().warm);
        }
    }
}
