//! The OpenAI Chat Completions client (also OpenAI-compatible servers:
//! GitHub Models, Azure, Ollama, vLLM, OpenRouter, LiteLLM): request bodies
//! and decoding of streamed and whole replies into events.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::sse::SseRecord;
use super::wire::{self, count, SseDecode};
use super::{
    ContentBlock, EventStream, LlmError, Provider, ProviderSettings, Request, Role, StopReason,
    StreamEvent, Usage,
};

const NAME: &str = "openai";

pub struct OpenAi {
    settings: ProviderSettings,
    client: reqwest::Client,
    url: String,
}

impl OpenAi {
    pub fn new(settings: ProviderSettings) -> Result<Self, LlmError> {
        let client = wire::http_client(NAME, &settings)?;
        let mut url = wire::join_url(&settings.base_url, "chat/completions");
        if let Some(version) = &settings.api_version {
            url = reqwest::Url::parse_with_params(&url, [("api-version", version)])
                .map_err(|e| LlmError::Connect {
                    provider: NAME,
                    url: url.clone(),
                    message: format!("invalid base URL: {e}"),
                })?
                .to_string();
        }
        Ok(OpenAi {
            settings,
            client,
            url,
        })
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    fn retry_policy(&self) -> super::retry::RetryPolicy {
        self.settings.retry.clone()
    }

    async fn stream(&self, request: &Request) -> Result<EventStream, LlmError> {
        let body = request_body(&self.settings.model, request, self.settings.stream);
        let decoder = Decoder {
            url: self.url.clone(),
            ..Decoder::default()
        };
        wire::exchange(
            NAME,
            &self.settings,
            &self.url,
            &body,
            || {
                let builder = self.client.post(&self.url);
                if self.settings.api_version.is_some() {
                    builder.header("api-key", &self.settings.api_key)
                } else {
                    builder.bearer_auth(&self.settings.api_key)
                }
            },
            decoder,
            |body| message_events(&self.url, body),
        )
        .await
    }
}

/// Reasoning models (o-series, gpt-5) reject `max_tokens` and want
/// `max_completion_tokens`; other servers mostly know only `max_tokens`.
fn token_limit_field(model: &str) -> &'static str {
    let bare = model.rsplit('/').next().unwrap_or(model);
    let reasoning = ["o1", "o3", "o4", "gpt-5"].iter().any(|p| {
        bare.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.']))
    });
    if reasoning {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// The JSON body of a Chat Completions request.
pub fn request_body(model: &str, request: &Request, stream: bool) -> Value {
    let mut messages = Vec::new();
    // One system message per part: the stable first part stays a
    // byte-identical prefix (automatic prompt caching) whatever follows.
    for part in request.system.iter().filter(|p| !p.is_empty()) {
        messages.push(json!({"role": "system", "content": part}));
    }
    for message in &request.messages {
        let mut text = Vec::new();
        let mut calls = Vec::new();
        for block in &message.content {
            match block {
                ContentBlock::Text { text: t } if !t.is_empty() => text.push(t.as_str()),
                ContentBlock::Text { .. } => {}
                ContentBlock::ToolUse { id, name, input } => calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                })),
                // Tool results are messages of their own, in order, right
                // after the assistant message that made the calls.
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    let content = if *is_error {
                        format!("Error: {content}")
                    } else {
                        content.clone()
                    };
                    messages.push(
                        json!({"role": "tool", "tool_call_id": tool_use_id, "content": content}),
                    );
                }
            }
        }
        let text = text.join("\n");
        match message.role {
            Role::User if !text.is_empty() => {
                messages.push(json!({"role": "user", "content": text}));
            }
            Role::User => {}
            Role::Assistant => {
                let mut m = json!({
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { json!(text) },
                });
                if !calls.is_empty() {
                    m["tool_calls"] = Value::Array(calls);
                }
                messages.push(m);
            }
        }
    }

    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(model));
    body.insert(token_limit_field(model).into(), json!(request.max_tokens));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("stream".into(), json!(stream));
    if stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        _ => StopReason::Other,
    }
}

/// `prompt_tokens` includes the cached tokens; [`Usage::input_tokens`]
/// does not.
fn usage(u: &Value) -> Usage {
    let cached = count(u, "/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: count(u, "/prompt_tokens").saturating_sub(cached),
        output_tokens: count(u, "/completion_tokens"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    }
}

/// Arguments may arrive as a JSON string (the standard) or, from some
/// compatible servers, as an object.
fn arguments_text(args: Option<&Value>) -> String {
    match args {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A whole (non-streamed) completion body as events.
fn message_events(url: &str, body: &Value) -> Result<Vec<StreamEvent>, LlmError> {
    if let Some(error) = body.get("error") {
        return Err(wire::reported_error(NAME, url, error));
    }
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| LlmError::Malformed {
            provider: NAME,
            detail: format!(
                "response body has no `choices[0]`: `{}`",
                wire::snippet(&body.to_string())
            ),
        })?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut events = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        events.push(StreamEvent::TextDelta(text.to_string()));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let raw = arguments_text(call.pointer("/function/arguments"));
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        events.push(wire::tool_call_event(NAME, id, name.to_string(), &raw));
    }
    if let Some(u) = body.get("usage").filter(|u| u.is_object()) {
        events.push(StreamEvent::Usage(usage(u)));
    }
    let reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    events.push(StreamEvent::Done(stop_reason(reason)));
    Ok(events)
}

/// A tool call being streamed.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// State of one streamed completion.
#[derive(Default)]
struct Decoder {
    url: String,
    calls: BTreeMap<u64, PartialCall>,
    finish: Option<StopReason>,
}

impl Decoder {
    /// The end: every tool call in index order, then `Done`.
    fn complete(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        let mut out = Vec::new();
        for (index, call) in std::mem::take(&mut self.calls) {
            let id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            out.push(wire::tool_call_event(NAME, id, call.name, &call.arguments));
        }
        let stop = match self.finish {
            Some(StopReason::EndTurn) if !out.is_empty() => StopReason::ToolUse,
            Some(stop) => stop,
            None if out.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        out.push(StreamEvent::Done(stop));
        Ok(out)
    }
}

impl SseDecode for Decoder {
    fn record(&mut self, record: &SseRecord) -> Result<Vec<StreamEvent>, LlmError> {
        if record.data.trim() == "[DONE]" {
            return self.complete();
        }
        let chunk = wire::parse_json(NAME, "chunk", &record.data)?;
        if let Some(error) = chunk.get("error") {
            return Err(wire::reported_error(NAME, &self.url, error));
        }
        let mut out = Vec::new();
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(StreamEvent::Usage(usage(u)));
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(out);
        };
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
            if !text.is_empty() {
                out.push(StreamEvent::TextDelta(text.to_string()));
            }
        }
        let deltas = choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array);
        for (position, delta) in deltas.into_iter().flatten().enumerate() {
            let index = delta
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let call = self.calls.entry(index).or_default();
            if let Some(id) = delta.get("id").and_then(Value::as_str) {
                call.id = id.to_string();
            }
            if let Some(name) = delta.pointer("/function/name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            call.arguments
                .push_str(&arguments_text(delta.pointer("/function/arguments")));
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(stop_reason(reason));
        }
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        if self.finish.is_some() {
            // Some compatible servers close the stream after the finish
            // reason without sending `[DONE]`; the reply is whole.
            tracing::debug!("stream closed after finish_reason without [DONE]");
            return self.complete();
        }
        Err(LlmError::Truncated {
            provider: NAME,
            detail: "the stream ended before any finish_reason or [DONE]".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message, ToolCall, ToolSpec};

    fn data(v: Value) -> SseRecord {
        SseRecord {
            event: None,
            data: v.to_string(),
        }
    }

    #[test]
    fn parallel_tool_calls_are_assembled_by_index() {
        let mut d = Decoder::default();
        let mut events = Vec::new();
        for r in [
            data(
                json!({"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me look."}}]}),
            ),
            data(
                json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function","function":{"name":"list_dir","arguments":""}}]}}]}),
            ),
            data(
                json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"read_file","arguments":"{\"pa"}}]}}]}),
            ),
            data(
                json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"path\":\".\"}"}}]}}]}),
            ),
            data(
                json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"a\"}"}}]}}]}),
            ),
            data(json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})),
            data(
                json!({"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":60}}}),
            ),
            SseRecord {
                event: None,
                data: "[DONE]".into(),
            },
        ] {
            events.extend(d.record(&r).unwrap());
        }
        assert_eq!(
            events,
            vec![
                StreamEvent::TextDelta("Let me look.".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 40,
                    output_tokens: 7,
                    cache_read_tokens: 60,
                    cache_write_tokens: 0
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "read_file".into(),
                    input: json!({"path":"a"})
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "c2".into(),
                    name: "list_dir".into(),
                    input: json!({"path":"."})
                }),
                StreamEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn truncation_and_bad_arguments_are_errors() {
        let mut d = Decoder::default();
        d.record(&data(
            json!({"choices":[{"index":0,"delta":{"content":"par"}}]}),
        ))
        .unwrap();
        assert!(matches!(d.end(), Err(LlmError::Truncated { .. })));

        let mut d = Decoder::default();
        d.record(&data(json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"write_file","arguments":"{nope"}}]}}]}))).unwrap();
        let events = d
            .record(&SseRecord {
                event: None,
                data: "[DONE]".into(),
            })
            .unwrap();
        assert!(
            matches!(&events[0], StreamEvent::ToolCallCut { name, detail, .. } if name == "write_file" && detail.contains("`write_file`")),
            "{events:?}"
        );

        let err = Decoder::default()
            .record(&SseRecord {
                event: None,
                data: "{\"choices\": [".into(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("chunk is not valid JSON"), "{err}");
    }

    #[test]
    fn body_maps_tool_results_to_tool_messages_in_order() {
        let request = Request {
            system: vec!["a".into(), "b".into()],
            tools: vec![ToolSpec {
                name: "t".into(),
                description: "d".into(),
                input_schema: json!({"type":"object"}),
            }],
            max_tokens: 50,
            messages: vec![
                Message::user_text("go"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text {
                            text: "calling".into(),
                        },
                        ContentBlock::ToolUse {
                            id: "1".into(),
                            name: "t".into(),
                            input: json!({"x":1}),
                        },
                        ContentBlock::ToolUse {
                            id: "2".into(),
                            name: "t".into(),
                            input: json!({}),
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::ToolResult {
                            tool_use_id: "1".into(),
                            content: "one".into(),
                            is_error: false,
                        },
                        ContentBlock::ToolResult {
                            tool_use_id: "2".into(),
                            content: "two".into(),
                            is_error: true,
                        },
                    ],
                },
            ],
        };
        let body = request_body("gpt-4o", &request, false);
        assert_eq!(
            body["messages"],
            json!([
                {"role":"system","content":"a"},
                {"role":"system","content":"b"},
                {"role":"user","content":"go"},
                {"role":"assistant","content":"calling","tool_calls":[
                    {"id":"1","type":"function","function":{"name":"t","arguments":"{\"x\":1}"}},
                    {"id":"2","type":"function","function":{"name":"t","arguments":"{}"}}
                ]},
                {"role":"tool","tool_call_id":"1","content":"one"},
                {"role":"tool","tool_call_id":"2","content":"Error: two"}
            ])
        );
        assert_eq!(body["max_tokens"], json!(50));
        assert!(body.get("stream_options").is_none());
        assert_eq!(
            request_body("o3-mini", &request, true)["max_completion_tokens"],
            json!(50)
        );
        assert_eq!(
            request_body("o3-mini", &request, true)["stream_options"],
            json!({"include_usage": true})
        );
    }
}
