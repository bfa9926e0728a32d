//! Starting the dev container a repository declares, for a task and for
//! `deckhand verify`: detection and its warnings, its setup commands first,
//! the variables and user commands get there, and the task's network level
//! (its own internal network and egress proxies, or Docker's default one
//! for `open`).

use std::path::Path;
use std::sync::Arc;

use super::container::{ContainerError, ContainerNetwork, DevContainer, DevNetwork, Paths};
use super::containment::Containment;
use super::env::command_env;
use super::host::HostLauncher;
use super::launcher::CommandRunner;
use super::network::NetworkLevel;
use super::proxy::proxy_env_at;
use super::user::CommandUser;
use crate::workspace::detect::{self, Environment};
use crate::workspace::devenv::{self, DevEnv};

/// Deckhand's variables the `docker` client runs with.
const CLIENT_VARS: &[&str] = &["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG"];

/// What starting a dev container needs.
pub struct Request<'a> {
    pub paths: Paths<'a>,
    /// `dev_container: {dockerfile: …}` of the config.
    pub configured: Option<&'a str>,
    /// Deckhand's own environment.
    pub process_env: &'a [(String, String)],
    pub secret_names: &'a [String],
    /// Commands run as this user when the image names none.
    pub user: Option<&'a CommandUser>,
    /// The network levels, and the proxies of a narrower one.
    pub containment: &'a Containment,
    /// Without a `docker` client here, commands run on the host (with a
    /// warning) instead of failing.
    pub host_without_docker: bool,
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
}

/// The launchers into a running dev container.
pub struct Launchers {
    /// Agent commands and verification (the task's level).
    pub agent: CommandRunner,
    /// Setup commands (level `network_setup`).
    pub setup: CommandRunner,
}

/// The environment detected, and its container when it runs in one.
pub struct Started {
    pub env: DevEnv,
    pub launchers: Option<Launchers>,
}

/// Detects the repository's dev environment and, when it names an image
/// (or needs an official one for its language), starts a container of it;
/// its own setup commands are put first in `environment`.
pub async fn start(
    req: Request<'_>,
    environment: &mut Environment,
) -> Result<Started, ContainerError> {
    let found = devenv::detect(req.paths.build_root, req.configured);
    for w in &found.warnings {
        (req.progress)(&format!("⚠️ {w}; falling back"));
    }
    for n in &found.env.notes {
        (req.progress)(&format!("ℹ️ {n}"));
    }
    let dev = found.env;
    if dev.image.is_none() {
        return Ok(Started {
            env: dev,
            launchers: None,
        });
    }
    let has_docker = req
        .process_env
        .iter()
        .find(|(k, _)| k == "PATH")
        .is_some_and(|(_, path)| {
            path.split(':')
                .any(|dir| Path::new(dir).join("docker").is_file())
        });
    if req.host_without_docker && !has_docker {
        (req.progress)(&format!(
            "⚠️ dev container: {} is declared, but there is no `docker` client here; commands run without it",
            dev.describe()
        ));
        return Ok(Started {
            env: dev,
            launchers: None,
        });
    }
    let source = format!("{} (dev container)", dev.describe());
    environment.setup.splice(
        0..0,
        dev.setup
            .iter()
            .map(|c| detect::Setup::new(c.clone(), source.clone())),
    );
    let host_env: Vec<(String, String)> = req
        .process_env
        .iter()
        .filter(|(k, _)| CLIENT_VARS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut inside: Vec<(String, String)> = command_env(req.process_env, req.secret_names)
        .into_iter()
        .filter(|(k, _)| req.secret_names.contains(k))
        .collect();
    let venv = environment
        .venv
        .then(|| detect::venv_dir(req.paths.cwd).display().to_string());
    if let Some(v) = &venv {
        inside.push(("VIRTUAL_ENV".into(), v.clone()));
    }
    let (level, setup_level) = (req.containment.level, req.containment.setup_level);
    let (network, setup_vars) = if level == NetworkLevel::Open {
        (ContainerNetwork::Default, None)
    } else {
        let client = HostLauncher::new(req.paths.share, host_env.clone());
        let own = super::container::checked_own_container(&client).await;
        let net = DevNetwork::create(&client, own.as_deref()).await?;
        let ip = net.listen();
        let port = req.containment.proxy_on(ip).await?;
        inside.extend(proxy_env_at(&ip.to_string(), port, None));
        let setup_vars = if setup_level == level {
            None
        } else {
            // Closed once setup is over (`Containment::setup_network`).
            let port = req.containment.setup_proxy_on(ip).await?;
            Some(proxy_env_at(&ip.to_string(), port, None))
        };
        (req.progress)(&format!(
            "🐳 dev container: network {} (level {level}, setup {setup_level}): its only way out is the egress proxy on {ip}",
            net.name()
        ));
        (ContainerNetwork::Internal(net), setup_vars)
    };
    let mut container =
        DevContainer::start(&dev, req.paths, network, host_env, &inside, req.progress).await?;
    if let (None, Some(u)) = (&dev.user, req.user) {
        container = container.as_user(&format!("{}:{}", u.uid, u.gid));
    }
    if let Some(v) = venv {
        container = container.with_path_prefix(&format!("{v}/bin"));
    }
    let setup: Option<CommandRunner> = match setup_vars {
        Some(vars) => Some(Arc::new(container.with_vars(&vars)?)),
        None => None,
    };
    let agent: CommandRunner = Arc::new(container);
    Ok(Started {
        env: dev,
        launchers: Some(Launchers {
            setup: setup.unwrap_or_else(|| agent.clone()),
            agent,
        }),
    })
}
