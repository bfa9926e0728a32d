//! Configuration: `.github/deckhand.yml` (or `.deckhand.yml`, or `--config`)
//! merged with command-line flags and the environment into one `Settings`
//! value. Nothing below the entry point reads the environment; it receives
//! an [`EnvSnapshot`].

mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{Approvers, FileConfig, GitAuthor, MemoryConfig, Rollout};

use crate::llm::{retry::RetryPolicy, PriceTable, ProviderKind, ProviderSettings};
use crate::sandbox::network::NetworkLevel;
use crate::sandbox::user::{self, CommandUser};
use crate::sandbox::Redactor;

/// The process environment, read once at the entry point.
#[derive(Debug, Clone, Default)]
pub struct EnvSnapshot {
    vars: BTreeMap<String, String>,
}

impl EnvSnapshot {
    pub fn from_process() -> Self {
        EnvSnapshot {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        EnvSnapshot {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The same snapshot with `pairs` set (over any value they had).
    pub fn with<I, K, V>(&self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut vars = self.vars.clone();
        vars.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        EnvSnapshot { vars }
    }

    /// A variable's value; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Values of variables whose names say they hold a secret. Action
    /// inputs (`INPUT_*`) are left to the action, which knows which hold one.
    pub fn secret_values(&self) -> Vec<String> {
        self.vars
            .iter()
            .filter(|(k, _)| looks_secret(k) && !k.starts_with("INPUT_"))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "_KEY",
    ]
    .iter()
    .any(|marker| n.contains(marker))
}

/// Errors that stop before any work starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "no model API key is configured. Configure one of:\n  \
         - ANTHROPIC_API_KEY in the environment (Anthropic; `--provider anthropic`)\n  \
         - OPENAI_API_KEY in the environment (OpenAI or any compatible server: GitHub Models, Azure OpenAI, Ollama, vLLM, OpenRouter, LiteLLM; `--provider openai` with `--base-url` or OPENAI_BASE_URL)\n  \
         - `api_key_env: NAME` in .github/deckhand.yml to read the key from another variable (e.g. GITHUB_TOKEN for GitHub Models)\n  \
         - in GitHub Actions: the `anthropic_api_key` or `openai_api_key` input"
    )]
    NoApiKey,
    #[error(
        "the {provider} provider needs {var}, which is not set (or use --provider to pick another)"
    )]
    KeyMissingFor { provider: &'static str, var: String },
}

/// Values given on the command line (global flags).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub provider: Option<ProviderKind>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub config: Option<PathBuf>,
    pub no_stream: bool,
    pub max_attempts: Option<u32>,
    /// The network level (the action's `network` input).
    pub network: Option<NetworkLevel>,
    /// The action's `allowed_domains` input.
    pub allowed_domains: Vec<String>,
}

/// Limits that end a task cleanly when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub max_attempts: u32,
    pub max_turns_per_role: u32,
    pub max_tokens_per_task: u64,
    pub wall_clock: Duration,
    pub check_timeout: Duration,
    /// The model's context window in tokens; history is compacted near it.
    pub context_window: u64,
    pub max_output_tokens: u32,
}

/// Everything a task needs that comes from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the config came from, if a file was found.
    pub source: Option<PathBuf>,
    pub file: FileConfig,
    pub budgets: Budgets,
    pub prices: PriceTable,
    /// Names of variables passed to commands (and masked everywhere).
    pub secret_names: Vec<String>,
    pub network: NetworkSettings,
}

/// How far commands reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    pub level: NetworkLevel,
    /// Setup commands' level.
    pub setup_level: NetworkLevel,
    pub allowed_domains: Vec<String>,
}

impl Settings {
    /// Loads the config file for `repo` (or the `--config` file) and merges
    /// flags. Does not need a model key.
    pub fn load(repo: &Path, flags: &Flags) -> Result<Settings, ConfigError> {
        let (source, file) = match &flags.config {
            Some(path) => (Some(path.clone()), FileConfig::read(path)?),
            None => match find_config_file(repo) {
                Some(path) => (Some(path.clone()), FileConfig::read(&path)?),
                None => (None, FileConfig::default()),
            },
        };
        let budgets = Budgets {
            max_attempts: flags.max_attempts.or(file.max_attempts).unwrap_or(3),
            max_turns_per_role: file.max_turns.unwrap_or(60),
            max_tokens_per_task: file.max_tokens.unwrap_or(5_000_000),
            wall_clock: Duration::from_secs(file.timeout_minutes.unwrap_or(60) * 60),
            check_timeout: Duration::from_secs(file.check_timeout_minutes.unwrap_or(20) * 60),
            context_window: file.context_window.unwrap_or(200_000),
            max_output_tokens: file.max_output_tokens.unwrap_or(8192),
        };
        if budgets.max_attempts == 0 {
            return Err(file.invalid(source.as_deref(), "max_attempts", "must be at least 1"));
        }
        let prices = PriceTable::with_overrides(&file.prices);
        // The model key is never handed to commands, even when listed.
        let secret_names = file
            .secrets
            .iter()
            .filter(|name| file.api_key_env.as_ref() != Some(*name))
            .cloned()
            .collect();
        let level = flags.network.or(file.network).unwrap_or_default();
        let mut allowed_domains = file.allowed_domains.clone();
        allowed_domains.extend(flags.allowed_domains.iter().cloned());
        let network = NetworkSettings {
            level,
            // Setup installs dependencies: by default it reaches the
            // package registries even where the agent's commands may not.
            setup_level: file.network_setup.unwrap_or(match level {
                NetworkLevel::Integration => NetworkLevel::Dependencies,
                other => other,
            }),
            allowed_domains,
        };
        Ok(Settings {
            source,
            file,
            budgets,
            prices,
            secret_names,
            network,
        })
    }

    /// Resolves the provider: flags, then the config file, then the
    /// environment (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, `*_BASE_URL`).
    pub fn provider(
        &self,
        flags: &Flags,
        env: &EnvSnapshot,
    ) -> Result<ProviderSettings, ConfigError> {
        let file = &self.file;
        let kind = match flags.provider.or(file.provider) {
            Some(kind) => kind,
            None if file.api_key_env.is_some() => ProviderKind::Openai,
            None if env.get("ANTHROPIC_API_KEY").is_some() => ProviderKind::Anthropic,
            None if env.get("OPENAI_API_KEY").is_some() => ProviderKind::Openai,
            None => return Err(ConfigError::NoApiKey),
        };
        let (key_var, base_var, default_base, default_model) = match kind {
            ProviderKind::Anthropic => (
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_BASE_URL",
                "https://api.anthropic.com",
                "claude-sonnet-4-5",
            ),
            ProviderKind::Openai => (
                "OPENAI_API_KEY",
                "OPENAI_BASE_URL",
                "https://api.openai.com/v1",
                "gpt-4.1",
            ),
        };
        let key_var = file
            .api_key_env
            .clone()
            .unwrap_or_else(|| key_var.to_string());
        let api_key = match env.get(&key_var) {
            Some(key) => key.to_string(),
            None if flags.provider.is_none() && file.provider.is_none() => {
                return Err(ConfigError::NoApiKey)
            }
            None => {
                return Err(ConfigError::KeyMissingFor {
                    provider: kind.as_str(),
                    var: key_var,
                })
            }
        };
        let base_url = flags
            .base_url
            .clone()
            .or_else(|| file.base_url.clone())
            .or_else(|| env.get(base_var).map(str::to_string))
            .unwrap_or_else(|| default_base.to_string())
            .trim_end_matches('/')
            .to_string();
        let model = flags
            .model
            .clone()
            .or_else(|| file.model.clone())
            .unwrap_or_else(|| default_model.to_string());
        Ok(ProviderSettings {
            kind,
            model,
            base_url,
            api_key,
            stream: !flags.no_stream && file.stream.unwrap_or(true),
            extra_headers: file
                .extra_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            api_version: file.api_version.clone(),
            retry: RetryPolicy::default(),
        })
    }

    /// The account commands run as: `command_user`, else `deckhand` when
    /// `default_when_root` and this process is root. Never root: a
    /// configured user with uid 0 is an error naming the file and line.
    pub fn command_user(
        &self,
        default_when_root: bool,
    ) -> Result<Option<CommandUser>, ConfigError> {
        let configured = self.file.command_user.as_deref();
        let chosen = user::choose(configured, default_when_root).map_err(|e| {
            self.file
                .invalid(self.source.as_deref(), "command_user", &e.to_string())
        })?;
        match chosen {
            Some(u) if u.uid == 0 && configured.is_some() => Err(self.file.invalid(
                self.source.as_deref(),
                "command_user",
                &format!(
                    "names `{}`, which is uid 0 (root); commands never run as root: name an unprivileged account",
                    u.name
                ),
            )),
            Some(u) if u.uid == 0 => Ok(None),
            other => Ok(other),
        }
    }

    /// The redactor for a task: model keys, tokens and configured secrets.
    pub fn redactor(&self, env: &EnvSnapshot) -> Redactor {
        let mut values = env.secret_values();
        for name in &self.secret_names {
            if let Some(v) = env.get(name) {
                values.push(v.to_string());
            }
        }
        if let Some(name) = &self.file.api_key_env {
            if let Some(v) = env.get(name) {
                values.push(v.to_string());
            }
        }
        Redactor::new(values)
    }
}

/// `.github/deckhand.yml`, then `.github/deckhand.yaml`, then `.deckhand.yml`.
pub fn find_config_file(repo: &Path) -> Option<PathBuf> {
    [
        ".github/deckhand.yml",
        ".github/deckhand.yaml",
        ".deckhand.yml",
        ".deckhand.yaml",
    ]
    .iter()
    .map(|p| repo.join(p))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        std::fs::write(dir.path().join(".github/deckhand.yml"), config).unwrap();
        dir
    }

    #[test]
    fn flags_beat_file_beat_environment() {
        let dir = repo_with("provider: openai\nmodel: from-file\nbase_url: http://file/v1\n");
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        let env = EnvSnapshot::from_pairs([
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", "http://env/v1"),
        ]);
        let p = settings.provider(&Flags::default(), &env).unwrap();
        assert_eq!(
            (p.kind, p.model.as_str(), p.base_url.as_str()),
            (ProviderKind::Openai, "from-file", "http://file/v1")
        );
        let flags = Flags {
            model: Some("from-flag".into()),
            base_url: Some("http://flag/v1/".into()),
            ..Flags::default()
        };
        let p = settings.provider(&flags, &env).unwrap();
        assert_eq!(
            (p.model.as_str(), p.base_url.as_str()),
            ("from-flag", "http://flag/v1")
        );
    }

    #[test]
    fn environment_picks_provider_and_base_url() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        let env = EnvSnapshot::from_pairs([
            ("ANTHROPIC_API_KEY", "sk-ant"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9"),
        ]);
        let p = settings.provider(&Flags::default(), &env).unwrap();
        assert_eq!(p.kind, ProviderKind::Anthropic);
        assert_eq!(p.base_url, "http://127.0.0.1:9");
        assert_eq!(p.api_key, "sk-ant");
    }

    #[test]
    fn no_key_lists_every_way_to_configure_one() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        let err = settings
            .provider(&Flags::default(), &EnvSnapshot::default())
            .unwrap_err()
            .to_string();
        for way in [
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "api_key_env",
            "anthropic_api_key",
        ] {
            assert!(err.contains(way), "{err}");
        }
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let dir = repo_with("model: x\nmax_atempts: 2\n");
        let err = Settings::load(dir.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".github/deckhand.yml"), "{err}");
        assert!(err.contains("max_atempts"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn memory_section_reads_and_rejects_unknown_keys() {
        let dir = repo_with("memory:\n  approve: writers\n  expire_days: 30\n");
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        assert_eq!(
            settings.file.memory,
            file::MemoryConfig {
                approve: file::Approvers::Writers,
                expire_days: Some(30)
            }
        );
        assert_eq!(
            Settings::load(repo_with("model: x\n").path(), &Flags::default())
                .unwrap()
                .file
                .memory
                .expire_days(),
            90
        );
        let dir = repo_with("model: x\nmemory:\n  expire_dayz: 3\n");
        let err = Settings::load(dir.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".github/deckhand.yml"), "{err}");
        assert!(err.contains("expire_dayz"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn invalid_value_names_its_line() {
        let dir = repo_with("model: x\n\nmax_attempts: 0\n");
        let err = Settings::load(dir.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("max_attempts"), "{err}");
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let dir = repo_with("model: [unclosed\nstream: true\n");
        let err = Settings::load(dir.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("deckhand.yml"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn maintenance_tasks_are_text_or_tables() {
        let dir = repo_with("maintenance:\n  - Bump dependencies\n  - name: Tidy\n    task: Remove dead code\n    cron: \"0 4 * * 1\"\n");
        let m = Settings::load(dir.path(), &Flags::default())
            .unwrap()
            .file
            .maintenance;
        assert_eq!(
            (m[0].name.as_str(), m[0].task.as_str(), m[0].cron.as_deref()),
            ("Bump dependencies", "Bump dependencies", None)
        );
        assert_eq!(
            (m[1].name.as_str(), m[1].cron.as_deref()),
            ("Tidy", Some("0 4 * * 1"))
        );
        let bad = repo_with("maintenance:\n  - tsk: typo\n");
        let err = Settings::load(bad.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("deckhand.yml") && err.contains("line"),
            "{err}"
        );
    }

    #[test]
    fn redactor_masks_keys_and_configured_secrets() {
        let dir = repo_with("secrets: [DEPLOY_PASS]\n");
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        let env = EnvSnapshot::from_pairs([
            ("ANTHROPIC_API_KEY", "sk-ant-123456"),
            ("DEPLOY_PASS", "hunter22"),
        ]);
        let r = settings.redactor(&env);
        assert_eq!(r.redact("sk-ant-123456 hunter22"), "*** ***");
    }

    #[test]
    fn a_root_command_user_is_refused_with_file_and_line() {
        let dir = repo_with("model: x\ncommand_user: root\n");
        let settings = Settings::load(dir.path(), &Flags::default()).unwrap();
        let err = settings.command_user(false).unwrap_err().to_string();
        assert!(err.contains(".github/deckhand.yml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("uid 0"), "{err}");
    }

    #[test]
    fn network_level_from_flags_then_file() {
        let dir =
            repo_with("network: dependencies\nnetwork_setup: open\nallowed_domains: [a.example]\n");
        let s = Settings::load(dir.path(), &Flags::default()).unwrap();
        assert_eq!(s.network.level, NetworkLevel::Dependencies);
        assert_eq!(s.network.setup_level, NetworkLevel::Open);
        let flags = Flags {
            network: Some(NetworkLevel::Custom),
            allowed_domains: vec!["b.example".into()],
            ..Flags::default()
        };
        let s = Settings::load(dir.path(), &flags).unwrap();
        assert_eq!(s.network.level, NetworkLevel::Custom);
        assert_eq!(s.network.allowed_domains, ["a.example", "b.example"]);
        let bad = repo_with("network: everything\n");
        let err = Settings::load(bad.path(), &Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
