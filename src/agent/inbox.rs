//! Messages for a running task that arrive while it works: steering from
//! the people who gave the task, or a request to pause. The action polls
//! the comments; a local run has no inbox.

use async_trait::async_trait;

/// One message for the running task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxItem {
    /// Guidance to fold into the next turn.
    Steering { author: String, text: String },
    /// Checkpoint and stop; `resume` continues later.
    Pause { author: String },
}

/// Where new messages come from. Called between model turns.
#[async_trait]
pub trait Inbox: Send {
    async fn poll(&mut self) -> Vec<InboxItem>;
}
