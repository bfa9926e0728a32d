//! What commands the agent runs may see and reach: the one launcher every
//! command starts through, its confinement (Landlock, limits, process
//! tracking), network levels and the egress proxy, the allowlisted
//! environment, the redactor every outbound text passes through, and the
//! secret scan before each commit.

pub mod confine;
pub mod container;
pub mod containment;
pub mod devimage;
pub mod devnet;
pub mod devstart;
pub mod env;
pub mod gitdir;
pub mod host;
pub mod launcher;
pub mod limits;
pub mod network;
pub mod proxy;
pub mod redact;
pub mod scan;
pub mod seccomp;
pub mod tracker;
pub mod user;

pub use host::HostLauncher;
pub use launcher::{CommandOutput, CommandRunner, Launcher};
pub use redact::Redactor;
