//! Plumbing shared by the wire clients: the HTTP client, turning a response
//! (SSE or one JSON body) into an [`EventStream`], and JSON error helpers.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::sse::{self, SseRecord};
use super::{EventStream, LlmError, ProviderSettings, StreamEvent};

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may stay silent while we read a reply. Models can
/// think for minutes before the first token of a non-streamed reply.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// The one HTTP client of a provider, with the settings' extra headers.
pub(crate) fn http_client(
    provider: &'static str,
    settings: &ProviderSettings,
) -> Result<reqwest::Client, LlmError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &settings.extra_headers {
        let bad = |what: &str| LlmError::Connect {
            provider,
            url: settings.base_url.clone(),
            message: format!("extra header {name:?} has an invalid {what}"),
        };
        let name =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| bad("value"))?;
        headers.append(name, value);
    }
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .default_headers(headers)
        .build()
        .map_err(|e| LlmError::Connect {
            provider,
            url: settings.base_url.clone(),
            message: format!("cannot build HTTP client: {}", error_chain(&e)),
        })
}

/// `base` and `path` joined with exactly one `/`.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The start of `text`, for quoting in error messages.
pub(crate) fn snippet(text: &str) -> String {
    const LIMIT: usize = 160;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(LIMIT).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Parses JSON that arrived as `what` (an event type or "response body").
pub(crate) fn parse_json(
    provider: &'static str,
    what: &str,
    text: &str,
) -> Result<Value, LlmError> {
    serde_json::from_str(text).map_err(|e| LlmError::Malformed {
        provider,
        detail: format!("{what} is not valid JSON ({e}): `{}`", snippet(text)),
    })
}

/// Parses the arguments of a tool call; empty arguments mean `{}`.
pub(crate) fn parse_tool_args(
    provider: &'static str,
    tool: &str,
    raw: &str,
) -> Result<Value, LlmError> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(raw).map_err(|e| LlmError::Malformed {
        provider,
        detail: format!(
            "arguments of tool call `{tool}` are not valid JSON ({e}): `{}`",
            snippet(raw)
        ),
    })
}

/// A finished tool call as an event: [`StreamEvent::ToolCall`], or
/// [`StreamEvent::ToolCallCut`] when its arguments are not valid JSON.
pub(crate) fn tool_call_event(
    provider: &'static str,
    id: String,
    name: String,
    raw: &str,
) -> StreamEvent {
    match parse_tool_args(provider, &name, raw) {
        Ok(input) => StreamEvent::ToolCall(super::ToolCall { id, name, input }),
        Err(e) => StreamEvent::ToolCallCut {
            id,
            name,
            detail: match e {
                LlmError::Malformed { detail, .. } => detail,
                other => other.to_string(),
            },
        },
    }
}

/// An error the server reported inside a 200 reply (an SSE `error` event or
/// an `error` object in the body) as [`LlmError::Http`] with the status its
/// type stands for, so that callers can tell an overload from a bad request.
pub(crate) fn reported_error(provider: &'static str, url: &str, error: &Value) -> LlmError {
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| error.get("code").and_then(Value::as_str))
        .unwrap_or("error");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| snippet(&error.to_string()));
    let status = match kind {
        "overloaded_error" => 529,
        "rate_limit_error" | "rate_limit_exceeded" | "tokens" | "requests" => 429,
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        _ => 500,
    };
    LlmError::Http {
        provider,
        url: url.to_string(),
        status,
        body: format!("error reported inside the reply: {kind}: {message}"),
    }
}

/// A `u64` field of a JSON object, 0 when absent.
pub(crate) fn count(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// Decodes one provider's SSE records into events.
pub(crate) trait SseDecode: Send + 'static {
    /// The events one record yields.
    fn record(&mut self, record: &SseRecord) -> Result<Vec<StreamEvent>, LlmError>;
    /// The stream ended cleanly: the last events, or [`LlmError::Truncated`]
    /// when the end-of-message marker never came.
    fn end(&mut self) -> Result<Vec<StreamEvent>, LlmError>;
}

/// The events of a streamed (SSE) response. A connection lost mid-stream is
/// [`LlmError::Truncated`]; the stream ends after `Done` or the first error.
pub(crate) fn sse_events<D: SseDecode>(
    provider: &'static str,
    response: reqwest::Response,
    decoder: D,
) -> EventStream {
    struct State<R, D> {
        records: R,
        decoder: D,
        ready: VecDeque<StreamEvent>,
        seen: usize,
        eof: bool,
        over: bool,
    }
    let state = State {
        records: Box::pin(sse::records(response.bytes_stream())),
        decoder,
        ready: VecDeque::new(),
        seen: 0,
        eof: false,
        over: false,
    };
    let stream = futures_util::stream::unfold(state, move |mut st| async move {
        loop {
            if st.over {
                return None;
            }
            if let Some(event) = st.ready.pop_front() {
                st.over = matches!(event, StreamEvent::Done(_));
                return Some((Ok(event), st));
            }
            if st.eof {
                return None;
            }
            let step = match st.records.next().await {
                Some(Ok(record)) => {
                    st.seen += 1;
                    st.decoder.record(&record)
                }
                Some(Err(sse::RecordError::Stream(e))) => Err(LlmError::Truncated {
                    provider,
                    detail: format!(
                        "connection lost after {} events: {}",
                        st.seen,
                        error_chain(&e)
                    ),
                }),
                Some(Err(sse::RecordError::TooLong(e))) => Err(LlmError::Malformed {
                    provider,
                    detail: format!("after {} events: {e}", st.seen),
                }),
                None => {
                    st.eof = true;
                    st.decoder.end()
                }
            };
            match step {
                Ok(events) => st.ready.extend(events),
                Err(e) => {
                    st.over = true;
                    return Some((Err(e), st));
                }
            }
        }
    });
    Box::pin(stream)
}

/// Sends `body` as JSON (with the retries of `settings`) on the request
/// `post` starts, and turns the reply into events: SSE records through
/// `decoder` when the server streams (`text/event-stream`), otherwise the
/// whole body through `convert`.
pub(crate) async fn exchange<D: SseDecode>(
    provider: &'static str,
    settings: &ProviderSettings,
    url: &str,
    body: &Value,
    post: impl Fn() -> reqwest::RequestBuilder,
    decoder: D,
    convert: impl FnOnce(&Value) -> Result<Vec<StreamEvent>, LlmError>,
) -> Result<EventStream, LlmError> {
    let body = serde_json::to_vec(body).map_err(|e| LlmError::Malformed {
        provider,
        detail: format!("cannot serialize the request: {e}"),
    })?;
    let response = super::retry::send(provider, url, &settings.retry, || {
        post()
            .header("content-type", "application/json")
            .body(body.clone())
    })
    .await?;
    // The server's answer decides how to read it: a server that ignores
    // `stream` (or streams unasked) is still understood.
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let streamed = if content_type.starts_with("text/event-stream") {
        true
    } else if content_type.contains("json") {
        false
    } else {
        settings.stream
    };
    if streamed {
        Ok(sse_events(provider, response, decoder))
    } else {
        body_events(provider, response, convert).await
    }
}

/// The events of a non-streamed response: the whole body is read, parsed
/// as JSON and converted by `convert`.
pub(crate) async fn body_events(
    provider: &'static str,
    response: reqwest::Response,
    convert: impl FnOnce(&Value) -> Result<Vec<StreamEvent>, LlmError>,
) -> Result<EventStream, LlmError> {
    let body = response.text().await.map_err(|e| LlmError::Truncated {
        provider,
        detail: format!("reading the response body failed: {}", error_chain(&e)),
    })?;
    let json = parse_json(provider, "response body", &body)?;
    let events = convert(&json)?;
    Ok(Box::pin(futures_util::stream::iter(
        events.into_iter().map(Ok),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(
            join_url("http://h/v1/", "/chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(join_url("http://h", "v1/messages"), "http://h/v1/messages");
    }

    #[test]
    fn tool_args_errors_name_the_tool() {
        assert_eq!(
            parse_tool_args("x", "t", " ").unwrap(),
            serde_json::json!({})
        );
        let err = parse_tool_args("x", "read_file", "{\"path\": ")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`read_file`") && err.contains("{\"path\": "),
            "{err}"
        );
    }

    #[test]
    fn snippets_are_short() {
        let long = "x".repeat(1000);
        assert!(snippet(&long).chars().count() <= 161);
        assert_eq!(snippet("abc"), "abc");
    }
}
