//! Checkpoints: a task's state saved as JSON so a later run can resume it
//! (after a question, a pause, or a time limit), redacted like every file
//! Deckhand writes.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::sandbox::Redactor;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("no saved task at {path}")]
    Missing { path: String },
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("could not write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Writes `state` to `path` (atomically: a temp file renamed into place).
pub fn save<T: Serialize>(
    path: &Path,
    state: &T,
    redactor: &Redactor,
) -> Result<(), CheckpointError> {
    let write_err = |source| CheckpointError::Write {
        path: path.display().to_string(),
        source,
    };
    let json = redactor
        .to_json_pretty(state)
        .map_err(|e| CheckpointError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json.as_bytes()).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

/// A checkpoint as a job keeps it on the memory branch: the task's state,
/// and the job it belongs to (so a continued job is the same kind of job)
/// and how many times it has been continued automatically.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Saved<S, K> {
    #[serde(flatten)]
    pub state: S,
    /// The job kind; absent in checkpoints written before it was kept.
    #[serde(default = "Option::default", rename = "job_kind")]
    pub kind: Option<K>,
    /// Jobs dispatched in a row because time ran out.
    #[serde(default)]
    pub continuations: u32,
}

pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|_| CheckpointError::Missing {
        path: path.display().to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Corrupt {
        path: path.display().to_string(),
        // serde_json's message ends with the line and column.
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/state.json");
        let r = Redactor::new(["s3cr3t-value"]);
        save(
            &path,
            &vec!["a".to_string(), "s3cr3t-value".to_string()],
            &r,
        )
        .unwrap();
        let back: Vec<String> = load(&path).unwrap();
        assert_eq!(back, ["a", "***"]);
    }

    #[test]
    fn saved_keeps_the_job_next_to_the_state_and_reads_old_checkpoints() {
        #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
        struct State {
            id: String,
        }
        let saved = Saved {
            state: State { id: "dh-1".into() },
            kind: Some(vec![7u64]),
            continuations: 2,
        };
        let text = serde_json::to_string(&saved).unwrap();
        let back: Saved<State, Vec<u64>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, saved);
        let old: Saved<State, Vec<u64>> = serde_json::from_str(r#"{"id":"dh-2"}"#).unwrap();
        assert_eq!(
            old,
            Saved {
                state: State { id: "dh-2".into() },
                kind: None,
                continuations: 0
            }
        );
    }

    #[test]
    fn corrupt_file_names_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\n  \"a\": ").unwrap();
        let err = load::<serde_json::Value>(&path).unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("line 2"),
            "{err}"
        );
        let missing = load::<serde_json::Value>(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(missing, CheckpointError::Missing { .. }));
    }
}
