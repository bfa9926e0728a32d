//! Toolchains with fixed conventions: Rust (Cargo.toml), Go (go.mod), a
//! Dockerfile, and devfile.yaml commands.

use std::path::Path;

use serde::Deserialize;

use super::{exists, non_empty, read, CheckKind, Found};

pub(super) fn rust(root: &Path, found: &mut Found) {
    if !exists(root, "Cargo.toml") {
        return;
    }
    found.detected.push("Rust (Cargo.toml)".to_string());
    found.check(CheckKind::Test, "cargo test --no-fail-fast", "Cargo.toml");
    found.check(
        CheckKind::Lint,
        "cargo clippy --all-targets -- -D warnings",
        "Cargo.toml",
    );
}

pub(super) fn go(root: &Path, found: &mut Found) {
    if !exists(root, "go.mod") {
        return;
    }
    found.detected.push("Go (go.mod)".to_string());
    // Verbose, so passing tests are counted too.
    found.check(CheckKind::Test, "go test -v ./...", "go.mod");
    found.check(CheckKind::Lint, "go vet ./...", "go.mod");
}

pub(super) fn dockerfile(root: &Path, found: &mut Found) {
    if root.join("Dockerfile").is_file() {
        found.detected.push("Dockerfile".to_string());
    }
}

#[derive(Deserialize)]
struct Devfile {
    #[serde(default)]
    commands: Vec<DevfileCommand>,
}

#[derive(Deserialize)]
struct DevfileCommand {
    id: Option<String>,
    exec: Option<DevfileExec>,
}

#[derive(Deserialize)]
struct DevfileExec {
    #[serde(rename = "commandLine")]
    command_line: Option<String>,
    group: Option<DevfileGroup>,
}

#[derive(Deserialize)]
struct DevfileGroup {
    kind: Option<String>,
}

pub(super) fn devfile(root: &Path, found: &mut Found) {
    let Some((name, text)) = ["devfile.yaml", ".devfile.yaml"]
        .into_iter()
        .find_map(|n| read(root, n).map(|t| (n, t)))
    else {
        return;
    };
    found.detected.push(name.to_string());
    let parsed: Devfile = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(file = name, error = %e, "devfile is not valid YAML; ignoring its commands");
            return;
        }
    };
    for command in parsed.commands {
        let Some(exec) = command.exec else { continue };
        let Some(line) = exec.command_line.as_deref().and_then(non_empty) else {
            continue;
        };
        let source = format!(
            "{name} command {}",
            command.id.as_deref().unwrap_or("(unnamed)")
        );
        match exec.group.and_then(|g| g.kind).as_deref() {
            Some("test") => found.entry_point(CheckKind::Test, line, source),
            Some("build") => found.setup(line, source),
            _ => {}
        }
    }
}
