//! GitHub: typed event payloads, the REST client, the permission gate.

pub mod events;
