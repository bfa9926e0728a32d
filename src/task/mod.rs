//! Tasks: the TaskSpec document, task ids, and checkpoint/resume state.

pub mod checkpoint;
pub mod id;
pub mod spec;

pub use spec::{PlanItem, SpecError, TaskSpec, TaskStatus};
