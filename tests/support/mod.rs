//! Shared test support: local servers that speak the real wire protocols
//! over HTTP on 127.0.0.1, and builders for small fixture repositories.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub mod ci_repos;
pub mod github_server;
pub mod model_server;
pub mod repos;
