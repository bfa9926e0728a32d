//! Retry policy for model requests: exponential backoff with jitter on 429,
//! 5xx, 529 and connection resets, honouring `retry-after`, with a bounded
//! total wait.

use std::time::Duration;

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
