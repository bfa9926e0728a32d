//! Scripted model server: answers Anthropic Messages and OpenAI Chat
//! Completions requests on 127.0.0.1 from a script of [`Reply`]s, in the
//! real wire shapes (SSE or one JSON body), and records every request.
//!
//! It runs on its own thread with its own tokio runtime, so plain
//! synchronous tests that start the `deckhand` binary can use it as well as
//! async tests that call the library.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// The body parsed as JSON, if it was JSON.
    pub json: Option<Value>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this was a request to the Anthropic Messages endpoint.
    pub fn is_anthropic(&self) -> bool {
        api_of(&self.path) == Some(Api::Anthropic)
    }

    /// Whether this was a request to the OpenAI Chat Completions endpoint.
    pub fn is_openai(&self) -> bool {
        api_of(&self.path) == Some(Api::OpenAi)
    }

    /// A field of the JSON body, by JSON pointer (`/tools`, `/system/0/text`).
    pub fn field(&self, pointer: &str) -> Option<&Value> {
        self.json.as_ref()?.pointer(pointer)
    }
}

/// An assistant turn: text, then tool calls (name and raw JSON arguments).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    pub text: String,
    /// `(tool name, arguments as JSON text)`; the text need not be valid.
    pub tool_calls: Vec<(String, String)>,
    /// Stop because the output limit was hit (`max_tokens` / `length`).
    pub max_tokens: bool,
    /// Report this many prompt tokens instead of the estimate (as a
    /// server with a different tokenizer would).
    pub input_tokens: Option<u64>,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A complete assistant turn.
    Turn(Turn),
    /// An HTTP error status, with an optional `retry-after` header value,
    /// `retry-after-ms` value and body (default: the API's error JSON).
    Status {
        status: u16,
        retry_after: Option<String>,
        retry_after_ms: Option<u64>,
        body: Option<String>,
    },
    /// The turn starts (status 200, about half of it is sent) and then the
    /// connection is dropped.
    DropMidStream(Turn),
    /// Status 200 with a body (or, streaming, an event) that is not JSON.
    Malformed,
    /// Status 200, then the API's error event (streaming) or an error body
    /// with the given error type (`overloaded_error`, `server_error`, …).
    ErrorEvent { kind: String, message: String },
}

impl Reply {
    /// A turn with only text.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Turn(Turn {
            text: text.into(),
            ..Turn::default()
        })
    }

    /// A turn with one tool call.
    pub fn tool(name: &str, args: Value) -> Reply {
        Reply::tools(vec![(name, args)])
    }

    /// A turn with several (parallel) tool calls; add text with
    /// [`Reply::with_text`].
    pub fn tools(calls: Vec<(&str, Value)>) -> Reply {
        Reply::Turn(Turn {
            tool_calls: calls
                .into_iter()
                .map(|(name, args)| (name.to_string(), args.to_string()))
                .collect(),
            ..Turn::default()
        })
    }

    /// A turn with one tool call whose arguments are `raw`, verbatim (for
    /// arguments that are not valid JSON).
    pub fn tool_raw(name: &str, raw: &str) -> Reply {
        Reply::Turn(Turn {
            tool_calls: vec![(name.to_string(), raw.to_string())],
            ..Turn::default()
        })
    }

    /// An HTTP error status.
    pub fn status(status: u16) -> Reply {
        Reply::Status {
            status,
            retry_after: None,
            retry_after_ms: None,
            body: None,
        }
    }

    /// A turn that is cut off mid-way by a dropped connection.
    pub fn drop_mid_stream(turn: Reply) -> Reply {
        match turn {
            Reply::Turn(t) | Reply::DropMidStream(t) => Reply::DropMidStream(t),
            _ => panic!("drop_mid_stream needs a turn such as Reply::text(..)"),
        }
    }

    /// A 200 reply that is not valid JSON.
    pub fn malformed() -> Reply {
        Reply::Malformed
    }

    /// An error reported inside a 200 reply, as Anthropic does for
    /// `overloaded_error` mid-stream.
    pub fn error_event(kind: &str, message: &str) -> Reply {
        Reply::ErrorEvent {
            kind: kind.to_string(),
            message: message.to_string(),
        }
    }

    /// Sets the text of a turn (kept before the tool calls).
    pub fn with_text(mut self, text: impl Into<String>) -> Reply {
        self.turn_mut("with_text").text = text.into();
        self
    }

    /// Marks a turn as stopped by the output limit.
    pub fn max_tokens(mut self) -> Reply {
        self.turn_mut("max_tokens").max_tokens = true;
        self
    }

    /// Reports `n` prompt tokens in the usage of this turn.
    pub fn reporting_input_tokens(mut self, n: u64) -> Reply {
        self.turn_mut("reporting_input_tokens").input_tokens = Some(n);
        self
    }

    /// `retry-after: SECS` on a status reply.
    pub fn retry_after(self, secs: u64) -> Reply {
        self.retry_after_header(&secs.to_string())
    }

    /// `retry-after: VALUE` verbatim (e.g. an HTTP-date) on a status reply.
    pub fn retry_after_header(mut self, value: &str) -> Reply {
        match &mut self {
            Reply::Status { retry_after, .. } => *retry_after = Some(value.to_string()),
            _ => panic!("retry_after applies to Reply::status(..)"),
        }
        self
    }

    /// `retry-after-ms: MS` on a status reply.
    pub fn retry_after_ms(mut self, ms: u64) -> Reply {
        match &mut self {
            Reply::Status { retry_after_ms, .. } => *retry_after_ms = Some(ms),
            _ => panic!("retry_after_ms applies to Reply::status(..)"),
        }
        self
    }

    /// The body of a status reply, verbatim.
    pub fn body(mut self, text: impl Into<String>) -> Reply {
        match &mut self {
            Reply::Status { body, .. } => *body = Some(text.into()),
            _ => panic!("body applies to Reply::status(..)"),
        }
        self
    }

    fn turn_mut(&mut self, what: &str) -> &mut Turn {
        match self {
            Reply::Turn(t) | Reply::DropMidStream(t) => t,
            _ => panic!("{what} applies to a turn such as Reply::text(..)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Anthropic,
    OpenAi,
}

fn api_of(path: &str) -> Option<Api> {
    if path == "/v1/messages" {
        Some(Api::Anthropic)
    } else if path.ends_with("/chat/completions") {
        Some(Api::OpenAi)
    } else {
        None
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    served: usize,
    next_id: u64,
    /// Hashes of prompt prefixes seen so far, per API (for cache usage).
    prefixes: [HashSet<u64>; 2],
    /// Answer streamed (`Some(true)`) or whole (`Some(false)`) whatever
    /// the request asked, like servers that ignore `stream`.
    streamed: Option<bool>,
    /// For each request, its place among the requests of every model server
    /// of the process (whose requests overlapped in time).
    arrivals: Vec<u64>,
    /// Requests (by their index) answered only once their gate opens; each
    /// tells its arrival first.
    holds: Vec<Hold>,
}

/// One held request: told when it arrives, answered when the gate opens.
struct Hold {
    index: usize,
    arrived: std::sync::mpsc::Sender<()>,
    gate: std::sync::mpsc::Receiver<()>,
}

/// Requests received by all model servers of this process, in arrival order.
static ARRIVALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not hide what was recorded.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A scripted model server on `127.0.0.1:PORT`; stops when dropped.
pub struct ModelServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ModelServer {
    /// Answers streamed (`Some(true)`) or whole (`Some(false)`) from now
    /// on, whatever requests ask; `None` follows each request's `stream`.
    pub fn answer_streamed(&self, streamed: Option<bool>) {
        self.shared.lock().streamed = streamed;
    }

    /// Starts serving `script` (more replies can be [`push`](Self::push)ed).
    pub fn start(script: Vec<Reply>) -> ModelServer {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                script: script.into(),
                ..Inner::default()
            }),
        });
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("model server: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("model server: no local address: {e}"),
        };
        if let Err(e) = listener.set_nonblocking(true) {
            panic!("model server: cannot make the listener non-blocking: {e}");
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => panic!("model server: no tokio runtime: {e}"),
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => panic!("model server: cannot adopt the listener: {e}"),
                };
                tokio::select! {
                    result = axum::serve(listener, app) => {
                        if let Err(e) = result {
                            eprintln!("model server stopped: {e}");
                        }
                    }
                    _ = rx => {}
                }
            });
        });
        ModelServer {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Answers request number `index` (0-based) only once `gate` receives
    /// (or its sender is dropped): the event a test waits on before Deckhand
    /// may go on. A gate that never opens fails the request after a minute.
    /// The returned receiver hears when the request has arrived (and waits).
    pub fn hold(
        &self,
        index: usize,
        gate: std::sync::mpsc::Receiver<()>,
    ) -> std::sync::mpsc::Receiver<()> {
        let (arrived, heard) = std::sync::mpsc::channel();
        self.shared.lock().holds.push(Hold {
            index,
            arrived,
            gate,
        });
        heard
    }

    /// Appends a reply to the script.
    pub fn push(&self, reply: Reply) {
        self.shared.lock().script.push_back(reply);
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `ANTHROPIC_BASE_URL` should be (the server serves `/v1/messages`).
    pub fn anthropic_base_url(&self) -> String {
        self.url()
    }

    /// What `OPENAI_BASE_URL` should be (`…/v1`; serves `/v1/chat/completions`).
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The arrival number of each request among the requests of every model
    /// server in this process (how tests see that two servers were busy at once).
    pub fn arrivals(&self) -> Vec<u64> {
        self.shared.lock().arrivals.clone()
    }

    /// Replies not yet served.
    pub fn remaining(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Every scripted reply was served, and in every request each tool
    /// call has exactly one result, right after it and in call order.
    /// Panics naming what is wrong.
    pub fn assert_finished(&self) {
        let remaining = self.remaining();
        assert_eq!(
            remaining, 0,
            "{remaining} scripted model replies were never asked for"
        );
        if let Err(e) = check_tool_pairing(&self.requests()) {
            panic!("tool calls and results are not paired: {e}");
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every tool call in each request's history has exactly one result after
/// it, and every result answers an earlier call. Understands both wire
/// formats. The error names the request (0-based) and the id.
pub fn check_tool_pairing(requests: &[RecordedRequest]) -> Result<(), String> {
    enum Item<'a> {
        Call(&'a str),
        Result(&'a str),
    }
    for (n, request) in requests.iter().enumerate() {
        let Some(messages) = request.field("/messages").and_then(Value::as_array) else {
            continue;
        };
        let mut items = Vec::new();
        for message in messages {
            let calls = message.get("tool_calls").and_then(Value::as_array);
            items.extend(
                calls
                    .into_iter()
                    .flatten()
                    .map(|c| Item::Call(str_at(c, "/id"))),
            );
            if message.get("role").and_then(Value::as_str) == Some("tool") {
                items.push(Item::Result(str_at(message, "/tool_call_id")));
            }
            let blocks = message.get("content").and_then(Value::as_array);
            for block in blocks.into_iter().flatten() {
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => items.push(Item::Call(str_at(block, "/id"))),
                    Some("tool_result") => items.push(Item::Result(str_at(block, "/tool_use_id"))),
                    _ => {}
                }
            }
        }
        // call id → results seen, in call order
        let mut calls: Vec<(&str, usize)> = Vec::new();
        for item in items {
            match item {
                Item::Call(id) if calls.iter().any(|(c, _)| *c == id) => {
                    return Err(format!("request {n}: tool call id `{id}` is used twice"));
                }
                Item::Call(id) => calls.push((id, 0)),
                Item::Result(id) => match calls.iter_mut().find(|(c, _)| *c == id) {
                    Some((_, count)) => *count += 1,
                    None => {
                        return Err(format!(
                            "request {n}: tool result for `{id}` without an earlier tool call"
                        ))
                    }
                },
            }
        }
        if let Some((id, count)) = calls.iter().find(|(_, count)| *count != 1) {
            return Err(format!(
                "request {n}: tool call `{id}` has {count} results (expected exactly 1)"
            ));
        }
        check_order(n, messages)?;
    }
    Ok(())
}

/// The results of a message's tool calls come next, in call order: the
/// next (user) message's `tool_result` blocks (Anthropic), or the `tool`
/// messages that follow (OpenAI).
fn check_order(n: usize, messages: &[Value]) -> Result<(), String> {
    for (i, message) in messages.iter().enumerate() {
        let mut called: Vec<&str> = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| str_at(c, "/id"))
            .collect();
        let openai = !called.is_empty();
        called.extend(
            message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .map(|b| str_at(b, "/id")),
        );
        if called.is_empty() {
            continue;
        }
        let answered: Vec<&str> = if openai {
            messages[i + 1..]
                .iter()
                .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                .map(|m| str_at(m, "/tool_call_id"))
                .collect()
        } else {
            messages
                .get(i + 1)
                .and_then(|m| m.get("content"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| str_at(b, "/tool_use_id"))
                .collect()
        };
        if answered != called {
            return Err(format!(
                "request {n}: message {i} calls {called:?} but the results that follow are {answered:?}"
            ));
        }
    }
    Ok(())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        json: serde_json::from_str(&body).ok(),
        body,
    };
    let arrival = ARRIVALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let Some(api) = api_of(&recorded.path) else {
        let path = recorded.path.clone();
        let mut inner = shared.lock();
        inner.arrivals.push(arrival);
        inner.requests.push(recorded);
        drop(inner);
        return plain(
            StatusCode::NOT_FOUND,
            json!({"error": format!("model server: no endpoint {path}")}).to_string(),
        );
    };
    let req = recorded.json.clone().unwrap_or(Value::Null);
    let gate = {
        let mut inner = shared.lock();
        let index = inner.requests.len();
        let at = inner.holds.iter().position(|h| h.index == index);
        at.map(|at| inner.holds.remove(at))
    };
    if let Some(hold) = gate {
        let _ = hold.arrived.send(());
        let opened = tokio::task::spawn_blocking(move || {
            hold.gate.recv_timeout(std::time::Duration::from_secs(60))
        })
        .await;
        if !matches!(
            opened,
            Ok(Ok(())) | Ok(Err(std::sync::mpsc::RecvTimeoutError::Disconnected))
        ) {
            return error_reply(
                api,
                400,
                None,
                None,
                None,
                "model server: the gate never opened",
            );
        }
    }
    let mut inner = shared.lock();
    let stream = inner
        .streamed
        .unwrap_or(req.get("stream").and_then(Value::as_bool) == Some(true));
    inner.arrivals.push(arrival);
    inner.requests.push(recorded);
    let Some(reply) = inner.script.pop_front() else {
        let message = format!("model script exhausted after {} requests", inner.served);
        return error_reply(api, 400, None, None, None, &message);
    };
    inner.served += 1;
    let mut usage = prompt_usage(&mut inner, api, &req);
    if let Reply::Turn(Turn {
        input_tokens: Some(n),
        ..
    }) = &reply
    {
        usage = PromptUsage {
            input: *n,
            cache_read: 0,
            cache_write: 0,
        };
    }
    let first_id = inner.next_id;
    let calls = match &reply {
        Reply::Turn(t) | Reply::DropMidStream(t) => t.tool_calls.len() as u64,
        _ => 0,
    };
    inner.next_id += calls + 1;
    drop(inner);

    let model = str_at(&req, "/model").to_string();
    let include_usage = req.pointer("/stream_options/include_usage") == Some(&json!(true));
    let ctx = Ctx {
        api,
        model,
        first_id,
        usage,
        include_usage,
    };
    match reply {
        Reply::Status {
            status,
            retry_after,
            retry_after_ms,
            body,
        } => error_reply(
            api,
            status,
            retry_after.as_deref(),
            retry_after_ms,
            body,
            &format!("scripted HTTP {status}"),
        ),
        Reply::Turn(turn) if stream => sse_response(ctx.sse_records(&turn), None),
        Reply::Turn(turn) => json_response(ctx.body(&turn).to_string(), false),
        Reply::DropMidStream(turn) if stream => {
            let records = ctx.sse_records(&turn);
            let keep = records.len() / 2;
            sse_response(records[..keep].to_vec(), records.get(keep).cloned())
        }
        Reply::DropMidStream(turn) => {
            let body = ctx.body(&turn).to_string();
            let half = body.len() / 2;
            json_response(Bytes::from(body).slice(..half), true)
        }
        Reply::Malformed if stream => {
            let mut records = ctx.sse_records(&Turn {
                text: "hello there".into(),
                ..Turn::default()
            });
            let broken = match api {
                Api::Anthropic => (
                    Some("content_block_delta".to_string()),
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hel".to_string(),
                ),
                Api::OpenAi => (
                    None,
                    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel".to_string(),
                ),
            };
            records.insert(2.min(records.len()), broken);
            sse_response(records, None)
        }
        Reply::ErrorEvent { kind, message } => {
            let error = json!({"type": kind, "message": message});
            let record = match api {
                Api::Anthropic => (
                    Some("error".to_string()),
                    json!({"type": "error", "error": error}).to_string(),
                ),
                Api::OpenAi => (None, json!({"error": error}).to_string()),
            };
            if stream {
                let mut records = ctx.sse_records(&Turn::default());
                records.truncate(1);
                records.push(record);
                sse_response(records, None)
            } else {
                json_response(record.1, false)
            }
        }
        Reply::Malformed => json_response(
            match api {
                Api::Anthropic => "{\"id\":\"msg_broken\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hel",
                Api::OpenAi => "{\"id\":\"chatcmpl-broken\",\"choices\":[{\"message\":{\"content\":\"hel",
            }
            .to_string(),
            false,
        ),
    }
}

/// Token counts of a prompt: (uncached input, cache read, cache write).
#[derive(Debug, Clone, Copy, Default)]
struct PromptUsage {
    input: u64,
    cache_read: u64,
    cache_write: u64,
}

fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Approximates prompt caching. Anthropic: the prompt (tools, system,
/// message blocks, with `cache_control` removed) is cut at each
/// `cache_control` breakpoint; the longest such prefix seen in an earlier
/// request is read from cache, the rest up to the last breakpoint is
/// written. OpenAI: automatic, every message boundary is a prefix.
fn prompt_usage(inner: &mut Inner, api: Api, req: &Value) -> PromptUsage {
    let mut segments: Vec<(String, bool)> = Vec::new();
    let mut push = |v: &Value, role: Option<&str>| {
        let mut v = v.clone();
        let marked = v
            .as_object_mut()
            .map(|o| o.remove("cache_control").is_some())
            .unwrap_or(false);
        let text = match role {
            Some(role) => format!("{role}:{v}"),
            None => v.to_string(),
        };
        segments.push((text, marked));
    };
    let items = |p: &str| -> Vec<Value> {
        match req.pointer(p) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other.clone()],
        }
    };
    for tool in items("/tools") {
        push(&tool, None);
    }
    for part in items("/system") {
        push(&part, None);
    }
    for message in items("/messages") {
        let role = str_at(&message, "/role").to_string();
        match (api, message.get("content")) {
            (Api::Anthropic, Some(Value::Array(blocks))) => {
                for block in blocks {
                    push(block, Some(&role));
                }
            }
            (Api::Anthropic, Some(other)) => push(other, Some(&role)),
            (Api::OpenAi, _) => {
                // Every message boundary is a cacheable prefix.
                let mut m = message.clone();
                if let Some(o) = m.as_object_mut() {
                    o.insert("cache_control".into(), Value::Bool(true));
                }
                push(&m, Some(&role));
            }
            (Api::Anthropic, None) => {}
        }
    }
    let seen = &mut inner.prefixes[api as usize];
    let mut prompt = String::new();
    let mut breakpoints: Vec<(u64, usize)> = Vec::new();
    for (text, marked) in &segments {
        prompt.push_str(text);
        prompt.push('\u{1}');
        if *marked {
            breakpoints.push((hash(&prompt), prompt.len()));
        }
    }
    let read = breakpoints
        .iter()
        .filter(|(h, _)| seen.contains(h))
        .map(|(_, len)| *len)
        .max()
        .unwrap_or(0);
    let last = breakpoints.last().map(|(_, len)| *len).unwrap_or(0);
    seen.extend(breakpoints.iter().map(|(h, _)| *h));
    let total = tokens(prompt.len()).max(1);
    let cache_read = tokens(read);
    match api {
        Api::Anthropic => {
            let cache_write = tokens(last.saturating_sub(read));
            PromptUsage {
                input: total.saturating_sub(cache_read + cache_write).max(1),
                cache_read,
                cache_write,
            }
        }
        Api::OpenAi => PromptUsage {
            input: total,
            cache_read: cache_read.min(total),
            cache_write: 0,
        },
    }
}

/// What a reply is rendered from.
struct Ctx {
    api: Api,
    model: String,
    first_id: u64,
    usage: PromptUsage,
    include_usage: bool,
}

/// An SSE record: optional `event:` name and the `data:` text.
type Record = (Option<String>, String);

impl Ctx {
    fn call_id(&self, i: usize) -> String {
        let n = self.first_id + 1 + i as u64;
        match self.api {
            Api::Anthropic => format!("toolu_{n:06}"),
            Api::OpenAi => format!("call_{n:06}"),
        }
    }

    fn message_id(&self) -> String {
        match self.api {
            Api::Anthropic => format!("msg_{:06}", self.first_id),
            Api::OpenAi => format!("chatcmpl-{:06}", self.first_id),
        }
    }

    fn output_tokens(turn: &Turn) -> u64 {
        let chars = turn.text.len()
            + turn
                .tool_calls
                .iter()
                .map(|(n, a)| n.len() + a.len())
                .sum::<usize>();
        tokens(chars).max(1)
    }

    fn stop(&self, turn: &Turn) -> &'static str {
        match (self.api, turn.max_tokens, turn.tool_calls.is_empty()) {
            (Api::Anthropic, true, _) => "max_tokens",
            (Api::Anthropic, false, false) => "tool_use",
            (Api::Anthropic, false, true) => "end_turn",
            (Api::OpenAi, true, _) => "length",
            (Api::OpenAi, false, false) => "tool_calls",
            (Api::OpenAi, false, true) => "stop",
        }
    }

    fn anthropic_usage(&self, output: u64) -> Value {
        json!({
            "input_tokens": self.usage.input,
            "cache_creation_input_tokens": self.usage.cache_write,
            "cache_read_input_tokens": self.usage.cache_read,
            "output_tokens": output,
        })
    }

    fn openai_usage(&self, output: u64) -> Value {
        let prompt = self.usage.input;
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": self.usage.cache_read},
        })
    }

    /// The whole reply as one JSON body.
    fn body(&self, turn: &Turn) -> Value {
        let output = Self::output_tokens(turn);
        match self.api {
            Api::Anthropic => {
                let mut content = Vec::new();
                if !turn.text.is_empty() {
                    content.push(json!({"type": "text", "text": turn.text}));
                }
                for (i, (name, args)) in turn.tool_calls.iter().enumerate() {
                    // Arguments that are not JSON make the body invalid,
                    // as a broken server would.
                    let input = serde_json::from_str::<Value>(args)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|_| args.clone());
                    let block = format!(
                        "{{\"type\":\"tool_use\",\"id\":{},\"name\":{},\"input\":{input}}}",
                        json!(self.call_id(i)),
                        json!(name)
                    );
                    content.push(serde_json::from_str(&block).unwrap_or(Value::String(block)));
                }
                json!({
                    "id": self.message_id(),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": content,
                    "stop_reason": self.stop(turn),
                    "stop_sequence": null,
                    "usage": self.anthropic_usage(output),
                })
            }
            Api::OpenAi => {
                let mut message = json!({
                    "role": "assistant",
                    "content": if turn.text.is_empty() { Value::Null } else { json!(turn.text) },
                });
                if !turn.tool_calls.is_empty() {
                    message["tool_calls"] = turn
                        .tool_calls
                        .iter()
                        .enumerate()
                        .map(|(i, (name, args))| {
                            json!({"id": self.call_id(i), "type": "function", "function": {"name": name, "arguments": args}})
                        })
                        .collect();
                }
                json!({
                    "id": self.message_id(),
                    "object": "chat.completion",
                    "created": 1_764_000_000u64,
                    "model": self.model,
                    "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.stop(turn)}],
                    "usage": self.openai_usage(output),
                })
            }
        }
    }

    /// The reply as SSE records, in the order the real API sends them.
    fn sse_records(&self, turn: &Turn) -> Vec<Record> {
        let output = Self::output_tokens(turn);
        let mut out: Vec<Record> = Vec::new();
        match self.api {
            Api::Anthropic => {
                let mut event = |name: &str, data: Value| {
                    out.push((Some(name.to_string()), data.to_string()));
                };
                event(
                    "message_start",
                    json!({"type": "message_start", "message": {
                        "id": self.message_id(), "type": "message", "role": "assistant",
                        "model": self.model, "content": [], "stop_reason": null,
                        "stop_sequence": null, "usage": self.anthropic_usage(1),
                    }}),
                );
                event("ping", json!({"type": "ping"}));
                let mut index = 0;
                if !turn.text.is_empty() {
                    event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                    );
                    for piece in pieces(&turn.text) {
                        event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
                        );
                    }
                    event(
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": index}),
                    );
                    index += 1;
                }
                for (i, (name, args)) in turn.tool_calls.iter().enumerate() {
                    event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": self.call_id(i), "name": name, "input": {}}}),
                    );
                    for piece in pieces(args) {
                        event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                        );
                    }
                    event(
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": index}),
                    );
                    index += 1;
                }
                event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": self.stop(turn), "stop_sequence": null}, "usage": {"output_tokens": output}}),
                );
                event("message_stop", json!({"type": "message_stop"}));
            }
            Api::OpenAi => {
                let mut chunk = |delta: Value, finish: Value| {
                    let data = json!({
                        "id": self.message_id(), "object": "chat.completion.chunk",
                        "created": 1_764_000_000u64, "model": self.model,
                        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                    });
                    out.push((None, data.to_string()));
                };
                chunk(json!({"role": "assistant", "content": ""}), Value::Null);
                for piece in pieces(&turn.text) {
                    chunk(json!({"content": piece}), Value::Null);
                }
                for (i, (name, args)) in turn.tool_calls.iter().enumerate() {
                    chunk(
                        json!({"tool_calls": [{"index": i, "id": self.call_id(i), "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    );
                    for piece in pieces(args) {
                        chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                            Value::Null,
                        );
                    }
                }
                chunk(json!({}), json!(self.stop(turn)));
                if self.include_usage {
                    let data = json!({
                        "id": self.message_id(), "object": "chat.completion.chunk",
                        "created": 1_764_000_000u64, "model": self.model,
                        "choices": [], "usage": self.openai_usage(output),
                    });
                    out.push((None, data.to_string()));
                }
                out.push((None, "[DONE]".to_string()));
            }
        }
        out
    }
}

/// `text` in up to three pieces, split on character boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(3);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn plain(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_reply(
    api: Api,
    status: u16,
    retry_after: Option<&str>,
    retry_after_ms: Option<u64>,
    body: Option<String>,
    message: &str,
) -> Response {
    let body = body.unwrap_or_else(|| {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        match api {
            Api::Anthropic => {
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            Api::OpenAi => {
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            }
        }
        .to_string()
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = plain(status, body);
    let headers = response.headers_mut();
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert("retry-after", value);
    }
    if let Some(ms) = retry_after_ms {
        headers.insert("retry-after-ms", HeaderValue::from(ms));
    }
    response
}

/// A streamed body of `chunks`, sent with a short pause between them; with
/// `drop_after` the connection is then dropped instead of closed cleanly.
fn chunked_body(chunks: Vec<Bytes>, drop_after: bool) -> Body {
    let mut items: Vec<Result<Bytes, std::io::Error>> = chunks.into_iter().map(Ok).collect();
    if drop_after {
        items.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "scripted drop mid-stream",
        )));
    }
    let stream = futures_util::stream::iter(items).then(|item| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        item
    });
    Body::from_stream(stream)
}

/// SSE records, each written as two chunks split mid-record. With `cut`,
/// the first half of that record is sent and the connection dropped.
fn sse_response(records: Vec<Record>, cut: Option<Record>) -> Response {
    let encode = |(event, data): &Record| {
        let mut text = String::new();
        if let Some(event) = event {
            text.push_str(&format!("event: {event}\n"));
        }
        for line in data.split('\n') {
            text.push_str(&format!("data: {line}\n"));
        }
        text.push('\n');
        Bytes::from(text)
    };
    let mut chunks = Vec::new();
    for record in &records {
        let bytes = encode(record);
        let mid = bytes.len() / 2;
        chunks.push(bytes.slice(..mid));
        chunks.push(bytes.slice(mid..));
    }
    let dropped = cut.is_some();
    if let Some(record) = cut {
        let bytes = encode(&record);
        chunks.push(bytes.slice(..bytes.len() / 2));
    }
    let mut response = Response::new(chunked_body(chunks, dropped));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON body; with `drop` set the connection is dropped after it.
fn json_response(body: impl Into<Bytes>, drop: bool) -> Response {
    let mut response = Response::new(chunked_body(vec![body.into()], drop));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
