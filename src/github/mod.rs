//! GitHub: typed event payloads, the one HTTP policy, and the REST client
//! for the calls the action and campaigns make.

pub mod client;
pub mod events;
pub mod http;
pub mod repos;

pub use client::{
    Comment, GitHub, GitHubError, Issue, NewPull, Permission, Pull, RepoRef, Repository,
    ReviewComment, Run, User,
};
pub use http::Policy;
