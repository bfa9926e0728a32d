//! One role's conversation with the model: send, run the tool calls, send
//! the results, until the model answers without a tool call, a question
//! needs a human, or a budget ends it. Compacts the history near the
//! context limit.

use serde::{Deserialize, Serialize};

use crate::agent::context::digest;
use crate::agent::inbox::InboxItem;
use crate::agent::prompts;
use crate::agent::session::{Limit, Session};
use crate::agent::tools::{self, CriterionVerdict, ToolContext, ToolError, ToolOutput};
use crate::agent::AgentRole;
use crate::llm::{ContentBlock, LlmError, Message, Request, Role, StopReason, ToolCall};
use crate::report::Event;
use crate::task::TaskSpec;

/// A role's conversation, saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleState {
    pub role: AgentRole,
    pub messages: Vec<Message>,
    pub turns: u32,
    /// A question waiting for a human's answer.
    pub pending: Option<PendingQuestion>,
    /// The history's size as the server last reported it: prompt and
    /// reply tokens, and how many messages that covered.
    #[serde(default)]
    pub reported: Option<(u64, usize)>,
}

/// Where a role stopped to wait for an answer: the results of the calls made
/// so far in that turn, and the calls still to make after the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingQuestion {
    pub call_id: String,
    pub question: String,
    pub results: Vec<ContentBlock>,
    pub remaining: Vec<ToolCall>,
}

/// How a role ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleEnd {
    /// The model answered without a tool call.
    Finished(String),
    /// A question needs a human; the state holds it in `pending`.
    Waiting(String),
    /// A budget ran out.
    Stopped(Limit),
    /// Someone asked the task to pause.
    Paused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Model(#[from] LlmError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error("{role}: {message}")]
    Fatal { role: &'static str, message: String },
}

/// Mutable task data tools may change.
pub struct Shared<'a> {
    pub spec: &'a mut TaskSpec,
    pub verdict: &'a mut Option<Vec<CriterionVerdict>>,
}

impl RoleState {
    pub fn new(role: AgentRole, opening: String) -> Self {
        RoleState {
            role,
            messages: vec![Message::user_text(opening)],
            turns: 0,
            pending: None,
            reported: None,
        }
    }

    /// Gives the pending question its answer; the next [`run`] continues.
    pub fn answer(&mut self, answer: &str) -> bool {
        let Some(pending) = self.pending.as_mut() else {
            return false;
        };
        pending.results.push(ContentBlock::ToolResult {
            tool_use_id: pending.call_id.clone(),
            content: format!("Answer from the user: {answer}"),
            is_error: false,
        });
        true
    }
}

/// Runs the role until it ends. `nested` research (consulted by code) does
/// not ask humans itself: it hands its question back.
pub async fn run(
    s: &mut Session,
    state: &mut RoleState,
    shared: &mut Shared<'_>,
    nested: bool,
) -> Result<RoleEnd, AgentError> {
    // Built at the role's start from the paths the task touches; kept for
    // the whole role so every request shares one prefix.
    let varying = role_context(s, state.role, shared.spec).await;
    run_with(s, state, shared, nested, varying).await
}

/// [`run`] with the role's second system block already built by
/// [`role_context`] (verify looks at the rules it recalled first).
pub async fn run_with(
    s: &mut Session,
    state: &mut RoleState,
    shared: &mut Shared<'_>,
    nested: bool,
    varying: String,
) -> Result<RoleEnd, AgentError> {
    let system = prompts::system(
        state.role,
        &prompts::RepoContext {
            steering: &s.steering,
            repo_map: &s.repo_map,
            environment: &s.environment,
        },
    );
    let registry = tools::for_role(state.role);
    // Finish a turn that stopped at a question (resume).
    if let Some(pending) = state.pending.take() {
        let answered = pending
            .results
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult { tool_use_id, .. } if *tool_use_id == pending.call_id));
        if !answered {
            let question = pending.question.clone();
            state.pending = Some(pending);
            return Ok(RoleEnd::Waiting(question));
        }
        let mut results = pending.results;
        if let Some(end) = run_calls(
            s,
            state,
            shared,
            &registry,
            pending.remaining,
            &mut results,
            nested,
        )
        .await?
        {
            return Ok(end);
        }
        state.messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    // Text of replies cut off by the output limit, continued in the next.
    let mut continued = String::new();
    loop {
        if let Some(limit) = s.limit_reached(state.turns) {
            return Ok(RoleEnd::Stopped(limit));
        }
        if let Some(author) = read_inbox(s, state).await {
            return Ok(RoleEnd::Paused(author));
        }
        maybe_compact(s, state, shared.spec, &system).await?;
        let mut parts = vec![system.clone()];
        if !varying.is_empty() {
            parts.push(varying.clone());
        }
        let request = Request {
            system: parts,
            messages: state.messages.clone(),
            tools: registry.specs(),
            max_tokens: s.budgets.max_output_tokens,
        };
        let response = s.provider.complete(&request).await?;
        state.turns += 1;
        s.usage.add(&response.usage);
        let mut calls = response.message.tool_calls();
        s.reporter.event(Event::ModelReply {
            role: state.role.as_str().into(),
            usage: response.usage,
            tool_calls: calls.len() + response.cut_calls.len(),
        });
        let text = response.message.text();
        // The history keeps a digest of large arguments, not the payload.
        let mut kept = digest::bound_message(&response.message);
        for (id, name) in &response.cut_calls {
            kept.content.push(ContentBlock::ToolUse {
                id: id.clone(),
                name: name.clone(),
                input: serde_json::json!({}),
            });
            // A null input marks the call as cut off (see `run_calls`).
            calls.push(ToolCall {
                id: id.clone(),
                name: name.clone(),
                input: serde_json::Value::Null,
            });
        }
        state.messages.push(kept);
        let u = response.usage;
        let reported =
            u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens;
        state.reported = (reported > 0).then_some((reported, state.messages.len()));
        if calls.is_empty() {
            if response.stop_reason == StopReason::MaxTokens {
                s.progress(&format!(
                    "✂️ {}: the reply hit the output limit; asking the model to continue",
                    state.role.as_str()
                ));
                continued.push_str(&text);
                state
                    .messages
                    .push(Message::user_text(prompts::CONTINUE_AFTER_MAX_TOKENS));
                continue;
            }
            continued.push_str(&text);
            return Ok(RoleEnd::Finished(continued));
        }
        continued.clear();
        let mut results = Vec::new();
        if let Some(end) =
            run_calls(s, state, shared, &registry, calls, &mut results, nested).await?
        {
            return Ok(end);
        }
        state.messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
}

/// The second system block of `role`: path-scoped steering and recalled
/// team rules (verify judges the diff against those rules). Learn builds
/// its own context.
pub async fn role_context(s: &mut Session, role: AgentRole, spec: &TaskSpec) -> String {
    if role == AgentRole::Learn {
        return String::new();
    }
    let root = s.workspace.root().to_path_buf();
    // The worktree is read only once its checkout finished: git must not
    // look at (or "restore") bookkeeping that is still being written.
    let checked_out = s.prepared();
    let Some(context) = s.context.as_mut() else {
        return String::new();
    };
    let found = context.for_role(role, spec, &root, checked_out).await;
    if role == AgentRole::Verify {
        s.team.judged = found.rules;
    }
    found.block
}

/// Folds steering into the message about to be sent; returns who asked to
/// pause, if someone did.
async fn read_inbox(s: &mut Session, state: &mut RoleState) -> Option<String> {
    let items = match s.inbox.as_mut() {
        Some(inbox) => inbox.poll().await,
        None => return None,
    };
    for item in items {
        match item {
            InboxItem::Pause { author } => {
                s.progress(&format!("⏸️ pause requested by @{author}"));
                return Some(author);
            }
            InboxItem::Steering { author, text } => {
                s.progress(&format!(
                    "💬 steering from @{author}: {}",
                    text.lines().next().unwrap_or_default()
                ));
                let note = format!(
                    "Steering from @{author}, who can change this repository (sent while you work; follow it unless it conflicts with the task's safety):\n{text}"
                );
                match state.messages.last_mut() {
                    Some(last) if last.role == Role::User => {
                        last.content.push(ContentBlock::Text { text: note })
                    }
                    _ => state.messages.push(Message::user_text(note)),
                }
            }
        }
    }
    None
}

/// Runs calls in order, appending a result for each. Returns `Some` when a
/// question must wait for a human (the state then holds it).
#[allow(clippy::too_many_arguments)]
async fn run_calls(
    s: &mut Session,
    state: &mut RoleState,
    shared: &mut Shared<'_>,
    registry: &tools::Registry,
    calls: Vec<ToolCall>,
    results: &mut Vec<ContentBlock>,
    nested: bool,
) -> Result<Option<RoleEnd>, AgentError> {
    // Tools work in the worktree: wait until it is checked out.
    s.ready().await?;
    let mut calls = calls.into_iter();
    while let Some(call) = calls.next() {
        if call.input.is_null() {
            // Cut off by the output limit before its arguments were complete.
            report_call(
                s,
                state.role.as_str(),
                &call,
                false,
                "cut off by the output limit",
            );
            results.push(ContentBlock::ToolResult {
                tool_use_id: call.id,
                content: prompts::cut_tool_call(&call.name),
                is_error: true,
            });
            continue;
        }
        let outcome = {
            let limits = s.tool_limits();
            let mut ctx = ToolContext {
                workspace: &s.workspace,
                runner: &s.runner,
                redactor: &s.redactor,
                limits,
                spec: shared.spec,
                verdict: shared.verdict,
                team: &mut s.team,
            };
            registry.dispatch(&mut ctx, &call).await
        };
        let role = state.role.as_str();
        let (content, is_error) = match outcome {
            Ok(ToolOutput::Text(text)) => {
                report_call(s, role, &call, true, "");
                if call.name == "update_spec" {
                    s.reporter.event(Event::PlanUpdated {
                        plan: shared.spec.plan.clone(),
                    });
                }
                (text, false)
            }
            Err(ToolError::ForModel(message)) => {
                report_call(s, role, &call, false, &message);
                (format!("error: {message}"), true)
            }
            Err(ToolError::Fatal(message)) => {
                report_call(s, role, &call, false, &message);
                return Err(AgentError::Fatal { role, message });
            }
            Ok(ToolOutput::Question(question)) => {
                report_call(s, role, &call, true, "");
                match answer_question(s, state.role, shared, &question, nested).await? {
                    Answer::Text(answer) => (answer, false),
                    Answer::Wait(question) => {
                        s.reporter.event(Event::Question {
                            question: question.clone(),
                        });
                        state.pending = Some(PendingQuestion {
                            call_id: call.id,
                            question: question.clone(),
                            results: std::mem::take(results),
                            remaining: calls.collect(),
                        });
                        return Ok(Some(RoleEnd::Waiting(question)));
                    }
                    Answer::Pause { question, author } => {
                        state.pending = Some(PendingQuestion {
                            call_id: call.id,
                            question,
                            results: std::mem::take(results),
                            remaining: calls.collect(),
                        });
                        return Ok(Some(RoleEnd::Paused(author)));
                    }
                }
            }
        };
        results.push(ContentBlock::ToolResult {
            tool_use_id: call.id,
            content: digest::bound_result(&s.redactor.redact(&content)),
            is_error,
        });
    }
    Ok(None)
}

enum Answer {
    Text(String),
    Wait(String),
    /// Paused while research considered the question; on resume the
    /// question goes to the user.
    Pause {
        question: String,
        author: String,
    },
}

/// Code asks research first; research (top level) asks the human on a
/// terminal, or the task waits.
async fn answer_question(
    s: &mut Session,
    role: AgentRole,
    shared: &mut Shared<'_>,
    question: &str,
    nested: bool,
) -> Result<Answer, AgentError> {
    let mut question = question.to_string();
    if role == AgentRole::Code {
        s.progress(&format!("❓ code asks research: {question}"));
        let mut research = RoleState::new(
            AgentRole::Research,
            prompts::consult_research(shared.spec, &question),
        );
        let end = Box::pin(run(s, &mut research, shared, true)).await?;
        match end {
            RoleEnd::Finished(answer) => return Ok(Answer::Text(format!("Answer from research: {answer}"))),
            RoleEnd::Waiting(for_human) => question = for_human,
            RoleEnd::Paused(author) => return Ok(Answer::Pause { question, author }),
            RoleEnd::Stopped(limit) => {
                return Ok(Answer::Text(format!(
                    "Research could not answer: {}. Decide yourself and record the decision with update_spec `decisions`.",
                    limit.describe(&s.budgets)
                )))
            }
        }
    }
    if nested {
        return Ok(Answer::Wait(question));
    }
    if s.interactive {
        if let Some(answer) = ask_on_terminal(s, &question).await {
            return Ok(Answer::Text(format!("Answer from the user: {answer}")));
        }
    }
    Ok(Answer::Wait(question))
}

async fn ask_on_terminal(s: &Session, question: &str) -> Option<String> {
    s.progress(&format!("❓ {question}\n   your answer (one line): "));
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok().map(|_| line)
    })
    .await
    .ok()
    .flatten()?;
    let line = line.trim().to_string();
    (!line.is_empty()).then_some(line)
}

fn report_call(s: &Session, role: &str, call: &ToolCall, ok: bool, error: &str) {
    let summary = describe_call(call);
    let mark = if ok { "✅" } else { "⚠️" };
    let detail = if error.is_empty() {
        String::new()
    } else {
        format!(" — {}", error.lines().next().unwrap_or_default())
    };
    s.progress(&format!(
        "🔧 {role}: {} {summary} {mark}{detail}",
        call.name
    ));
    s.reporter.event(Event::ToolCall {
        role: role.into(),
        tool: call.name.clone(),
        input: call.input.clone(),
        ok,
        summary: if error.is_empty() {
            summary
        } else {
            error.to_string()
        },
    });
}

/// The argument that says most about a call.
fn describe_call(call: &ToolCall) -> String {
    let field = |k: &str| {
        call.input
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let text = field("path")
        .or_else(|| field("command"))
        .or_else(|| field("pattern"))
        .or_else(|| field("question"))
        .unwrap_or_else(|| {
            call.input
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        });
    let first = text.lines().next().unwrap_or_default();
    let mut short: String = first.chars().take(80).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Near the context limit, replaces the history with a hand-off note, the
/// current TaskSpec and the latest exchange.
async fn maybe_compact(
    s: &mut Session,
    state: &mut RoleState,
    spec: &TaskSpec,
    system: &str,
) -> Result<(), AgentError> {
    // The server's count of the history as last sent, plus an estimate of
    // what was added since; an estimate only before the first reply.
    let estimate = match state.reported {
        Some((tokens, covered)) if covered <= state.messages.len() => {
            tokens + estimate_tokens("", &state.messages[covered..])
        }
        _ => estimate_tokens(system, &state.messages),
    };
    let threshold = s.budgets.context_window * 9 / 10;
    if estimate < threshold || state.messages.len() < 4 {
        return Ok(());
    }
    s.progress(&format!(
        "🗜️ {}: history is ~{estimate} tokens, near the {} token window; compacting",
        state.role.as_str(),
        s.budgets.context_window
    ));
    // Keep the latest exchange verbatim: from the last assistant message on.
    let keep_from = state
        .messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .unwrap_or(state.messages.len());
    let mut history: Vec<Message> = state.messages[..keep_from].to_vec();
    // The summary request must fit too: drop the oldest turns until it does.
    while history.len() > 2 && estimate_tokens(system, &history) > threshold / 2 {
        history.remove(1);
        while history.get(1).is_some_and(|m| m.role == Role::User) {
            history.remove(1);
        }
    }
    let mut as_text = String::new();
    for m in &history {
        as_text.push_str(&format!("{:?}: {}\n", m.role, flatten(m)));
    }
    let request = Request {
        system: vec![system.to_string()],
        messages: vec![Message::user_text(format!(
            "{as_text}\n\n{}",
            prompts::COMPACT
        ))],
        tools: Vec::new(),
        max_tokens: s.budgets.max_output_tokens,
    };
    let response = s.provider.complete(&request).await?;
    s.usage.add(&response.usage);
    let mut note = response.message.text();
    let kept = verbatim(&state.messages[..keep_from]);
    if !kept.is_empty() {
        note.push_str("\n\n# What people said (kept verbatim)\n");
        note.push_str(&kept.join("\n\n"));
    }
    let mut messages = vec![Message::user_text(prompts::after_compaction(spec, &note))];
    messages.extend(state.messages[keep_from..].iter().cloned());
    state.messages = messages;
    state.reported = None;
    Ok(())
}

/// What humans said in `messages`, to survive compaction word for word:
/// every steering note and answer, and the latest user text turns.
fn verbatim(messages: &[Message]) -> Vec<String> {
    const LATEST_TURNS: usize = 2;
    let mut out: Vec<String> = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    // The first message is the role's opening (the task), re-sent anyway.
    for m in messages.iter().skip(1).filter(|m| m.role == Role::User) {
        for block in &m.content {
            match block {
                ContentBlock::Text { text } if text.starts_with("Steering from @") => {
                    out.push(text.clone())
                }
                ContentBlock::Text { text } if !text.trim().is_empty() => texts.push(text),
                ContentBlock::ToolResult { content, .. }
                    if content.starts_with("Answer from the user:") =>
                {
                    out.push(content.clone())
                }
                _ => {}
            }
        }
    }
    let skip = texts.len().saturating_sub(LATEST_TURNS);
    out.extend(texts.into_iter().skip(skip).map(str::to_string));
    out
}

/// A message as plain text (tool calls and results included).
fn flatten(m: &Message) -> String {
    m.content
        .iter()
        .map(|b| match b {
            ContentBlock::Text { text } => text.clone(),
            ContentBlock::ToolUse { name, input, .. } => format!("[call {name} {input}]"),
            ContentBlock::ToolResult { content, .. } => format!("[result] {content}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// About four characters a token.
fn estimate_tokens(system: &str, messages: &[Message]) -> u64 {
    let chars: usize = system.len()
        + messages
            .iter()
            .map(|m| serde_json::to_string(m).map(|t| t.len()).unwrap_or(0))
            .sum::<usize>();
    (chars / 4) as u64
}

impl Session {
    pub fn progress(&self, line: &str) {
        self.reporter.progress(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steering_answers_and_the_latest_user_turns_survive_compaction() {
        let result = |id: &str, text: &str| ContentBlock::ToolResult {
            tool_use_id: id.into(),
            content: text.into(),
            is_error: false,
        };
        let messages = vec![
            Message::user_text("opening: the task"),
            Message::assistant_text("working"),
            Message {
                role: Role::User,
                content: vec![
                    result("a", "file contents"),
                    ContentBlock::Text {
                        text: "Steering from @ana, who can change this repository: use 60 s".into(),
                    },
                ],
            },
            Message::user_text("old note"),
            Message {
                role: Role::User,
                content: vec![result("b", "Answer from the user: keep the old API")],
            },
            Message::user_text("second latest"),
            Message::user_text("latest"),
        ];
        let kept = verbatim(&messages);
        assert_eq!(
            kept,
            vec![
                "Steering from @ana, who can change this repository: use 60 s".to_string(),
                "Answer from the user: keep the old API".to_string(),
                "second latest".to_string(),
                "latest".to_string(),
            ]
        );
    }
}
