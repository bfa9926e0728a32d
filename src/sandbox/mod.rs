//! What commands the agent runs may see and reach: the one launcher every
//! command starts through, its confinement (Landlock, limits, process
//! tracking), network levels and the egress proxy, the allowlisted
//! environment, and the redactor every outbound text passes through.

pub mod confine;
pub mod container;
pub mod containment;
pub mod env;
pub mod host;
pub mod launcher;
pub mod limits;
pub mod network;
pub mod proxy;
pub mod redact;
pub mod tracker;
pub mod user;

pub use host::HostLauncher;
pub use launcher::{CommandOutput, CommandRunner, Launcher};
pub use redact::Redactor;
