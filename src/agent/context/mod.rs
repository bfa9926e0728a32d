//! Prompt context: the repository's steering files, the repo map, and
//! what the history keeps of tool calls.

pub mod digest;
mod repo_map;
mod steering;

pub use repo_map::repo_map;
pub use steering::{load_steering, render_steering, SteeringDoc, MAX_DOC_BYTES};
