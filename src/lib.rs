//! Deckhand: an autonomous coding agent for GitHub Actions and local
//! checkouts. See DESIGN.md for the data path these modules follow.

pub mod agent;
pub mod config;
pub mod git;
pub mod llm;
pub mod sandbox;
pub mod task;
pub mod workspace;
