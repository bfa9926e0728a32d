//! Dev environment detection: which container a repository declares for its
//! commands (`devcontainer.json`, `devfile.yaml`, a Dockerfile named in the
//! config), else an official language image where the action image lacks
//! the toolchain, else the action image itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the environment came from, in the order detection tries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DevEnvSource {
    DevContainer { file: String },
    Devfile { file: String },
    ConfigDockerfile { file: String },
    LanguageImage { language: String },
    ActionImage,
}

/// How to get the container's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSpec {
    /// A published image, pulled (or found locally).
    Image { image: String },
    /// Built from a Dockerfile; paths are relative to the repository root.
    Build {
        dockerfile: String,
        context: String,
        args: BTreeMap<String, String>,
    },
}

/// The environment commands should run in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevEnv {
    pub source: DevEnvSource,
    /// `None`: the action image (or the host) itself.
    pub image: Option<ImageSpec>,
    pub env: BTreeMap<String, String>,
    /// The user commands run as inside the container, when declared.
    pub user: Option<String>,
    /// Setup commands the environment declares, in order.
    pub setup: Vec<String>,
    /// Test commands the environment declares.
    pub test: Vec<String>,
    /// Memory limit as declared (`2Gi`, `512M`).
    pub memory_limit: Option<String>,
    /// Things seen but not applied (devcontainer features, say).
    pub notes: Vec<String>,
}

impl DevEnv {
    fn action_image() -> DevEnv {
        DevEnv {
            source: DevEnvSource::ActionImage,
            image: None,
            env: BTreeMap::new(),
            user: None,
            setup: Vec::new(),
            test: Vec::new(),
            memory_limit: None,
            notes: Vec::new(),
        }
    }

    /// One line for reports: `devcontainer.json (build .devcontainer/Dockerfile)`.
    pub fn describe(&self) -> String {
        let source = match &self.source {
            DevEnvSource::DevContainer { file }
            | DevEnvSource::Devfile { file }
            | DevEnvSource::ConfigDockerfile { file } => file.clone(),
            DevEnvSource::LanguageImage { language } => format!("{language} (official image)"),
            DevEnvSource::ActionImage => return "the action image".to_string(),
        };
        match &self.image {
            Some(ImageSpec::Image { image }) => format!("{source} (image {image})"),
            Some(ImageSpec::Build { dockerfile, .. }) => format!("{source} (build {dockerfile})"),
            None => source,
        }
    }
}

/// A declared environment that could not be read: detection falls back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct DevEnvWarning {
    pub file: String,
    /// 1-based; 0 when the fault has no line (a missing file, say).
    pub line: usize,
    /// The field at fault (`build.dockerfile`), or `(file)` for syntax.
    pub field: String,
    pub message: String,
}

/// What detection found, and why it passed over declared environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub env: DevEnv,
    #[serde(serialize_with = "warnings_as_strings")]
    pub warnings: Vec<DevEnvWarning>,
}

fn warnings_as_strings<S: serde::Serializer>(w: &[DevEnvWarning], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(w.iter().map(ToString::to_string))
}

/// Which toolchains the action image has; others need a language image.
pub const ACTION_IMAGE_TOOLCHAINS: &[&str] = &["node", "python"];

/// Detects the environment for the repository at `root`. `config_dockerfile`
/// is `dev_container: {dockerfile: …}` from the config.
pub fn detect(root: &Path, config_dockerfile: Option<&str>) -> Detected {
    let mut warnings = Vec::new();
    for file in [".devcontainer/devcontainer.json", ".devcontainer.json"] {
        if root.join(file).is_file() {
            match devcontainer(root, file) {
                Ok(env) => return Detected { env, warnings },
                Err(w) => warnings.push(w),
            }
            break;
        }
    }
    for file in ["devfile.yaml", ".devfile.yaml"] {
        if root.join(file).is_file() {
            match devfile(root, file) {
                Ok(Some(env)) => return Detected { env, warnings },
                Ok(None) => {}
                Err(w) => warnings.push(w),
            }
            break;
        }
    }
    if let Some(dockerfile) = config_dockerfile {
        match config_dockerfile_env(root, dockerfile) {
            Ok(env) => return Detected { env, warnings },
            Err(w) => warnings.push(w),
        }
    }
    let env = language_image(root).unwrap_or_else(DevEnv::action_image);
    Detected { env, warnings }
}

fn read(root: &Path, file: &str) -> Result<String, DevEnvWarning> {
    std::fs::read_to_string(root.join(file)).map_err(|e| DevEnvWarning {
        file: file.to_string(),
        line: 0,
        field: "(file)".to_string(),
        message: format!("cannot read: {e}"),
    })
}

/// The line of the first occurrence of `"key"` (JSON) or `key:` (YAML).
fn line_of(text: &str, key: &str) -> usize {
    let json = format!("\"{key}\"");
    let yaml = format!("{key}:");
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            l.contains(&json) || t.starts_with(&yaml)
        })
        .map_or(0, |i| i + 1)
}

/// A path inside the repository, refusing absolute paths and `..`.
fn repo_relative(base: &Path, path: &str) -> Option<String> {
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let s = out.to_string_lossy().into_owned();
    Some(if s.is_empty() { ".".to_string() } else { s })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DevContainerFile {
    image: Option<String>,
    build: Option<DevContainerBuild>,
    /// The older spelling of `build.dockerfile`.
    docker_file: Option<String>,
    context: Option<String>,
    #[serde(default)]
    features: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    container_env: BTreeMap<String, String>,
    remote_user: Option<String>,
    container_user: Option<String>,
    on_create_command: Option<LifecycleCommand>,
    update_content_command: Option<LifecycleCommand>,
    post_create_command: Option<LifecycleCommand>,
}

#[derive(Deserialize)]
struct DevContainerBuild {
    dockerfile: Option<String>,
    context: Option<String>,
    #[serde(default)]
    args: BTreeMap<String, String>,
}

/// A lifecycle command: a shell string, an argv list, or named commands
/// that run in parallel (run here in name order).
#[derive(Deserialize)]
#[serde(untagged)]
enum LifecycleCommand {
    Shell(String),
    Argv(Vec<String>),
    Named(BTreeMap<String, LifecycleCommandPart>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LifecycleCommandPart {
    Shell(String),
    Argv(Vec<String>),
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn argv(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ")
}

impl LifecycleCommand {
    fn commands(self) -> Vec<String> {
        match self {
            LifecycleCommand::Shell(s) => vec![s],
            LifecycleCommand::Argv(a) => vec![argv(&a)],
            LifecycleCommand::Named(map) => map
                .into_values()
                .map(|part| match part {
                    LifecycleCommandPart::Shell(s) => s,
                    LifecycleCommandPart::Argv(a) => argv(&a),
                })
                .collect(),
        }
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect()
    }
}

fn devcontainer(root: &Path, file: &str) -> Result<DevEnv, DevEnvWarning> {
    let text = read(root, file)?;
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
        ..Default::default()
    };
    let value: serde_json::Value =
        jsonc_parser::parse_to_serde_value(&text, &options).map_err(|e| DevEnvWarning {
            file: file.to_string(),
            line: e.line_display(),
            field: "(file)".to_string(),
            message: e.kind().to_string(),
        })?;
    let parsed: DevContainerFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let top = field
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_string();
        DevEnvWarning {
            file: file.to_string(),
            line: line_of(&text, &top),
            field,
            message: e.into_inner().to_string(),
        }
    })?;
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let fault = |field: &str, message: &str| DevEnvWarning {
        file: file.to_string(),
        line: line_of(&text, field.split('.').next_back().unwrap_or(field)),
        field: field.to_string(),
        message: message.to_string(),
    };
    let dockerfile = parsed
        .build
        .as_ref()
        .and_then(|b| b.dockerfile.clone())
        .map(|d| ("build.dockerfile", d))
        .or_else(|| parsed.docker_file.clone().map(|d| ("dockerFile", d)));
    let image = match (&parsed.image, dockerfile) {
        (_, Some((field, dockerfile))) => {
            let context = parsed
                .build
                .as_ref()
                .and_then(|b| b.context.clone())
                .or(parsed.context.clone())
                .unwrap_or_else(|| ".".to_string());
            let dockerfile = repo_relative(base, &dockerfile)
                .ok_or_else(|| fault(field, "leads outside the repository"))?;
            if !root.join(&dockerfile).is_file() {
                return Err(fault(field, &format!("{dockerfile} does not exist")));
            }
            let context = repo_relative(base, &context)
                .ok_or_else(|| fault("build.context", "leads outside the repository"))?;
            ImageSpec::Build {
                dockerfile,
                context,
                args: parsed.build.map(|b| b.args).unwrap_or_default(),
            }
        }
        (Some(image), None) if !image.trim().is_empty() => ImageSpec::Image {
            image: image.trim().to_string(),
        },
        _ => {
            return Err(fault(
                "image",
                "neither `image` nor `build.dockerfile` is set (Docker Compose files are not supported)",
            ))
        }
    };
    let mut notes = Vec::new();
    if !parsed.features.is_empty() {
        let names: Vec<&str> = parsed.features.keys().map(String::as_str).collect();
        notes.push(format!(
            "devcontainer features are not installed: {}",
            names.join(", ")
        ));
    }
    let setup = [
        parsed.on_create_command,
        parsed.update_content_command,
        parsed.post_create_command,
    ]
    .into_iter()
    .flatten()
    .flat_map(LifecycleCommand::commands)
    .collect();
    Ok(DevEnv {
        source: DevEnvSource::DevContainer {
            file: file.to_string(),
        },
        image: Some(image),
        env: parsed.container_env,
        user: parsed.remote_user.or(parsed.container_user),
        setup,
        test: Vec::new(),
        memory_limit: None,
        notes,
    })
}

#[derive(Deserialize)]
struct DevfileDoc {
    #[serde(default)]
    components: Vec<DevfileComponent>,
    #[serde(default)]
    commands: Vec<DevfileCommand>,
}

#[derive(Deserialize)]
struct DevfileComponent {
    name: Option<String>,
    container: Option<DevfileContainer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DevfileContainer {
    image: String,
    #[serde(default)]
    env: Vec<DevfileEnv>,
    memory_limit: Option<String>,
}

#[derive(Deserialize)]
struct DevfileEnv {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct DevfileCommand {
    exec: Option<DevfileExec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DevfileExec {
    command_line: Option<String>,
    component: Option<String>,
    working_dir: Option<String>,
    group: Option<DevfileGroup>,
}

#[derive(Deserialize)]
struct DevfileGroup {
    kind: Option<String>,
}

fn devfile(root: &Path, file: &str) -> Result<Option<DevEnv>, DevEnvWarning> {
    let text = read(root, file)?;
    let de = serde_yaml::Deserializer::from_str(&text);
    let parsed: DevfileDoc = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        DevEnvWarning {
            file: file.to_string(),
            line: inner.location().map_or(0, |l| l.line()),
            field,
            message: inner.to_string(),
        }
    })?;
    let Some((name, container)) = parsed
        .components
        .into_iter()
        .find_map(|c| c.container.map(|k| (c.name, k)))
    else {
        return Ok(None);
    };
    let mut setup = Vec::new();
    let mut test = Vec::new();
    for exec in parsed.commands.into_iter().filter_map(|c| c.exec) {
        if exec.component.is_some() && exec.component != name {
            continue;
        }
        let Some(line) = exec.command_line.filter(|l| !l.trim().is_empty()) else {
            continue;
        };
        let line = match exec.working_dir.as_deref() {
            Some(dir) if !dir.contains("${PROJECT_SOURCE}") && !dir.contains("$PROJECT_SOURCE") => {
                format!("cd {} && {line}", shell_quote(dir))
            }
            _ => line,
        };
        match exec.group.and_then(|g| g.kind).as_deref() {
            Some("build") => setup.push(line),
            Some("test") => test.push(line),
            _ => {}
        }
    }
    Ok(Some(DevEnv {
        source: DevEnvSource::Devfile {
            file: file.to_string(),
        },
        image: Some(ImageSpec::Image {
            image: container.image,
        }),
        env: container
            .env
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect(),
        user: None,
        setup,
        test,
        memory_limit: container.memory_limit,
        notes: Vec::new(),
    }))
}

fn config_dockerfile_env(root: &Path, dockerfile: &str) -> Result<DevEnv, DevEnvWarning> {
    let fault = |message: String| DevEnvWarning {
        file: ".github/deckhand.yml".to_string(),
        line: 0,
        field: "dev_container.dockerfile".to_string(),
        message,
    };
    let path = repo_relative(Path::new(""), dockerfile)
        .ok_or_else(|| fault(format!("{dockerfile} leads outside the repository")))?;
    if !root.join(&path).is_file() {
        return Err(fault(format!("{path} does not exist")));
    }
    let context = Path::new(&path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".to_string());
    Ok(DevEnv {
        source: DevEnvSource::ConfigDockerfile { file: path.clone() },
        image: Some(ImageSpec::Build {
            dockerfile: path,
            context,
            args: BTreeMap::new(),
        }),
        ..DevEnv::action_image()
    })
}

/// Official images for toolchains the action image lacks, by the marker
/// file that names the language.
const LANGUAGE_IMAGES: &[(&str, &[&str], &str)] = &[
    ("Java (Maven)", &["pom.xml"], "maven:3-eclipse-temurin-21"),
    (
        "Java (Gradle)",
        &[
            "build.gradle",
            "build.gradle.kts",
            "settings.gradle",
            "settings.gradle.kts",
        ],
        "gradle:8-jdk21",
    ),
    ("Go", &["go.mod"], "golang:1.23-bookworm"),
    ("Rust", &["Cargo.toml"], "rust:1-bookworm"),
    ("Ruby", &["Gemfile"], "ruby:3.3-bookworm"),
    (
        ".NET",
        &["global.json", "*.sln", "*.csproj", "*.fsproj"],
        "mcr.microsoft.com/dotnet/sdk:8.0",
    ),
    ("Node.js", &["package.json"], "node:20-bookworm"),
    (
        "Python",
        &["pyproject.toml", "setup.py", "requirements.txt"],
        "python:3.12-bookworm",
    ),
];

fn has_marker(root: &Path, marker: &str) -> bool {
    match marker.strip_prefix('*') {
        Some(suffix) => std::fs::read_dir(root).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(suffix))
        }),
        None => root.join(marker).is_file(),
    }
}

fn language_image(root: &Path) -> Option<DevEnv> {
    let (language, _, image) = LANGUAGE_IMAGES
        .iter()
        .find(|(_, markers, _)| markers.iter().any(|m| has_marker(root, m)))?;
    let toolchain = match *language {
        "Node.js" => "node",
        "Python" => "python",
        _ => "",
    };
    if ACTION_IMAGE_TOOLCHAINS.contains(&toolchain) {
        return None;
    }
    Some(DevEnv {
        source: DevEnvSource::LanguageImage {
            language: language.to_string(),
        },
        image: Some(ImageSpec::Image {
            image: image.to_string(),
        }),
        ..DevEnv::action_image()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testing::temp_repo as repo;

    #[test]
    fn devcontainer_with_a_dockerfile_comments_and_trailing_commas() {
        let dir = repo(&[
            (
                ".devcontainer/devcontainer.json",
                r#"{
  // The team's environment
  "name": "api",
  "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "VARIANT": "3.12" }, },
  "features": { "ghcr.io/devcontainers/features/docker-in-docker:2": {} },
  "containerEnv": { "APP_ENV": "test" },
  "remoteUser": "vscode",
  "onCreateCommand": "make deps",
  "postCreateCommand": ["pip", "install", "-e", ".[test]"],
}"#,
            ),
            (".devcontainer/Dockerfile", "FROM python:3.12\n"),
        ]);
        let d = detect(dir.path(), None);
        assert_eq!(d.warnings, vec![]);
        assert_eq!(
            d.env,
            DevEnv {
                source: DevEnvSource::DevContainer {
                    file: ".devcontainer/devcontainer.json".into()
                },
                image: Some(ImageSpec::Build {
                    dockerfile: ".devcontainer/Dockerfile".into(),
                    context: ".".into(),
                    args: [("VARIANT".to_string(), "3.12".to_string())].into(),
                }),
                env: [("APP_ENV".to_string(), "test".to_string())].into(),
                user: Some("vscode".into()),
                setup: vec!["make deps".into(), "pip install -e '.[test]'".into()],
                test: vec![],
                memory_limit: None,
                notes: vec![
                    "devcontainer features are not installed: ghcr.io/devcontainers/features/docker-in-docker:2"
                        .into()
                ],
            }
        );
    }

    #[test]
    fn devfile_container_component_and_its_commands() {
        let dir = repo(&[(
            "devfile.yaml",
            r#"schemaVersion: 2.2.0
metadata: {name: svc}
components:
  - name: tools
    container:
      image: registry.example/java-tools:17
      memoryLimit: 2Gi
      env:
        - {name: MAVEN_OPTS, value: "-Xmx1g"}
commands:
  - id: build
    exec: {component: tools, commandLine: mvn -q install -DskipTests, group: {kind: build}}
  - id: test
    exec: {component: tools, commandLine: mvn -q test, group: {kind: test, isDefault: true}}
"#,
        )]);
        let d = detect(dir.path(), None);
        assert_eq!(d.warnings, vec![]);
        assert_eq!(
            d.env,
            DevEnv {
                source: DevEnvSource::Devfile {
                    file: "devfile.yaml".into()
                },
                image: Some(ImageSpec::Image {
                    image: "registry.example/java-tools:17".into()
                }),
                env: [("MAVEN_OPTS".to_string(), "-Xmx1g".to_string())].into(),
                user: None,
                setup: vec!["mvn -q install -DskipTests".into()],
                test: vec!["mvn -q test".into()],
                memory_limit: Some("2Gi".into()),
                notes: vec![],
            }
        );
    }

    #[test]
    fn a_bad_devcontainer_names_file_line_and_field_and_falls_back() {
        let dir = repo(&[
            (
                ".devcontainer.json",
                "{\n  \"image\": \"node:20\",\n  \"containerEnv\": [\"A=b\"]\n}\n",
            ),
            ("go.mod", "module example.com/x\n\ngo 1.22\n"),
        ]);
        let d = detect(dir.path(), None);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        let w = &d.warnings[0];
        assert_eq!(
            (w.file.as_str(), w.line, w.field.as_str()),
            (".devcontainer.json", 3, "containerEnv")
        );
        // Falls back to the language image.
        assert_eq!(
            d.env.source,
            DevEnvSource::LanguageImage {
                language: "Go".into()
            }
        );

        let dir = repo(&[(
            ".devcontainer.json",
            "{\n  \"image\": \"node:20\",\n  oops\n}\n",
        )]);
        let d = detect(dir.path(), None);
        assert_eq!(d.warnings[0].line, 3, "{}", d.warnings[0]);
        assert_eq!(d.env.source, DevEnvSource::ActionImage);

        let dir = repo(&[(
            ".devcontainer/devcontainer.json",
            "{ \"build\": { \"dockerfile\": \"missing.Dockerfile\" } }",
        )]);
        let d = detect(dir.path(), None);
        assert_eq!(
            d.warnings[0].to_string(),
            ".devcontainer/devcontainer.json:1: build.dockerfile: .devcontainer/missing.Dockerfile does not exist"
        );
    }

    #[test]
    fn a_bad_devfile_names_the_line_and_field() {
        let dir = repo(&[(
            "devfile.yaml",
            "schemaVersion: 2.2.0\ncomponents:\n  - name: x\n    container:\n      memoryLimit: 1Gi\n",
        )]);
        let d = detect(dir.path(), None);
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].field, "components[0].container");
        assert!(d.warnings[0].message.contains("image"), "{}", d.warnings[0]);
        assert_eq!(d.env.source, DevEnvSource::ActionImage);
    }

    #[test]
    fn the_config_dockerfile_comes_after_declared_environments() {
        let dir = repo(&[("ci/dev.Dockerfile", "FROM golang:1.23\n")]);
        let d = detect(dir.path(), Some("ci/dev.Dockerfile"));
        assert_eq!(
            d.env.image,
            Some(ImageSpec::Build {
                dockerfile: "ci/dev.Dockerfile".into(),
                context: "ci".into(),
                args: BTreeMap::new()
            })
        );
        let d = detect(dir.path(), Some("../outside/Dockerfile"));
        assert_eq!(d.warnings[0].field, "dev_container.dockerfile");
        assert_eq!(d.env.source, DevEnvSource::ActionImage);
    }

    #[test]
    fn language_images_only_where_the_action_image_lacks_the_toolchain() {
        type Files<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Files, Option<&str>)] = &[
            (
                &[("pom.xml", "<project/>")],
                Some("maven:3-eclipse-temurin-21"),
            ),
            (&[("build.gradle.kts", "")], Some("gradle:8-jdk21")),
            (&[("go.mod", "module x\n")], Some("golang:1.23-bookworm")),
            (&[("Cargo.toml", "[package]\n")], Some("rust:1-bookworm")),
            (&[("Gemfile", "source 'x'\n")], Some("ruby:3.3-bookworm")),
            (
                &[("App.csproj", "<Project/>")],
                Some("mcr.microsoft.com/dotnet/sdk:8.0"),
            ),
            (&[("package.json", "{}")], None),
            (&[("pyproject.toml", "[project]\n")], None),
            (&[("README.md", "hi")], None),
        ];
        for (files, want) in cases {
            let dir = repo(files);
            let d = detect(dir.path(), None);
            let got = match &d.env.image {
                Some(ImageSpec::Image { image }) => Some(image.as_str()),
                _ => None,
            };
            assert_eq!(got, *want, "{files:?}");
        }
    }
}
