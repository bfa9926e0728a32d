//! What the Actions runner hands a Docker action: the `INPUT_*` variables
//! (upper-cased, spaces as underscores, hyphens kept) and the runner's own
//! `GITHUB_*`/`RUNNER_*` variables.

use std::path::PathBuf;

use crate::config::EnvSnapshot;

/// The action's inputs (see action.yml). Empty strings count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInputs {
    pub task: Option<String>,
    pub repository: Option<String>,
    pub trigger_label: String,
    pub trigger_phrase: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub anthropic_api_key: Option<String>,
    pub openai_api_key: Option<String>,
    pub base_url: Option<String>,
    pub github_token: Option<String>,
    pub config_repo: Option<String>,
    pub memory_branch: String,
    pub network: Option<String>,
    pub allowed_domains: Vec<String>,
    /// `NAME=value` lines.
    pub secrets: Vec<(String, String)>,
    pub max_attempts: Option<u32>,
    pub timeout_minutes: Option<u64>,
    pub base_branch: Option<String>,
    pub draft: bool,
    pub allowed_bots: Vec<String>,
    /// The account Deckhand's token writes as (a GitHub App's bot).
    pub bot_login: Option<String>,
    /// The campaign a matrix job belongs to (`cp-…`).
    pub campaign: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("input `{name}`: {message}")]
    Invalid { name: &'static str, message: String },
    #[error(
        "{0} is not set; `deckhand action` runs inside GitHub Actions (use `deckhand run` locally)"
    )]
    MissingRunnerVar(&'static str),
}

/// Every input `deckhand action` reads: action.yml declares exactly these.
/// The least `timeout_minutes` a job can do anything useful in.
pub const MIN_TIMEOUT_MINUTES: u64 = 10;

pub const NAMES: [&str; 22] = [
    "task",
    "repository",
    "trigger_label",
    "trigger_phrase",
    "provider",
    "model",
    "anthropic_api_key",
    "openai_api_key",
    "base_url",
    "github_token",
    "config_repo",
    "memory_branch",
    "network",
    "allowed_domains",
    "secrets",
    "max_attempts",
    "timeout_minutes",
    "base_branch",
    "draft",
    "allowed_bots",
    "bot_login",
    "campaign",
];

/// The variable name the runner uses for input `name`.
pub fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

impl ActionInputs {
    pub fn from_env(env: &EnvSnapshot) -> Result<ActionInputs, InputError> {
        let input = |name: &'static str| {
            debug_assert!(NAMES.contains(&name), "input `{name}` is not in NAMES");
            env.get(&input_var(name))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |name: &'static str| -> Result<Option<u64>, InputError> {
            input(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| InputError::Invalid {
                        name,
                        message: format!("`{v}` is not a whole number"),
                    })
                })
                .transpose()
        };
        let list = |name: &'static str| -> Vec<String> {
            input(name)
                .map(|v| {
                    v.split([',', '\n'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let draft = match input("draft").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(InputError::Invalid {
                    name: "draft",
                    message: format!("`{other}` is not true or false"),
                })
            }
        };
        let mut secrets = Vec::new();
        for (i, line) in input("secrets").unwrap_or_default().lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(InputError::Invalid {
                    name: "secrets",
                    message: format!("line {} is not NAME=value", i + 1),
                });
            };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(InputError::Invalid {
                    name: "secrets",
                    message: format!("line {}: `{name}` is not a variable name", i + 1),
                });
            }
            secrets.push((name.to_string(), value.trim().to_string()));
        }
        Ok(ActionInputs {
            task: input("task"),
            repository: input("repository"),
            trigger_label: input("trigger_label").unwrap_or_else(|| "deckhand".into()),
            trigger_phrase: input("trigger_phrase").unwrap_or_else(|| "/deckhand".into()),
            provider: input("provider"),
            model: input("model"),
            anthropic_api_key: input("anthropic_api_key"),
            openai_api_key: input("openai_api_key"),
            base_url: input("base_url"),
            github_token: input("github_token"),
            config_repo: input("config_repo"),
            memory_branch: input("memory_branch").unwrap_or_else(|| "deckhand/memory".into()),
            network: input("network"),
            allowed_domains: list("allowed_domains"),
            secrets,
            max_attempts: number("max_attempts")?
                .map(|n| {
                    u32::try_from(n).map_err(|_| InputError::Invalid {
                        name: "max_attempts",
                        message: format!("{n} is too large"),
                    })
                })
                .transpose()?,
            timeout_minutes: match number("timeout_minutes")? {
                Some(m) if m < MIN_TIMEOUT_MINUTES => {
                    return Err(InputError::Invalid {
                        name: "timeout_minutes",
                        message: format!(
                            "{m} is below the minimum of {MIN_TIMEOUT_MINUTES} minutes a job needs to clone, work, push and hand over"
                        ),
                    })
                }
                Some(m) if m > 7 * 24 * 60 => {
                    return Err(InputError::Invalid {
                        name: "timeout_minutes",
                        message: format!("{m} is more than a week"),
                    })
                }
                m => m,
            },
            base_branch: input("base_branch"),
            draft,
            allowed_bots: list("allowed_bots"),
            bot_login: input("bot_login"),
            campaign: match input("campaign") {
                Some(id) if !crate::campaign::is_valid_campaign_id(&id) => {
                    return Err(InputError::Invalid {
                        name: "campaign",
                        message: format!("`{id}` is not a campaign id (they look like cp-1a2b3c4d)"),
                    })
                }
                other => other,
            },
        })
    }

    /// Every secret value the inputs carry (masked before anything prints).
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = [
            &self.anthropic_api_key,
            &self.openai_api_key,
            &self.github_token,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        out.extend(self.secrets.iter().map(|(_, v)| v.clone()));
        out
    }
}

/// The runner's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerEnv {
    pub event_name: String,
    pub event_path: PathBuf,
    pub repository: String,
    pub workspace: Option<PathBuf>,
    pub server_url: String,
    pub api_url: String,
    pub run_id: Option<u64>,
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    pub runner_temp: PathBuf,
    /// `owner/repo/.github/workflows/file.yml@ref`.
    pub workflow_ref: Option<String>,
    pub git_ref: Option<String>,
}

impl RunnerEnv {
    pub fn from_env(env: &EnvSnapshot) -> Result<RunnerEnv, InputError> {
        let need = |name: &'static str| {
            env.get(name)
                .map(str::to_string)
                .ok_or(InputError::MissingRunnerVar(name))
        };
        let path = |name: &str| env.get(name).map(PathBuf::from);
        Ok(RunnerEnv {
            event_name: need("GITHUB_EVENT_NAME")?,
            event_path: PathBuf::from(need("GITHUB_EVENT_PATH")?),
            repository: need("GITHUB_REPOSITORY")?,
            workspace: path("GITHUB_WORKSPACE"),
            server_url: env
                .get("GITHUB_SERVER_URL")
                .unwrap_or("https://github.com")
                .trim_end_matches('/')
                .to_string(),
            api_url: env
                .get("GITHUB_API_URL")
                .unwrap_or("https://api.github.com")
                .trim_end_matches('/')
                .to_string(),
            run_id: env.get("GITHUB_RUN_ID").and_then(|v| v.parse().ok()),
            output: path("GITHUB_OUTPUT"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            runner_temp: path("RUNNER_TEMP").unwrap_or_else(std::env::temp_dir),
            workflow_ref: env.get("GITHUB_WORKFLOW_REF").map(str::to_string),
            git_ref: env.get("GITHUB_REF").map(str::to_string),
        })
    }

    /// The link to this run's log.
    pub fn run_url(&self) -> Option<String> {
        self.run_id
            .map(|id| format!("{}/{}/actions/runs/{id}", self.server_url, self.repository))
    }

    /// The workflow file this run comes from (`deckhand.yml`), for dispatching
    /// a continuation.
    pub fn workflow_file(&self) -> Option<String> {
        let r = self.workflow_ref.as_deref()?;
        let path = r.split('@').next()?;
        path.rsplit('/').next().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_the_runner_naming_and_defaults() {
        let env = EnvSnapshot::from_pairs([
            ("INPUT_TASK", " Fix the bug "),
            ("INPUT_MAX_ATTEMPTS", "5"),
            ("INPUT_ALLOWED_BOTS", "renovate[bot], dependabot[bot]"),
            (
                "INPUT_SECRETS",
                "NPM_TOKEN=abc123def\n# comment\nOTHER = x y z\n",
            ),
            ("INPUT_DRAFT", "true"),
        ]);
        let i = ActionInputs::from_env(&env).unwrap();
        assert_eq!(i.task.as_deref(), Some("Fix the bug"));
        assert_eq!(i.max_attempts, Some(5));
        assert_eq!(i.trigger_label, "deckhand");
        assert_eq!(i.trigger_phrase, "/deckhand");
        assert_eq!(i.memory_branch, "deckhand/memory");
        assert_eq!(i.allowed_bots, ["renovate[bot]", "dependabot[bot]"]);
        assert_eq!(
            i.secrets,
            [
                ("NPM_TOKEN".into(), "abc123def".into()),
                ("OTHER".into(), "x y z".into())
            ]
        );
        assert!(i.draft);
        assert_eq!(input_var("trigger label"), "INPUT_TRIGGER_LABEL");
        assert_eq!(input_var("my-input"), "INPUT_MY-INPUT");
    }

    #[test]
    fn every_declared_input_is_read_and_nothing_else() {
        // Reading an undeclared input trips the debug assertion in `input`.
        let all = EnvSnapshot::from_pairs(NAMES.map(|n| {
            let value = match n {
                "draft" => "true",
                "secrets" => "A=a",
                "timeout_minutes" => "30",
                "campaign" => "cp-1",
                _ => "1",
            };
            (input_var(n), value)
        }));
        let base = ActionInputs::from_env(&all).unwrap();
        for name in NAMES {
            let value = match name {
                "max_attempts" => "2",
                "timeout_minutes" => "40",
                "draft" => "false",
                "secrets" => "A=b",
                "campaign" => "cp-2",
                _ => "other",
            };
            let parsed = ActionInputs::from_env(&all.with([(input_var(name).as_str(), value)]));
            assert_ne!(
                parsed.as_ref().ok(),
                Some(&base),
                "input `{name}` is never read"
            );
        }
    }

    #[test]
    fn bad_inputs_name_the_input() {
        let env = EnvSnapshot::from_pairs([("INPUT_MAX_ATTEMPTS", "three")]);
        let err = ActionInputs::from_env(&env).unwrap_err().to_string();
        assert_eq!(err, "input `max_attempts`: `three` is not a whole number");
        let env = EnvSnapshot::from_pairs([("INPUT_SECRETS", "just-a-value")]);
        let err = ActionInputs::from_env(&env).unwrap_err().to_string();
        assert_eq!(err, "input `secrets`: line 1 is not NAME=value");
        let env = EnvSnapshot::from_pairs([("INPUT_CAMPAIGN", "cp-../x")]);
        let err = ActionInputs::from_env(&env).unwrap_err().to_string();
        assert_eq!(
            err,
            "input `campaign`: `cp-../x` is not a campaign id (they look like cp-1a2b3c4d)"
        );
    }

    #[test]
    fn runner_env_needs_the_event() {
        let err = RunnerEnv::from_env(&EnvSnapshot::default()).unwrap_err();
        assert_eq!(err, InputError::MissingRunnerVar("GITHUB_EVENT_NAME"));
        let env = EnvSnapshot::from_pairs([
            ("GITHUB_EVENT_NAME", "issues"),
            ("GITHUB_EVENT_PATH", "/e.json"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
            (
                "GITHUB_WORKFLOW_REF",
                "o/r/.github/workflows/deckhand-issue.yml@refs/heads/main",
            ),
        ]);
        let r = RunnerEnv::from_env(&env).unwrap();
        assert_eq!(
            r.run_url().unwrap(),
            "https://github.com/o/r/actions/runs/42"
        );
        assert_eq!(r.workflow_file().unwrap(), "deckhand-issue.yml");
        assert_eq!(r.api_url, "https://api.github.com");
    }
}
