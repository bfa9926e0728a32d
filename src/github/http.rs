//! The one GitHub HTTP policy: every REST request goes through here.
//!
//! octocrab's own retry is off. Idempotent requests are retried on transport
//! errors and 5xx answers with jittered exponential backoff; a request that
//! creates something is sent once per attempt and its caller checks whether
//! the object exists before sending it again (see `GitHub::create`); rate
//! limits (`retry-after`, `x-ratelimit-remaining: 0` with its reset, the
//! secondary-limit 403 recognised from its body, 429) are waited out; at
//! most a few requests are in flight at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use octocrab::Octocrab;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Requests in flight at once per client (GitHub asks integrations not to
/// make many concurrent requests: secondary limits).
const CONCURRENCY: usize = 4;

/// Everything that can go wrong talking to GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// GitHub answered with a non-success status; `message` is GitHub's own.
    #[error("GitHub {method} {path} answered {status}: {message}{}", status_hint(*status, message))]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The request did not get an answer (connection, TLS, timeout, body read).
    #[error("GitHub {method} {path} failed: {detail}")]
    Transport {
        method: &'static str,
        path: String,
        detail: String,
    },
    /// The answer was not the JSON we expected.
    #[error("cannot decode GitHub's answer to {path}: {detail}")]
    Decode { path: String, detail: String },
    /// Not an `owner/name` repository reference.
    #[error("invalid repository {0:?}: expected owner/name")]
    InvalidRepo(String),
    /// `GITHUB_API_URL` is not an http(s) URL.
    #[error("invalid GitHub API URL {url:?}: {detail}")]
    InvalidApiUrl { url: String, detail: String },
    /// The token cannot be sent in an HTTP header.
    #[error("invalid GitHub token: {0}")]
    InvalidToken(&'static str),
    /// The HTTP client could not be built (e.g. no CA certificates).
    #[error("cannot set up the GitHub client: {0}")]
    Client(String),
}

fn status_hint(status: u16, message: &str) -> &'static str {
    match status {
        401 => " (the token was rejected: check that it is valid and not expired)",
        403 if is_secondary_limit(message) => " (GitHub's secondary rate limit)",
        403 => " (the token lacks a permission, or a rate limit was hit)",
        _ => "",
    }
}

impl GitHubError {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the request may have failed for a passing reason (no answer,
    /// or a 5xx): worth trying again, after checking that a create did not
    /// happen.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Transport { .. } => true,
            GitHubError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// How the policy waits; tests inject one that records and returns at once.
pub type Sleeper = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Retry and rate-limit settings.
#[derive(Clone)]
pub struct Policy {
    /// Tries per request (the first included) on transport errors and 5xx.
    pub attempts: u32,
    /// First backoff; doubled per retry, with jitter (half to all of it).
    pub base_delay: Duration,
    /// Longest backoff between two tries.
    pub max_delay: Duration,
    /// Rate-limit waits per request before giving up.
    pub rate_limit_retries: u32,
    /// A rate limit that resets later than this is returned as an error.
    pub max_rate_limit_wait: Duration,
    pub sleeper: Sleeper,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            rate_limit_retries: 3,
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            sleeper: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("attempts", &self.attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("rate_limit_retries", &self.rate_limit_retries)
            .field("max_rate_limit_wait", &self.max_rate_limit_wait)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// The jittered wait before retry number `retry` (0 for the first).
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_delay);
        let factor: f64 = rand::thread_rng().gen_range(0.5..=1.0);
        full.mul_f64(factor)
    }

    pub async fn sleep(&self, d: Duration) {
        (self.sleeper)(d).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Patch,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
        }
    }
}

/// Whether a request may be sent again after it may have reached GitHub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Sending it twice does what sending it once does (GET, PATCH, labels,
    /// reactions, cancel).
    Idempotent,
    /// It creates something: sent again only when it surely did not arrive
    /// (no connection, or a rate limit); the caller checks for the object
    /// before trying again.
    Once,
}

/// A successful answer.
pub struct Answer {
    /// The `rel="next"` page, if any.
    pub next: Option<String>,
    pub body: String,
}

/// The HTTP side of the client: octocrab with its retry off, the base URL,
/// the token (only to scrub it), the policy and the concurrency limit.
#[derive(Clone)]
pub struct Http {
    octo: Octocrab,
    /// `GITHUB_API_URL` without a trailing slash.
    base: Arc<str>,
    token: Arc<str>,
    pub policy: Policy,
    limit: Arc<Semaphore>,
    /// Every request body passes it: no secret reaches GitHub.
    pub redactor: crate::sandbox::Redactor,
    /// Requests sent (every try counts: it is what GitHub's limits count).
    calls: Arc<AtomicU64>,
}

impl Http {
    pub fn new(octo: Octocrab, base: String, token: &str) -> Http {
        Http {
            octo,
            base: base.into(),
            token: token.into(),
            policy: Policy::default(),
            limit: Arc::new(Semaphore::new(CONCURRENCY)),
            redactor: crate::sandbox::Redactor::default(),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many requests this client (and its clones) sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request (a path under the API base, or an absolute URL from
    /// a `Link` header) under the policy; non-2xx answers become errors.
    pub async fn request<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        target: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<Answer, GitHubError> {
        let path = self.display_path(target);
        let method = verb.as_str();
        // The one door for text GitHub receives: comments, PR titles and bodies.
        let body = body
            .map(|b| {
                let mut v = serde_json::to_value(b).map_err(|e| {
                    GitHubError::Client(format!("cannot encode the {method} {path} body: {e}"))
                })?;
                // Free text only: a one-character secret must not mask
                // `head`, `base` or a label.
                if let Some(map) = v.as_object_mut() {
                    for (k, field) in map.iter_mut() {
                        if matches!(k.as_str(), "body" | "title" | "message" | "question") {
                            self.redactor.redact_json(field);
                        }
                    }
                }
                Ok::<_, GitHubError>(v)
            })
            .transpose()?;
        let body = body.as_ref();
        let mut failures = 0;
        let mut rate_waits = 0;
        loop {
            let outcome = self.send_once(verb, target, body).await;
            let (err, wait) = match outcome {
                Sent::Answer(answer) => return Ok(answer),
                Sent::RateLimited { error, wait } => {
                    if rate_waits >= self.policy.rate_limit_retries
                        || wait > self.policy.max_rate_limit_wait
                    {
                        return Err(error);
                    }
                    rate_waits += 1;
                    tracing::warn!(
                        method,
                        path,
                        wait_seconds = wait.as_secs(),
                        "GitHub rate limit; waiting before retrying"
                    );
                    self.policy.sleep(wait).await;
                    continue;
                }
                Sent::Failed {
                    error,
                    never_arrived,
                } => {
                    let may_resend = retry == Retry::Idempotent || never_arrived;
                    failures += 1;
                    if !error.is_transient() || !may_resend || failures >= self.policy.attempts {
                        return Err(error);
                    }
                    let wait = self.policy.backoff(failures - 1);
                    (error, wait)
                }
            };
            tracing::warn!(
                method,
                path,
                attempt = failures,
                wait_ms = wait.as_millis() as u64,
                "GitHub request failed ({err}); retrying"
            );
            self.policy.sleep(wait).await;
        }
    }

    async fn send_once<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        target: &str,
        body: Option<&B>,
    ) -> Sent {
        let url = self.url(target);
        let path = self.display_path(target);
        let method = verb.as_str();
        let transport = |e: &octocrab::Error| GitHubError::Transport {
            method,
            path: path.clone(),
            detail: self.redact(&error_chain(e)),
        };
        let _permit = self.limit.acquire().await;
        tracing::debug!(method, path, "GitHub request");
        self.calls.fetch_add(1, Ordering::Relaxed);
        let sent = match verb {
            Verb::Get => self.octo._get(url.as_str()).await,
            Verb::Post => self.octo._post(url.as_str(), body).await,
            Verb::Patch => self.octo._patch(url.as_str(), body).await,
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Sent::Failed {
                    never_arrived: never_connected(&e),
                    error: transport(&e),
                }
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let limits = Limits {
            retry_after: header("retry-after"),
            remaining: header("x-ratelimit-remaining"),
            reset: header("x-ratelimit-reset"),
        };
        let next = header("link").as_deref().and_then(next_link);
        let text = match self.octo.body_to_string(response).await {
            Ok(t) => t,
            Err(e) => {
                return Sent::Failed {
                    never_arrived: false,
                    error: transport(&e),
                }
            }
        };
        if (200..300).contains(&status) {
            return Sent::Answer(Answer { next, body: text });
        }
        let message = self.redact(&error_message(&text));
        let wait = rate_limit_wait(status, &limits, &message, Utc::now().timestamp());
        let error = GitHubError::Http {
            method,
            path,
            status,
            message,
        };
        match wait {
            Some(wait) => Sent::RateLimited { error, wait },
            None => Sent::Failed {
                error,
                never_arrived: false,
            },
        }
    }

    /// The absolute URL of a path under the API base (absolute URLs pass through).
    pub fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base)
        }
    }

    /// A target as shown in errors and logs: relative to the API base when under it.
    pub fn display_path(&self, target: &str) -> String {
        target
            .strip_prefix(&*self.base)
            .unwrap_or(target)
            .to_string()
    }

    pub fn redact(&self, text: &str) -> String {
        text.replace(&*self.token, "***")
    }
}

/// What one try came back with.
enum Sent {
    Answer(Answer),
    RateLimited {
        error: GitHubError,
        wait: Duration,
    },
    Failed {
        error: GitHubError,
        /// The connection was never made: nothing reached GitHub.
        never_arrived: bool,
    },
}

/// The rate-limit headers of an answer.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub retry_after: Option<String>,
    pub remaining: Option<String>,
    pub reset: Option<String>,
}

/// Whether GitHub's message says a secondary rate limit was hit (GitHub
/// sends a 403 whose message says so, often without `retry-after`).
pub fn is_secondary_limit(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("secondary rate limit") || lower.contains("abuse detection")
}

/// Wait after a secondary limit that names no time (GitHub: at least a minute).
pub const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How long to wait before retrying a rate-limited answer (403/429), per
/// `retry-after`, an exhausted `x-ratelimit-remaining` with its reset time,
/// or the secondary-limit message; `None` when the answer is not a rate limit.
pub fn rate_limit_wait(status: u16, limits: &Limits, message: &str, now: i64) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(seconds) = limits
        .retry_after
        .as_deref()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    if limits.remaining.as_deref().map(str::trim) == Some("0") {
        if let Some(reset) = limits
            .reset
            .as_deref()
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            let seconds = u64::try_from(reset.saturating_sub(now)).unwrap_or(0);
            return Some(Duration::from_secs(seconds.saturating_add(1)));
        }
    }
    (status == 429 || is_secondary_limit(message)).then_some(SECONDARY_RATE_LIMIT_WAIT)
}

/// Whether octocrab failed before a connection existed (nothing was sent):
/// hyper's client says `client error (Connect)`.
fn never_connected(e: &octocrab::Error) -> bool {
    error_chain(e).contains("(Connect)")
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .strip_prefix("rel=")
                .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// GitHub's `message` plus the details of its `errors` list (422s put the
/// useful part there); the start of the raw text when it is not GitHub's JSON.
pub fn error_message(text: &str) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(text) else {
        let raw: String = text.trim().chars().take(300).collect();
        return if raw.is_empty() {
            "(empty answer)".to_string()
        } else {
            raw
        };
    };
    let details: Vec<String> = parsed
        .errors
        .iter()
        .filter_map(|e| match e {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => {
                let field = |k: &str| o.get(k).and_then(serde_json::Value::as_str);
                field("message").map(str::to_string).or_else(|| {
                    let code = field("code")?;
                    Some(match (field("resource"), field("field")) {
                        (Some(res), Some(f)) => format!("{res}.{f} {code}"),
                        (None, Some(f)) => format!("{f} {code}"),
                        _ => code.to_string(),
                    })
                })
            }
            _ => None,
        })
        .collect();
    let message = parsed.message.unwrap_or_default();
    match (message.is_empty(), details.is_empty()) {
        (true, true) => "(no message)".to_string(),
        (false, true) => message,
        (true, false) => details.join("; "),
        (false, false) => format!("{message}: {}", details.join("; ")),
    }
}

/// An error and its sources on one line (octocrab's own text appends a backtrace: dropped).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let first_line = |e: &dyn std::error::Error| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let mut out = first_line(e);
    let mut source = e.source();
    while let Some(s) = source {
        let line = first_line(s);
        if !line.is_empty() && !out.contains(&line) {
            out.push_str(": ");
            out.push_str(&line);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(retry_after: Option<&str>, remaining: Option<&str>, reset: Option<&str>) -> Limits {
        Limits {
            retry_after: retry_after.map(str::to_string),
            remaining: remaining.map(str::to_string),
            reset: reset.map(str::to_string),
        }
    }

    #[test]
    fn rate_limit_waits() {
        let now = 1_000;
        let wait = |status, l: Limits, m: &str| rate_limit_wait(status, &l, m, now);
        assert_eq!(wait(404, limits(Some("5"), None, None), ""), None);
        assert_eq!(
            wait(403, limits(Some("5"), None, None), ""),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait(403, limits(None, Some("0"), Some("1010")), ""),
            Some(Duration::from_secs(11))
        );
        // A plain 403 is a permission problem, not a rate limit.
        assert_eq!(
            wait(
                403,
                limits(None, Some("4999"), Some("1010")),
                "Resource not accessible by integration"
            ),
            None
        );
        // The secondary limit is known by its message when no header says when.
        assert_eq!(
            wait(
                403,
                limits(None, Some("4999"), Some("1010")),
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            ),
            Some(SECONDARY_RATE_LIMIT_WAIT)
        );
        assert_eq!(
            wait(429, limits(None, None, None), ""),
            Some(SECONDARY_RATE_LIMIT_WAIT)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = Policy::default();
        for retry in 0..8 {
            let full = Duration::from_secs(1 << retry).min(p.max_delay);
            let d = p.backoff(retry);
            assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
        }
    }

    #[test]
    fn next_link_finds_rel_next() {
        let link = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let last = r#"<https://api.github.com/x?page=1>; rel="first", <https://api.github.com/x?page=4>; rel="prev""#;
        assert_eq!(next_link(last), None);
    }

    #[test]
    fn error_message_includes_validation_details() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for a:b."}]}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed: A pull request already exists for a:b."
        );
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"}]}"#;
        assert_eq!(
            error_message(body),
            "Validation Failed: PullRequest.head invalid"
        );
        assert_eq!(error_message(r#"{"message":"Not Found"}"#), "Not Found");
        assert_eq!(error_message("<html>oops"), "<html>oops");
        assert_eq!(error_message(""), "(empty answer)");
    }
}
