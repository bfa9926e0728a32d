//! The config file's schema (`.github/deckhand.yml`) and its parsing, with
//! errors that name the file, the line and the field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use crate::llm::pricing::Price;
use crate::llm::ProviderKind;
use crate::sandbox::network::NetworkLevel;
use crate::workspace::detect::Overrides;

/// Commit author for Deckhand's commits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GitAuthor {
    pub name: String,
    pub email: String,
}

impl Default for GitAuthor {
    fn default() -> Self {
        GitAuthor {
            name: "deckhand[bot]".into(),
            email: "deckhand[bot]@users.noreply.github.com".into(),
        }
    }
}

/// Who may make a learned rule active at once (`memory.approve`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Approvers {
    /// Rules from maintainers and admins are active; from writers, proposed.
    #[default]
    Maintainers,
    /// Rules from anyone with write permission are active.
    Writers,
}

/// `memory:`: learned rules.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    #[serde(default)]
    pub approve: Approvers,
    /// Rules unused this many days are pruned (default 90).
    pub expire_days: Option<u32>,
}

impl MemoryConfig {
    pub const DEFAULT_EXPIRE_DAYS: u32 = 90;

    pub fn expire_days(&self) -> u32 {
        self.expire_days.unwrap_or(Self::DEFAULT_EXPIRE_DAYS)
    }
}

/// A scheduled maintenance task: `- task: …` with an optional `name` and
/// `cron`, or just the task's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceTask {
    pub name: String,
    pub task: String,
    /// Only run when the schedule that fired is this cron string.
    pub cron: Option<String>,
}

impl<'de> Deserialize<'de> for MaintenanceTask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(default)]
            name: Option<String>,
            task: String,
            #[serde(default)]
            cron: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Full(Full),
        }
        let (name, task, cron) = match Either::deserialize(d)? {
            Either::Text(task) => (None, task, None),
            Either::Full(f) => (f.name, f.task, f.cron),
        };
        let name = name.unwrap_or_else(|| {
            crate::task::spec::first_line(&task)
                .unwrap_or("maintenance")
                .chars()
                .take(80)
                .collect()
        });
        Ok(MaintenanceTask { name, task, cron })
    }
}

/// `dev_container:` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevContainerConfig {
    /// A Dockerfile in the repository that builds the environment.
    pub dockerfile: Option<String>,
}

/// The `rollout:` section: campaign waves.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Repositories per wave (default 5).
    pub wave_size: Option<usize>,
    /// Pull requests opened per hour at most (default: no limit).
    pub per_hour: Option<u32>,
    /// A wave starts only while the failure rate so far is below this (default 0.3).
    pub halt_failure_rate: Option<f64>,
}

impl Rollout {
    pub fn wave_size(&self) -> usize {
        self.wave_size.unwrap_or(5).max(1)
    }

    pub fn halt_failure_rate(&self) -> f64 {
        self.halt_failure_rate.unwrap_or(0.3)
    }
}

/// Every key the config file may hold. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub provider: Option<ProviderKind>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Stream model replies (default true).
    pub stream: Option<bool>,
    /// Azure OpenAI `api-version`; switches to the `api-key` header.
    pub api_version: Option<String>,
    /// Read the model key from this variable instead of the provider's.
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
    pub max_attempts: Option<u32>,
    pub max_turns: Option<u32>,
    pub max_tokens: Option<u64>,
    pub timeout_minutes: Option<u64>,
    pub check_timeout_minutes: Option<u64>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u32>,
    /// Override the detected setup/test/lint/typecheck commands.
    #[serde(default)]
    pub commands: Overrides,
    /// The account agent commands run as (default: `deckhand` when Deckhand
    /// runs as root and that account exists, as in the action's image).
    pub command_user: Option<String>,
    /// How far agent commands reach (default `integration`: GitHub only).
    pub network: Option<NetworkLevel>,
    /// Extra host names for `network: custom` (`*.example.com` for
    /// subdomains).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// The level setup commands run at (default: `network`).
    pub network_setup: Option<NetworkLevel>,
    /// Whether the agent may change `.github/workflows/`.
    #[serde(default)]
    pub allow_workflow_changes: bool,
    /// Processes one command may add to those its user already runs.
    pub max_processes: Option<u64>,
    /// Names of environment variables passed to commands; always masked.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Dollars per million tokens, by model id or id prefix.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    #[serde(default)]
    pub git: GitAuthor,
    /// Seconds between two looks at the issue for steering (action).
    pub poll_seconds: Option<u64>,
    /// Workflow file dispatched to continue a task that ran out of time
    /// (default: the workflow of the running job).
    pub continuation_workflow: Option<String>,
    #[serde(default)]
    pub maintenance: Vec<MaintenanceTask>,
    /// The dev container commands run in when asked for (`--dev-container`),
    /// when the repository declares none of its own.
    pub dev_container: Option<DevContainerConfig>,
    /// Learned rules: who approves them, when unused ones expire.
    #[serde(default)]
    pub memory: MemoryConfig,
    /// How a campaign's pull requests roll out.
    #[serde(default)]
    pub rollout: Rollout,
    /// The file's text, for locating fields in later validation errors.
    #[serde(skip)]
    text: String,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        let mut config: FileConfig =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Invalid {
                path: path.display().to_string(),
                message: describe_yaml_error(&e),
            })?;
        config.text = text.to_string();
        Ok(config)
    }

    /// An error about `field`, naming the line it is on.
    pub fn invalid(&self, path: Option<&Path>, field: &str, problem: &str) -> ConfigError {
        let line = self
            .line_of(field)
            .map(|n| format!("line {n}: "))
            .unwrap_or_default();
        ConfigError::Invalid {
            path: path.map_or_else(|| "config".to_string(), |p| p.display().to_string()),
            message: format!("{line}field `{field}` {problem}"),
        }
    }

    /// The 1-based line `field:` is on.
    fn line_of(&self, field: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{field}:")))
            .map(|i| i + 1)
    }
}

/// serde_yaml puts the location at the end; lead with it instead.
fn describe_yaml_error(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(loc) => {
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(head, _)| head)
                .to_string();
            format!("line {} column {}: {msg}", loc.line(), loc.column())
        }
        None => e.to_string(),
    }
}
