//! `deckhand memory list|show|add|forget|approve|prune|recall`: the learned rules on the memory branch, for people.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{exit, process_redactor, GlobalArgs};
use crate::config::{EnvSnapshot, Settings};
use crate::git::remote::Remote;
use crate::git::LocalRepo;
use crate::memory::catalog::{self, Catalog};
use crate::memory::edits::{self, last_active, NewRule};
use crate::memory::recall::{self, Query};
use crate::memory::rules::{rule_path, RuleAuthor, Scope, Status};
use crate::memory::usage::{tally, UsageRecord};
use crate::memory::{Author, MemoryStore, Origin, DEFAULT_BRANCH};
use crate::sandbox::Redactor;

#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// The repository whose rules these are (scope `repo:`, languages, evidence).
    #[arg(long, global = true, default_value = ".")]
    pub repo: PathBuf,
    /// Where the memory branch lives: a path or a URL (default: the repository itself).
    #[arg(long, global = true)]
    pub memory_repo: Option<String>,
    /// The memory branch.
    #[arg(long, global = true, default_value = DEFAULT_BRANCH)]
    pub memory_branch: String,
    #[command(subcommand)]
    pub command: MemoryCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Active,
    Proposed,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List rules with their use counts.
    List {
        /// Only rules with this scope (`org`, `repo:OWNER/NAME`, `path:GLOB`, `lang:LANGUAGE`).
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only rules not used (nor created) in the last N days.
        #[arg(long)]
        unused_days: Option<u32>,
    },
    /// Print one rule's file and its use.
    Show { id: String },
    /// Teach a rule; yours are active at once.
    Add {
        text: String,
        #[arg(long)]
        scope: String,
        /// Where the rule comes from (a review comment's URL).
        #[arg(long)]
        source: Option<String>,
    },
    /// Remove a rule.
    Forget { id: String },
    /// Make a proposed rule active.
    Approve { id: String },
    /// Remove rules unused for N days (default: the config's `memory.expire_days`, 90).
    Prune {
        #[arg(long)]
        unused_days: Option<u32>,
    },
    /// Show which rules a task would get, with scores.
    Recall {
        #[arg(long)]
        task: String,
        /// A path the task touches (repeatable).
        #[arg(long = "path")]
        paths: Vec<String>,
        /// Record the recalled rules as used by this task id.
        #[arg(long)]
        record: Option<String>,
        #[arg(long, default_value_t = recall::DEFAULT_TOP_K)]
        top: usize,
        /// Tokens the rules may take.
        #[arg(long, default_value_t = recall::DEFAULT_TOKEN_BUDGET)]
        budget: usize,
    },
}

/// The repository, its memory branch and who is acting.
pub(super) struct Place {
    pub(super) repo: Option<LocalRepo>,
    pub(super) store: MemoryStore,
    pub(super) cache: Option<PathBuf>,
    pub(super) committer: Author,
}

pub async fn run(global: &GlobalArgs, args: MemoryArgs, env: &EnvSnapshot) -> anyhow::Result<i32> {
    let redactor = process_redactor(env);
    let settings = Settings::load(&args.repo, &global.flags())?;
    let place = tokio::task::spawn_blocking({
        let (repo, memory_repo, branch) = (
            args.repo.clone(),
            args.memory_repo.clone(),
            args.memory_branch.clone(),
        );
        let token = env.get("GITHUB_TOKEN").unwrap_or_default().to_string();
        let fallback = settings.file.git.clone();
        move || open(&repo, memory_repo.as_deref(), &branch, &token, fallback)
    })
    .await??;
    let mut place = place;
    match args.command {
        MemoryCommand::List {
            scope,
            status,
            unused_days,
        } => list(&place, &redactor, global.json, scope, status, unused_days),
        MemoryCommand::Show { id } => show(&place, &id),
        MemoryCommand::Add {
            text,
            scope,
            source,
        } => {
            let scope: Scope = scope
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--scope: {e}"))?;
            let new = NewRule {
                text,
                scope,
                status: Status::Active,
                source: source.unwrap_or_else(|| "local:memory-add".into()),
                author: RuleAuthor {
                    login: place.committer.name.clone(),
                    permission: "owner".into(),
                },
                evidence: None,
                replaces: None,
            };
            let added =
                edits::add(&mut place.store, place.committer.clone(), new, &redactor).await?;
            if added.created {
                println!("added {}", added.id);
            } else {
                println!("{} already holds this rule", added.id);
            }
            Ok(exit::DONE)
        }
        MemoryCommand::Forget { id } => {
            edits::forget(&mut place.store, place.committer.clone(), &id).await?;
            println!("forgot {id}");
            Ok(exit::DONE)
        }
        MemoryCommand::Approve { id } => {
            if edits::approve(&mut place.store, place.committer.clone(), &id).await? {
                println!("approved {id}: active");
            } else {
                println!("{id} is already active");
            }
            Ok(exit::DONE)
        }
        MemoryCommand::Prune { unused_days } => {
            let days = unused_days.unwrap_or_else(|| settings.file.memory.expire_days());
            let pruned =
                edits::prune(&mut place.store, place.committer.clone(), days, Utc::now()).await?;
            println!("pruned {} rule(s) unused for {days} days", pruned.len());
            for id in pruned {
                println!("  {id}");
            }
            Ok(exit::DONE)
        }
        MemoryCommand::Recall {
            task,
            paths,
            record,
            top,
            budget,
        } => {
            let found = tokio::task::spawn_blocking(move || {
                let out = recall_for(&place, &redactor, &task, &paths, top, budget);
                (place, out)
            })
            .await?;
            let (mut place, (result, catalog)) = (found.0, found.1?);
            if let Some(task_id) = record {
                let record = UsageRecord {
                    task: task_id,
                    repo: place.repo.as_ref().map(LocalRepo::display_name),
                    used_at: Utc::now(),
                    rules: result.rules.iter().map(|r| r.rule.id.clone()).collect(),
                };
                edits::record_use(&mut place.store, place.committer.clone(), record).await?;
            }
            print_recall(&result, &catalog, global.json);
            Ok(exit::DONE)
        }
    }
}

/// Opens the memory branch where `memory_repo` says (default: `repo` itself).
pub(super) fn open(
    repo_dir: &Path,
    memory_repo: Option<&str>,
    branch: &str,
    token: &str,
    fallback: crate::config::GitAuthor,
) -> anyhow::Result<Place> {
    let repo = LocalRepo::open(repo_dir).ok();
    let git_dir = repo.as_ref().map(|r| r.raw().commondir().join("deckhand"));
    let origin = match memory_repo {
        None => {
            let repo = repo.as_ref().with_context(|| {
                format!(
                    "{} is not a git repository; pass --repo DIR or --memory-repo",
                    repo_dir.display()
                )
            })?;
            Origin::Local(repo.raw().commondir().to_path_buf())
        }
        Some(url) if is_url(url) => {
            let cache = match &git_dir {
                Some(dir) => dir.join("memory-clone").join(short_hash(url)),
                None => std::env::temp_dir().join(format!("deckhand-memory-{}", short_hash(url))),
            };
            Origin::Remote {
                remote: Remote {
                    url: url.to_string(),
                    token: token.to_string(),
                },
                cache,
            }
        }
        Some(path) => Origin::Local(PathBuf::from(path.strip_prefix("file://").unwrap_or(path))),
    };
    let key = format!("{origin:?}\n{branch}");
    let store = MemoryStore::open_origin(origin, branch)?;
    let cache = git_dir.map(|d| d.join("memory-cache").join(short_hash(&key)));
    let committer = repo
        .as_ref()
        .and_then(|r| r.raw().config().ok())
        .and_then(|c| {
            Some((
                c.get_string("user.name").ok()?,
                c.get_string("user.email").ok()?,
            ))
        })
        .map_or(
            Author {
                name: fallback.name,
                email: fallback.email,
            },
            |(name, email)| Author { name, email },
        );
    Ok(Place {
        repo,
        store,
        cache,
        committer,
    })
}

fn is_url(s: &str) -> bool {
    (s.contains("://") && !s.starts_with("file://")) || s.starts_with("git@")
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn load(place: &Place, redactor: &Redactor) -> anyhow::Result<Catalog> {
    Ok(catalog::load(
        &place.store,
        redactor,
        place.cache.as_deref(),
    )?)
}

fn list(
    place: &Place,
    redactor: &Redactor,
    json: bool,
    scope: Option<String>,
    status: Option<StatusArg>,
    unused_days: Option<u32>,
) -> anyhow::Result<i32> {
    let scope: Option<Scope> = scope
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("--scope: {e}"))?;
    let catalog = load(place, redactor)?;
    let uses = tally(&place.store.snapshot())?;
    let cutoff = unused_days.map(|d| Utc::now() - chrono::Duration::days(i64::from(d)));
    let status = status.map(|s| match s {
        StatusArg::Active => Status::Active,
        StatusArg::Proposed => Status::Proposed,
    });
    let shown: Vec<_> = catalog
        .rules
        .iter()
        .filter(|r| scope.as_ref().is_none_or(|s| &r.scope == s))
        .filter(|r| status.is_none_or(|s| r.status == s))
        .filter(|r| cutoff.is_none_or(|c| last_active(r, &uses) < c))
        .collect();
    if json {
        let rows: Vec<serde_json::Value> = shown
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                let u = uses.get(&r.id).copied().unwrap_or_default();
                v["uses"] = json!(u.count);
                v["last_used"] = json!(u.last_used);
                v
            })
            .collect();
        println!("{}", json!({"rules": rows, "skipped": catalog.skipped}));
    } else {
        for r in &shown {
            let u = uses.get(&r.id).copied().unwrap_or_default();
            println!(
                "{}  {:<8}  {:<24}  {:>3} use(s)  {}",
                r.id,
                r.status.to_string(),
                r.scope.to_string(),
                u.count,
                first_line(&r.text)
            );
        }
        if shown.is_empty() {
            println!("no rules");
        }
    }
    Ok(exit::DONE)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn show(place: &Place, id: &str) -> anyhow::Result<i32> {
    let path = rule_path(id);
    let snapshot = place.store.snapshot();
    let Some(text) = snapshot.read(&path)? else {
        anyhow::bail!("no rule {id} on the memory branch {}", place.store.branch());
    };
    print!("{text}");
    let u = tally(&snapshot)?.get(id).copied().unwrap_or_default();
    println!(
        "\n# {} use(s); last used {}",
        u.count,
        u.last_used.map_or("never".to_string(), |t| t.to_rfc3339())
    );
    Ok(exit::DONE)
}

/// Recall against the repository's current tree.
fn recall_for(
    place: &Place,
    redactor: &Redactor,
    task: &str,
    paths: &[String],
    top: usize,
    budget: usize,
) -> anyhow::Result<(recall::Recall, Catalog)> {
    let catalog = load(place, redactor)?;
    let tree = place
        .repo
        .as_ref()
        .and_then(|r| r.raw().head().ok()?.peel_to_tree().ok());
    let mut files = BTreeSet::new();
    if let Some(tree) = &tree {
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                if let Some(name) = entry.name() {
                    files.insert(format!("{dir}{name}"));
                }
            }
            git2::TreeWalkResult::Ok
        })
        .context("list the repository's files")?;
    }
    let languages = recall::languages(files.iter().chain(paths).map(String::as_str));
    let exists = |p: &str| tree.is_none() || files.contains(p);
    let repo_name = place.repo.as_ref().map(LocalRepo::display_name);
    let q = Query {
        task,
        repo: repo_name.as_deref(),
        languages: &languages,
        paths,
        exists: &exists,
        top_k: top,
        token_budget: budget,
    };
    let started = std::time::Instant::now();
    let result = catalog.recall(&q);
    tracing::debug!(
        recalled = result.rules.len(),
        ms = started.elapsed().as_millis(),
        "recall ranked"
    );
    for s in &result.stale {
        tracing::warn!(rule = %s.id, evidence = %s.evidence, "rule is stale: its evidence file is gone; not used");
    }
    Ok((result, catalog))
}

fn print_recall(result: &recall::Recall, catalog: &Catalog, json: bool) {
    if json {
        let rules: Vec<serde_json::Value> = result
            .rules
            .iter()
            .map(|r| {
                json!({
                    "id": r.rule.id, "score": r.score, "matched": r.matched,
                    "scope": r.rule.scope, "text": r.rule.text,
                    "source": r.rule.source, "author": r.rule.author,
                })
            })
            .collect();
        let skipped: BTreeMap<&str, &str> = catalog
            .skipped
            .iter()
            .map(|s| (s.file.as_str(), s.reason.as_str()))
            .collect();
        println!(
            "{}",
            json!({"rules": rules, "stale": result.stale, "skipped": skipped, "warm": catalog.warm})
        );
        return;
    }
    for r in &result.rules {
        println!(
            "{:>7.3}  {}  ({}; {})  {}",
            r.score,
            r.rule.id,
            r.rule.scope,
            r.matched,
            first_line(&r.rule.text)
        );
    }
    if result.rules.is_empty() {
        println!("no rules apply");
    }
    for s in &result.stale {
        println!(
            "stale: {} (evidence {} is gone)  {}",
            s.id,
            s.evidence,
            first_line(&s.text)
        );
    }
}
