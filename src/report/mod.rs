//! What Deckhand tells people: progress lines and JSON events, the PR
//! description, and (in Actions) workflow commands and the job summary.

pub mod events;
pub mod pr;
pub mod workflow;

pub use events::{Event, Reporter};
