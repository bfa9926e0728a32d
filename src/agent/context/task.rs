//! What a role starts with besides its stable system prompt: the steering that applies to the paths the task touches and the team rules recalled for it, rebuilt at each role's start as the second system block.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::steering::{load_steering, render_steering};
use crate::agent::AgentRole;
use crate::memory::recall::{self, Applied, Query};
use crate::memory::rules::{Rule, Scope};
use crate::task::TaskSpec;

/// Paths named in the task or the plan that count as touched, at most.
const MAX_NAMED_PATHS: usize = 64;

/// The task's varying context: where to read steering, and the team rules.
pub struct TaskContext {
    /// The checkout the worktree comes from (read until the worktree exists).
    source: PathBuf,
    /// `owner/name` of the repository.
    repo: String,
    /// The commit the task's branch started from (its merge-base).
    base_commit: String,
    /// Steering files already in the stable block.
    stable_docs: Vec<String>,
    /// Every rule of the memory branch that passed the checks on read.
    rules: Vec<Rule>,
    /// Each rule's BM25 terms (`recall::terms`), tokenised once per task
    /// rather than at each role's start.
    terms: Vec<String>,
    /// Languages of the repository's files.
    languages: BTreeSet<String>,
    /// Every rule the task got so far, and the stale ones set aside.
    pub applied: Applied,
}

/// The context one role starts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleContext {
    /// The second system block; empty when nothing applies.
    pub block: String,
    /// The rules recalled for this role.
    pub rules: Vec<Rule>,
    pub touched: Vec<String>,
}

/// What a [`TaskContext`] is built from.
pub struct TaskContextParts {
    pub source: PathBuf,
    pub repo: String,
    pub base_commit: String,
    pub stable_docs: Vec<String>,
    pub rules: Vec<Rule>,
    pub languages: BTreeSet<String>,
    pub applied: Applied,
}

impl TaskContext {
    pub fn new(p: TaskContextParts) -> Self {
        TaskContext {
            source: p.source,
            repo: p.repo,
            base_commit: p.base_commit,
            stable_docs: p.stable_docs,
            terms: p.rules.iter().map(recall::terms).collect(),
            rules: p.rules,
            languages: p.languages,
            applied: p.applied,
        }
    }

    /// The context of a task starting or resuming in `source` (the
    /// checkout its worktree comes from), after its stable steering.
    pub fn for_task(
        source: &Path,
        state: &crate::agent::orchestrator::TaskState,
        stable: &[super::SteeringDoc],
        rules: Vec<Rule>,
    ) -> TaskContext {
        TaskContext::new(TaskContextParts {
            source: source.to_path_buf(),
            repo: state.spec.repo.clone(),
            base_commit: state.base_commit.clone(),
            stable_docs: stable.iter().map(|d| d.path.clone()).collect(),
            languages: if rules.is_empty() {
                BTreeSet::new()
            } else {
                repo_languages(source)
            },
            rules,
            applied: state.team_rules.clone(),
        })
    }

    /// Rules (active or proposed) whose scope covers this repository:
    /// what learn may find already said.
    pub fn rules_in_scope(&self) -> Vec<Rule> {
        self.rules
            .iter()
            .filter(|r| match &r.scope {
                Scope::Org | Scope::Path(_) => true,
                Scope::Repo(repo) => repo.eq_ignore_ascii_case(&self.repo),
                Scope::Lang(l) => self.languages.contains(l),
            })
            .cloned()
            .collect()
    }

    /// The context of `role` starting now: the paths the task touches (the
    /// diff against its base, and files the task or plan names), the
    /// steering files they select, and the rules recalled for them.
    pub async fn for_role(
        &mut self,
        role: AgentRole,
        spec: &TaskSpec,
        worktree: &Path,
        checked_out: bool,
    ) -> RoleContext {
        let in_worktree = checked_out && worktree.join(".git").exists();
        let root = if in_worktree { worktree } else { &self.source }.to_path_buf();
        let mut touched = if in_worktree {
            diff_paths(worktree, &self.base_commit).await
        } else {
            Vec::new()
        };
        touched.extend(named_paths(&root, spec));
        touched.sort();
        touched.dedup();

        let mut block = String::new();
        if role != AgentRole::Verify {
            let scoped: Vec<_> = load_steering(&root, &spec.task, &touched)
                .into_iter()
                .filter(|d| !self.stable_docs.contains(&d.path))
                .collect();
            if !scoped.is_empty() {
                block.push_str(
                    "# Repository guidance for the paths this task touches (steering files)\n",
                );
                block.push_str(&render_steering(&scoped));
            }
        }
        let exists = |p: &str| is_plain(p) && root.join(p).exists();
        let found = recall::recall_indexed(
            &self.rules,
            &self.terms,
            &Query {
                task: &spec.task,
                repo: Some(&self.repo),
                languages: &self.languages,
                paths: &touched,
                exists: &exists,
                top_k: recall::DEFAULT_TOP_K,
                token_budget: recall::DEFAULT_TOKEN_BUDGET,
            },
        );
        for s in &found.stale {
            tracing::warn!(rule = %s.id, evidence = %s.evidence, "rule is stale: its evidence file is gone; not used");
        }
        self.applied.merge(&found);
        if let Some(rules) = recall::prompt_block(&found.rules) {
            if !block.is_empty() {
                block.push_str("\n\n");
            }
            block.push_str(&rules);
            if role == AgentRole::Verify {
                block.push_str("Judge the diff against each of these rules too: after the acceptance criteria, give report_verdict one entry per rule, its criterion written `rule <id>: <text>`.\n");
            }
        }
        RoleContext {
            block,
            rules: found.rules.into_iter().map(|r| r.rule).collect(),
            touched,
        }
    }
}

/// Languages of the files git tracks in `root` (its index).
fn repo_languages(root: &Path) -> BTreeSet<String> {
    let Ok(repo) = git2::Repository::open(root) else {
        return BTreeSet::new();
    };
    let Ok(index) = repo.index() else {
        return BTreeSet::new();
    };
    let paths: Vec<String> = index
        .iter()
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    recall::languages(paths.iter().map(String::as_str))
}

/// A relative path with no `..` (evidence and named paths).
fn is_plain(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == "..")
}

/// Files changed since `base` (committed or not), off the async workers.
async fn diff_paths(worktree: &Path, base: &str) -> Vec<String> {
    let (worktree, base) = (worktree.to_path_buf(), base.to_string());
    let found = tokio::task::spawn_blocking(move || crate::git::diff_since(&worktree, &base)).await;
    match found {
        Ok(Ok((changes, _))) => changes.into_iter().map(|c| c.path).collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list the paths the task touches");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "listing the paths the task touches stopped");
            Vec::new()
        }
    }
}

/// Files of the repository that the task text or the plan names
/// (`src/api/users.ts`, `` `lib/db.py` ``): what the task is about to touch.
fn named_paths(root: &Path, spec: &TaskSpec) -> Vec<String> {
    let texts =
        std::iter::once(spec.task.as_str()).chain(spec.plan.iter().map(|p| p.text.as_str()));
    let mut found = Vec::new();
    for text in texts {
        for word in text.split(|c: char| c.is_whitespace() || "()[]{}<>,;\"'`".contains(c)) {
            let word = word
                .trim_end_matches([':', '.', '!', '?'])
                .trim_start_matches("./");
            if found.len() >= MAX_NAMED_PATHS {
                return found;
            }
            if word.contains(['/', '.'])
                && is_plain(word)
                && !found.iter().any(|f| f == word)
                && root.join(word).is_file()
            {
                found.push(word.to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_paths_are_existing_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/api")).unwrap();
        std::fs::write(dir.path().join("src/api/users.ts"), "x").unwrap();
        std::fs::write(dir.path().join("README.md"), "x").unwrap();
        let mut spec = TaskSpec::new(
            "dh-1",
            "acme/one",
            "Fix `src/api/users.ts`: and ../etc/passwd",
        );
        spec.set_plan(vec!["Update docs (README.md, docs/missing.md).".into()]);
        assert_eq!(
            named_paths(dir.path(), &spec),
            vec!["src/api/users.ts".to_string(), "README.md".to_string()]
        );
    }
}
