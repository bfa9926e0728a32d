//! The confined checkout: path resolution, output capping, detection of
//! the repository's setup/test/lint/type-check commands, running them
//! (`checks`) and the tree comparison around them (`tree`).

pub mod checks;
pub mod command;
pub mod confined;
pub mod detect;
pub mod devenv;
pub mod findings;
pub mod paths;
#[cfg(test)]
pub(crate) mod testing;
pub mod tree;

pub use crate::sandbox::launcher::{CommandOutput, CommandRunner};
pub use paths::{PathError, Workspace};
