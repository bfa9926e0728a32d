//! Deckhand: an autonomous coding agent for GitHub Actions and local
//! checkouts. The modules follow the data path of DESIGN.md:
//! event → task → plan → change → verify → pull request → learn.

pub mod action;
pub mod agent;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod git;
pub mod github;
pub mod llm;
pub mod memory;
pub mod report;
pub mod sandbox;
pub mod task;
pub mod workspace;
