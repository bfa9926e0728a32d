//! The confined checkout: path resolution, the command runner, detection
//! of the repository's setup/test/lint/type-check commands, running them
//! (`checks`) and the tree comparison around them (`tree`).

pub mod checks;
pub mod command;
pub mod detect;
pub mod findings;
pub mod paths;
#[cfg(test)]
pub(crate) mod testing;
pub mod tree;

pub use command::{CommandOutput, CommandRunner};
pub use paths::{PathError, Workspace};
