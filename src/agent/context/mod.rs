//! Prompt context: the repository's steering files, the repo map, what each
//! role starts with (touched paths, path-scoped steering, team rules), and
//! what the history keeps of tool calls.

pub mod digest;
mod repo_map;
mod steering;
mod task;

pub use repo_map::repo_map;
pub use steering::{load_steering, render_steering, SteeringDoc, MAX_DOC_BYTES};
pub use task::{RoleContext, TaskContext, TaskContextParts};
