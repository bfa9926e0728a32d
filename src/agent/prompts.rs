//! The words each role starts with: its system prompt (stable for the whole
//! role, so it caches) and its opening user message.

use crate::agent::AgentRole;
use crate::task::spec::one_line;
use crate::task::TaskSpec;
use crate::workspace::detect::Environment;

/// What every prompt shares about the repository.
pub struct RepoContext<'a> {
    pub steering: &'a str,
    pub repo_map: &'a str,
    pub environment: &'a Environment,
}

const RESEARCH: &str = "You are the research role of Deckhand, an autonomous coding agent. \
You read the repository and turn the task into a precise TaskSpec; you never change files. \
Use list_dir, read_file, search and (for inspection only: running tests, listing dependencies) run_command. \
Then call update_spec with: requirements (numbered, in the form `WHEN <condition> THE SYSTEM SHALL <behaviour>`), \
acceptance_criteria (each checkable: a command that passes, a behaviour a test covers), \
plan (ordered, small steps, each naming the files it touches) and decisions (choices a human reviewer should confirm). \
If the task cannot be planned without information only a human has, call ask_question. \
When the spec is complete, answer with a short summary and no tool call.";

const CODE: &str = "You are the code role of Deckhand, an autonomous coding agent. \
Implement the plan in the TaskSpec, in order, with edit_file (exact old_text taken from read_file output) and write_file. \
Follow the repository's conventions and its steering guidance. Add or update tests for every behaviour you change. \
Run the repository's tests with run_command before you finish and fix what fails. \
After finishing plan items, mark them with update_spec `done` (item numbers); add to `decisions` any choice a reviewer should confirm. \
If the plan is ambiguous, call ask_question: the research role answers, or the user if research cannot. \
When the work is complete, answer with no tool call: a short summary of what you changed and why, and, if callers or users must change anything, \
a paragraph starting with `Migration notes:`.";

const VERIFY: &str = "You are the verify role of Deckhand, an autonomous coding agent. \
The repository's own checks have already been run; their results are below. \
Judge each acceptance criterion of the TaskSpec against the diff and those results; read files if you need to. \
Call report_verdict once with every criterion, `met` true only with concrete evidence (a test name, a command result, a file and line). \
Then answer with no tool call.";

const LEARN: &str = "You are the learn role of Deckhand, an autonomous coding agent. \
A reviewer gave feedback on a change Deckhand made, and Deckhand has fixed it. Decide whether the feedback states a lasting team convention \
that should guide future changes. For each one, call record_rule with one general imperative sentence and the narrowest scope that fits: \
`repo:OWNER/NAME` for a convention of this repository, `path:GLOB` or `lang:LANGUAGE` when it is about some files or one language, \
`org` only when the reviewer says it holds everywhere. One-off remarks (a typo, one value, something about this change only) make no rule. \
When an existing rule already says it, record nothing; when the feedback restates or refines an existing rule, pass that rule's id as `replaces`. \
Rules are coding guidance only: never record anything about tools, commands, network access, secrets or workflows. \
Then answer with no tool call: one line saying what you recorded, or that the feedback holds no lasting rule.";

/// The system prompt of a role: instructions, then repository guidance.
pub fn system(role: AgentRole, repo: &RepoContext<'_>) -> String {
    let instructions = match role {
        AgentRole::Research => RESEARCH,
        AgentRole::Code => CODE,
        AgentRole::Verify => VERIFY,
        AgentRole::Learn => LEARN,
    };
    let mut out = String::from(instructions);
    out.push_str("\n\n# Repository checks\n");
    out.push_str(&describe_environment(repo.environment));
    if matches!(role, AgentRole::Research | AgentRole::Code) && !repo.steering.is_empty() {
        out.push_str("\n\n# Repository guidance (steering files)\n");
        out.push_str(repo.steering);
    }
    if !repo.repo_map.is_empty() {
        out.push_str("\n\n# Repository map\n");
        out.push_str(repo.repo_map);
    }
    out
}

/// The detected commands, as the model should see them.
pub fn describe_environment(env: &Environment) -> String {
    let mut out = String::new();
    for s in &env.setup {
        out.push_str(&format!("- setup: `{s}`\n"));
    }
    for c in &env.checks {
        out.push_str(&format!(
            "- {}: `{}` (from {})\n",
            c.kind.as_str(),
            c.command,
            c.source
        ));
    }
    if out.is_empty() {
        out.push_str("- no test, lint or type-check command was detected\n");
    }
    out
}

/// Research's opening message.
pub fn research_start(spec: &TaskSpec) -> String {
    format!(
        "# Task\n{}\n\n# Current TaskSpec\n{}",
        spec.task,
        spec.to_markdown()
    )
}

/// Code's opening message for an attempt; `feedback` says what failed before.
pub fn code_start(spec: &TaskSpec, attempt: u32, baseline: &str, feedback: &[String]) -> String {
    let mut out = format!(
        "# Task\n{}\n\n# Test results before any change\n{baseline}\n\n# TaskSpec\n{}",
        spec.task,
        spec.to_markdown()
    );
    if !feedback.is_empty() {
        out.push_str(&format!(
            "\n\n# This is attempt {attempt}. Earlier attempts failed verification\n\
             Do not repeat an approach that already failed; try a different one. \
             The work of earlier attempts is still in the files; change or revert it as needed.\n"
        ));
        for (i, f) in feedback.iter().enumerate() {
            out.push_str(&format!("\n## Attempt {} failed\n{f}\n", i + 1));
        }
    }
    out
}

/// The question code put, as research receives it.
pub fn consult_research(spec: &TaskSpec, question: &str) -> String {
    format!(
        "The code role, implementing the TaskSpec below, asks:\n\n> {question}\n\n\
         Answer it from the repository and the task. If only the user can answer, call ask_question with the question for them. \
         Answer with no tool call: the answer itself.\n\n# TaskSpec\n{}",
        spec.to_markdown()
    )
}

/// Verify's opening message.
pub fn verify_start(spec: &TaskSpec, checks: &str, diff: &str) -> String {
    let proposal = if spec.proposed_criteria.is_empty() {
        ""
    } else {
        "\n\nThe coder proposed a change to the acceptance criteria (the section \"Proposed acceptance criteria\"). \
Judge the change by the current acceptance criteria, not the proposal; if the proposal shows that a \
criterion is wrong, say so in that criterion's evidence."
    };
    format!(
        "# TaskSpec\n{}{proposal}\n\n# Check results\n{checks}\n\n# Diff of the change\n```diff\n{diff}\n```",
        spec.to_markdown()
    )
}

/// Learn's opening message: the feedback, the fix and the rules in scope.
pub fn learn_start(
    repo: &str,
    feedback: &str,
    diff: &str,
    existing: &[crate::memory::rules::Rule],
) -> String {
    let mut rules = String::new();
    for r in existing {
        rules.push_str(&format!(
            "- {} ({}): {}\n",
            r.id,
            r.scope,
            one_line(&r.text)
        ));
    }
    if rules.is_empty() {
        rules.push_str("(none)\n");
    }
    format!(
        "# Repository\n{repo}\n\n# Review feedback\n<feedback>\n{}\n</feedback>\n\n# Existing team rules in scope\n{rules}\n# The fix (diff)\n```diff\n{diff}\n```",
        feedback.trim()
    )
}

/// Asks for a hand-off note when the history nears the context limit.
pub const COMPACT: &str = "The conversation is near the context limit. Write a hand-off note for yourself: \
what has been done (files changed, commands run and their results), what is in progress, what remains, \
and any facts you will need. Be complete but brief. Answer with the note only.";

/// Sent after a reply that the output limit cut off.
pub const CONTINUE_AFTER_MAX_TOKENS: &str =
    "Your reply was cut off by the output limit (max_tokens). \
Continue exactly where you stopped; do not repeat what you already wrote.";

/// The result of a tool call whose arguments the output limit cut off.
pub fn cut_tool_call(tool: &str) -> String {
    format!(
        "error: your tool call `{tool}` was cut off by the output limit (max_tokens) before its \
arguments were complete, so nothing was run. Write smaller edits: change a large file with several \
`edit_file` calls, or write it in parts, so that each call fits in one reply."
    )
}

/// The first message after compaction.
pub fn after_compaction(spec: &TaskSpec, note: &str) -> String {
    format!(
        "# Task\n{}\n\n# Current TaskSpec\n{}\n\n# Hand-off note (earlier conversation was compacted)\n{note}",
        spec.task,
        spec.to_markdown()
    )
}
