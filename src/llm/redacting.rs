//! The one door to the model: every request's system prompt and messages
//! pass through the redactor before any provider sends them.

use async_trait::async_trait;

use super::{EventStream, LlmError, Provider, Request};
use crate::sandbox::Redactor;

/// A provider that masks secrets in everything it is asked to send.
pub struct Redacting {
    inner: std::sync::Arc<dyn Provider>,
    redactor: Redactor,
}

impl Redacting {
    pub fn new(inner: std::sync::Arc<dyn Provider>, redactor: Redactor) -> Self {
        Redacting { inner, redactor }
    }

    /// The request with every string of its system prompt and messages
    /// redacted (keys and tool schemas untouched, so it stays well formed).
    fn mask(&self, request: &Request) -> Request {
        if self.redactor.values().is_empty() {
            return request.clone();
        }
        let mut masked = request.clone();
        for part in masked.system.iter_mut() {
            *part = self.redactor.redact(part).into_owned();
        }
        let messages = serde_json::to_value(&request.messages)
            .map(|mut v| {
                self.walk(&mut v);
                v
            })
            .and_then(serde_json::from_value);
        match messages {
            Ok(messages) => masked.messages = messages,
            Err(e) => {
                // Never send unmasked: drop to an empty conversation instead.
                tracing::error!(error = %e, "could not mask a model request");
                masked.messages.clear();
            }
        }
        masked
    }

    fn walk(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let std::borrow::Cow::Owned(m) = self.redactor.redact(s) {
                    *s = m;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.walk(v)),
            _ => {}
        }
    }
}

#[async_trait]
impl Provider for Redacting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn stream(&self, request: &Request) -> Result<EventStream, LlmError> {
        let masked = self.mask(request);
        self.inner.stream(&masked).await
    }
}
