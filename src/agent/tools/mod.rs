//! The tool contract: one handler trait, the registry of tools each role
//! may use, and the two kinds of tool error.
//!
//! Names and parameters are what the model sees; keep them stable.

mod ask_question;
mod common;
mod edit_file;
mod list_dir;
mod read_file;
mod record_rule;
mod report_verdict;
mod run_command;
mod search;
#[cfg(test)]
mod testing;
mod update_spec;
pub mod workflows;
mod write_file;

pub use ask_question::AskQuestion;
pub use edit_file::EditFile;
pub use list_dir::ListDir;
pub use read_file::ReadFile;
pub use record_rule::{rule_criterion, RecordRule, RecordedRule, TeamRules};
pub use report_verdict::ReportVerdict;
pub use run_command::RunCommand;
pub use search::Search;
pub use update_spec::UpdateSpec;
pub use write_file::WriteFile;

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
    /// Whether `write_file`/`edit_file` may change `.github/workflows/`
    /// (config `allow_workflow_changes`).
    pub allow_workflow_changes: bool,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits {
            max_output_lines: 400,
            max_output_bytes: 30_000,
            default_command_timeout_secs: 300,
            max_command_timeout_secs: 1800,
            max_search_results: 200,
            allow_workflow_changes: false,
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
    /// Team rules: judged by `report_verdict`, recorded by `record_rule`.
    pub team: &'a mut TeamRules,
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

/// The registry for a role: everyone reads and searches; research and
/// code run commands, keep the spec and ask; only code changes files; only
/// verify reports a verdict.
pub fn for_role(role: AgentRole) -> Registry {
    let mut tools: Vec<Box<dyn Tool>> =
        vec![Box::new(ListDir), Box::new(ReadFile), Box::new(Search)];
    match role {
        AgentRole::Research => tools.extend([
            Box::new(RunCommand::read_only()) as Box<dyn Tool>,
            Box::new(UpdateSpec::research()),
            Box::new(AskQuestion),
        ]),
        AgentRole::Code => tools.extend([
            Box::new(EditFile) as Box<dyn Tool>,
            Box::new(WriteFile),
            Box::new(RunCommand::full()),
            Box::new(UpdateSpec::code()),
            Box::new(AskQuestion),
        ]),
        AgentRole::Verify => tools.push(Box::new(ReportVerdict)),
        AgentRole::Learn => tools.push(Box::new(RecordRule)),
    }
    Registry::new(tools)
}

/// Every tool once (`run_command` in its full form): what `deckhand tool
/// NAME` dispatches to, exactly as a model would call it.
pub fn every_tool() -> Registry {
    Registry::new(vec![
        Box::new(ListDir),
        Box::new(ReadFile),
        Box::new(Search),
        Box::new(EditFile),
        Box::new(WriteFile),
        Box::new(RunCommand::full()),
        Box::new(UpdateSpec::research()),
        Box::new(AskQuestion),
        Box::new(ReportVerdict),
        Box::new(RecordRule),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_the_tools_of_the_contract() {
        assert_eq!(
            for_role(AgentRole::Research).names(),
            [
                "list_dir",
                "read_file",
                "search",
                "run_command",
                "update_spec",
                "ask_question"
            ]
        );
        assert_eq!(
            for_role(AgentRole::Code).names(),
            [
                "list_dir",
                "read_file",
                "search",
                "edit_file",
                "write_file",
                "run_command",
                "update_spec",
                "ask_question"
            ]
        );
        assert_eq!(
            for_role(AgentRole::Verify).names(),
            ["list_dir", "read_file", "search", "report_verdict"]
        );
        assert_eq!(
            for_role(AgentRole::Learn).names(),
            ["list_dir", "read_file", "search", "record_rule"]
        );
        assert_eq!(every_tool().names().len(), 10);
    }

    #[test]
    fn research_is_told_run_command_is_for_inspection() {
        let research = for_role(AgentRole::Research).specs();
        let code = for_role(AgentRole::Code).specs();
        let find = |specs: &[ToolSpec]| {
            specs
                .iter()
                .find(|s| s.name == "run_command")
                .map(|s| s.description.clone())
                .unwrap()
        };
        assert!(find(&research).contains("do not modify"));
        assert_ne!(find(&research), find(&code));
    }

    #[test]
    fn every_schema_is_an_object_with_described_properties() {
        for spec in every_tool().specs() {
            let schema = &spec.input_schema;
            assert_eq!(schema["type"], "object", "{}", spec.name);
            assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
            let props = schema["properties"].as_object().unwrap();
            assert!(!props.is_empty(), "{}", spec.name);
            for (name, prop) in props {
                assert!(
                    prop["description"].as_str().is_some_and(|d| d.len() > 10),
                    "{}.{name} lacks a description",
                    spec.name
                );
            }
            for required in schema["required"].as_array().unwrap() {
                assert!(
                    props.contains_key(required.as_str().unwrap()),
                    "{}",
                    spec.name
                );
            }
        }
    }

    #[tokio::test]
    async fn dispatch_names_the_available_tools_for_an_unknown_one() {
        let mut f = testing::Fixture::new();
        let registry = for_role(AgentRole::Verify);
        let call = ToolCall {
            id: "1".into(),
            name: "write_file".into(),
            input: serde_json::json!({}),
        };
        let err = registry
            .dispatch(&mut f.context(), &call)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::ForModel(
                "unknown tool `write_file`; available tools: list_dir, read_file, search, report_verdict"
                    .into()
            )
        );
    }
}
