//! GitHub integration: the typed REST client `deckhand action` talks to GitHub with.

pub mod client;

pub use client::{
    Comment, GitHub, GitHubError, Issue, NewPull, Permission, Pull, RepoRef, Repository,
    ReviewComment, User,
};
