//! Prompt context: steering files and the repo map (written on its own branch).
