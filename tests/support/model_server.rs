//! (written on its own branch)
