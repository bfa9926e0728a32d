//! The tag of a dev image Deckhand builds from a repository's Dockerfile: a
//! hash of what the build reads (the Dockerfile, its build args, and the
//! context's files when the Dockerfile copies any), never of where the
//! checkout lies, so a later job finds the image an earlier one built,
//! saved and loaded.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// The image repository dev images are tagged in.
pub const REPOSITORY: &str = "deckhand-dev";

#[derive(Debug, thiserror::Error)]
#[error("dev image: cannot read {path}: {source}")]
pub struct ImageHashError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// `deckhand-dev:<hash>` for the build of `dockerfile` with `context`
/// (both relative to `root`) and `args`.
pub fn content_tag(
    root: &Path,
    dockerfile: &str,
    context: &str,
    args: &BTreeMap<String, String>,
) -> Result<String, ImageHashError> {
    let read_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ImageHashError { path, source }
    };
    let file = root.join(dockerfile);
    let text = std::fs::read(&file).map_err(read_err(&file))?;
    let mut hash = Sha256::new();
    field(&mut hash, b"dockerfile", &text);
    for (k, v) in args {
        field(&mut hash, k.as_bytes(), v.as_bytes());
    }
    if copies_files(&String::from_utf8_lossy(&text)) {
        let dir = root.join(context);
        let mut files: Vec<std::path::PathBuf> = ignore::WalkBuilder::new(&dir)
            .standard_filters(false)
            .hidden(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .map(|e| e.into_path())
            .collect();
        files.sort();
        for path in files {
            let name = path.strip_prefix(&dir).unwrap_or(&path);
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(read_err(&path))?;
            field(&mut hash, name.to_string_lossy().as_bytes(), &bytes);
        }
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{REPOSITORY}:{hex}"))
}

/// Length-prefixed, so no two inputs hash alike by running together.
fn field(hash: &mut Sha256, name: &[u8], value: &[u8]) {
    for part in [name, value] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
}

/// Whether a Dockerfile reads its build context (`COPY`/`ADD` of local
/// files; `COPY --from=` reads another stage).
fn copies_files(dockerfile: &str) -> bool {
    dockerfile.lines().any(|line| {
        let mut words = line.split_whitespace();
        let op = words.next().unwrap_or("").to_ascii_uppercase();
        (op == "COPY" || op == "ADD") && !words.any(|w| w.starts_with("--from="))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(root: &Path, args: &[(&str, &str)]) -> String {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        content_tag(root, ".devcontainer/Dockerfile", ".", &args).unwrap()
    }

    #[test]
    fn the_tag_follows_the_content_not_the_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir_all(dir.join(".devcontainer")).unwrap();
            std::fs::write(dir.join(".devcontainer/Dockerfile"), "FROM debian\n").unwrap();
            std::fs::write(dir.join("README"), "one\n").unwrap();
        }
        let first = tag(a.path(), &[]);
        assert!(first.starts_with("deckhand-dev:"), "{first}");
        assert_eq!(first.len(), "deckhand-dev:".len() + 24);
        assert_eq!(tag(b.path(), &[]), first);
        // Files the build does not copy do not count; args do.
        std::fs::write(b.path().join("README"), "two\n").unwrap();
        assert_eq!(tag(b.path(), &[]), first);
        assert_ne!(tag(b.path(), &[("V", "1")]), first);
        // Once it copies the context, its files count.
        for dir in [a.path(), b.path()] {
            std::fs::write(
                dir.join(".devcontainer/Dockerfile"),
                "FROM debian\nCOPY README /\n",
            )
            .unwrap();
        }
        assert_ne!(tag(a.path(), &[]), tag(b.path(), &[]));
    }

    #[test]
    fn a_missing_dockerfile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = content_tag(dir.path(), "dev.Dockerfile", ".", &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("dev.Dockerfile"), "{err}");
    }

    #[test]
    fn copies_from_other_stages_do_not_read_the_context() {
        assert!(copies_files("FROM a\ncopy . /src\n"));
        assert!(!copies_files(
            "FROM a AS b\nCOPY --from=b /x /y\nRUN true\n"
        ));
    }
}
