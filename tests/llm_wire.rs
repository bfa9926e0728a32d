//! Wire tests of the model providers against the scripted model server:
//! both formats, streamed and whole, retries, errors, caching, costs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/model_server.rs"]
#[allow(dead_code)]
mod model_server;

use std::time::{Duration, Instant};

use deckhand::llm::retry::RetryPolicy;
use deckhand::llm::{
    self, ContentBlock, LlmError, Message, PriceTable, Provider, ProviderKind, ProviderSettings,
    Request, Response, Role, StopReason, ToolSpec, Usage,
};
use model_server::{check_tool_pairing, ModelServer, RecordedRequest, Reply};
use serde_json::{json, Value};

const KINDS: [ProviderKind; 2] = [ProviderKind::Anthropic, ProviderKind::Openai];

fn settings(kind: ProviderKind, server: &ModelServer, stream: bool) -> ProviderSettings {
    let base_url = match kind {
        ProviderKind::Anthropic => server.anthropic_base_url(),
        ProviderKind::Openai => server.openai_base_url(),
    };
    ProviderSettings {
        kind,
        model: match kind {
            ProviderKind::Anthropic => "claude-sonnet-4-20250514".into(),
            ProviderKind::Openai => "gpt-4.1-mini".into(),
        },
        base_url,
        api_key: "test-key".into(),
        stream,
        extra_headers: vec![("x-deckhand-test".into(), "yes".into())],
        api_version: None,
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_total_wait: Duration::from_secs(5),
        },
    }
}

fn provider(kind: ProviderKind, server: &ModelServer, stream: bool) -> Box<dyn Provider> {
    match llm::build(settings(kind, server, stream)) {
        Ok(p) => p,
        Err(e) => panic!("cannot build {kind:?}: {e}"),
    }
}

fn tool(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("the {name} tool"),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }
}

fn request(messages: Vec<Message>) -> Request {
    Request {
        system: vec![
            "You are the code role. Stable instructions.".into(),
            "TaskSpec: changing part".into(),
        ],
        messages,
        tools: vec![tool("read_file"), tool("list_dir"), tool("search")],
        max_tokens: 1024,
    }
}

/// The request of a one-turn conversation: the user says "hi".
fn hi() -> Request {
    request(vec![Message::user_text("hi")])
}

fn tool_use(id: &str, name: &str, input: Value) -> ContentBlock {
    ContentBlock::ToolUse {
        id: id.into(),
        name: name.into(),
        input,
    }
}

fn tool_result(id: &str, content: &str) -> ContentBlock {
    ContentBlock::ToolResult {
        tool_use_id: id.into(),
        content: content.into(),
        is_error: false,
    }
}

fn assistant(content: Vec<ContentBlock>) -> Message {
    Message {
        role: Role::Assistant,
        content,
    }
}

fn call_id(kind: ProviderKind, n: u64) -> String {
    match kind {
        ProviderKind::Anthropic => format!("toolu_{n:06}"),
        ProviderKind::Openai => format!("call_{n:06}"),
    }
}

/// Runs text, one tool call and parallel tool calls through one provider.
async fn three_turns(kind: ProviderKind, stream: bool) -> (Vec<Response>, Vec<RecordedRequest>) {
    let server = ModelServer::start(vec![
        Reply::text("Hello, wörld ✓"),
        Reply::tool("read_file", json!({"path": "src/lib.rs"})),
        Reply::tools(vec![
            ("list_dir", json!({"path": "."})),
            ("search", json!({"pattern": "fn main", "glob": "*.rs"})),
        ])
        .with_text("Looking at two things."),
    ]);
    let p = provider(kind, &server, stream);
    let mut responses = Vec::new();
    let mut messages = vec![Message::user_text("hi")];
    for _ in 0..3 {
        let response = match p.complete(&request(messages.clone())).await {
            Ok(r) => r,
            Err(e) => panic!("{kind:?} stream={stream}: {e}"),
        };
        messages.push(response.message.clone());
        let results: Vec<ContentBlock> = response
            .message
            .tool_calls()
            .iter()
            .map(|c| tool_result(&c.id, "ok"))
            .collect();
        messages.push(if results.is_empty() {
            Message::user_text("go on")
        } else {
            Message {
                role: Role::User,
                content: results,
            }
        });
        responses.push(response);
    }
    assert_eq!(server.remaining(), 0);
    (responses, server.requests())
}

#[tokio::test]
async fn both_formats_streamed_and_whole_give_the_same_turns() {
    for kind in KINDS {
        let mut by_mode = Vec::new();
        for stream in [true, false] {
            let (responses, requests) = three_turns(kind, stream).await;
            let messages: Vec<(Message, StopReason)> = responses
                .iter()
                .map(|r| (r.message.clone(), r.stop_reason))
                .collect();
            assert_eq!(
                messages,
                vec![
                    (
                        Message::assistant_text("Hello, wörld ✓"),
                        StopReason::EndTurn
                    ),
                    (
                        assistant(vec![tool_use(
                            &call_id(kind, 2),
                            "read_file",
                            json!({"path": "src/lib.rs"})
                        )]),
                        StopReason::ToolUse
                    ),
                    (
                        assistant(vec![
                            ContentBlock::Text {
                                text: "Looking at two things.".into()
                            },
                            tool_use(&call_id(kind, 4), "list_dir", json!({"path": "."})),
                            tool_use(
                                &call_id(kind, 5),
                                "search",
                                json!({"pattern": "fn main", "glob": "*.rs"})
                            ),
                        ]),
                        StopReason::ToolUse
                    ),
                ],
                "{kind:?} stream={stream}"
            );
            for r in &responses {
                assert!(
                    r.usage.input_tokens > 0 && r.usage.output_tokens > 0,
                    "{kind:?} stream={stream}: {:?}",
                    r.usage
                );
            }
            assert_eq!(requests.len(), 3);
            for r in &requests {
                assert_eq!(r.field("/stream"), Some(&json!(stream)));
                assert_eq!(r.header("x-deckhand-test"), Some("yes"));
            }
            assert_eq!(check_tool_pairing(&requests), Ok(()));
            by_mode.push(messages);
        }
        assert_eq!(
            by_mode[0], by_mode[1],
            "{kind:?}: streamed and whole differ"
        );
    }
}

#[tokio::test]
async fn anthropic_requests_carry_headers_and_at_most_four_cache_breakpoints() {
    let (responses, requests) = three_turns(ProviderKind::Anthropic, true).await;
    let first = &requests[0];
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.header("x-api-key"), Some("test-key"));
    assert_eq!(first.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.field("/model"),
        Some(&json!("claude-sonnet-4-20250514"))
    );
    assert_eq!(first.field("/max_tokens"), Some(&json!(1024)));

    let ephemeral = json!({"type": "ephemeral"});
    for (n, r) in requests.iter().enumerate() {
        assert!(r.body.matches("cache_control").count() <= 4, "request {n}");
        assert_eq!(r.field("/tools/2/cache_control"), Some(&ephemeral));
        assert_eq!(r.field("/tools/0/cache_control"), None);
        assert_eq!(r.field("/system/0/cache_control"), Some(&ephemeral));
        assert_eq!(r.field("/system/1/cache_control"), None);
        let messages = r.field("/messages").and_then(Value::as_array).cloned();
        let messages = messages.unwrap_or_default();
        let marked: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.to_string().contains("cache_control"))
            .map(|(i, _)| i)
            .collect();
        let last = messages.len() - 1;
        let expected = if last == 0 {
            vec![0]
        } else {
            vec![last - 2, last]
        };
        assert_eq!(marked, expected, "request {n}");
        assert!(messages[last]["content"]
            .as_array()
            .and_then(|c| c.last())
            .is_some_and(|b| b.get("cache_control") == Some(&ephemeral)));
    }
    // Consecutive requests share byte-identical tools and system JSON.
    let raw = |r: &RecordedRequest, field: &str| {
        let value = r
            .field(&format!("/{field}"))
            .cloned()
            .unwrap_or(Value::Null);
        let text = format!("\"{field}\":{value}");
        assert!(r.body.contains(&text), "{field} not found verbatim");
        text
    };
    for pair in requests.windows(2) {
        assert_eq!(raw(&pair[0], "tools"), raw(&pair[1], "tools"));
        assert_eq!(raw(&pair[0], "system"), raw(&pair[1], "system"));
    }
    // The server saw the shared prefix: later turns read from the cache.
    assert!(
        responses[0].usage.cache_write_tokens > 0,
        "{:?}",
        responses[0].usage
    );
    assert_eq!(responses[0].usage.cache_read_tokens, 0);
    assert!(
        responses[1].usage.cache_read_tokens > 0,
        "{:?}",
        responses[1].usage
    );
    assert!(responses[2].usage.cache_read_tokens > responses[1].usage.cache_read_tokens);
}

#[tokio::test]
async fn openai_requests_and_cached_tokens_are_not_counted_as_input() {
    let (responses, requests) = three_turns(ProviderKind::Openai, true).await;
    let r = &requests[2];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.query, None);
    assert_eq!(r.header("authorization"), Some("Bearer test-key"));
    assert_eq!(r.header("api-key"), None);
    assert_eq!(
        r.field("/stream_options"),
        Some(&json!({"include_usage": true}))
    );
    assert_eq!(r.field("/tools/0/type"), Some(&json!("function")));
    assert_eq!(r.field("/tools/0/function/name"), Some(&json!("read_file")));
    assert_eq!(
        r.field("/messages/0"),
        Some(&json!({"role": "system", "content": "You are the code role. Stable instructions."}))
    );
    // The part that changes is a second system message after the stable one.
    assert_eq!(
        r.field("/messages/1"),
        Some(&json!({"role": "system", "content": "TaskSpec: changing part"}))
    );
    assert_eq!(
        r.field("/messages/5"),
        Some(
            &json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_000002", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"src/lib.rs\"}"}}
            ]})
        )
    );
    assert_eq!(
        r.field("/messages/6"),
        Some(&json!({"role": "tool", "tool_call_id": "call_000002", "content": "ok"}))
    );
    // The model server reports cached tokens within prompt_tokens; the
    // client must not count them twice.
    let second = responses[1].usage;
    assert!(second.cache_read_tokens > 0, "{second:?}");
    let third = responses[2].usage;
    assert!(
        third.cache_read_tokens > second.cache_read_tokens,
        "{third:?}"
    );
    let prompt_estimate = (r.body.len() as u64) / 4;
    assert!(
        third.input_tokens + third.cache_read_tokens <= prompt_estimate,
        "{third:?} vs a prompt of about {prompt_estimate} tokens"
    );
}

#[tokio::test]
async fn azure_style_sends_api_key_and_api_version() {
    let server = ModelServer::start(vec![Reply::text("hi from azure")]);
    let mut s = settings(ProviderKind::Openai, &server, false);
    s.base_url = format!("{}/openai/deployments/gpt-4o/", server.url());
    s.api_version = Some("2024-10-21".into());
    let p = llm::build(s).unwrap();
    let response = p.complete(&hi()).await.unwrap();
    assert_eq!(response.message, Message::assistant_text("hi from azure"));
    let requests = server.requests();
    assert_eq!(
        requests[0].path,
        "/openai/deployments/gpt-4o/chat/completions"
    );
    assert_eq!(requests[0].query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(requests[0].header("api-key"), Some("test-key"));
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[0].header("x-deckhand-test"), Some("yes"));
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::status(429).retry_after(1), Reply::text("ok")]);
        let started = Instant::now();
        let response = provider(kind, &server, true).complete(&hi()).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{kind:?} did not wait"
        );
        assert_eq!(response.message, Message::assistant_text("ok"));
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn server_errors_and_overload_are_retried() {
    for kind in KINDS {
        let server = ModelServer::start(vec![
            Reply::status(500),
            Reply::status(529),
            Reply::status(503).retry_after_ms(20),
            Reply::text("finally"),
        ]);
        let response = provider(kind, &server, false)
            .complete(&hi())
            .await
            .unwrap();
        assert_eq!(response.message, Message::assistant_text("finally"));
        assert_eq!(server.requests().len(), 4);
    }
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit_naming_the_last_error() {
    let server = ModelServer::start(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::status(503),
        Reply::status(502).body("bad gateway upstream"),
        Reply::text("never"),
    ]);
    let err = provider(ProviderKind::Anthropic, &server, true)
        .complete(&hi())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::RetriesExhausted { attempts: 4, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("HTTP 502") && err.to_string().contains("bad gateway upstream"),
        "{err}"
    );
    assert_eq!(server.remaining(), 1);

    // A retry-after beyond the total budget is not waited for.
    let server = ModelServer::start(vec![
        Reply::status(429).retry_after(60),
        Reply::text("late"),
    ]);
    let err = provider(ProviderKind::Openai, &server, true)
        .complete(&hi())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::RetriesExhausted { attempts: 1, waited_secs, .. } if waited_secs == 0.0),
        "{err}"
    );
    assert_eq!(server.remaining(), 1);
    assert!(err.to_string().contains("HTTP 429"), "{err}");
}

#[tokio::test]
async fn client_errors_fail_at_once_with_the_body() {
    for kind in KINDS {
        let server = ModelServer::start(vec![
            Reply::status(400).body("{\"error\":{\"message\":\"max_tokens is too large\"}}"),
            Reply::text("unused"),
        ]);
        let err = provider(kind, &server, true)
            .complete(&hi())
            .await
            .unwrap_err();
        match &err {
            LlmError::Http { status, body, .. } => {
                assert_eq!(*status, 400);
                assert!(body.contains("max_tokens is too large"), "{body}");
            }
            other => panic!("{kind:?}: expected Http, got {other}"),
        }
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn an_exhausted_script_is_a_client_error() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::text("one")]);
        let p = provider(kind, &server, true);
        p.complete(&hi()).await.unwrap();
        let err = p.complete(&hi()).await.unwrap_err();
        assert!(matches!(err, LlmError::Http { status: 400, .. }), "{err}");
        assert!(
            err.to_string()
                .contains("model script exhausted after 1 requests"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_dropped_connection_is_truncated() {
    for kind in KINDS {
        for stream in [true, false] {
            let server = ModelServer::start(vec![Reply::drop_mid_stream(
                Reply::tool(
                    "read_file",
                    json!({"path": "a very long path/to/some/file.rs"}),
                )
                .with_text("I will read the file now, then think about it."),
            )]);
            let err = once(&*provider(kind, &server, stream), &hi())
                .await
                .unwrap_err();
            assert!(
                matches!(err, LlmError::Truncated { .. }) && err.is_transient(),
                "{kind:?} stream={stream}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_replies_name_what_was_wrong() {
    for kind in KINDS {
        for stream in [true, false] {
            let server = ModelServer::start(vec![Reply::malformed()]);
            let err = provider(kind, &server, stream)
                .complete(&hi())
                .await
                .unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, LlmError::Malformed { .. }),
                "{kind:?} stream={stream}: {text}"
            );
            assert!(
                text.contains("not valid JSON") && text.contains("hel"),
                "{text}"
            );
            if stream && kind == ProviderKind::Anthropic {
                assert!(text.contains("`content_block_delta`"), "{text}");
            }
        }
    }
}

#[tokio::test]
async fn errors_reported_inside_a_reply_keep_their_kind() {
    for kind in KINDS {
        for stream in [true, false] {
            let server = ModelServer::start(vec![
                Reply::error_event("overloaded_error", "Overloaded"),
                Reply::error_event("invalid_request_error", "prompt is too long"),
            ]);
            let p = provider(kind, &server, stream);
            let err = once(&*p, &hi()).await.unwrap_err();
            assert!(
                matches!(err, LlmError::Http { status: 529, .. }) && err.is_transient(),
                "{kind:?} stream={stream}: {err}"
            );
            assert!(
                err.to_string().contains("overloaded_error: Overloaded"),
                "{err}"
            );
            let err = p.complete(&hi()).await.unwrap_err();
            assert!(
                matches!(err, LlmError::Http { status: 400, .. }) && !err.is_transient(),
                "{kind:?} stream={stream}: {err}"
            );
            assert!(err.to_string().contains("prompt is too long"), "{err}");
        }
    }
}

/// One request, collected, without the retry of `complete`.
async fn once(p: &dyn Provider, request: &Request) -> Result<llm::Response, LlmError> {
    llm::collect(p.name(), p.stream(request).await?).await
}

#[tokio::test]
async fn a_reply_that_fails_after_it_started_is_asked_for_again() {
    for kind in KINDS {
        for stream in [true, false] {
            let server = ModelServer::start(vec![
                Reply::drop_mid_stream(Reply::text("half a reply that is long enough")),
                Reply::error_event("overloaded_error", "Overloaded"),
                Reply::error_event("api_error", "Internal server error"),
                Reply::text("the whole reply"),
            ]);
            let response = provider(kind, &server, stream)
                .complete(&hi())
                .await
                .unwrap_or_else(|e| panic!("{kind:?} stream={stream}: {e}"));
            assert_eq!(response.message, Message::assistant_text("the whole reply"));
            let requests = server.requests();
            assert_eq!(requests.len(), 4, "{kind:?} stream={stream}");
            assert!(requests.iter().all(|r| r.body == requests[0].body));
            server.assert_finished();
        }
    }
}

#[tokio::test]
async fn a_bad_request_inside_a_reply_is_not_asked_again() {
    let server = ModelServer::start(vec![
        Reply::error_event("invalid_request_error", "prompt is too long"),
        Reply::text("never sent"),
    ]);
    let err = provider(ProviderKind::Anthropic, &server, true)
        .complete(&hi())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("prompt is too long"), "{err}");
    assert_eq!(server.remaining(), 1);
}

#[test]
fn the_server_needs_no_runtime_from_the_test() {
    let server = ModelServer::start(vec![]);
    server.push(Reply::text("from a plain test"));
    assert_eq!(server.remaining(), 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(provider(ProviderKind::Openai, &server, true).complete(&hi()))
        .unwrap();
    assert_eq!(
        response.message,
        Message::assistant_text("from a plain test")
    );
    assert_eq!(server.remaining(), 0);
    drop(runtime);
    drop(server);
}

#[tokio::test]
async fn tool_arguments_that_are_not_json_name_the_tool() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::tool_raw("edit_file", "{\"path\": oops")]);
        let err = provider(kind, &server, true)
            .complete(&hi())
            .await
            .unwrap_err();
        assert!(matches!(err, LlmError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("`edit_file`"), "{kind:?}: {err}");
    }
}

#[tokio::test]
async fn max_tokens_stop_is_reported() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::text("cut sho").max_tokens()]);
        let response = provider(kind, &server, true).complete(&hi()).await.unwrap();
        assert_eq!(response.stop_reason, StopReason::MaxTokens, "{kind:?}");
    }
}

#[tokio::test]
async fn costs_for_known_models_and_none_for_unknown() {
    let server = ModelServer::start(vec![Reply::text("priced")]);
    let response = provider(ProviderKind::Anthropic, &server, true)
        .complete(&hi())
        .await
        .unwrap();
    let prices = PriceTable::default();
    let cost = prices
        .cost("claude-sonnet-4-20250514", &response.usage)
        .unwrap();
    let u = response.usage;
    let expected = (u.input_tokens as f64 * 3.0
        + u.output_tokens as f64 * 15.0
        + u.cache_read_tokens as f64 * 0.3
        + u.cache_write_tokens as f64 * 3.75)
        / 1e6;
    assert!(
        cost > 0.0 && (cost - expected).abs() < 1e-12,
        "{cost} vs {expected}"
    );
    assert_eq!(prices.cost("qwen2.5-coder:7b", &response.usage), None);
    assert!(
        prices.cost(
            "gpt-4.1-mini-2025-04-14",
            &Usage {
                input_tokens: 1_000_000,
                ..Usage::default()
            }
        ) == Some(0.4)
    );
}

#[test]
fn tool_pairing_check_finds_missing_and_duplicate_results() {
    let recorded = |body: Value| RecordedRequest {
        method: "POST".into(),
        path: "/v1/messages".into(),
        query: None,
        headers: Vec::new(),
        body: body.to_string(),
        json: Some(body),
    };
    let anthropic = |results: Vec<Value>| {
        recorded(json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "t", "input": {}}]},
            {"role": "user", "content": results},
        ]}))
    };
    let ok = json!({"type": "tool_result", "tool_use_id": "a", "content": "x"});
    assert_eq!(check_tool_pairing(&[anthropic(vec![ok.clone()])]), Ok(()));
    let missing = check_tool_pairing(&[anthropic(vec![])]).unwrap_err();
    assert!(missing.contains("`a` has 0 results"), "{missing}");
    let twice = check_tool_pairing(&[anthropic(vec![ok.clone(), ok])]).unwrap_err();
    assert!(twice.contains("`a` has 2 results"), "{twice}");

    let openai = recorded(json!({"messages": [
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1"}, {"id": "c2"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
        {"role": "tool", "tool_call_id": "zz", "content": "y"},
    ]}));
    let stray = check_tool_pairing(&[openai]).unwrap_err();
    assert!(
        stray.contains("`zz` without an earlier tool call"),
        "{stray}"
    );
}

/// A provider whose every reply breaks after it started (a dropped stream):
/// counts the attempts; its clock is tokio's, so a paused test sees every
/// wait exactly.
struct AlwaysDropped {
    policy: RetryPolicy,
    attempts: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl Provider for AlwaysDropped {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn model(&self) -> &str {
        "claude-sonnet-4-20250514"
    }
    async fn stream(&self, _request: &Request) -> Result<llm::EventStream, LlmError> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(LlmError::Truncated {
            provider: "anthropic",
            detail: "the connection closed mid-reply".into(),
        })
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.policy.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_reply_that_keeps_breaking_is_given_up_within_the_bounded_wait() {
    // The total wait, not the attempt count, ends it: backoffs of
    // 1, 2, 4, 8, 8, … seconds (each ×[0.5, 1.5)), at most 30 s in all.
    let p = AlwaysDropped {
        policy: RetryPolicy {
            max_attempts: 1000,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            max_total_wait: Duration::from_secs(30),
        },
        attempts: Default::default(),
    };
    let started = tokio::time::Instant::now();
    let err = p.complete(&hi()).await.unwrap_err();
    let waited = started.elapsed();
    let attempts = p.attempts.load(std::sync::atomic::Ordering::SeqCst);
    let LlmError::RetriesExhausted {
        attempts: reported,
        waited_secs,
        ref last,
        ..
    } = err
    else {
        panic!("expected RetriesExhausted, got {err}");
    };
    assert_eq!(reported, attempts);
    assert!(last.contains("the connection closed mid-reply"), "{last}");
    // The timer rounds each wait up to the next millisecond.
    let rounding = f64::from(attempts) * 0.001;
    assert!(
        waited.as_secs_f64() >= waited_secs && waited.as_secs_f64() - waited_secs <= rounding,
        "{waited_secs} vs {waited:?}"
    );
    assert!(waited <= Duration::from_secs(30), "{waited:?}");
    // At most 1.5 + 3 + 6 + 8 + 8 = 26.5 s for five retries: those always
    // fit. At least 0.5 + 1 + 2 + 4 + 4·k s for 4 + k retries: at most 10 fit.
    assert!(
        (6..=11).contains(&attempts),
        "{attempts} attempts in {waited:?}"
    );
    // Giving up costs no wait of its own: the last wait was before the last attempt.
    assert!(waited >= Duration::from_millis(500 + 1000 + 2000 + 4000 + 4000));

    // The attempt count ends it when the waits are short.
    let p = AlwaysDropped {
        policy: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(300),
        },
        attempts: Default::default(),
    };
    let started = tokio::time::Instant::now();
    let err = p.complete(&hi()).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, LlmError::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(p.attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Two waits: 2 s and 4 s, each ×[0.5, 1.5).
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
}
