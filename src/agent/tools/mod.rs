//! The tool contract: one handler trait, the registry of tools each role
//! may use, and the two kinds of tool error.
//!
//! Names and parameters are what the model sees; keep them stable.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::agent::AgentRole;
use crate::llm::{ToolCall, ToolSpec};
use crate::sandbox::Redactor;
use crate::task::TaskSpec;
use crate::workspace::{CommandRunner, Workspace};

/// A tool failed. The type says who handles it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    /// The model can act on this: it becomes the tool result (marked as an
    /// error) and the model may retry.
    #[error("{0}")]
    ForModel(String),
    /// Nothing the model can do: the task ends with this message.
    #[error("{0}")]
    Fatal(String),
}

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOutput {
    /// Text for the model.
    Text(String),
    /// `ask_question`: the orchestrator must get an answer (from research,
    /// a terminal, or the user later) and give it as the tool result.
    Question(String),
}

/// One acceptance criterion as judged by verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionVerdict {
    pub criterion: String,
    pub met: bool,
    pub evidence: String,
}

/// Limits on what tools give back to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits {
    pub max_output_lines: usize,
    pub max_output_bytes: usize,
    pub default_command_timeout_secs: u64,
    pub max_command_timeout_secs: u64,
    pub max_search_results: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits {
            max_output_lines: 400,
            max_output_bytes: 30_000,
            default_command_timeout_secs: 300,
            max_command_timeout_secs: 1800,
            max_search_results: 200,
        }
    }
}

/// What a tool call may see and change.
pub struct ToolContext<'a> {
    pub workspace: &'a Workspace,
    pub runner: &'a CommandRunner,
    pub redactor: &'a Redactor,
    pub limits: ToolLimits,
    pub spec: &'a mut TaskSpec,
    /// Set by `report_verdict`.
    pub verdict: &'a mut Option<Vec<CriterionVerdict>>,
}

/// One tool: its spec and its handler, defined together.
#[async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// JSON schema of the input object.
    fn input_schema(&self) -> serde_json::Value;
    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError>;

    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_string(),
            description: self.description().to_string(),
            input_schema: self.input_schema(),
        }
    }
}

/// The tools one role may call.
pub struct Registry {
    tools: Vec<Box<dyn Tool>>,
}

impl Registry {
    pub fn new(tools: Vec<Box<dyn Tool>>) -> Self {
        Registry { tools }
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec()).collect()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name()).collect()
    }

    /// Runs one call. An unknown tool name is an error for the model that
    /// lists the tools it has.
    pub async fn dispatch(
        &self,
        ctx: &mut ToolContext<'_>,
        call: &ToolCall,
    ) -> Result<ToolOutput, ToolError> {
        match self.tools.iter().find(|t| t.name() == call.name) {
            Some(tool) => tool.call(ctx, call.input.clone()).await,
            None => Err(ToolError::ForModel(format!(
                "unknown tool `{}`; available tools: {}",
                call.name,
                self.names().join(", ")
            ))),
        }
    }
}

/// Parses a tool's input into its argument struct; a mismatch is an error
/// the model can fix.
pub fn parse_args<T: serde::de::DeserializeOwned>(
    tool: &str,
    input: serde_json::Value,
) -> Result<T, ToolError> {
    serde_json::from_value(input)
        .map_err(|e| ToolError::ForModel(format!("invalid arguments for {tool}: {e}")))
}

/// The registry for a role.
pub fn for_role(role: AgentRole) -> Registry {
    let _ = role;
    Registry::new(Vec::new())
}

/// Every tool, for `deckhand tool`.
pub fn every_tool() -> Registry {
    Registry::new(Vec::new())
}
