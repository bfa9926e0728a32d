//! Environment detection: which setup, test, lint and type-check commands a
//! repository uses.
