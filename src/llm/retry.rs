//! Retry policy for model requests: exponential backoff with jitter on 429,
//! 5xx, 529 and connection resets, honouring `retry-after`, with a bounded
//! total wait.

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};

use super::wire::error_chain;
use super::LlmError;

/// How much of an error body is kept in an error message.
const BODY_LIMIT: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound of a single wait.
    pub max_backoff: Duration,
    /// Upper bound of all waits of one request together.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (1 for the first retry):
    /// `initial_backoff * 2^(retry-1)`, times a random factor in [0.5, 1.5),
    /// at most `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2f64.powi(retry.saturating_sub(1).min(30) as i32);
        let jitter: f64 = rand::thread_rng().gen_range(0.5..1.5);
        let secs = self.initial_backoff.as_secs_f64() * factor * jitter;
        Duration::from_secs_f64(secs.min(self.max_backoff.as_secs_f64()))
    }
}

/// Whether an HTTP status is worth another attempt.
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() || status.as_u16() == 529
}

/// The wait the server asked for: `retry-after-ms` (milliseconds), else
/// `retry-after` as seconds or as an HTTP-date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Ok(wait) = Duration::try_from_secs_f64(ms / 1000.0) {
            return Some(wait);
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Cuts `body` to at most [`BODY_LIMIT`] bytes on a character boundary.
pub(crate) fn truncate_body(body: &str) -> String {
    if body.len() <= BODY_LIMIT {
        return body.to_string();
    }
    let mut end = BODY_LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

/// Sends the request `build` makes (called once per attempt) until a
/// success status arrives, retrying per `policy`. Non-retryable statuses
/// fail at once with [`LlmError::Http`] carrying the (truncated) body.
pub async fn send(
    provider: &'static str,
    url: &str,
    policy: &RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, LlmError> {
    let mut waited = Duration::ZERO;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        tracing::debug!(provider, url, attempt, "sending model request");
        let (last, asked) = match build().send().await {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let status = response.status();
                let asked = retry_after(response.headers(), SystemTime::now());
                let body = match response.text().await {
                    Ok(body) => truncate_body(&body),
                    Err(e) => format!("(body unreadable: {})", error_chain(&e)),
                };
                if !is_retryable(status) {
                    return Err(LlmError::Http {
                        provider,
                        url: url.to_string(),
                        status: status.as_u16(),
                        body,
                    });
                }
                (
                    format!("HTTP {} from {url}: {body}", status.as_u16()),
                    asked,
                )
            }
            Err(e) if e.is_builder() => {
                return Err(LlmError::Connect {
                    provider,
                    url: url.to_string(),
                    message: error_chain(&e),
                })
            }
            Err(e) => (format!("could not reach {url}: {}", error_chain(&e)), None),
        };
        let wait = asked.unwrap_or_else(|| policy.backoff(attempt));
        let within_budget = waited
            .checked_add(wait)
            .is_some_and(|total| total <= policy.max_total_wait);
        if attempt >= policy.max_attempts || !within_budget {
            return Err(LlmError::RetriesExhausted {
                provider,
                attempts: attempt,
                waited_secs: waited.as_secs_f64(),
                last,
            });
        }
        tracing::warn!(
            provider,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "model request failed, retrying: {last}"
        );
        tokio::time::sleep(wait).await;
        waited += wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_ms_and_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "1"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e300")]), now),
            None
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_total_wait: Duration::from_secs(10),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(150));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(600));
            assert!(policy.backoff(20) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 529] {
            assert!(is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(BODY_LIMIT);
        let cut = truncate_body(&body);
        assert!(cut.len() < body.len());
        assert!(cut.ends_with(&format!("({} bytes in all)", body.len())));
        assert_eq!(truncate_body("short"), "short");
    }
}
