//! GitHub: typed event payloads and the REST client for the calls the
//! action makes.

pub mod client;
pub mod events;

pub use client::{
    Comment, GitHub, GitHubError, Issue, NewPull, Permission, Pull, RepoRef, Repository,
    ReviewComment, User,
};
