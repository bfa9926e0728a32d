//! Test fixture shared by the unit tests that read a repository: a temp dir with given files.

/// A temporary directory holding `files` (path, content), parents created.
pub(crate) fn temp_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}
