//! Prompt context: steering files and the repo map (minimal; replaced by the detect branch).

use std::path::Path;

pub struct SteeringDoc {
    pub path: String,
    pub content: String,
}

pub fn load_steering(_root: &Path, _task_text: &str, _touched: &[String]) -> Vec<SteeringDoc> {
    Vec::new()
}

pub fn render_steering(_docs: &[SteeringDoc]) -> String {
    String::new()
}

pub fn repo_map(_root: &Path, _budget: usize) -> String {
    String::new()
}
