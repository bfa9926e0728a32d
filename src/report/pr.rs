//! The pull-request description: summary, changes by file, tests before and
//! after, acceptance criteria, decisions needing review, migration notes,
//! tokens and cost. Markdown that renders well on GitHub.

use std::fmt::Write as _;

use crate::agent::orchestrator::ContainmentRecord;
use crate::agent::verify::VerifyReport;
use crate::git::FileChange;
use crate::llm::Usage;
use crate::memory::recall::Applied;
use crate::task::TaskSpec;
use crate::workspace::checks::{CheckResult, SetupResult, Status};

/// How the task ended, as the PR states it.
#[derive(Debug, Clone, PartialEq)]
pub enum PrStatus {
    Done,
    /// With the reason a human must look.
    NeedsReview(String),
}

pub struct PrInput<'a> {
    pub spec: &'a TaskSpec,
    pub status: PrStatus,
    pub summary: &'a str,
    pub changes: &'a [FileChange],
    pub baseline: &'a [CheckResult],
    /// Setup commands that failed before the task changed anything.
    pub setup_failed: &'a [SetupResult],
    pub reports: &'a [VerifyReport],
    pub usage: Usage,
    pub cost: Option<f64>,
    pub model: &'a str,
    pub branch: &'a str,
    /// The commit whose tree was verified last.
    pub verified_commit: Option<&'a str>,
    /// The commit the branch is at.
    pub head_commit: &'a str,
    pub containment: &'a ContainmentRecord,
    /// The team rules the task got, and the stale ones it set aside.
    pub team_rules: &'a Applied,
}

/// What "done" rests on, never claiming a check that did not run.
fn done_line(spec: &TaskSpec, last: Option<&VerifyReport>) -> String {
    let checks = match last {
        None => "no check ran".to_string(),
        Some(r) if r.checks.is_empty() => {
            "no check ran (no test, lint or type-check command was detected)".to_string()
        }
        Some(r) if r.checks.iter().all(|c| c.status == Status::NotInstalled) => {
            format!("no check ran{}", not_run(r))
        }
        Some(r) if r.all_checks_clean() => {
            format!("the repository's checks pass{}", not_run(r))
        }
        Some(r) if r.preexisting.is_empty() => "the repository's checks ran".to_string(),
        Some(r) => {
            let list: Vec<String> = r.preexisting.iter().map(|c| format!("`{c}`")).collect();
            format!(
                "the repository's checks pass, except {} which fail(s) exactly as before the task (no new failures){}",
                list.join(", "),
                not_run(r)
            )
        }
    };
    let criteria = match last.and_then(|r| r.verdict.as_ref()) {
        Some(v) => format!("every acceptance criterion ({}) was verified", v.len()),
        None if spec.acceptance_criteria.is_empty() => {
            "the spec had no acceptance criteria to verify".to_string()
        }
        None => "the acceptance criteria were not reviewed".to_string(),
    };
    format!("{checks}; {criteria}.")
}

/// ` (not run: ruff is not installed)` for checks whose tool is missing.
fn not_run(r: &VerifyReport) -> String {
    let missing: Vec<String> = r.not_run().map(CheckResult::outcome).collect();
    if missing.is_empty() {
        return String::new();
    }
    let list: Vec<String> = missing
        .iter()
        .map(|m| m.trim_start_matches("⚪ ").to_string())
        .collect();
    format!(" ({})", list.join("; "))
}

/// Renders the description.
pub fn render(input: &PrInput<'_>) -> String {
    let mut out = String::new();
    let spec = input.spec;
    let title = spec.title();
    let _ = writeln!(out, "## {title}\n");
    match &input.status {
        PrStatus::Done => {
            let _ = writeln!(
                out,
                "> [!NOTE]\n> ✅ Done: {}\n",
                done_line(spec, input.reports.last())
            );
        }
        PrStatus::NeedsReview(reason) => {
            let _ = writeln!(out, "> [!WARNING]\n> ⚠️ **Needs human review**: {reason}\n");
        }
    }

    let _ = writeln!(out, "### Summary");
    let (summary, migration) = split_migration_notes(input.summary);
    if summary.trim().is_empty() {
        let _ = writeln!(out, "{}\n", spec.task.trim());
    } else {
        let _ = writeln!(out, "{}\n", summary.trim());
    }

    let _ = writeln!(out, "### Changes");
    if input.changes.is_empty() {
        let _ = writeln!(out, "No files were changed.\n");
    } else {
        let _ = writeln!(out, "| File | Change | Lines |\n|---|---|---|");
        for c in input.changes {
            let _ = writeln!(
                out,
                "| `{}` | {} | +{} −{} |",
                c.path, c.status, c.insertions, c.deletions
            );
        }
        out.push('\n');
    }

    setup_section(&mut out, input.setup_failed);
    let _ = writeln!(out, "### Tests");
    let after = input
        .reports
        .last()
        .map(|r| r.checks.as_slice())
        .unwrap_or(&[]);
    if input.baseline.is_empty() && after.is_empty() {
        let _ = writeln!(
            out,
            "No test, lint or type-check command was detected or run.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "| Check | Command | Before | After | From |\n|---|---|---|---|---|"
        );
        let mut commands: Vec<&CheckResult> = Vec::new();
        for c in input.baseline.iter().chain(after) {
            if !commands.iter().any(|k| k.command == c.command) {
                commands.push(c);
            }
        }
        for c in commands {
            let before = input
                .baseline
                .iter()
                .find(|b| b.command == c.command)
                .map_or("—".to_string(), CheckResult::outcome);
            let now = after
                .iter()
                .find(|a| a.command == c.command)
                .map_or("not run".to_string(), CheckResult::outcome);
            let _ = writeln!(
                out,
                "| {} | `{}` | {before} | {now} | {} |",
                c.kind.as_str(),
                c.command,
                c.source
            );
        }
        out.push('\n');
        if let Some(last) = input.reports.last() {
            comparison(&mut out, last);
        }
    }
    written_section(&mut out, input);

    verified_line(&mut out, input);

    let _ = writeln!(out, "### Acceptance criteria");
    let verdict = input.reports.last().and_then(|r| r.verdict.as_ref());
    if spec.acceptance_criteria.is_empty() {
        let _ = writeln!(out, "The plan set no acceptance criteria.\n");
    } else {
        for criterion in &spec.acceptance_criteria {
            match verdict.and_then(|v| v.iter().find(|c| &c.criterion == criterion)) {
                Some(v) => {
                    let _ = writeln!(
                        out,
                        "- [{}] {} — {}",
                        if v.met { 'x' } else { ' ' },
                        criterion,
                        v.evidence
                    );
                }
                None => {
                    let _ = writeln!(out, "- [ ] {criterion} — not verified");
                }
            }
        }
        // Criteria the reviewer judged under other words.
        if let Some(v) = verdict {
            for c in v
                .iter()
                .filter(|c| !spec.acceptance_criteria.contains(&c.criterion))
            {
                let _ = writeln!(
                    out,
                    "- [{}] {} — {}",
                    if c.met { 'x' } else { ' ' },
                    c.criterion,
                    c.evidence
                );
            }
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### Decisions needing review");
    if spec.decisions.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        for d in &spec.decisions {
            let _ = writeln!(out, "- {d}");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### Migration notes");
    let _ = writeln!(
        out,
        "{}\n",
        migration.unwrap_or("None: callers need no change.").trim()
    );

    if let (PrStatus::NeedsReview(_), Some(last)) = (&input.status, input.reports.last()) {
        if !last.passed() {
            let _ = writeln!(out, "### Last failure (attempt {})", last.attempt);
            let _ = writeln!(out, "{}", last.failure_report(input.baseline));
        }
    }

    team_rules_section(&mut out, input.team_rules);
    containment_section(&mut out, input.containment);

    let _ = writeln!(
        out,
        "<details><summary>TaskSpec</summary>\n\n```markdown\n{}```\n</details>\n",
        spec.to_markdown()
    );

    let u = input.usage;
    let cost = input
        .cost
        .map_or("cost unknown for this model".to_string(), |c| {
            format!("est. cost ${c:.4}")
        });
    let _ = writeln!(
        out,
        "---\n🤖 Deckhand · `{}` · branch `{}` · {} attempt(s) · tokens: {} in, {} out, {} cache read, {} cache write · {cost}",
        input.model,
        input.branch,
        input.reports.len().max(1),
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens
    );
    out
}

/// Each failed setup command with its output's tail: the checks ran
/// without what it should have installed.
fn setup_section(out: &mut String, failed: &[SetupResult]) {
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "### ❌ Setup failed\n");
    let _ = writeln!(
        out,
        "> [!CAUTION]\n> The checks below ran without what these setup commands should have prepared.\n"
    );
    for s in failed {
        let _ = writeln!(
            out,
            "- `{}` (from {}): {}",
            s.command,
            s.source,
            setup_status(s)
        );
        if let Some(output) = s.output.as_deref().filter(|o| !o.trim().is_empty()) {
            let _ = writeln!(out, "\n{}", fenced(output.trim_end()));
        }
    }
    out.push('\n');
}

/// `exit 1`, or `timed out or killed` when the command never exited.
pub fn setup_status(s: &SetupResult) -> String {
    match s.exit_code {
        Some(code) => format!("exit {code}"),
        None => "timed out or killed".to_string(),
    }
}

/// `text` in a code block whose fence no line of it can close.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}")
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Which commit the checks ran on, and whether the branch is still there.
fn verified_line(out: &mut String, input: &PrInput<'_>) {
    match input.verified_commit {
        Some(v) if v == input.head_commit => {
            let _ = writeln!(
                out,
                "Verified commit: `{}` (the branch's head; nothing ran after the checks).\n",
                short(v)
            );
        }
        Some(v) => {
            let _ = writeln!(
                out,
                "> [!WARNING]\n> Verified commit: `{}`, but the branch's head is `{}`: the changes after it were not verified.\n",
                short(v),
                short(input.head_commit)
            );
        }
        None if !input.reports.is_empty() => {
            let _ = writeln!(
                out,
                "> [!WARNING]\n> No commit of this branch was verified as it stands.\n"
            );
        }
        None => {}
    }
}

/// New failures, fixed ones and unchanged ones, each named once.
fn comparison(out: &mut String, last: &VerifyReport) {
    let new: Vec<String> = last
        .new_failures()
        .map(|c| format!("`{}`", c.command))
        .collect();
    let list = |l: &[String]| {
        l.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    if !new.is_empty() {
        lines.push(format!("- New failures: {}", new.join(", ")));
    }
    if !last.fixed.is_empty() {
        lines.push(format!(
            "- Fixed (failed before the task): {}",
            list(&last.fixed)
        ));
    }
    if !last.preexisting.is_empty() {
        lines.push(format!(
            "- Unchanged (failed before the task, the same way): {}",
            list(&last.preexisting)
        ));
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "{}\n", lines.join("\n"));
    }
}

/// Checks that wrote files: they should write none; what they wrote was
/// put back, so it is not in the branch.
fn written_section(out: &mut String, input: &PrInput<'_>) {
    let before: Vec<(&str, &[String])> = input
        .baseline
        .iter()
        .filter(|c| !c.wrote.is_empty())
        .map(|c| (c.command.as_str(), c.wrote.as_slice()))
        .collect();
    let during: Vec<(&str, &[String])> = input
        .reports
        .last()
        .map(|r| {
            r.written
                .iter()
                .map(|w| (w.command.as_str(), w.files.as_slice()))
                .collect()
        })
        .unwrap_or_default();
    if before.is_empty() && during.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "> [!WARNING]\n> Checks changed files (a check should only read; the files were put back as they were, so the changes are not in the branch):"
    );
    for (when, list) in [("before the task", before), ("while verifying", during)] {
        for (command, files) in list {
            let files: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
            let _ = writeln!(out, "> - `{command}` ({when}): {}", files.join(", "));
        }
    }
    out.push('\n');
}

/// "Team rules applied": each rule, its source and author; stale rules named.
fn team_rules_section(out: &mut String, applied: &Applied) {
    if applied.rules.is_empty() && applied.stale.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Team rules applied\n");
    for r in &applied.rules {
        let source = if r.source.starts_with("http://") || r.source.starts_with("https://") {
            format!("[source]({})", r.source)
        } else {
            format!("source `{}`", r.source)
        };
        let _ = writeln!(
            out,
            "- `{}` ({}) {} — {source}, by @{}",
            r.id,
            r.scope,
            crate::task::spec::one_line(&r.text),
            r.author.login
        );
    }
    if !applied.stale.is_empty() {
        let _ = writeln!(out, "\nStale rules, not used (the code they cite is gone):");
        for s in &applied.stale {
            let _ = writeln!(
                out,
                "- `{}` (evidence `{}`) {}",
                s.id,
                s.evidence,
                crate::task::spec::one_line(&s.text)
            );
        }
    }
    let _ = writeln!(out);
}

/// What the network level refused and what containment could not enforce.
fn containment_section(out: &mut String, c: &ContainmentRecord) {
    if c.blocked.is_empty() && c.advisories.is_empty() && c.held_back.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Containment");
    if !c.held_back.is_empty() {
        let _ = writeln!(
            out,
            "Held back from the commit (a secret or credential was found; the file stays in the worktree, unstaged):"
        );
        for h in &c.held_back {
            let _ = writeln!(out, "- 🔒 `{}:{}` — {}", h.file, h.line, h.what);
        }
    }
    if !c.blocked.is_empty() {
        let _ = writeln!(out, "Blocked by the network level:");
        for b in &c.blocked {
            let _ = writeln!(out, "- `{b}`");
        }
    }
    for a in &c.advisories {
        let _ = writeln!(out, "- ⚠️ {a}");
    }
    out.push('\n');
}

/// Splits code's closing text at a `Migration notes:` paragraph.
fn split_migration_notes(text: &str) -> (&str, Option<&str>) {
    match text.find("Migration notes:") {
        Some(i) => (
            &text[..i],
            Some(text[i + "Migration notes:".len()..].trim()),
        ),
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::CriterionVerdict;
    use crate::workspace::detect::CheckKind;
    use crate::workspace::findings::TestCounts;

    fn run(passed: u32, failed: u32) -> CheckResult {
        CheckResult {
            kind: CheckKind::Test,
            command: "npm test".into(),
            source: "package.json scripts.test".into(),
            status: if failed > 0 {
                Status::Failed
            } else {
                Status::Passed
            },
            missing: None,
            exit_code: Some(if failed > 0 { 1 } else { 0 }),
            duration_ms: 1200,
            counts: Some(TestCounts {
                passed,
                failed,
                skipped: 0,
            }),
            findings: Vec::new(),
            output: "boom".into(),
            wrote: Vec::new(),
        }
    }

    #[test]
    fn renders_every_section() {
        let mut spec = TaskSpec::new("dh-1", "acme/x", "Add rate limiting to /api/login");
        spec.acceptance_criteria = vec!["`npm test` passes".into()];
        spec.decisions = vec!["Limit kept in memory".into()];
        let reports = vec![VerifyReport {
            attempt: 1,
            checks: vec![run(5, 0)],
            verdict: Some(vec![CriterionVerdict {
                criterion: "`npm test` passes".into(),
                met: true,
                evidence: "5 passed".into(),
            }]),
            review_problem: None,
            preexisting: Vec::new(),
            fixed: Vec::new(),
            written: Vec::new(),
        }];
        let changes = vec![FileChange {
            path: "src/app.js".into(),
            status: "modified".into(),
            insertions: 3,
            deletions: 1,
        }];
        let text = render(&PrInput {
            spec: &spec,
            status: PrStatus::Done,
            summary: "Added a limiter.\n\nMigration notes: clients must handle 429.",
            changes: &changes,
            baseline: &[run(2, 0)],
            setup_failed: &[],
            reports: &reports,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
            },
            cost: Some(0.01),
            model: "m",
            branch: "deckhand/dh-1",
            verified_commit: Some("0123456789abcdef"),
            head_commit: "0123456789abcdef",
            containment: &ContainmentRecord {
                blocked: vec!["evil.example.com:443".into()],
                advisories: vec![],
                held_back: vec![],
            },
            team_rules: &Applied::default(),
        });
        assert!(text.contains("Verified commit: `0123456789ab`"), "{text}");
        assert!(text.contains("- `evil.example.com:443`"), "{text}");
        assert!(
            text.contains(
                "| test | `npm test` | ✅ 2 passed | ✅ 5 passed | package.json scripts.test |"
            ),
            "{text}"
        );
        assert!(text.contains("| `src/app.js` | modified | +3 −1 |"));
        assert!(text.contains("- [x] `npm test` passes — 5 passed"));
        assert!(text.contains("- Limit kept in memory"));
        assert!(text.contains("clients must handle 429."));
        assert!(text.contains("est. cost $0.0100"));
        assert!(
            text.contains("✅ Done: the repository's checks pass; every acceptance criterion (1) was verified."),
            "{text}"
        );
    }

    #[test]
    fn the_status_line_never_claims_checks_that_did_not_run() {
        let spec = TaskSpec::new("dh-1", "acme/x", "Tidy the README");
        let none = VerifyReport {
            attempt: 1,
            checks: Vec::new(),
            verdict: None,
            review_problem: None,
            preexisting: Vec::new(),
            fixed: Vec::new(),
            written: Vec::new(),
        };
        let line = done_line(&spec, Some(&none));
        assert!(!line.contains("checks pass"), "{line}");
        assert!(line.contains("no check ran"), "{line}");
        assert!(line.contains("no acceptance criteria"), "{line}");
        let mut old_lint = run(1, 0);
        old_lint.command = "npm run lint".into();
        old_lint.exit_code = Some(1);
        old_lint.status = Status::Failed;
        let with_old = VerifyReport {
            checks: vec![run(5, 0), old_lint],
            preexisting: vec!["npm run lint".into()],
            ..none
        };
        let line = done_line(&spec, Some(&with_old));
        assert!(
            line.contains("except `npm run lint` which fail(s) exactly as before"),
            "{line}"
        );
    }

    #[test]
    fn output_with_fences_stays_in_its_code_block() {
        assert_eq!(fenced("a ```` b"), "`````text\na ```` b\n`````");
        assert_eq!(fenced("plain"), "```text\nplain\n```");
    }
}
