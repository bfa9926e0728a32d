//! Placeholder: the anthropic wire client is written on the llm branch.

use async_trait::async_trait;

use super::{EventStream, LlmError, Provider, ProviderSettings, Request};

pub struct Anthropic {
    settings: ProviderSettings,
}

impl Anthropic {
    pub fn new(settings: ProviderSettings) -> Result<Self, LlmError> {
        Ok(Anthropic { settings })
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn model(&self) -> &str {
        &self.settings.model
    }
    async fn stream(&self, _request: &Request) -> Result<EventStream, LlmError> {
        Err(LlmError::Malformed {
            provider: "anthropic",
            detail: "not written yet".into(),
        })
    }
}
