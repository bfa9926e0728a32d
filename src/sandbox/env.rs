//! The environment commands run with: an allowlist of the process's own
//! variables plus the configured task secrets. Model keys and tokens are
//! never among them.

/// Variables passed through by exact name.
const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "TMPDIR",
    "CI",
    "RUNNER_OS",
    "RUNNER_ARCH",
    "RUNNER_TEMP",
    "GITHUB_ACTIONS",
    "GITHUB_WORKSPACE",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOPATH",
    "GOROOT",
    "GOCACHE",
    "GOFLAGS",
    "JAVA_HOME",
    "MAVEN_OPTS",
    "GRADLE_USER_HOME",
    "NODE_OPTIONS",
    "NVM_DIR",
    "NODE_PATH",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "PYENV_ROOT",
    "PIP_INDEX_URL",
    "NPM_CONFIG_REGISTRY",
    // Where the image keeps the pnpm and yarn it prepared, and how corepack
    // behaves (never prompt, never pin package.json); not its credentials
    // (`COREPACK_NPM_TOKEN`, `COREPACK_NPM_PASSWORD`).
    "COREPACK_HOME",
    "COREPACK_ENABLE_DOWNLOAD_PROMPT",
    "COREPACK_ENABLE_AUTO_PIN",
    "COREPACK_DEFAULT_TO_LATEST",
    "COREPACK_ENABLE_NETWORK",
    "COREPACK_ENABLE_STRICT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];
/// Never passed on, even when listed as a secret: model keys and tokens.
const NEVER: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];
/// Variables passed through by prefix.
const ALLOWED_PREFIXES: &[&str] = &["LC_", "CARGO_TERM_", "PYENV_"];

/// Builds the command environment from `process_env` (read once at the entry
/// point) and the names of configured secrets to pass on.
pub fn command_env(
    process_env: &[(String, String)],
    secret_names: &[String],
) -> Vec<(String, String)> {
    process_env
        .iter()
        .filter(|(k, _)| !NEVER.contains(&k.as_str()) && !k.starts_with("INPUT_"))
        .filter(|(k, _)| {
            ALLOWED.contains(&k.as_str())
                || ALLOWED_PREFIXES.iter().any(|p| k.starts_with(p))
                || secret_names.iter().any(|s| s == k)
        })
        .cloned()
        // Keep Python's bytecode caches out of the worktree.
        .chain([("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string())])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_allowlist_and_named_secrets_only() {
        let env: Vec<(String, String)> = [
            ("PATH", "/bin"),
            ("ANTHROPIC_API_KEY", "k"),
            ("GITHUB_TOKEN", "t"),
            ("LC_ALL", "C"),
            ("NPM_TOKEN", "n"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let got = command_env(
            &env,
            &["NPM_TOKEN".to_string(), "ANTHROPIC_API_KEY".to_string()],
        );
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["PATH", "LC_ALL", "NPM_TOKEN", "PYTHONDONTWRITEBYTECODE"]
        );
    }

    #[test]
    fn corepack_settings_pass_and_its_credentials_do_not() {
        let env: Vec<(String, String)> = [
            ("COREPACK_HOME", "/usr/local/share/corepack"),
            ("COREPACK_ENABLE_AUTO_PIN", "0"),
            ("COREPACK_NPM_TOKEN", "secret"),
            ("COREPACK_NPM_PASSWORD", "secret"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let got = command_env(&env, &[]);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "COREPACK_HOME",
                "COREPACK_ENABLE_AUTO_PIN",
                "PYTHONDONTWRITEBYTECODE"
            ]
        );
    }
}
