//! `ask_question`: hands a question to the orchestrator, which finds the answer.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{for_model, redacted};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

pub struct AskQuestion;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    question: String,
}

#[async_trait]
impl Tool for AskQuestion {
    fn name(&self) -> &'static str {
        "ask_question"
    }

    fn description(&self) -> &'static str {
        "Ask a question you cannot answer from the repository (intent, a choice between approaches, missing information). The answer comes back as this tool's result; it may take a while, so first try reading and searching."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "question": {
                    "type": "string",
                    "description": "One specific, self-contained question, with the options you see if it is a choice."
                }
            },
            "required": ["question"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| {
            let question = args.question.trim();
            if question.is_empty() {
                return Err(for_model(
                    "the question is empty; write the question to ask",
                ));
            }
            Ok(ToolOutput::Question(question.to_string()))
        });
        redacted(ctx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    #[tokio::test]
    async fn returns_the_question_trimmed_and_redacted() {
        let mut f = Fixture::new();
        let out = f
            .call(
                &AskQuestion,
                json!({"question": format!("  Use {SECRET}? ")}),
            )
            .await;
        assert_eq!(out, Ok(ToolOutput::Question("Use ***?".into())));
    }

    #[tokio::test]
    async fn refuses_an_empty_question_and_bad_arguments() {
        let mut f = Fixture::new();
        let err = f.err(&AskQuestion, json!({"question": "  "})).await;
        assert!(err.contains("empty"), "{err}");
        let err = f.err(&AskQuestion, json!({"q": "x"})).await;
        assert!(
            err.starts_with("invalid arguments for ask_question"),
            "{err}"
        );
    }
}
