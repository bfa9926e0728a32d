//! The confined checkout: path resolution, output capping, and
//! detection of the repository's setup/test/lint/type-check commands.

pub mod command;
pub mod confined;
pub mod detect;
pub mod devenv;
pub mod findings;
pub mod paths;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::sandbox::launcher::{CommandOutput, CommandRunner};
pub use paths::{PathError, Workspace};
