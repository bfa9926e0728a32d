//! The orchestrator and its roles (research, code, verify) working on one
//! TaskSpec, and `learn`, which turns review feedback into team rules.

pub mod context;
pub mod conversation;
pub mod held;
pub mod inbox;
pub mod learn;
pub mod orchestrator;
pub mod preflight;
pub mod prompts;
pub mod runner;
pub mod session;
pub mod tools;
pub mod verify;

use serde::{Deserialize, Serialize};

/// Which sub-agent is speaking; decides the tools and the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    Research,
    Code,
    Verify,
    Learn,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Research => "research",
            AgentRole::Code => "code",
            AgentRole::Verify => "verify",
            AgentRole::Learn => "learn",
        }
    }
}
