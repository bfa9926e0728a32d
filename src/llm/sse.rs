//! Server-sent events: splits a byte stream into `event:`/`data:` records.
