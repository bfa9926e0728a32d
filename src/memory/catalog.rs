//! Every rule on a snapshot, read the way a task reads them: parsed, checked for injection, redacted; files that fail are skipped with a warning, never an error. Parsed rules are cached per `rules/` tree.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::{Rule, RULES_DIR};
use super::{guard, MemoryError, MemoryStore};
use crate::sandbox::Redactor;

/// Bump when parsing or the injection check changes, so old caches are not trusted.
const CACHE_VERSION: u32 = 1;
const CACHE_FILE: &str = "rules-cache.json";

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
    pub skipped: Vec<Skipped>,
    /// Whether the parsed rules came from the cache.
    pub warm: bool,
}

impl Catalog {
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
    let Some(tree) = store.dir_tree(RULES_DIR)? else {
        return Ok(Catalog::default());
    };
    let tree_id = tree.id().to_string();
    let cache_path = cache_dir.map(|d| d.join(CACHE_FILE));
    let cached = cache_path.as_deref().and_then(|p| read_cache(p, &tree_id));
    let warm = cached.is_some();
    let (mut rules, skipped) = match cached {
        Some(c) => (c.rules, c.skipped),
        None => {
            let (mut rules, skipped) = read_tree(store, &tree)?;
            rules.sort_by(|a, b| a.id.cmp(&b.id));
            if let Some(path) = &cache_path {
                write_cache(path, &tree_id, &rules, &skipped);
            }
            (rules, skipped)
        }
    };
    for s in &skipped {
        tracing::warn!(file = %s.file, reason = %s.reason, "rule skipped");
    }
    for rule in &mut rules {
        if let std::borrow::Cow::Owned(text) = redactor.redact(&rule.text) {
            rule.text = text;
        }
    }
    Ok(Catalog {
        rules,
        skipped,
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
            skipped.push(skip(format!(
                "rule {} refused by the injection check: {refusal}",
                rule.id
            )));
            continue;
        }
        files.push(rule);
    }
    Ok((files, skipped))
}

fn read_cache(path: &Path, tree: &str) -> Option<CacheFile> {
    let bytes = std::fs::read(path).ok()?;
    let cache: CacheFile = serde_json::from_slice(&bytes).ok()?;
    (cache.version == CACHE_VERSION && cache.tree == tree).then_some(cache)
}

/// Best effort: a cache that cannot be written only costs time.
fn write_cache(path: &PathBuf, tree: &str, files: &[Rule], skipped: &[Skipped]) {
    let cache = CacheFile {
        version: CACHE_VERSION,
        tree: tree.to_string(),
        rules: files.to_vec(),
        skipped: skipped.to_vec(),
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
        serde_json::to_writer(std::io::BufWriter::new(tmp.as_file()), &cache)
            .map_err(std::io::Error::other)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::debug!(path = %path.display(), error = %e, "rule cache not written");
    }
}
