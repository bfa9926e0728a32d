//! Tasks: the TaskSpec document, task ids, and checkpoint/resume state.

pub mod spec;

pub use spec::{PlanItem, SpecError, TaskSpec, TaskStatus};
