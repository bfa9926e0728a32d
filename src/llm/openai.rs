//! Placeholder: the openai wire client is written on the llm branch.

use async_trait::async_trait;

use super::{EventStream, LlmError, Provider, ProviderSettings, Request};

pub struct OpenAi {
    settings: ProviderSettings,
}

impl OpenAi {
    pub fn new(settings: ProviderSettings) -> Result<Self, LlmError> {
        Ok(OpenAi { settings })
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn model(&self) -> &str {
        &self.settings.model
    }
    async fn stream(&self, _request: &Request) -> Result<EventStream, LlmError> {
        Err(LlmError::Malformed {
            provider: "openai",
            detail: "not written yet".into(),
        })
    }
}
