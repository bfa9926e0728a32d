//! Manifests and lockfiles: which lockfiles go with a manifest, and the version of a package a manifest declares or a lockfile pins.

/// Lockfiles and the manifest each belongs to.
pub const LOCKFILES: &[(&str, &str)] = &[
    ("package-lock.json", "package.json"),
    ("yarn.lock", "package.json"),
    ("pnpm-lock.yaml", "package.json"),
    ("Cargo.lock", "Cargo.toml"),
    ("poetry.lock", "pyproject.toml"),
    ("uv.lock", "pyproject.toml"),
    ("go.sum", "go.mod"),
];

/// Whether `file` is a dependency manifest Deckhand can read.
pub fn is_manifest(file: &str) -> bool {
    matches!(
        file,
        "package.json" | "Cargo.toml" | "pyproject.toml" | "go.mod" | "pom.xml"
    ) || (file.starts_with("requirements") && file.ends_with(".txt"))
}

/// The lockfiles that pin the dependencies of `manifest`.
pub fn lockfiles_for(manifest: &str) -> Vec<&'static str> {
    let manifest = if manifest.starts_with("requirements") {
        "pyproject.toml"
    } else {
        manifest
    };
    LOCKFILES
        .iter()
        .filter(|(_, m)| *m == manifest)
        .map(|(l, _)| *l)
        .collect()
}

/// The version of `package` a lockfile pins; `None` when it does not hold it.
pub fn locked_version(lockfile: &str, text: &str, package: &str) -> Option<String> {
    match lockfile {
        "package-lock.json" => package_lock(text, package),
        "yarn.lock" => yarn_lock(text, package),
        "pnpm-lock.yaml" => pnpm_lock(text, package),
        "Cargo.lock" | "poetry.lock" | "uv.lock" => toml_packages(text, package),
        "go.sum" => go_sum(text, package),
        _ => None,
    }
}

fn package_lock(text: &str, package: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    // lockfileVersion 2 and 3: `packages` keyed by path; nested copies count too.
    if let Some(packages) = doc.get("packages").and_then(|p| p.as_object()) {
        let suffix = format!("node_modules/{package}");
        let found = packages
            .iter()
            .filter(|(path, _)| *path == &suffix || path.ends_with(&format!("/{suffix}")))
            .find_map(|(_, v)| v.get("version").and_then(|v| v.as_str()));
        if let Some(v) = found {
            return Some(v.to_string());
        }
    }
    // lockfileVersion 1: nested `dependencies`.
    fn walk(deps: &serde_json::Value, package: &str) -> Option<String> {
        let deps = deps.as_object()?;
        if let Some(v) = deps
            .get(package)
            .and_then(|d| d.get("version"))
            .and_then(|v| v.as_str())
        {
            return Some(v.to_string());
        }
        deps.values()
            .find_map(|d| d.get("dependencies").and_then(|n| walk(n, package)))
    }
    doc.get("dependencies").and_then(|d| walk(d, package))
}

/// yarn v1 (`lodash@^4.17.0:` then `  version "4.17.21"`) and berry
/// (`"lodash@npm:^4.17.0":` then `  version: 4.17.21`).
fn yarn_lock(text: &str, package: &str) -> Option<String> {
    let mut in_entry = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_entry = line
                .trim_end_matches(':')
                .split(',')
                .map(|spec| spec.trim().trim_matches('"'))
                .any(|spec| {
                    spec.rsplit_once('@')
                        .is_some_and(|(name, _)| name == package)
                });
            continue;
        }
        if in_entry {
            let trimmed = line.trim();
            if let Some(v) = trimmed
                .strip_prefix("version ")
                .or_else(|| trimmed.strip_prefix("version: "))
            {
                return Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// pnpm: `packages:` keys `/lodash@4.17.21`, `lodash@4.17.21` or (v5)
/// `/lodash/4.17.21`.
fn pnpm_lock(text: &str, package: &str) -> Option<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let packages = doc.get("packages")?.as_mapping()?;
    packages.keys().filter_map(|k| k.as_str()).find_map(|key| {
        let key = key.trim_start_matches('/');
        let rest = key
            .strip_prefix(package)
            .filter(|r| r.starts_with('@') || r.starts_with('/'))?;
        let version = rest[1..].split('(').next().unwrap_or_default();
        (!version.is_empty()).then(|| version.to_string())
    })
}

/// `[[package]]` tables with `name` and `version` (Cargo, Poetry, uv).
fn toml_packages(text: &str, package: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Pkg>,
    }
    #[derive(serde::Deserialize)]
    struct Pkg {
        name: String,
        version: Option<String>,
    }
    let lock: Lock = toml::from_str(text).ok()?;
    let normal = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    lock.package
        .into_iter()
        .find(|p| normal(&p.name) == normal(package))
        .and_then(|p| p.version)
}

/// `module version[/go.mod] h1:…`; the highest version listed wins.
fn go_sum(text: &str, package: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (module, version) = (parts.next()?, parts.next()?);
            (module == package).then(|| version.trim_end_matches("/go.mod").to_string())
        })
        .max()
}

/// The version (requirement) of `package` a manifest declares directly.
pub fn declared_version(manifest: &str, text: &str, package: &str) -> Option<String> {
    match manifest {
        "package.json" => {
            let doc: serde_json::Value = serde_json::from_str(text).ok()?;
            [
                "dependencies",
                "devDependencies",
                "peerDependencies",
                "optionalDependencies",
            ]
            .iter()
            .find_map(|section| doc.get(section)?.get(package)?.as_str().map(str::to_string))
        }
        "Cargo.toml" => {
            let doc: toml::Table = toml::from_str(text).ok()?;
            ["dependencies", "dev-dependencies", "build-dependencies"]
                .iter()
                .find_map(|section| match doc.get(*section)?.get(package)? {
                    toml::Value::String(v) => Some(v.clone()),
                    toml::Value::Table(t) => t.get("version")?.as_str().map(str::to_string),
                    _ => None,
                })
        }
        "go.mod" => text.lines().find_map(|line| {
            let mut parts = line.trim().trim_start_matches("require").split_whitespace();
            (parts.next()? == package).then(|| parts.next().map(str::to_string))?
        }),
        m if m.starts_with("requirements") => text.lines().find_map(|line| {
            let line = line.split('#').next()?.trim();
            let name_end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(line.len());
            (line[..name_end].eq_ignore_ascii_case(package))
                .then(|| line[name_end..].trim().to_string())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_from_each_lockfile_format() {
        let npm = r#"{"lockfileVersion":3,"packages":{"":{"name":"x"},"node_modules/express/node_modules/lodash":{"version":"4.17.20"}}}"#;
        let yarn = "# yarn lockfile v1\n\nexpress@^4.0.0:\n  version \"4.18.2\"\n\nlodash@^4.17.0, lodash@^4.17.21:\n  version \"4.17.21\"\n";
        let berry =
            "\"lodash@npm:^4.17.21\":\n  version: 4.17.21\n  resolution: \"lodash@npm:4.17.21\"\n";
        let pnpm = "lockfileVersion: '6.0'\npackages:\n  /express@4.18.2:\n    resolution: {integrity: x}\n  /lodash@4.17.15:\n    resolution: {integrity: y}\n";
        let cargo = "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\n";
        let poetry = "[[package]]\nname = \"Requests\"\nversion = \"2.31.0\"\n";
        let gosum = "github.com/pkg/errors v0.9.0 h1:a\ngithub.com/pkg/errors v0.9.1 h1:b\ngithub.com/pkg/errors v0.9.1/go.mod h1:c\n";
        let got: Vec<Option<String>> = vec![
            locked_version("package-lock.json", npm, "lodash"),
            locked_version("yarn.lock", yarn, "lodash"),
            locked_version("yarn.lock", berry, "lodash"),
            locked_version("pnpm-lock.yaml", pnpm, "lodash"),
            locked_version("Cargo.lock", cargo, "serde"),
            locked_version("poetry.lock", poetry, "requests"),
            locked_version("go.sum", gosum, "github.com/pkg/errors"),
            locked_version("yarn.lock", yarn, "lodash-es"),
        ];
        let want: Vec<Option<String>> = [
            Some("4.17.20"),
            Some("4.17.21"),
            Some("4.17.21"),
            Some("4.17.15"),
            Some("1.0.200"),
            Some("2.31.0"),
            Some("v0.9.1"),
            None,
        ]
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn reads_declared_versions() {
        let pkg = r#"{"dependencies":{"express":"^4"},"devDependencies":{"lodash":"^4.17.21"}}"#;
        assert_eq!(
            declared_version("package.json", pkg, "lodash").as_deref(),
            Some("^4.17.21")
        );
        let cargo = "[dependencies]\nserde = { version = \"1.0\", features = [\"derive\"] }\n";
        assert_eq!(
            declared_version("Cargo.toml", cargo, "serde").as_deref(),
            Some("1.0")
        );
        let req = "flask==2.0\nrequests>=2.31 # http\n";
        assert_eq!(
            declared_version("requirements.txt", req, "requests").as_deref(),
            Some(">=2.31")
        );
        let gomod = "module x\n\nrequire (\n\tgithub.com/pkg/errors v0.9.1\n)\n";
        assert_eq!(
            declared_version("go.mod", gomod, "github.com/pkg/errors").as_deref(),
            Some("v0.9.1")
        );
        assert_eq!(lockfiles_for("package.json").len(), 3);
    }
}
