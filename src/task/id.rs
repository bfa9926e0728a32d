//! Task ids: stable for the same task text, wide enough not to collide
//! across an organisation, unique in a repository.

use sha2::{Digest, Sha256};

/// Hex digits of the hash in an id: 48 bits, so that a million tasks
/// across an organisation collide with a chance of about one in 500.
const HEX_DIGITS: usize = 12;

/// `dh-` and twelve hex digits of the task text's hash; `-2`, `-3`, …
/// appended while `taken` says the id is in use.
pub fn new_task_id(task: &str, taken: impl Fn(&str) -> bool) -> String {
    let digest = Sha256::digest(task.trim().as_bytes());
    let hex: String = digest
        .iter()
        .take(HEX_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let base = format!("dh-{hex}");
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or(base)
}

/// Ids become branch and directory names: refuse anything else.
pub fn is_valid_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_unique() {
        let a = new_task_id("Add rate limiting", |_| false);
        assert!(a.starts_with("dh-") && a.len() == 3 + HEX_DIGITS, "{a}");
        assert_ne!(
            new_task_id("acme/a#1", |_| false),
            new_task_id("acme/b#1", |_| false)
        );
        assert_eq!(a, new_task_id("Add rate limiting ", |_| false));
        let b = new_task_id("Add rate limiting", |id| id == a);
        assert_eq!(b, format!("{a}-2"));
    }

    #[test]
    fn validates_ids() {
        assert!(is_valid_task_id("dh-2f9c1a-2"));
        assert!(!is_valid_task_id("../etc"));
        assert!(!is_valid_task_id(""));
    }
}
