//! Discovery: which repositories use the package — GitHub code search where it fits (paced, split when incomplete), else the org's repository listing and their manifests; local checkouts read from disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt as _, TryStreamExt as _};
use regex::Regex;

use super::lockfiles;
use super::matcher::Match;
use super::CampaignError;
use crate::github::repos::{CodeHit, RepoMeta};
use crate::github::{GitHub, GitHubError, Policy, RepoRef};

/// Code search answers at most this many results per query.
const SEARCH_MAX_RESULTS: u64 = 1000;
/// GitHub's code search limit for authenticated requests.
const SEARCH_PER_MINUTE: usize = 10;
/// Code search indexes files up to this size (bytes): the range split first.
const MAX_INDEXED_SIZE: u64 = 384 * 1024;
/// Splits of one query before its partial results are taken as they are.
const MAX_SPLIT_DEPTH: u32 = 19;
/// Manifest reads in flight at once (the client allows a few more).
const READS_IN_FLIGHT: usize = 4;

/// An affected API: how to search for it and how to count its call sites.
#[derive(Debug, Clone)]
pub struct Api {
    /// As shown (`_.chain`).
    pub name: String,
    /// The literal word code search looks for.
    pub term: String,
    pub regex: Regex,
    /// Only files whose name matches (`*.js`); every file when `None`.
    pub glob: Option<globset::GlobMatcher>,
}

/// What discovery looks for.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Manifest matches (`package.json:"lodash"`).
    pub deps: Vec<Match>,
    pub apis: Vec<Api>,
    pub topic: Option<String>,
    /// Use code search (else read every repository's manifests).
    pub search: bool,
}

/// A repository that may use the package, with the files read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub repository: String,
    pub path: Option<PathBuf>,
    pub size_kb: u64,
    pub pushed_at: Option<DateTime<Utc>>,
    /// Path in the repository → text (manifests and lockfiles).
    pub files: BTreeMap<String, String>,
    /// API name → files calling it.
    pub call_sites: BTreeMap<String, usize>,
}

/// A `--repos` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLine {
    Remote(RepoRef),
    Local(PathBuf),
}

/// Reads a `--repos` file: `owner/name` lines or paths (`#` comments,
/// blank lines skipped); relative paths are relative to the file.
pub fn read_repo_lines(file: &Path) -> Result<Vec<RepoLine>, CampaignError> {
    let text = std::fs::read_to_string(file)
        .map_err(CampaignError::io(format!("read {}", file.display())))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let looks_local = line.starts_with('/') || line.starts_with('.') || line.contains('\\');
        let as_path = base.join(line);
        // A directory next to the file wins over a same-named owner/name.
        if looks_local || as_path.is_dir() {
            lines.push(RepoLine::Local(as_path));
        } else {
            let r = line.parse::<RepoRef>().map_err(|_| {
                CampaignError::Invalid(format!(
                    "{}:{}: {line:?} is neither owner/name nor a directory",
                    file.display(),
                    n + 1
                ))
            })?;
            lines.push(RepoLine::Remote(r));
        }
    }
    Ok(lines)
}

/// At most [`SEARCH_PER_MINUTE`] code searches per minute window (GitHub's
/// search limit resets a minute after a window's first request), waiting
/// with the client's own sleeper.
struct SearchPacer {
    window: Option<Instant>,
    sent: usize,
}

impl SearchPacer {
    async fn ready(&mut self, policy: &Policy) {
        let minute = Duration::from_secs(60);
        match self.window {
            Some(start) if start.elapsed() < minute && self.sent >= SEARCH_PER_MINUTE => {
                let wait = minute.saturating_sub(start.elapsed());
                tracing::info!(
                    wait_seconds = wait.as_secs(),
                    "pacing code search (10 a minute)"
                );
                policy.sleep(wait).await;
                self.window = Some(Instant::now());
                self.sent = 0;
            }
            Some(start) if start.elapsed() < minute => {}
            _ => {
                self.window = Some(Instant::now());
                self.sent = 0;
            }
        }
        self.sent += 1;
    }
}

/// Discovery against GitHub.
pub struct Remote<'a> {
    gh: &'a GitHub,
    wanted: &'a Wanted,
    pacer: SearchPacer,
}

impl<'a> Remote<'a> {
    pub fn new(gh: &'a GitHub, wanted: &'a Wanted) -> Remote<'a> {
        Remote {
            gh,
            wanted,
            pacer: SearchPacer {
                window: None,
                sent: 0,
            },
        }
    }

    /// The live repositories of `org` that may use the package.
    pub async fn org(&mut self, org: &str) -> Result<Vec<Candidate>, CampaignError> {
        let metas = self.gh.org_repos(org).await?;
        let total = metas.len();
        let live: BTreeMap<String, RepoMeta> = metas
            .into_iter()
            .filter(|m| self.is_live(m))
            .map(|m| (m.full_name.clone(), m))
            .collect();
        tracing::info!(org, total, live = live.len(), "listed the organization");
        if self.wanted.search {
            match self.search_org(org, &live).await {
                Ok(found) => return Ok(found),
                Err(CampaignError::GitHub(e)) if search_unavailable(&e) => {
                    tracing::warn!(
                        "code search is not available ({e}); reading every repository's manifests"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let metas: Vec<RepoMeta> = live.into_values().collect();
        self.read_all(metas).await
    }

    /// `owner/name` lines: their metadata and manifests.
    pub async fn repos(&mut self, refs: &[RepoRef]) -> Result<Vec<Candidate>, CampaignError> {
        let mut metas = Vec::new();
        for r in refs {
            let meta = self.gh.repo_meta(r).await?;
            if self.is_live(&meta) {
                metas.push(meta);
            } else {
                tracing::info!(repo = %r, "skipped: archived, disabled, a fork or without the topic");
            }
        }
        let mut found = self.read_all(metas).await?;
        if self.wanted.search && !self.wanted.apis.is_empty() {
            let owners: BTreeSet<String> = refs.iter().map(|r| r.owner.clone()).collect();
            for owner in owners {
                let scope = format!("org:{owner}");
                let counts = self.api_counts(&scope).await?;
                for c in found.iter_mut() {
                    if let Some(n) = counts.get(&c.repository) {
                        c.call_sites = n.clone();
                    }
                }
            }
        }
        Ok(found)
    }

    fn is_live(&self, m: &RepoMeta) -> bool {
        !m.archived
            && !m.fork
            && !m.disabled
            && self
                .wanted
                .topic
                .as_ref()
                .is_none_or(|t| m.topics.iter().any(|x| x == t))
    }

    /// Searches manifests and lockfiles, then reads the files that matched
    /// in live repositories only.
    async fn search_org(
        &mut self,
        org: &str,
        live: &BTreeMap<String, RepoMeta>,
    ) -> Result<Vec<Candidate>, CampaignError> {
        let scope = format!("org:{org}");
        // repository → paths worth reading
        let mut hits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for dep in &self.wanted.deps {
            let mut files = vec![dep.file.clone()];
            files.extend(
                lockfiles::lockfiles_for(&dep.file)
                    .iter()
                    .map(|s| s.to_string()),
            );
            for file in &files {
                let q = format!("{} filename:{file} {scope}", quote(&dep.term));
                for hit in self.search(&q).await? {
                    if live.contains_key(&hit.repository.full_name) && base_name(&hit.path) == file
                    {
                        hits.entry(hit.repository.full_name.clone())
                            .or_default()
                            .insert(hit.path.clone());
                    }
                }
            }
        }
        // The manifest next to each lockfile hit tells direct from transitive
        // and names the test command.
        for paths in hits.values_mut() {
            let manifests: Vec<String> = paths
                .iter()
                .filter_map(|p| {
                    let (dir, name) = split_dir(p);
                    lockfiles::LOCKFILES
                        .iter()
                        .find(|(l, _)| *l == name)
                        .map(|(_, m)| join(dir, m))
                })
                .collect();
            paths.extend(manifests);
        }
        let counts = self.api_counts(&scope).await?;
        let mut out = Vec::new();
        let jobs: Vec<(RepoMeta, Vec<String>)> = hits
            .into_iter()
            .filter_map(|(name, paths)| {
                Some((live.get(&name)?.clone(), paths.into_iter().collect()))
            })
            .collect();
        let gh = self.gh;
        let read: Vec<Candidate> = futures_util::stream::iter(jobs)
            .map(|(meta, paths)| async move { read_candidate(gh, &meta, &paths).await })
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        for mut c in read {
            if let Some(n) = counts.get(&c.repository) {
                c.call_sites = n.clone();
            }
            out.push(c);
        }
        Ok(out)
    }

    /// Files calling each API, per repository, within `scope`.
    async fn api_counts(
        &mut self,
        scope: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, usize>>, CampaignError> {
        let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let apis = self.wanted.apis.clone();
        for api in &apis {
            let q = format!("{} {scope}", quote(&api.term));
            for hit in self.search(&q).await? {
                let fits = api
                    .glob
                    .as_ref()
                    .is_none_or(|g| g.is_match(base_name(&hit.path)));
                if fits {
                    *counts
                        .entry(hit.repository.full_name.clone())
                        .or_default()
                        .entry(api.name.clone())
                        .or_default() += 1;
                }
            }
        }
        Ok(counts)
    }

    /// Every hit of a query: all pages, split by file size while GitHub
    /// says the results are incomplete or more than it will page through.
    async fn search(&mut self, query: &str) -> Result<Vec<CodeHit>, CampaignError> {
        let mut out = Vec::new();
        let mut todo: Vec<(Option<(u64, u64)>, u32)> = vec![(None, 0)];
        while let Some((range, depth)) = todo.pop() {
            let q = match range {
                Some((lo, hi)) => format!("{query} size:{lo}..{hi}"),
                None => query.to_string(),
            };
            self.pacer.ready(self.gh.policy()).await;
            let first = self.gh.search_code(&q, 1).await?;
            let too_many = first.incomplete_results || first.total_count > SEARCH_MAX_RESULTS;
            let (lo, hi) = range.unwrap_or((0, MAX_INDEXED_SIZE));
            if too_many && depth < MAX_SPLIT_DEPTH && hi > lo {
                let mid = lo + (hi - lo) / 2;
                tracing::info!(query = %q, total = first.total_count, incomplete = first.incomplete_results, "splitting the search by file size");
                todo.push((Some((mid + 1, hi)), depth + 1));
                todo.push((Some((lo, mid)), depth + 1));
                continue;
            }
            if too_many {
                tracing::warn!(query = %q, "search results stay incomplete; using what GitHub returned");
            }
            let pages = first.total_count.min(SEARCH_MAX_RESULTS).div_ceil(100);
            let mut got = first.items.len();
            out.extend(first.items);
            for page in 2..=pages {
                if got == 0 {
                    break;
                }
                self.pacer.ready(self.gh.policy()).await;
                let next = self.gh.search_code(&q, page as u32).await?;
                got = next.items.len();
                out.extend(next.items);
            }
        }
        Ok(out)
    }

    /// Reads the manifests and lockfiles at the root of every repository
    /// (no search: one request per file).
    async fn read_all(&self, metas: Vec<RepoMeta>) -> Result<Vec<Candidate>, CampaignError> {
        let mut files: Vec<String> = Vec::new();
        for dep in &self.wanted.deps {
            files.push(dep.file.clone());
            files.extend(
                lockfiles::lockfiles_for(&dep.file)
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        files.dedup();
        let gh = self.gh;
        let files = &files;
        futures_util::stream::iter(metas)
            .map(|meta| async move { read_candidate(gh, &meta, files).await })
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }
}

/// Whether a search error means code search cannot be used here (GHES
/// without it, a query it refuses), rather than a failure to report.
fn search_unavailable(e: &GitHubError) -> bool {
    matches!(e.status(), Some(404 | 422 | 501))
}

async fn read_candidate(
    gh: &GitHub,
    meta: &RepoMeta,
    paths: &[String],
) -> Result<Candidate, CampaignError> {
    let r: RepoRef = meta.full_name.parse()?;
    let mut files = BTreeMap::new();
    for path in paths {
        if let Some(text) = gh.file_text(&r, path).await? {
            files.insert(path.clone(), text);
        }
    }
    Ok(Candidate {
        repository: meta.full_name.clone(),
        path: None,
        size_kb: meta.size,
        pushed_at: meta.pushed_at,
        files,
        call_sites: BTreeMap::new(),
    })
}

/// A local checkout: its root manifests and lockfiles, call sites from its
/// files, size and last commit time.
pub fn local(dir: &Path, wanted: &Wanted) -> Result<Candidate, CampaignError> {
    let root = dir
        .canonicalize()
        .map_err(CampaignError::io(format!("open {}", dir.display())))?;
    let mut files = BTreeMap::new();
    for dep in &wanted.deps {
        let mut names = vec![dep.file.clone()];
        names.extend(
            lockfiles::lockfiles_for(&dep.file)
                .iter()
                .map(|s| s.to_string()),
        );
        for name in names {
            if let Ok(text) = std::fs::read_to_string(root.join(&name)) {
                files.insert(name, text);
            }
        }
    }
    let mut call_sites: BTreeMap<String, usize> = BTreeMap::new();
    let mut bytes = 0u64;
    for entry in ignore::WalkBuilder::new(&root).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        let name = entry.file_name().to_string_lossy().to_string();
        if lockfiles::is_manifest(&name) || lockfiles::LOCKFILES.iter().any(|(l, _)| *l == name) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for api in &wanted.apis {
            let fits = api.glob.as_ref().is_none_or(|g| g.is_match(&name));
            if fits && api.regex.is_match(&text) {
                *call_sites.entry(api.name.clone()).or_default() += 1;
            }
        }
    }
    let pushed_at = git2::Repository::open(&root).ok().and_then(|repo| {
        let head = repo.head().ok()?.peel_to_commit().ok()?;
        DateTime::from_timestamp(head.time().seconds(), 0)
    });
    let repository = root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| root.display().to_string());
    Ok(Candidate {
        repository,
        path: Some(root),
        size_kb: bytes / 1024,
        pushed_at,
        files,
        call_sites,
    })
}

fn quote(term: &str) -> String {
    if term
        .chars()
        .any(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
    {
        format!("\"{term}\"")
    } else {
        term.to_string()
    }
}

pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn split_dir(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
