//! `deckhand action`: the Docker action's entrypoint. Reads what the runner
//! passes, routes the event, gates on permission, and runs the task loop
//! with GitHub side effects (branch, PR, progress comment, outputs).

pub mod inputs;
pub mod route;
