//! A task's running session: the provider, the workspace, budgets, the
//! reporter, and the token use so far. Every role works through one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::context::TaskContext;
use crate::agent::conversation::AgentError;
use crate::agent::inbox::Inbox;
use crate::agent::tools::{TeamRules, ToolLimits};
use crate::config::Budgets;
use crate::llm::{PriceTable, Provider, Usage};
use crate::report::Reporter;
use crate::sandbox::Redactor;
use crate::workspace::detect::Environment;
use crate::workspace::{CommandRunner, Workspace};

/// Why a task stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    MaxTurns,
    MaxTokens,
    WallClock,
}

impl Limit {
    pub fn describe(self, budgets: &Budgets) -> String {
        match self {
            Limit::MaxTurns => format!(
                "the turn limit per role ({}) was reached",
                budgets.max_turns_per_role
            ),
            Limit::MaxTokens => format!(
                "the token budget of the task ({}) was used up",
                budgets.max_tokens_per_task
            ),
            Limit::WallClock => format!(
                "the time limit of the task ({} min) ran out",
                budgets.wall_clock.as_secs() / 60
            ),
        }
    }
}

/// Work that must finish before anything touches the worktree: the
/// checkout, handing it to the command user, setup, and the baseline tests
/// (their runs are its result; `None` when no baseline was run, as on a
/// resume). It runs while the first model turns go out.
pub type Preparation =
    tokio::task::JoinHandle<Result<Option<crate::agent::verify::Baseline>, String>>;

pub struct Session {
    /// Shared, so steps after the task loop (learning, replies) can call the model.
    pub provider: Arc<dyn Provider>,
    pub prices: PriceTable,
    pub budgets: Budgets,
    pub workspace: Workspace,
    pub runner: CommandRunner,
    pub redactor: Redactor,
    pub limits: ToolLimits,
    pub reporter: Reporter,
    pub environment: Environment,
    pub steering: String,
    pub repo_map: String,
    /// Path-scoped steering and team rules, rebuilt at each role's start.
    pub context: Option<TaskContext>,
    /// The team rules the current role judges or records.
    pub team: TeamRules,
    /// Questions may be asked on this process's terminal.
    pub interactive: bool,
    /// Steering and pause requests that arrive while the task runs.
    pub inbox: Option<Box<dyn Inbox>>,
    pub usage: Usage,
    started: Instant,
    /// Time spent in earlier runs of this task (before a resume).
    elapsed_before: Duration,
    preparing: Option<Preparation>,
    /// The baseline runs, once preparation finished (taken by the task).
    pub baseline: Option<crate::agent::verify::Baseline>,
}

pub struct SessionParts {
    pub provider: Arc<dyn Provider>,
    pub prices: PriceTable,
    pub budgets: Budgets,
    pub workspace: Workspace,
    pub runner: CommandRunner,
    pub redactor: Redactor,
    pub reporter: Reporter,
    pub environment: Environment,
    pub steering: String,
    pub repo_map: String,
    pub context: Option<TaskContext>,
    pub interactive: bool,
    pub inbox: Option<Box<dyn Inbox>>,
}

impl Session {
    pub fn new(parts: SessionParts) -> Self {
        Session {
            provider: Arc::new(crate::llm::redacting::Redacting::new(
                parts.provider,
                parts.redactor.clone(),
            )),
            prices: parts.prices,
            budgets: parts.budgets,
            workspace: parts.workspace,
            runner: parts.runner,
            redactor: parts.redactor,
            limits: ToolLimits::default(),
            reporter: parts.reporter,
            environment: parts.environment,
            steering: parts.steering,
            repo_map: parts.repo_map,
            context: parts.context,
            team: TeamRules::default(),
            interactive: parts.interactive,
            inbox: parts.inbox,
            usage: Usage::default(),
            started: Instant::now(),
            elapsed_before: Duration::ZERO,
            preparing: None,
            baseline: None,
        }
    }

    /// Whether the worktree's preparation (checkout, setup, baseline) has
    /// finished, or there was none.
    pub fn prepared(&self) -> bool {
        self.preparing.as_ref().is_none_or(|p| p.is_finished())
    }

    /// Hands the session the worktree's preparation.
    pub fn preparing(&mut self, preparation: Preparation) {
        self.preparing = Some(preparation);
    }

    /// Waits until the worktree is ready for tools and commands.
    pub async fn ready(&mut self) -> Result<(), AgentError> {
        let Some(preparation) = self.preparing.take() else {
            return Ok(());
        };
        let fatal = |message: String| AgentError::Fatal {
            role: "worktree",
            message,
        };
        let runs = preparation
            .await
            .map_err(|e| fatal(format!("preparing the worktree stopped: {e}")))?
            .map_err(fatal)?;
        if runs.is_some() {
            self.baseline = runs;
        }
        Ok(())
    }

    /// Restores token use and elapsed time from a checkpoint.
    pub fn resume_from(&mut self, usage: Usage, elapsed: Duration) {
        self.usage = usage;
        self.elapsed_before = elapsed;
    }

    pub fn elapsed(&self) -> Duration {
        self.elapsed_before + self.started.elapsed()
    }

    /// Wall-clock time left in the task's budget (at least one second, so
    /// a command can still start and say it ran out).
    pub fn time_left(&self) -> Duration {
        self.budgets
            .wall_clock
            .saturating_sub(self.elapsed())
            .max(Duration::from_secs(1))
    }

    /// Tool limits with command timeouts cut to the time left (rounded up:
    /// a command cut short never ends before the deadline it was cut to).
    pub fn tool_limits(&self) -> ToolLimits {
        let left = self.time_left().as_secs_f64().ceil() as u64;
        let mut limits = self.limits;
        limits.max_command_timeout_secs = limits.max_command_timeout_secs.min(left);
        limits.default_command_timeout_secs = limits.default_command_timeout_secs.min(left);
        limits
    }

    /// The check timeout, cut to the time left.
    pub fn check_timeout(&self) -> Duration {
        self.budgets.check_timeout.min(self.time_left())
    }

    pub fn cost(&self) -> Option<f64> {
        self.prices.cost(self.provider.model(), &self.usage)
    }

    /// The limit a new model turn would break, if any.
    pub fn limit_reached(&self, turns: u32) -> Option<Limit> {
        if turns >= self.budgets.max_turns_per_role {
            Some(Limit::MaxTurns)
        } else if self.usage.total() >= self.budgets.max_tokens_per_task {
            Some(Limit::MaxTokens)
        } else if self.elapsed() >= self.budgets.wall_clock {
            Some(Limit::WallClock)
        } else {
            None
        }
    }

    /// `12.3k tokens, ~$0.04`.
    pub fn usage_line(&self) -> String {
        let tokens = self.usage.total();
        let t = if tokens >= 1000 {
            format!("{:.1}k tokens", tokens as f64 / 1000.0)
        } else {
            format!("{tokens} tokens")
        };
        match self.cost() {
            Some(c) => format!("{t}, ~${c:.2}"),
            None => t,
        }
    }
}
