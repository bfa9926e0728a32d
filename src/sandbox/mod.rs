//! What commands the agent runs may see and reach: the allowlisted
//! environment, and the redactor every outbound text passes through.

pub mod env;
pub mod redact;
pub mod user;

pub use redact::Redactor;
