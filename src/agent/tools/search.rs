//! `search`: a regex over the workspace's files, the way ripgrep does it.
//!
//! The tree is walked in parallel with the `ignore` crate (honouring
//! `.gitignore`, `.ignore` and `.git/info/exclude` whether or not the
//! directory is a git repository; never entering `.git`; not following
//! symlinks, so nothing outside the workspace is read) and every file is
//! searched with `grep-searcher`, which skips binary files. Each worker keeps
//! only the first matches in path order and counts the rest, so memory stays
//! bounded and the result does not depend on thread scheduling.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use globset::{GlobBuilder, GlobMatcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use serde::Deserialize;
use serde_json::json;

use super::common::{clip_line, count, for_model, in_git_dir, redacted, resolve};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct Search;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    pattern: String,
    path: Option<String>,
    glob: Option<String>,
    case_insensitive: Option<bool>,
}

#[async_trait]
impl Tool for Search {
    fn name(&self) -> &'static str {
        "search"
    }

    fn description(&self) -> &'static str {
        "Search file contents with a regular expression (Rust regex syntax, one line at a time) like ripgrep: skips files ignored by .gitignore/.ignore, binary files and `.git`. Results are `path:line: text`, sorted by path then line, paths relative to the repository root; at most 200 matching lines (long lines clipped), with a count of the rest. Narrow with `path` (a directory or file inside the repository) and `glob`."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Regular expression, e.g. `fn\\s+parse_\\w+` or `TODO`; escape regex characters for literal text (`foo\\(`)."},
                "path": {"type": "string", "description": "Directory or file to search, relative to the repository root. Default: the whole repository."},
                "glob": {"type": "string", "description": "Only files whose path matches this glob, e.g. `*.rs`, `*.{ts,tsx}`, `src/**/test_*.py`. Without a `/` it matches the file name; with one, the path from the repository root."},
                "case_insensitive": {"type": "boolean", "description": "Match regardless of case (default false)."}
            },
            "required": ["pattern"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = match parse_args::<Args>(self.name(), input) {
            Ok(args) => search(ctx, args).await,
            Err(e) => Err(e),
        };
        redacted(ctx, result)
    }
}

async fn search(ctx: &ToolContext<'_>, args: Args) -> Result<ToolOutput, ToolError> {
    if args.pattern.is_empty() {
        return Err(for_model("the pattern is empty"));
    }
    let shown_path = args.path.clone().unwrap_or_else(|| ".".to_string());
    let target = resolve(ctx, &shown_path)?;
    let rel = ctx.workspace.relative(&target);
    if in_git_dir(&rel) {
        return Err(for_model("search never looks inside `.git`"));
    }
    if !target.exists() {
        return Err(for_model(format!(
            "`{shown_path}` does not exist; use list_dir to find the right path"
        )));
    }
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(args.case_insensitive.unwrap_or(false))
        .line_terminator(Some(b'\n'))
        .build(&args.pattern)
        .map_err(|e| for_model(format!("invalid regex `{}`: {e}", args.pattern)))?;
    let glob = args.glob.as_deref().map(GlobFilter::new).transpose()?;
    let job = Job {
        root: ctx.workspace.root().to_path_buf(),
        target,
        matcher,
        glob,
        keep: ctx.limits.max_search_results,
    };
    let found = tokio::task::spawn_blocking(move || job.run())
        .await
        .map_err(|e| ToolError::Fatal(format!("search failed: {e}")))?;
    let limits = ctx.limits;
    let mut where_ = format!("`{rel}`");
    if let Some(g) = &args.glob {
        where_.push_str(&format!(" (glob `{g}`)"));
    }
    if found.total == 0 {
        return Ok(ToolOutput::Text(format!(
            "no matches for `{}` in {where_}",
            args.pattern
        )));
    }
    let mut out = String::new();
    let mut shown = 0;
    for hit in &found.hits {
        let line = format!("{}:{}: {}\n", hit.path, hit.line, hit.text);
        if shown > 0 && out.len() + line.len() > limits.max_output_bytes {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    let more = found.total - shown;
    if more > 0 {
        out.push_str(&format!(
            "[{} not shown ({} in {} in all); narrow the pattern, path or glob]\n",
            count(more, "more matching line", "more matching lines"),
            count(found.total, "match", "matches"),
            count(found.files, "file", "files"),
        ));
    }
    Ok(ToolOutput::Text(out))
}

/// The `glob` argument: matched against the file name, or against the
/// path from the root when it contains a `/`.
struct GlobFilter {
    glob: GlobMatcher,
    whole_path: bool,
}

impl GlobFilter {
    fn new(glob: &str) -> Result<Self, ToolError> {
        let glob = glob.strip_prefix("./").unwrap_or(glob);
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| for_model(format!("invalid glob: {e}")))?
            .compile_matcher();
        Ok(GlobFilter {
            glob: matcher,
            whole_path: glob.contains('/'),
        })
    }

    fn accepts(&self, rel: &str) -> bool {
        if self.whole_path {
            self.glob.is_match(rel)
        } else {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            self.glob.is_match(name)
        }
    }
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    path: String,
    line: u64,
    text: String,
}

/// What one worker (or the whole search) found: the first hits in path
/// order and how many matching lines and files there were in all.
#[derive(Default)]
struct Found {
    hits: Vec<Hit>,
    total: usize,
    files: usize,
}

struct Job {
    root: PathBuf,
    target: PathBuf,
    matcher: RegexMatcher,
    glob: Option<GlobFilter>,
    keep: usize,
}

impl Job {
    fn run(self) -> Found {
        let results = Mutex::new(Vec::new());
        if self.target.is_file() {
            // An explicitly named file is searched even if ignored.
            let mut worker = self.worker(&results);
            worker.search_file(&self.target);
        } else {
            let mut builder = Workers {
                job: &self,
                results: &results,
            };
            self.walker().build_parallel().visit(&mut builder);
        }
        let mut found = Found::default();
        for part in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            found.hits.extend(part.hits);
            found.total += part.total;
            found.files += part.files;
        }
        found.hits.sort();
        found.hits.truncate(self.keep);
        found
    }

    fn walker(&self) -> WalkBuilder {
        let mut walk = WalkBuilder::new(&self.target);
        walk.hidden(false)
            .parents(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false);
        let outer = Arc::new(outer_ignores(&self.root, &self.target));
        walk.filter_entry(move |entry| {
            if entry.file_name() == ".git" {
                return false;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            for gi in outer.iter() {
                let m = gi.matched(entry.path(), is_dir);
                if m.is_ignore() {
                    return false;
                }
                if m.is_whitelist() {
                    return true;
                }
            }
            true
        });
        walk
    }

    fn worker<'a>(&'a self, results: &'a Mutex<Vec<Found>>) -> Worker<'a> {
        Worker {
            job: self,
            matcher: self.matcher.clone(),
            searcher: SearcherBuilder::new()
                .line_number(true)
                .binary_detection(BinaryDetection::quit(0))
                .build(),
            heap: BinaryHeap::new(),
            total: 0,
            files: 0,
            results,
        }
    }
}

/// Ignore files between the root and a searched subdirectory, deepest
/// first: the walk starts below them, so they are applied by hand. Files
/// above the root are never read.
fn outer_ignores(root: &Path, target: &Path) -> Vec<Gitignore> {
    let mut dirs: Vec<&Path> = target
        .ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(root))
        .collect();
    if target == root {
        dirs.clear();
    }
    let mut out = Vec::new();
    for dir in &dirs {
        for name in [".ignore", ".gitignore"] {
            let file = dir.join(name);
            if file.is_file() {
                out.push(Gitignore::new(&file).0);
            }
        }
    }
    let exclude = root.join(".git/info/exclude");
    if !dirs.is_empty() && exclude.is_file() {
        let mut builder = GitignoreBuilder::new(root);
        builder.add(&exclude);
        if let Ok(gi) = builder.build() {
            out.push(gi);
        }
    }
    out
}

struct Workers<'a> {
    job: &'a Job,
    results: &'a Mutex<Vec<Found>>,
}

impl<'s> ParallelVisitorBuilder<'s> for Workers<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(self.job.worker(self.results))
    }
}

/// One walker thread: searches the files it is given and hands its
/// findings over when dropped.
struct Worker<'a> {
    job: &'a Job,
    matcher: RegexMatcher,
    searcher: Searcher,
    /// The first `keep` hits in path order (largest on top).
    heap: BinaryHeap<Hit>,
    total: usize,
    files: usize,
    results: &'a Mutex<Vec<Found>>,
}

impl Worker<'_> {
    fn search_file(&mut self, abs: &Path) {
        let rel = abs.strip_prefix(&self.job.root).unwrap_or(abs);
        let rel = rel.to_string_lossy();
        if let Some(glob) = &self.job.glob {
            if !glob.accepts(&rel) {
                return;
            }
        }
        let keep = self.job.keep;
        // Lines of this file can only make the cut if it sorts before the
        // last hit kept so far.
        let want = match self.heap.peek() {
            Some(top) if self.heap.len() >= keep => *rel < *top.path,
            _ => true,
        };
        let mut sink = FileSink {
            lines: Vec::new(),
            keep: if want { keep } else { 0 },
            count: 0,
            binary: false,
        };
        if self
            .searcher
            .search_path(&self.matcher, abs, &mut sink)
            .is_err()
            || sink.binary
            || sink.count == 0
        {
            return;
        }
        self.total += sink.count;
        self.files += 1;
        for (line, text) in sink.lines {
            self.heap.push(Hit {
                path: rel.to_string(),
                line,
                text,
            });
            if self.heap.len() > keep {
                self.heap.pop();
            }
        }
    }
}

impl ParallelVisitor for Worker<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        if let Ok(entry) = entry {
            if entry.file_type().is_some_and(|t| t.is_file()) {
                self.search_file(entry.path());
            }
        }
        WalkState::Continue
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        let found = Found {
            hits: std::mem::take(&mut self.heap).into_vec(),
            total: self.total,
            files: self.files,
        };
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.push(found);
    }
}

/// Collects one file's matching lines: the first `keep` with their text,
/// all of them counted; a binary file is abandoned.
struct FileSink {
    lines: Vec<(u64, String)>,
    keep: usize,
    count: usize,
    binary: bool,
}

impl Sink for FileSink {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, m: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        self.count += 1;
        if self.lines.len() < self.keep {
            let text = String::from_utf8_lossy(m.bytes());
            let text = text.trim_end_matches(['\n', '\r']);
            self.lines
                .push((m.line_number().unwrap_or(0), clip_line(text).into_owned()));
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, Self::Error> {
        self.binary = true;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    fn repo() -> Fixture {
        let f = Fixture::new();
        f.write(
            "src/main.rs",
            "fn main() {\n    helper();\n}\nfn helper() {}\n",
        );
        f.write("src/lib/util.rs", "pub fn Helper() {}\n");
        f.write("README.md", "Call helper() first.\n");
        f.write("docs/guide.txt", "helper docs\n");
        f
    }

    #[tokio::test]
    async fn finds_matches_sorted_with_relative_paths() {
        let mut f = repo();
        let text = f.ok(&Search, json!({"pattern": "helper\\(\\)"})).await;
        assert_eq!(
            text,
            "README.md:1: Call helper() first.\nsrc/main.rs:2:     helper();\nsrc/main.rs:4: fn helper() {}\n"
        );
    }

    #[tokio::test]
    async fn case_insensitive_glob_and_path() {
        let mut f = repo();
        let text = f
            .ok(
                &Search,
                json!({"pattern": "fn helper", "case_insensitive": true, "glob": "*.rs"}),
            )
            .await;
        assert_eq!(
            text,
            "src/lib/util.rs:1: pub fn Helper() {}\nsrc/main.rs:4: fn helper() {}\n"
        );
        let text = f
            .ok(&Search, json!({"pattern": "helper", "glob": "src/*.rs"}))
            .await;
        assert_eq!(
            text,
            "src/main.rs:2:     helper();\nsrc/main.rs:4: fn helper() {}\n"
        );
        let text = f
            .ok(&Search, json!({"pattern": "(?i)helper", "path": "src/lib"}))
            .await;
        assert_eq!(text, "src/lib/util.rs:1: pub fn Helper() {}\n");
        let text = f
            .ok(
                &Search,
                json!({"pattern": "helper", "path": "docs/guide.txt"}),
            )
            .await;
        assert_eq!(text, "docs/guide.txt:1: helper docs\n");
        let text = f
            .ok(&Search, json!({"pattern": "nowhere", "glob": "*.md"}))
            .await;
        assert_eq!(text, "no matches for `nowhere` in `.` (glob `*.md`)");
    }

    #[tokio::test]
    async fn honours_ignore_files_without_git_and_skips_git_and_binaries() {
        let mut f = repo();
        f.write(".gitignore", "target/\n*.log\n");
        f.write("src/.ignore", "generated.rs\n");
        f.write("target/out.rs", "helper\n");
        f.write("src/run.log", "helper\n");
        f.write("src/generated.rs", "helper\n");
        f.write(".git/config", "helper\n");
        f.write(".github/ci.yml", "run: helper\n");
        std::fs::write(f.root().join("blob.bin"), b"helper\0\x01\x02").unwrap();
        assert!(!f.root().join(".git/HEAD").exists());
        let text = f
            .ok(
                &Search,
                json!({"pattern": "helper", "glob": "*.{rs,log,yml,bin,txt}"}),
            )
            .await;
        assert_eq!(
            text,
            ".github/ci.yml:1: run: helper\ndocs/guide.txt:1: helper docs\nsrc/main.rs:2:     helper();\nsrc/main.rs:4: fn helper() {}\n"
        );
        // Rules from above a searched subdirectory still apply.
        f.write("src/deep/target/x.rs", "helper\n");
        f.write("src/deep/a.log", "helper\n");
        let text = f
            .ok(&Search, json!({"pattern": "helper", "path": "src/deep"}))
            .await;
        assert_eq!(text, "no matches for `helper` in `src/deep`");
        let err = f
            .err(&Search, json!({"pattern": "x", "path": ".git"}))
            .await;
        assert_eq!(err, "search never looks inside `.git`");
    }

    #[tokio::test]
    async fn caps_results_and_counts_the_rest() {
        let mut f = Fixture::new();
        f.limits.max_search_results = 5;
        for i in 0..4 {
            let body: String = (0..3).map(|j| format!("match {i}{j}\n")).collect();
            f.write(&format!("f{i}.txt"), &body);
        }
        let text = f.ok(&Search, json!({"pattern": "match"})).await;
        assert_eq!(
            text,
            "f0.txt:1: match 00\nf0.txt:2: match 01\nf0.txt:3: match 02\nf1.txt:1: match 10\nf1.txt:2: match 11\n\
             [7 more matching lines not shown (12 matches in 4 files in all); narrow the pattern, path or glob]\n"
        );
        f.write("long.txt", &"y".repeat(2_000));
        let text = f.ok(&Search, json!({"pattern": "y+"})).await;
        assert!(text.ends_with("… [1500 more characters]\n"), "{text}");
    }

    #[tokio::test]
    async fn deterministic_across_many_files() {
        let mut f = Fixture::new();
        f.limits.max_search_results = 50;
        for i in 0..300 {
            f.write(&format!("d{}/f{i:03}.txt", i % 7), "needle\nhay\nneedle\n");
        }
        let first = f.ok(&Search, json!({"pattern": "needle"})).await;
        for _ in 0..3 {
            assert_eq!(f.ok(&Search, json!({"pattern": "needle"})).await, first);
        }
        assert!(
            first.starts_with("d0/f000.txt:1: needle\nd0/f000.txt:3: needle\nd0/f007.txt:1"),
            "{first}"
        );
        assert!(first.ends_with("[550 more matching lines not shown (600 matches in 300 files in all); narrow the pattern, path or glob]\n"), "{first}");
    }

    #[tokio::test]
    async fn errors_for_bad_regex_glob_and_paths() {
        let mut f = repo();
        let err = f.err(&Search, json!({"pattern": "fn (unclosed"})).await;
        assert!(err.starts_with("invalid regex `fn (unclosed`: "), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        let err = f.err(&Search, json!({"pattern": "x", "glob": "a[b"})).await;
        assert!(err.starts_with("invalid glob"), "{err}");
        let err = f
            .err(&Search, json!({"pattern": "x", "path": "missing"}))
            .await;
        assert!(err.contains("does not exist"), "{err}");
        let err = f.err(&Search, json!({"pattern": ""})).await;
        assert_eq!(err, "the pattern is empty");
        f.assert_confined(&Search, |p| json!({"pattern": "outside", "path": p}))
            .await;
    }

    #[tokio::test]
    async fn never_follows_symlinks_out_and_masks_secrets() {
        let mut f = repo();
        f.write("config.env", &format!("KEY={SECRET}\n"));
        let text = f.ok(&Search, json!({"pattern": "outside|KEY"})).await;
        assert_eq!(text, "config.env:1: KEY=***\n");
    }
}
