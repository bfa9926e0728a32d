//! Model providers: the wire-neutral conversation types, the `Provider` trait
//! that every wire client implements, and token/cost accounting.
//!
//! A provider only knows how to *stream* a reply. The non-streaming call is
//! derived from the stream by collecting it (`Provider::complete`), so there
//! is exactly one path from an HTTP response to a [`Response`]. Whether the
//! wire request itself asks the server to stream (`"stream": true`) is a
//! setting of the client; a non-streamed body is turned into the same event
//! sequence before it is collected.

pub mod anthropic;
pub mod openai;
pub mod pricing;
pub mod redacting;
pub mod retry;
pub mod sse;
mod wire;

use std::pin::Pin;

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

pub use pricing::PriceTable;

/// Who spoke a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One block of a message. Tool calls and their results are blocks so that a
/// conversation maps one-to-one onto both wire formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    pub fn assistant_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    /// The tool calls this message makes, in order.
    pub fn tool_calls(&self) -> Vec<ToolCall> {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, name, input } => Some(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// All text blocks joined.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for b in &self.content {
            if let ContentBlock::Text { text } = b {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }
}

/// A tool the model may call: name, description and JSON schema of its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
}

/// A complete tool call as the model made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: serde_json::Value,
}

/// One request to a model. `system` is a list of parts so that the stable
/// part (role instructions, steering, repo map) can be cached apart from a
/// part that changes (the current TaskSpec).
///
/// Caching convention: the *first* system part is the stable one. The
/// Anthropic client puts a cache breakpoint on it (and on the last tool, and
/// on the last blocks of the final and the previous user message), so keep
/// it byte-identical across the requests of one role and put everything that
/// changes from turn to turn in the later parts. The OpenAI client sends
/// each part as its own system message (its caching is automatic by prefix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
}

/// Token use of one or more requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }

    /// Every token counted, in or out.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Other,
}

/// One event of a streamed reply, already decoded from the wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of assistant text.
    TextDelta(String),
    /// A tool call, complete (arguments fully assembled and parsed).
    ToolCall(ToolCall),
    /// A tool call whose arguments are not valid JSON. When the reply was
    /// cut off by the output limit this is the model's to hear about;
    /// otherwise the reply is malformed (`detail` says how).
    ToolCallCut {
        id: String,
        name: String,
        detail: String,
    },
    /// Token use reported by the server (may come more than once; later
    /// reports for the same reply replace earlier fields that are non-zero).
    Usage(Usage),
    /// The reply is complete.
    Done(StopReason),
}

/// A complete reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub message: Message,
    pub usage: Usage,
    pub stop_reason: StopReason,
    /// Tool calls cut off by the output limit before their arguments were
    /// complete: `(id, name)`. They are not in `message`.
    pub cut_calls: Vec<(String, String)>,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// Errors from a provider. Each names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{provider}: HTTP {status} from {url}: {body}")]
    Http {
        provider: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{provider}: could not reach {url}: {message}")]
    Connect {
        provider: &'static str,
        url: String,
        message: String,
    },
    #[error(
        "{provider}: gave up after {attempts} attempts over {waited_secs:.1}s; last error: {last}"
    )]
    RetriesExhausted {
        provider: &'static str,
        attempts: u32,
        waited_secs: f64,
        last: String,
    },
    #[error("{provider}: malformed reply: {detail}")]
    Malformed {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider}: the reply stream ended before the message was complete ({detail})")]
    Truncated {
        provider: &'static str,
        detail: String,
    },
}

impl LlmError {
    /// Whether the same request may succeed if made again later: a reply
    /// cut off mid-stream, or a rate limit, overload or server error that
    /// the server reported inside an already started reply. Statuses that
    /// arrive before a reply are retried inside the provider; when those
    /// retries run out the error is [`LlmError::RetriesExhausted`], which is
    /// not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Truncated { .. } => true,
            LlmError::Http { status, .. } => {
                retry::is_retryable(reqwest::StatusCode::from_u16(*status).unwrap_or_default())
            }
            _ => false,
        }
    }
}

/// A model behind some wire format.
#[async_trait]
pub trait Provider: Send + Sync {
    /// `anthropic` or `openai`.
    fn name(&self) -> &'static str;
    /// The model id requests are made for.
    fn model(&self) -> &str;
    /// Sends the request and yields the reply as events. Retries (429, 5xx,
    /// connection resets) happen inside, before the first event.
    async fn stream(&self, request: &Request) -> Result<EventStream, LlmError>;

    /// The retry policy of this provider's requests.
    fn retry_policy(&self) -> retry::RetryPolicy {
        retry::RetryPolicy::default()
    }

    /// The whole reply, collected from [`Provider::stream`]. A reply that
    /// fails after it started (dropped stream, an overload reported inside
    /// it, a 5xx after the first byte) is asked for again, the same
    /// request, within the policy's bounded wait.
    async fn complete(&self, request: &Request) -> Result<Response, LlmError> {
        let policy = self.retry_policy();
        let mut waited = std::time::Duration::ZERO;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result = match self.stream(request).await {
                Ok(events) => collect(self.name(), events).await,
                Err(e) => Err(e),
            };
            let error = match result {
                Ok(response) => return Ok(response),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            let wait = policy.backoff(attempt);
            let within = waited
                .checked_add(wait)
                .is_some_and(|total| total <= policy.max_total_wait);
            if attempt >= policy.max_attempts || !within {
                return Err(LlmError::RetriesExhausted {
                    provider: self.name(),
                    attempts: attempt,
                    waited_secs: waited.as_secs_f64(),
                    last: error.to_string(),
                });
            }
            tracing::warn!(
                provider = self.name(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "the reply failed after it started, asking again: {error}"
            );
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }
}

/// Collects a stream of events into one [`Response`]. A stream that ends
/// without [`StreamEvent::Done`] is [`LlmError::Truncated`].
pub async fn collect(
    provider: &'static str,
    mut events: EventStream,
) -> Result<Response, LlmError> {
    let mut content: Vec<ContentBlock> = Vec::new();
    let mut usage = Usage::default();
    let mut cut: Vec<(String, String, String)> = Vec::new();
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::TextDelta(delta) => match content.last_mut() {
                Some(ContentBlock::Text { text }) => text.push_str(&delta),
                _ => content.push(ContentBlock::Text { text: delta }),
            },
            StreamEvent::ToolCall(call) => content.push(ContentBlock::ToolUse {
                id: call.id,
                name: call.name,
                input: call.input,
            }),
            StreamEvent::ToolCallCut { id, name, detail } => cut.push((id, name, detail)),
            StreamEvent::Usage(u) => merge_usage(&mut usage, &u),
            StreamEvent::Done(stop_reason) => {
                if stop_reason != StopReason::MaxTokens {
                    if let Some((_, _, detail)) = cut.first() {
                        let detail = detail.clone();
                        return Err(LlmError::Malformed { provider, detail });
                    }
                }
                content.retain(|b| !matches!(b, ContentBlock::Text { text } if text.is_empty()));
                return Ok(Response {
                    cut_calls: std::mem::take(&mut cut)
                        .into_iter()
                        .map(|(id, name, _)| (id, name))
                        .collect(),
                    message: Message {
                        role: Role::Assistant,
                        content,
                    },
                    usage,
                    stop_reason,
                });
            }
        }
    }
    Err(LlmError::Truncated {
        provider,
        detail: "no end-of-message event".into(),
    })
}

/// Later usage reports win for every field they set.
fn merge_usage(into: &mut Usage, from: &Usage) {
    if from.input_tokens > 0 {
        into.input_tokens = from.input_tokens;
    }
    if from.output_tokens > 0 {
        into.output_tokens = from.output_tokens;
    }
    if from.cache_read_tokens > 0 {
        into.cache_read_tokens = from.cache_read_tokens;
    }
    if from.cache_write_tokens > 0 {
        into.cache_write_tokens = from.cache_write_tokens;
    }
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Anthropic,
    Openai,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
        }
    }
}

/// Everything needed to build a provider, resolved from flags, config file
/// and environment by `config`. Nothing here reads the environment.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub model: String,
    pub base_url: String,
    pub api_key: String,
    /// Stream replies over SSE (`true`, default) or ask for one JSON body.
    pub stream: bool,
    /// Extra HTTP headers sent on every request.
    pub extra_headers: Vec<(String, String)>,
    /// Azure OpenAI style: `?api-version=` on the URL and an `api-key`
    /// header instead of `Authorization: Bearer`.
    pub api_version: Option<String>,
    pub retry: retry::RetryPolicy,
}

/// Builds the provider the settings describe.
pub fn build(settings: ProviderSettings) -> Result<Box<dyn Provider>, LlmError> {
    Ok(match settings.kind {
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new(settings)?),
        ProviderKind::Openai => Box::new(openai::OpenAi::new(settings)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(events: Vec<StreamEvent>) -> EventStream {
        Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)))
    }

    fn cut() -> StreamEvent {
        StreamEvent::ToolCallCut {
            id: "t1".into(),
            name: "write_file".into(),
            detail: "arguments of tool call `write_file` are not valid JSON".into(),
        }
    }

    #[tokio::test]
    async fn a_cut_tool_call_is_the_models_to_hear_only_at_the_output_limit() {
        let got = collect(
            "x",
            stream_of(vec![
                StreamEvent::TextDelta("writing".into()),
                cut(),
                StreamEvent::Done(StopReason::MaxTokens),
            ]),
        )
        .await
        .unwrap();
        assert_eq!(got.stop_reason, StopReason::MaxTokens);
        assert_eq!(
            got.cut_calls,
            vec![("t1".to_string(), "write_file".to_string())]
        );
        assert!(got.message.tool_calls().is_empty());

        let err = collect(
            "x",
            stream_of(vec![cut(), StreamEvent::Done(StopReason::ToolUse)]),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LlmError::Malformed { .. }), "{err}");
    }
}
