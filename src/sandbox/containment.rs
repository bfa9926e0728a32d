//! One task's containment: builds the launchers its agent, setup and verify
//! commands start through (command user, environment, private home and
//! temp dir, limits, Landlock rules, egress proxies) and keeps what the
//! report needs (refused hosts, what is only advisory on this kernel).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::confine::{Confinement, Support};
use super::host::HostLauncher;
use super::launcher::CommandRunner;
use super::limits::Limits;
use super::network::{url_host, HostPolicy, NetworkLevel};
use super::proxy::{self, BlockLog, EgressProxy, ProxyConfig, ProxyError};
use super::user::{self, CommandUser, UserError};

/// Directories of the system's toolchains that commands may read and run.
const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/nix", "/snap",
];
/// Variables naming toolchains commands may read (never write).
const TOOLCHAIN_VARS: &[&str] = &["GOROOT", "JAVA_HOME"];
/// Toolchain managers that live in a home directory: the directory, and
/// the variable that tells them where it is when HOME is another one.
const HOME_TOOLCHAINS: &[(&str, Option<&str>)] = &[
    (".rustup", Some("RUSTUP_HOME")),
    (".pyenv", Some("PYENV_ROOT")),
    (".nvm", Some("NVM_DIR")),
    (".rbenv", Some("RBENV_ROOT")),
    (".nodenv", Some("NODENV_ROOT")),
    (".goenv", Some("GOENV_ROOT")),
    (".volta", Some("VOLTA_HOME")),
    (".asdf", Some("ASDF_DIR")),
    (".sdkman", Some("SDKMAN_DIR")),
    (".cargo/bin", None),
    (".local/bin", None),
    (".bun/bin", None),
];
/// Variables the containment sets itself.
const REPLACED: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "PYENV_ROOT",
    "NVM_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "MAVEN_OPTS",
];

/// What a task's containment is built from.
pub struct Params<'a> {
    pub worktree: &'a Path,
    /// `.git/deckhand/<id>/`: the private home and temp dir go here.
    pub task_dir: &'a Path,
    /// The repository's git dir: readable (git works), never writable.
    pub git_dir: &'a Path,
    /// The allowlisted environment (see [`super::env::command_env`]).
    pub command_env: Vec<(String, String)>,
    /// More directories commands may write (a Python virtual environment
    /// outside the worktree); created for the command user.
    pub extra_write: Vec<PathBuf>,
    /// Deckhand's own environment.
    pub process_env: &'a [(String, String)],
    pub user: Option<&'a CommandUser>,
    pub level: NetworkLevel,
    pub setup_level: NetworkLevel,
    pub allowed_domains: &'a [String],
    pub max_processes: Option<u64>,
    /// Where refusals and advisories are logged.
    pub log: BlockLog,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainmentError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The launchers of one task; its proxies stop when it is dropped.
pub struct Containment {
    /// Agent commands and verification.
    pub agent: CommandRunner,
    /// Setup commands (level `network_setup`).
    pub setup: CommandRunner,
    /// The network levels of agent and setup commands.
    pub level: NetworkLevel,
    pub setup_level: NetworkLevel,
    /// Its own and those started for a dev container's network.
    proxies: Proxies,
    /// What every proxy is built from, but the level.
    proxy_base: ProxyBase,
    /// What this kernel or setup leaves advisory, one line each.
    pub advisories: Vec<String>,
}

/// A task's egress proxies; those only setup commands use are marked.
type Proxies = Arc<Mutex<Vec<(Use, Arc<EgressProxy>)>>>;

/// Who a proxy serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Agent commands and verification (maybe setup too).
    Commands,
    /// Setup commands only (`network_setup` wider than the task's level).
    SetupOnly,
}

/// Ends setup's wider network: once setup is over, the proxies only setup
/// used stop, so a later command that finds their port gets nothing.
#[derive(Clone)]
pub struct SetupNetwork {
    proxies: Proxies,
}

impl SetupNetwork {
    /// Stops every setup-only proxy (their refusals stay in the report).
    pub async fn close(&self) {
        let setup: Vec<Arc<EgressProxy>> = self
            .proxies
            .lock()
            .map(|ps| {
                ps.iter()
                    .filter(|(u, _)| *u == Use::SetupOnly)
                    .map(|(_, p)| p.clone())
                    .collect()
            })
            .unwrap_or_default();
        for proxy in &setup {
            proxy.stop().await;
        }
        if !setup.is_empty() {
            tracing::info!(
                "setup is over: {} setup-only egress proxy(ies) closed",
                setup.len()
            );
        }
    }
}

/// The parts of a [`ProxyConfig`] all levels share.
#[derive(Clone)]
struct ProxyBase {
    github_hosts: Vec<String>,
    allowed_domains: Vec<String>,
    resolve: HashMap<String, IpAddr>,
    upstream: Option<String>,
    log: BlockLog,
}

impl ProxyBase {
    fn config(&self, level: NetworkLevel) -> ProxyConfig {
        ProxyConfig {
            policy: HostPolicy::new(level, &self.github_hosts, &self.allowed_domains),
            resolve: self.resolve.clone(),
            upstream: self.upstream.clone(),
            on_block: self.log.clone(),
        }
    }
}

impl Containment {
    pub async fn build(p: Params<'_>) -> Result<Containment, ContainmentError> {
        let env = |name: &str| {
            p.process_env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let home = match p.user {
            Some(u) => user::writable_home(u, &p.task_dir.join("home"))?,
            None => private_dir(&p.task_dir.join("home"), None)?,
        };
        let tmp = private_dir(&p.task_dir.join("tmp"), p.user)?;

        let mut vars: Vec<(String, String)> = p
            .command_env
            .into_iter()
            .filter(|(k, _)| !REPLACED.contains(&k.as_str()))
            .collect();
        vars.push(("HOME".into(), home.display().to_string()));
        vars.push(("TMPDIR".into(), tmp.display().to_string()));
        vars.push((
            "CARGO_HOME".into(),
            home.join(".cargo").display().to_string(),
        ));
        if let Some(u) = p.user {
            vars.push(("USER".into(), u.name.clone()));
            vars.push(("LOGNAME".into(), u.name.clone()));
        }

        // Toolchains: readable, never writable.
        let deckhand_home = env("HOME").map(PathBuf::from);
        let mut read: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
        read.push(p.git_dir.to_path_buf());
        // Toolchain managers keep working with another HOME: their own
        // directory stays readable and its variable says where it is.
        let mut managers: Vec<PathBuf> = Vec::new();
        for (dir, var) in HOME_TOOLCHAINS {
            let found = var
                .and_then(&env)
                .map(PathBuf::from)
                .or_else(|| deckhand_home.as_ref().map(|h| h.join(dir)))
                .filter(|d| d.is_dir());
            if let Some(found) = found {
                if let Some(var) = var {
                    vars.push((var.to_string(), found.display().to_string()));
                }
                managers.push(found);
            }
        }
        let protected: Vec<PathBuf> = deckhand_home
            .iter()
            .cloned()
            .chain(env("GITHUB_WORKSPACE").map(PathBuf::from))
            .collect();
        let from_vars = TOOLCHAIN_VARS
            .iter()
            .filter_map(|k| env(k))
            .map(PathBuf::from)
            .chain(env("CARGO_HOME").map(|c| Path::new(c).join("bin")))
            .chain(managers);
        let from_path = env("PATH")
            .unwrap_or_default()
            .split(':')
            .map(PathBuf::from)
            .collect::<Vec<_>>();
        for dir in from_vars.chain(from_path) {
            // Never a protected directory or one of its ancestors.
            if dir.is_absolute() && !protected.iter().any(|p| p.starts_with(&dir)) {
                read.push(dir);
            }
        }
        let mut write = vec![
            p.worktree.to_path_buf(),
            home.clone(),
            tmp.clone(),
            PathBuf::from("/dev"),
        ];
        for dir in &p.extra_write {
            write.push(private_dir(dir, p.user)?);
        }

        let support = Support::probe();
        let mut advisories = support.advisories(p.level != NetworkLevel::Open);
        if p.level != NetworkLevel::Open {
            if !super::seccomp::available() {
                advisories.push(
                    "this kernel takes no seccomp filter: UDP (DNS included) is not closed for commands".to_string(),
                );
            }
            advisories.push(
                "connections to Unix sockets by path are not restricted: a command may talk to any socket its user can open".to_string(),
            );
        }
        // SAFETY: geteuid cannot fail.
        if p.user.is_none() && unsafe { libc::geteuid() } == 0 {
            advisories.push(
                "commands run as root (no `command_user` and no `deckhand` account): the process limit does not bind them".to_string(),
            );
        }
        for line in &advisories {
            (p.log)(&format!("⚠️ containment: {line}"));
        }

        let github_hosts: Vec<String> = [
            env("GITHUB_SERVER_URL").unwrap_or("https://github.com"),
            env("GITHUB_API_URL").unwrap_or("https://api.github.com"),
        ]
        .iter()
        .filter_map(|u| url_host(u))
        .collect();
        let resolve = resolver_table(env("DECKHAND_PROXY_RESOLVE").unwrap_or_default());
        let upstream = proxy::upstream_from(
            env("HTTPS_PROXY")
                .or_else(|| env("https_proxy"))
                .or_else(|| env("HTTP_PROXY"))
                .or_else(|| env("http_proxy")),
        );
        let limits = Limits {
            processes: p.max_processes.unwrap_or(Limits::default().processes),
            ..Limits::default()
        };

        let proxy_base = ProxyBase {
            github_hosts,
            allowed_domains: p.allowed_domains.to_vec(),
            resolve,
            upstream,
            log: p.log.clone(),
        };
        let mut proxies: Vec<(NetworkLevel, Use, Arc<EgressProxy>)> = Vec::new();
        let mut launchers: Vec<CommandRunner> = Vec::new();
        for (level, serves) in [(p.level, Use::Commands), (p.setup_level, Use::SetupOnly)] {
            let port = if level == NetworkLevel::Open {
                None
            } else if let Some((_, _, existing)) = proxies.iter().find(|(l, _, _)| *l == level) {
                Some(existing.port())
            } else {
                let started = EgressProxy::start(proxy_base.config(level)).await?;
                let port = started.port();
                proxies.push((level, serves, Arc::new(started)));
                Some(port)
            };
            let mut vars = vars.clone();
            if let Some(port) = port {
                let maven = env("MAVEN_OPTS");
                vars.extend(proxy::proxy_env(port, maven));
            }
            let mut launcher = HostLauncher::new(p.worktree, vars)
                .limited(limits)
                .confined(Confinement {
                    read: read.clone(),
                    write: write.clone(),
                    connect_port: port,
                });
            if let Some(u) = p.user {
                launcher = launcher.as_user(u.uid, u.gid);
            }
            launchers.push(Arc::new(launcher));
        }
        let setup = launchers.pop().ok_or_else(|| ContainmentError::Create {
            path: "launcher".into(),
            source: std::io::Error::other("no launcher was built"),
        })?;
        let agent = launchers.pop().unwrap_or_else(|| setup.clone());
        Ok(Containment {
            agent,
            setup,
            level: p.level,
            setup_level: p.setup_level,
            proxies: Arc::new(Mutex::new(
                proxies.into_iter().map(|(_, u, p)| (u, p)).collect(),
            )),
            proxy_base,
            advisories,
        })
    }

    /// Starts one more egress proxy at the task's level, listening on `ip`
    /// (a dev container's network); it stops with the containment, and
    /// what it refuses is reported with the rest. Returns its port.
    pub async fn proxy_on(&self, ip: IpAddr) -> Result<u16, ProxyError> {
        self.add_proxy(ip, self.level, Use::Commands).await
    }

    /// The same at the setup level (`network_setup`), for setup commands
    /// only: it stops when [`SetupNetwork::close`] says setup is over.
    pub async fn setup_proxy_on(&self, ip: IpAddr) -> Result<u16, ProxyError> {
        self.add_proxy(ip, self.setup_level, Use::SetupOnly).await
    }

    async fn add_proxy(
        &self,
        ip: IpAddr,
        level: NetworkLevel,
        serves: Use,
    ) -> Result<u16, ProxyError> {
        let proxy = EgressProxy::start_on(ip, self.proxy_base.config(level)).await?;
        let port = proxy.port();
        if let Ok(mut all) = self.proxies.lock() {
            all.push((serves, Arc::new(proxy)));
        }
        Ok(port)
    }

    /// What ends setup's wider network once setup is over.
    pub fn setup_network(&self) -> SetupNetwork {
        SetupNetwork {
            proxies: self.proxies.clone(),
        }
    }

    /// `host:port` of every connection the proxies refused, sorted.
    pub fn blocked(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .proxies
            .lock()
            .map(|ps| ps.iter().flat_map(|(_, p)| p.blocked()).collect())
            .unwrap_or_default();
        all.sort();
        all.dedup();
        all
    }
}

/// A directory only this task uses, handed to the command user.
fn private_dir(dir: &Path, user: Option<&CommandUser>) -> Result<PathBuf, ContainmentError> {
    std::fs::create_dir_all(dir).map_err(|source| ContainmentError::Create {
        path: dir.display().to_string(),
        source,
    })?;
    if let Some(u) = user {
        user::hand_over(dir, u)?;
    }
    Ok(dir.to_path_buf())
}

/// `name=ip,name=ip` (the proxy's own resolver table, as curl's
/// `--resolve`): names answered without DNS.
fn resolver_table(text: &str) -> HashMap<String, IpAddr> {
    text.split(',')
        .filter_map(|pair| {
            let (name, ip) = pair.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), ip.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_table_pairs() {
        let t = resolver_table("GitHub.test=127.0.0.2, bad=x,api.test=::1");
        assert_eq!(t.len(), 2);
        assert_eq!(t["github.test"].to_string(), "127.0.0.2");
    }
}
