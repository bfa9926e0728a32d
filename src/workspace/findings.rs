//! Parses command output into findings with file:line, and test counts.
