//! The Anthropic Messages API client: request bodies with prompt-cache
//! breakpoints, and decoding of streamed and whole replies into events.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::sse::SseRecord;
use super::wire::{self, count, SseDecode};
use super::{
    ContentBlock, EventStream, LlmError, Message, Provider, ProviderSettings, Request, Role,
    StopReason, StreamEvent, ToolCall, Usage,
};

const NAME: &str = "anthropic";
const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    settings: ProviderSettings,
    client: reqwest::Client,
    url: String,
}

impl Anthropic {
    pub fn new(settings: ProviderSettings) -> Result<Self, LlmError> {
        let client = wire::http_client(NAME, &settings)?;
        // Accept the base URL with or without the `/v1` suffix.
        let base = settings.base_url.trim_end_matches('/');
        let path = if base.ends_with("/v1") {
            "messages"
        } else {
            "v1/messages"
        };
        let url = wire::join_url(base, path);
        Ok(Anthropic {
            settings,
            client,
            url,
        })
    }
}

#[async_trait]
impl Provider for Anthropic {
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
                self.client
                    .post(&self.url)
                    .header("x-api-key", &self.settings.api_key)
                    .header("anthropic-version", API_VERSION)
            },
            decoder,
            |body| message_events(&self.url, body),
        )
        .await
    }
}

fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// The JSON body of a Messages API request. Deterministic for equal inputs,
/// so consecutive requests share a byte-identical prefix. Cache
/// breakpoints (at most 4): the last tool, the first (stable) system part,
/// the last block of the final message and of the last user message before
/// it.
pub fn request_body(model: &str, request: &Request, stream: bool) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(request.max_tokens));

    let system: Vec<Value> = request
        .system
        .iter()
        .filter(|part| !part.is_empty())
        .enumerate()
        .map(|(i, part)| {
            let mut block = json!({"type": "text", "text": part});
            if i == 0 {
                block["cache_control"] = ephemeral();
            }
            block
        })
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    if !request.tools.is_empty() {
        let last = request.tools.len() - 1;
        let tools = request
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut tool = json!({
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.input_schema,
                });
                if i == last {
                    tool["cache_control"] = ephemeral();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }

    let mut messages: Vec<Value> = request.messages.iter().map(message_json).collect();
    if let Some(final_idx) = messages.len().checked_sub(1) {
        let previous_user = request.messages[..final_idx]
            .iter()
            .rposition(|m| m.role == Role::User);
        for idx in std::iter::once(final_idx).chain(previous_user) {
            if let Some(block) = messages[idx]
                .get_mut("content")
                .and_then(Value::as_array_mut)
                .and_then(|blocks| blocks.last_mut())
            {
                block["cache_control"] = ephemeral();
            }
        }
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(stream));
    Value::Object(body)
}

fn message_json(message: &Message) -> Value {
    let mut content: Vec<Value> = message
        .content
        .iter()
        .filter(|b| !matches!(b, ContentBlock::Text { text } if text.is_empty()))
        .map(|block| match block {
            ContentBlock::Text { text } => json!({"type": "text", "text": text}),
            ContentBlock::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let mut result =
                    json!({"type": "tool_result", "tool_use_id": tool_use_id, "content": content});
                if *is_error {
                    result["is_error"] = json!(true);
                }
                result
            }
        })
        .collect();
    if content.is_empty() {
        // The API rejects empty messages and empty text blocks.
        content.push(json!({"type": "text", "text": "(empty)"}));
    }
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    json!({"role": role, "content": content})
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" | "stop_sequence" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        _ => StopReason::Other,
    }
}

/// Usage as the API reports it: `input_tokens` already excludes cache reads
/// and writes.
fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: count(u, "/input_tokens"),
        output_tokens: count(u, "/output_tokens"),
        cache_read_tokens: count(u, "/cache_read_input_tokens"),
        cache_write_tokens: count(u, "/cache_creation_input_tokens"),
    }
}

/// A whole (non-streamed) message body as events.
fn message_events(url: &str, body: &Value) -> Result<Vec<StreamEvent>, LlmError> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(wire::reported_error(
            NAME,
            url,
            body.get("error").unwrap_or(&Value::Null),
        ));
    }
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::Malformed {
            provider: NAME,
            detail: format!(
                "response body has no `content` array: `{}`",
                wire::snippet(&body.to_string())
            ),
        })?;
    let mut events = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                events.push(StreamEvent::TextDelta(text.to_string()));
            }
            Some("tool_use") => {
                let str_field = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
                let input = match block.get("input") {
                    Some(Value::Object(o)) => Value::Object(o.clone()),
                    Some(Value::Null) | None => json!({}),
                    Some(other) => {
                        return Err(LlmError::Malformed {
                            provider: NAME,
                            detail: format!(
                                "input of tool call `{}` is not an object: `{}`",
                                str_field("name"),
                                wire::snippet(&other.to_string())
                            ),
                        })
                    }
                };
                events.push(StreamEvent::ToolCall(ToolCall {
                    id: str_field("id").to_string(),
                    name: str_field("name").to_string(),
                    input,
                }));
            }
            _ => {}
        }
    }
    if let Some(u) = body.get("usage") {
        events.push(StreamEvent::Usage(usage(u)));
    }
    let reason = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    events.push(StreamEvent::Done(stop_reason(reason)));
    Ok(events)
}

/// A content block being streamed.
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// State of one streamed message.
#[derive(Default)]
struct Decoder {
    url: String,
    blocks: BTreeMap<u64, Block>,
    stop: Option<StopReason>,
    started: bool,
}

impl SseDecode for Decoder {
    fn record(&mut self, record: &SseRecord) -> Result<Vec<StreamEvent>, LlmError> {
        let label = record.event.as_deref().unwrap_or("(unnamed)");
        let data = wire::parse_json(NAME, &format!("event `{label}`"), &record.data)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(record.event.as_deref())
            .unwrap_or("");
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        let missing = |what: &str| LlmError::Malformed {
            provider: NAME,
            detail: format!(
                "event `{kind}` lacks {what}: `{}`",
                wire::snippet(&record.data)
            ),
        };
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                self.started = true;
                if let Some(u) = data.pointer("/message/usage") {
                    out.push(StreamEvent::Usage(usage(u)));
                }
            }
            "content_block_start" => {
                let block = data
                    .get("content_block")
                    .ok_or_else(|| missing("`content_block`"))?;
                let str_field = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
                let entry = match str_field("type") {
                    "text" => {
                        let text = str_field("text");
                        if !text.is_empty() {
                            out.push(StreamEvent::TextDelta(text.to_string()));
                        }
                        Block::Text
                    }
                    "tool_use" => Block::Tool {
                        id: str_field("id").to_string(),
                        name: str_field("name").to_string(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, entry);
            }
            "content_block_delta" => {
                let delta = data.get("delta").ok_or_else(|| missing("`delta`"))?;
                let str_field = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match (str_field("type"), self.blocks.get_mut(&index)) {
                    ("text_delta", _) => {
                        out.push(StreamEvent::TextDelta(str_field("text").to_string()));
                    }
                    ("input_json_delta", Some(Block::Tool { json, .. })) => {
                        json.push_str(str_field("partial_json"));
                    }
                    ("input_json_delta", _) => {
                        return Err(missing(&format!(
                            "a tool_use block started at index {index}"
                        )))
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(Block::Tool { id, name, json }) = self.blocks.remove(&index) {
                    out.push(wire::tool_call_event(NAME, id, name, &json));
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(stop_reason(reason));
                }
                if let Some(u) = data.get("usage") {
                    out.push(StreamEvent::Usage(usage(u)));
                }
            }
            "message_stop" => {
                out.push(StreamEvent::Done(self.stop.unwrap_or(StopReason::EndTurn)));
            }
            "error" => {
                let error = data.get("error").unwrap_or(&Value::Null);
                return Err(wire::reported_error(NAME, &self.url, error));
            }
            _ => {} // ping and event types added later
        }
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        let detail = if self.started {
            "the stream ended without `message_stop`"
        } else {
            "the stream ended without any `message_start`"
        };
        Err(LlmError::Truncated {
            provider: NAME,
            detail: detail.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;

    fn rec(event: &str, data: Value) -> SseRecord {
        SseRecord {
            event: Some(event.into()),
            data: data.to_string(),
        }
    }

    fn decode(records: &[SseRecord]) -> Result<Vec<StreamEvent>, LlmError> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for r in records {
            out.extend(d.record(r)?);
        }
        Ok(out)
    }

    #[test]
    fn stream_decodes_text_tool_and_usage() {
        let events = decode(&[
            rec("message_start", json!({"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":1}}})),
            rec("ping", json!({"type":"ping"})),
            rec("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})),
            rec("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})),
            rec("content_block_stop", json!({"type":"content_block_stop","index":0})),
            rec("content_block_start", json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"read_file","input":{}}})),
            rec("content_block_delta", json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}})),
            rec("content_block_delta", json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"a.rs\"}"}})),
            rec("content_block_stop", json!({"type":"content_block_stop","index":1})),
            rec("content_block_start", json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"list_dir","input":{}}})),
            rec("content_block_stop", json!({"type":"content_block_stop","index":2})),
            rec("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}})),
            rec("message_stop", json!({"type":"message_stop"})),
        ])
        .unwrap();
        assert_eq!(
            events,
            vec![
                StreamEvent::Usage(Usage {
                    input_tokens: 10,
                    output_tokens: 1,
                    cache_read_tokens: 90,
                    cache_write_tokens: 5
                }),
                StreamEvent::TextDelta("Hi".into()),
                StreamEvent::ToolCall(ToolCall {
                    id: "t1".into(),
                    name: "read_file".into(),
                    input: json!({"path":"a.rs"})
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "t2".into(),
                    name: "list_dir".into(),
                    input: json!({})
                }),
                StreamEvent::Usage(Usage {
                    output_tokens: 42,
                    ..Usage::default()
                }),
                StreamEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn stream_errors_are_named() {
        let bad = SseRecord {
            event: Some("content_block_delta".into()),
            data: "{\"type\":".into(),
        };
        let err = decode(&[bad]).unwrap_err().to_string();
        assert!(
            err.contains("event `content_block_delta`") && err.contains("{\"type\":"),
            "{err}"
        );

        // Arguments that are not JSON: a cut call, an error unless the
        // reply stopped at the output limit (decided when collecting).
        let events = decode(&[
            rec("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"edit_file"}})),
            rec("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{oops"}})),
            rec("content_block_stop", json!({"type":"content_block_stop","index":0})),
        ])
        .unwrap();
        assert!(
            matches!(&events[0], StreamEvent::ToolCallCut { name, detail, .. } if name == "edit_file" && detail.contains("`edit_file`")),
            "{events:?}"
        );

        let err = decode(&[rec(
            "error",
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("overloaded_error: Overloaded"), "{err}");
        assert!(err.contains("HTTP 529"), "{err}");

        let mut d = Decoder::default();
        assert!(matches!(d.end(), Err(LlmError::Truncated { .. })));
    }

    #[test]
    fn whole_body_becomes_the_same_events() {
        let events = message_events("u", &json!({
            "type": "message", "role": "assistant",
            "content": [{"type":"text","text":"ok"},{"type":"tool_use","id":"t","name":"search","input":{"pattern":"x"}}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 4}
        }))
        .unwrap();
        assert_eq!(
            events,
            vec![
                StreamEvent::TextDelta("ok".into()),
                StreamEvent::ToolCall(ToolCall {
                    id: "t".into(),
                    name: "search".into(),
                    input: json!({"pattern":"x"})
                }),
                StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Usage::default()
                }),
                StreamEvent::Done(StopReason::MaxTokens),
            ]
        );
    }

    #[test]
    fn base_url_may_carry_v1_or_not() {
        for base in ["http://h", "http://h/", "http://h/v1", "http://h/v1/"] {
            let client = Anthropic::new(ProviderSettings {
                kind: crate::llm::ProviderKind::Anthropic,
                model: "m".into(),
                base_url: base.into(),
                api_key: "k".into(),
                stream: true,
                extra_headers: vec![("anthropic-beta".into(), "x".into())],
                api_version: None,
                retry: Default::default(),
            })
            .unwrap();
            assert_eq!(client.url, "http://h/v1/messages", "{base}");
        }
    }

    #[test]
    fn body_has_four_breakpoints_in_the_right_places() {
        let tool = |n: &str| ToolSpec {
            name: n.into(),
            description: "d".into(),
            input_schema: json!({"type":"object"}),
        };
        let request = Request {
            system: vec!["stable".into(), "changing".into()],
            tools: vec![tool("a"), tool("b")],
            max_tokens: 100,
            messages: vec![
                Message::user_text("task"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse {
                        id: "t".into(),
                        name: "a".into(),
                        input: json!({}),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "t".into(),
                        content: "out".into(),
                        is_error: false,
                    }],
                },
                Message::assistant_text("more"),
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::ToolResult {
                            tool_use_id: "u".into(),
                            content: "bad".into(),
                            is_error: true,
                        },
                        ContentBlock::Text {
                            text: "steer".into(),
                        },
                    ],
                },
            ],
        };
        let body = request_body("m", &request, true);
        assert_eq!(body.to_string().matches("cache_control").count(), 4);
        assert!(body["tools"][1].get("cache_control").is_some());
        assert!(body["system"][0].get("cache_control").is_some());
        assert!(body["system"][1].get("cache_control").is_none());
        assert!(body["messages"][4]["content"][1]
            .get("cache_control")
            .is_some());
        assert!(body["messages"][2]["content"][0]
            .get("cache_control")
            .is_some());
        assert!(body["messages"][0]["content"][0]
            .get("cache_control")
            .is_none());
        assert_eq!(body["messages"][4]["content"][0]["is_error"], json!(true));
        assert!(body["messages"][2]["content"][0].get("is_error").is_none());
        assert_eq!(body["stream"], json!(true));
    }
}
