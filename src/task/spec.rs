//! The TaskSpec: the one document every role reads and writes, stored as
//! Markdown with YAML front matter so a reviewer can read it in the PR.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    Planning,
    Coding,
    Verifying,
    WaitingForAnswer,
    Paused,
    Done,
    NeedsReview,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Planning => "planning",
            TaskStatus::Coding => "coding",
            TaskStatus::Verifying => "verifying",
            TaskStatus::WaitingForAnswer => "waiting-for-answer",
            TaskStatus::Paused => "paused",
            TaskStatus::Done => "done",
            TaskStatus::NeedsReview => "needs-review",
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub text: String,
    pub done: bool,
}

/// Front matter of the spec document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    repo: String,
    status: TaskStatus,
    attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    pub repo: String,
    pub status: TaskStatus,
    pub attempt: u32,
    /// What was asked, verbatim.
    pub task: String,
    pub requirements: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub plan: Vec<PlanItem>,
    pub decisions: Vec<String>,
    /// A change to the acceptance criteria that code proposed (research
    /// owns the criteria; verify and the reviewer see the proposal).
    #[serde(default)]
    pub proposed_criteria: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("task spec: missing `---` front matter at line 1")]
    NoFrontMatter,
    #[error("task spec front matter: {0}")]
    FrontMatter(#[from] serde_yaml::Error),
    #[error("task spec line {line}: unknown section `{heading}`")]
    UnknownSection { line: usize, heading: String },
    #[error("task spec: plan item {0} does not exist (the plan has {1} items)")]
    NoSuchPlanItem(usize, usize),
}

const TASK: &str = "Task";
const REQUIREMENTS: &str = "Requirements";
const CRITERIA: &str = "Acceptance criteria";
const PLAN: &str = "Plan";
const DECISIONS: &str = "Decisions needing review";
const PROPOSED: &str = "Proposed acceptance criteria (from code, not adopted)";

impl TaskSpec {
    pub fn new(id: impl Into<String>, repo: impl Into<String>, task: impl Into<String>) -> Self {
        TaskSpec {
            id: id.into(),
            repo: repo.into(),
            status: TaskStatus::Planning,
            attempt: 0,
            task: task.into(),
            requirements: Vec::new(),
            acceptance_criteria: Vec::new(),
            plan: Vec::new(),
            decisions: Vec::new(),
            proposed_criteria: Vec::new(),
        }
    }

    /// A title for the task: its first non-blank line.
    pub fn title(&self) -> &str {
        first_line(&self.task).unwrap_or("Deckhand change")
    }

    /// Replaces the plan, keeping the done mark of items whose text stays.
    pub fn set_plan(&mut self, items: Vec<String>) {
        let old = std::mem::take(&mut self.plan);
        self.plan = items
            .into_iter()
            .map(|text| {
                let done = old.iter().any(|p| p.done && p.text == text);
                PlanItem { text, done }
            })
            .collect();
    }

    /// Marks plan items (numbered from 1) done.
    pub fn mark_done(&mut self, numbers: &[usize]) -> Result<(), SpecError> {
        let len = self.plan.len();
        for &n in numbers {
            if n == 0 || n > len {
                return Err(SpecError::NoSuchPlanItem(n, len));
            }
        }
        for &n in numbers {
            self.plan[n - 1].done = true;
        }
        Ok(())
    }

    /// The document: YAML front matter, then one Markdown section each.
    pub fn to_markdown(&self) -> String {
        let fm = FrontMatter {
            id: self.id.clone(),
            repo: self.repo.clone(),
            status: self.status,
            attempt: self.attempt,
        };
        let mut out = String::from("---\n");
        // Serialising four plain fields cannot fail; fall back to nothing.
        out.push_str(&serde_yaml::to_string(&fm).unwrap_or_default());
        out.push_str("---\n");
        let _ = writeln!(out, "## {TASK}");
        for line in self.task.lines() {
            let _ = writeln!(out, "> {line}");
        }
        let _ = writeln!(out, "## {REQUIREMENTS}");
        for (i, r) in self.requirements.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", i + 1, one_line(r));
        }
        let _ = writeln!(out, "## {CRITERIA}");
        for c in &self.acceptance_criteria {
            let _ = writeln!(out, "- [ ] {}", one_line(c));
        }
        let _ = writeln!(out, "## {PLAN}");
        for (i, p) in self.plan.iter().enumerate() {
            let mark = if p.done { 'x' } else { ' ' };
            let _ = writeln!(out, "- [{mark}] {}. {}", i + 1, one_line(&p.text));
        }
        let _ = writeln!(out, "## {DECISIONS}");
        for d in &self.decisions {
            let _ = writeln!(out, "- {}", one_line(d));
        }
        if !self.proposed_criteria.is_empty() {
            let _ = writeln!(out, "## {PROPOSED}");
            for c in &self.proposed_criteria {
                let _ = writeln!(out, "- {}", one_line(c));
            }
        }
        out
    }

    /// Parses what [`TaskSpec::to_markdown`] wrote (and light hand edits).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let rest = text.strip_prefix("---\n").ok_or(SpecError::NoFrontMatter)?;
        let end = rest.find("\n---\n").ok_or(SpecError::NoFrontMatter)?;
        let fm: FrontMatter = serde_yaml::from_str(&rest[..end + 1])?;
        let body = &rest[end + 5..];
        let body_first_line = text[..text.len() - body.len()].lines().count() + 1;
        let mut spec = TaskSpec::new(fm.id, fm.repo, "");
        spec.status = fm.status;
        spec.attempt = fm.attempt;
        let mut section = "";
        let mut task_lines: Vec<&str> = Vec::new();
        for (i, line) in body.lines().enumerate() {
            if let Some(heading) = line.strip_prefix("## ") {
                section = match heading.trim() {
                    TASK => TASK,
                    REQUIREMENTS => REQUIREMENTS,
                    CRITERIA => CRITERIA,
                    PLAN => PLAN,
                    DECISIONS => DECISIONS,
                    PROPOSED => PROPOSED,
                    other => {
                        return Err(SpecError::UnknownSection {
                            line: body_first_line + i,
                            heading: other.to_string(),
                        })
                    }
                };
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            match section {
                TASK => task_lines.push(
                    line.strip_prefix("> ")
                        .unwrap_or(line.trim_start_matches('>')),
                ),
                REQUIREMENTS => spec.requirements.push(strip_number(line).to_string()),
                CRITERIA => spec
                    .acceptance_criteria
                    .push(strip_checkbox(line).1.to_string()),
                PLAN => {
                    let (done, rest) = strip_checkbox(line);
                    spec.plan.push(PlanItem {
                        text: strip_number(rest).to_string(),
                        done,
                    });
                }
                DECISIONS => spec
                    .decisions
                    .push(line.trim_start_matches(['-', '*', ' ']).to_string()),
                PROPOSED => spec
                    .proposed_criteria
                    .push(line.trim_start_matches(['-', '*', ' ']).to_string()),
                _ => {}
            }
        }
        spec.task = task_lines.join("\n");
        Ok(spec)
    }
}

/// The first line of `text` that is not blank, trimmed.
pub fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// `s` with runs of whitespace as one space, trimmed: how criteria are
/// written and compared.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `3. text` → `text`.
fn strip_number(line: &str) -> &str {
    let t = line.trim_start();
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        if let Some(rest) = t[digits..].strip_prefix(". ") {
            return rest.trim();
        }
    }
    t.trim()
}

/// `- [x] text` → `(true, "text")`.
fn strip_checkbox(line: &str) -> (bool, &str) {
    let t = line
        .trim_start()
        .trim_start_matches(['-', '*'])
        .trim_start();
    if let Some(rest) = t.strip_prefix("[ ]") {
        (false, rest.trim())
    } else if let Some(rest) = t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")) {
        (true, rest.trim())
    } else {
        (false, t.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TaskSpec {
        let mut s = TaskSpec::new(
            "dh-2f9c1a",
            "acme/user-service",
            "Add rate limiting\nto /api/login",
        );
        s.status = TaskStatus::Coding;
        s.attempt = 2;
        s.requirements = vec!["WHEN a caller exceeds 5 logins THE SYSTEM SHALL answer 429.".into()];
        s.acceptance_criteria = vec!["`npm test` passes".into(), "new tests cover resets".into()];
        s.set_plan(vec![
            "Add limiter (src/rate.js)".into(),
            "Wire it in".into(),
        ]);
        s.mark_done(&[1]).unwrap();
        s.decisions = vec!["Window is in-memory".into()];
        s
    }

    #[test]
    fn round_trips_through_markdown() {
        let s = sample();
        let md = s.to_markdown();
        assert!(md.contains("status: coding"));
        assert!(md.contains("- [x] 1. Add limiter (src/rate.js)"));
        assert!(md.contains("- [ ] 2. Wire it in"));
        assert_eq!(TaskSpec::parse(&md).unwrap(), s);
    }

    #[test]
    fn set_plan_keeps_done_marks_of_unchanged_items() {
        let mut s = sample();
        s.set_plan(vec!["Add limiter (src/rate.js)".into(), "Other".into()]);
        assert!(s.plan[0].done);
        assert!(!s.plan[1].done);
    }

    #[test]
    fn mark_done_refuses_missing_items() {
        let mut s = sample();
        let err = s.mark_done(&[3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "task spec: plan item 3 does not exist (the plan has 2 items)"
        );
    }

    #[test]
    fn parse_names_the_line_of_an_unknown_section() {
        let md = "---\nid: a\nrepo: b\nstatus: done\nattempt: 1\n---\n## Task\n> x\n## Bogus\n";
        let err = TaskSpec::parse(md).unwrap_err();
        assert_eq!(err.to_string(), "task spec line 9: unknown section `Bogus`");
    }

    #[test]
    fn parse_reports_bad_front_matter_fields() {
        let md = "---\nid: a\nrepo: b\nstatus: sleeping\nattempt: 1\n---\n";
        let err = TaskSpec::parse(md).unwrap_err().to_string();
        assert!(err.contains("status"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }
}
