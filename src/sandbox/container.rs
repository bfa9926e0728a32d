//! The dev-container launcher: the repository's declared environment
//! (`workspace::devenv`) as a running container that shares the worktree at
//! the same path; commands run in it with `docker exec`, and a timeout or
//! `stop_all` kills everything they started inside it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::devimage;
pub use super::devnet::DevNetwork;
use super::host::HostLauncher;
use super::launcher::{CommandOutput, Launcher};
use crate::workspace::devenv::{DevEnv, ImageSpec};

/// How long image builds and pulls may take.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long container bookkeeping commands (run, exec kill, rm) may take.
pub(super) const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("dev container: `{command}` failed ({status}):\n{tail}")]
    Docker {
        command: String,
        status: String,
        tail: String,
    },
    #[error("dev container: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    ImageHash(#[from] super::devimage::ImageHashError),
    #[error("dev container network: {0}")]
    Proxy(#[from] super::proxy::ProxyError),
    #[error("dev container: {0} declares no image (it is the action image itself)")]
    NoImage(String),
}

/// A launcher for commands in a running dev container. The container (and
/// its network) is removed when the last launcher into it is dropped.
#[derive(Debug)]
pub struct DevContainer {
    running: Arc<Running>,
    cwd: PathBuf,
    user: Option<String>,
    /// What commands see inside, on top of the image's own.
    env: Vec<(String, String)>,
    /// `env`, in a file only Deckhand can read (for `docker exec`).
    env_file: tempfile::NamedTempFile,
    /// Put first on the container's PATH (a virtual environment's `bin`).
    path_prefix: Option<String>,
}

/// The container itself.
#[derive(Debug)]
struct Running {
    name: String,
    /// Runs the `docker` client on the host.
    host: HostLauncher,
    /// Removed after the container (field order: dropped after `Drop`).
    _network: Option<DevNetwork>,
}

pub(super) fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// `deckhand-<kind>-<pid>-<n>-<random>`: unique among this engine's
/// containers and networks, also when several Deckhand containers (each
/// with small pids of its own) share one engine.
pub(super) fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "deckhand-{kind}-{}-{}-{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// `2Gi` → `2g`, `512Mi` → `512m`; Docker's own units pass through.
fn docker_memory(limit: &str) -> String {
    let l = limit.trim();
    for (suffix, unit) in [
        ("Gi", "g"),
        ("Mi", "m"),
        ("Ki", "k"),
        ("G", "g"),
        ("M", "m"),
    ] {
        if let Some(n) = l.strip_suffix(suffix) {
            return format!("{n}{unit}");
        }
    }
    l.to_string()
}

/// The id of the container Deckhand itself may run in (the Docker action),
/// from the mounts Docker makes for it (`/var/lib/docker/containers/<id>/`
/// holds its hostname, hosts and resolv.conf files); the caller checks that
/// the engine knows it. The hostname is not used: with `--network host` it
/// is the host's.
pub(super) fn own_container() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    container_id_in(&mounts)
}

fn container_id_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (_, rest) = line.split_once("/containers/")?;
        let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        (id.len() == 64 && rest[id.len()..].starts_with('/')).then_some(id)
    })
}

/// Where a dev container's files come from and where its commands run.
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    /// The checkout the image's Dockerfile and context are read from.
    pub build_root: &'a Path,
    /// Shared with the container at the same path (holds `cwd`).
    pub share: &'a Path,
    /// Where commands start.
    pub cwd: &'a Path,
}

impl<'a> Paths<'a> {
    /// One directory for all three.
    pub fn single(dir: &'a Path) -> Paths<'a> {
        Paths {
            build_root: dir,
            share: dir,
            cwd: dir,
        }
    }
}

/// The network a dev container gets.
#[derive(Debug)]
pub enum ContainerNetwork {
    /// Docker's default bridge: the network level is `open`.
    Default,
    /// No network at all.
    None,
    /// Its own internal network, whose only way out is the egress proxy
    /// listening on it; removed with the container.
    Internal(DevNetwork),
}

impl DevContainer {
    /// Builds or finds the image of `env` and starts a container from it
    /// with `paths.share` shared at the same path. `host_env` is what the
    /// `docker` client runs with (PATH, DOCKER_HOST …); `env` is what
    /// commands see inside the container, on top of the image's own.
    pub async fn start(
        dev: &DevEnv,
        paths: Paths<'_>,
        network: ContainerNetwork,
        host_env: Vec<(String, String)>,
        env: &[(String, String)],
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<DevContainer, ContainerError> {
        let worktree = paths.build_root;
        let host = HostLauncher::new(paths.share, host_env);
        let image = image_of(dev, worktree, &host, progress).await?;
        let name = unique_name("dev");
        let mut run = format!(
            "docker run -d --rm --name {} --entrypoint sleep --workdir {}",
            quote(&name),
            quote(&paths.share.display().to_string())
        );
        let network = match network {
            ContainerNetwork::Default => None,
            ContainerNetwork::None => {
                run.push_str(" --network none");
                None
            }
            ContainerNetwork::Internal(net) => {
                run.push_str(&format!(" --network {}", quote(net.name())));
                Some(net)
            }
        };
        match checked_own_container(&host).await {
            // Inside the action's container: the worktree lives on one of
            // its mounts; the dev container gets the same mounts.
            Some(id) => run.push_str(&format!(" --volumes-from {}", quote(&id))),
            None => {
                let path = quote(&paths.share.display().to_string());
                run.push_str(&format!(" -v {path}:{path}"));
            }
        }
        if let Some(limit) = &dev.memory_limit {
            run.push_str(&format!(" --memory {}", quote(&docker_memory(limit))));
        }
        for (k, v) in &dev.env {
            run.push_str(&format!(" -e {}", quote(&format!("{k}={v}"))));
        }
        run.push_str(&format!(" {} infinity", quote(&image)));
        progress(&format!("🐳 dev container: {}", dev.describe()));
        docker(&host, &run, CONTROL_TIMEOUT).await?;
        let running = Arc::new(Running {
            name,
            host,
            _network: network,
        });
        Ok(DevContainer {
            running,
            cwd: paths.cwd.to_path_buf(),
            user: dev.user.clone(),
            env_file: env_file(env)?,
            env: env.to_vec(),
            path_prefix: None,
        })
    }

    /// Another launcher into the same container, whose commands see `vars`
    /// instead of this one's variables of the same names.
    pub fn with_vars(&self, vars: &[(String, String)]) -> std::io::Result<DevContainer> {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| !vars.iter().any(|(n, _)| n == k))
            .cloned()
            .collect();
        env.extend(vars.iter().cloned());
        Ok(DevContainer {
            running: self.running.clone(),
            cwd: self.cwd.clone(),
            user: self.user.clone(),
            env_file: env_file(&env)?,
            env,
            path_prefix: self.path_prefix.clone(),
        })
    }

    /// Commands run as `user` (`uid:gid` or a name the image knows).
    pub fn as_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }

    /// Commands find `dir` first on PATH (a virtual environment's `bin`).
    pub fn with_path_prefix(mut self, dir: &str) -> Self {
        self.path_prefix = Some(dir.to_string());
        self
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.running.name
    }

    /// Kills every process in the container but its init (`sleep`, which
    /// as PID 1 ignores the signal); returns how many there were.
    async fn kill_inside(&self) -> usize {
        let script = "n=0; for p in /proc/[0-9]*; do pid=${p#/proc/}; \
                      [ \"$pid\" = 1 ] || [ \"$pid\" = $$ ] || { kill -9 \"$pid\" 2>/dev/null && n=$((n+1)); }; done; echo $n";
        let name = self.name();
        let cmd = format!("docker exec -u 0 {} sh -c {}", quote(name), quote(script));
        match self.running.host.run(&cmd, CONTROL_TIMEOUT).await {
            Ok(out) if out.success() => out.output.trim().parse().unwrap_or(0),
            Ok(out) => {
                tracing::warn!("could not stop processes in {name}: {}", out.output);
                0
            }
            Err(e) => {
                tracing::warn!("could not stop processes in {name}: {e}");
                0
            }
        }
    }
}

/// The image of `dev`: pulled when the engine lacks it; built from the
/// checkout at `root` unless an image of the same content is there (built
/// or loaded by an earlier job).
async fn image_of(
    dev: &DevEnv,
    root: &Path,
    host: &HostLauncher,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<String, ContainerError> {
    match &dev.image {
        None => Err(ContainerError::NoImage(dev.describe())),
        Some(ImageSpec::Image { image }) => {
            if !image_present(host, image).await {
                progress(&format!("🐳 dev container: pulling {image}"));
                docker(
                    host,
                    &format!("docker pull -q {}", quote(image)),
                    IMAGE_TIMEOUT,
                )
                .await?;
            }
            Ok(image.clone())
        }
        Some(ImageSpec::Build {
            dockerfile,
            context,
            args,
        }) => {
            let tag = devimage::content_tag(root, dockerfile, context, args)?;
            if image_present(host, &tag).await {
                progress(&format!(
                    "🐳 dev container: reusing {tag} (the image of {dockerfile})"
                ));
                return Ok(tag);
            }
            progress(&format!("🐳 dev container: building {dockerfile} as {tag}"));
            let mut cmd = format!(
                "docker build -q -t {} -f {}",
                quote(&tag),
                quote(&root.join(dockerfile).display().to_string())
            );
            for (k, v) in args {
                cmd.push_str(&format!(" --build-arg {}", quote(&format!("{k}={v}"))));
            }
            cmd.push(' ');
            cmd.push_str(&quote(&root.join(context).display().to_string()));
            docker(host, &cmd, IMAGE_TIMEOUT).await?;
            Ok(tag)
        }
    }
}

/// Whether the engine has `image` (built, pulled or loaded before).
async fn image_present(host: &HostLauncher, image: &str) -> bool {
    docker(
        host,
        &format!("docker image inspect {}", quote(image)),
        CONTROL_TIMEOUT,
    )
    .await
    .is_ok()
}

/// Variables for `docker exec`, in a file only Deckhand can read (values
/// with line breaks cannot be written there and are left out).
fn env_file(env: &[(String, String)]) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    for (k, v) in env.iter().filter(|(_, v)| !v.contains('\n')) {
        writeln!(file, "{k}={v}")?;
    }
    file.flush()?;
    Ok(file)
}

/// The container Deckhand runs in, when the engine knows it.
pub(super) async fn checked_own_container(host: &HostLauncher) -> Option<String> {
    let id = own_container()?;
    docker(
        host,
        &format!("docker container inspect {}", quote(&id)),
        CONTROL_TIMEOUT,
    )
    .await
    .is_ok()
    .then_some(id)
}

/// Runs a `docker` command on the host; a failure names it with its
/// output's tail.
pub(super) async fn docker(
    host: &HostLauncher,
    command: &str,
    timeout: Duration,
) -> Result<CommandOutput, ContainerError> {
    let out = host.run(command, timeout).await?;
    if out.success() {
        return Ok(out);
    }
    let tail: Vec<&str> = out.output.lines().rev().take(20).collect();
    Err(ContainerError::Docker {
        command: command.to_string(),
        status: match out.exit_code {
            Some(code) => format!("exit {code}"),
            None if out.timed_out => "timed out".to_string(),
            None => "killed".to_string(),
        },
        tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

#[async_trait::async_trait]
impl Launcher for DevContainer {
    fn cwd(&self) -> &Path {
        &self.cwd
    }

    async fn run(&self, command: &str, timeout: Duration) -> std::io::Result<CommandOutput> {
        let inner = match &self.path_prefix {
            Some(dir) => format!("PATH={}:\"$PATH\"; export PATH; {command}", quote(dir)),
            None => command.to_string(),
        };
        let mut exec = format!(
            "docker exec -w {} --env-file {}",
            quote(&self.cwd.display().to_string()),
            quote(&self.env_file.path().display().to_string())
        );
        if let Some(user) = &self.user {
            exec.push_str(&format!(" -u {}", quote(user)));
        }
        exec.push_str(&format!(" {} sh -c {}", quote(self.name()), quote(&inner)));
        let mut out = self.running.host.run(&exec, timeout).await?;
        if out.timed_out {
            // Killing the client leaves the command running inside.
            self.kill_inside().await;
        }
        out.command = command.to_string();
        Ok(out)
    }

    async fn stop_all(&self) -> usize {
        self.kill_inside().await + self.running.host.stop_all().await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let removed = std::process::Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !matches!(removed, Ok(s) if s.success()) {
            tracing::warn!("could not remove dev container {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_in_dockers_units() {
        assert_eq!(docker_memory("2Gi"), "2g");
        assert_eq!(docker_memory("512Mi"), "512m");
        assert_eq!(docker_memory("1g"), "1g");
    }

    #[test]
    fn the_own_container_comes_from_dockers_mounts() {
        let id = "b91381370076b02f622bfe1d34bb6c00c95bbb9d31f771d74d9911913914d4ec";
        let mounts = format!(
            "612 590 0:52 / / rw,relatime - overlay overlay rw\n\
             620 612 254:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_in(&mounts).as_deref(), Some(id));
        assert_eq!(
            container_id_in("612 590 0:52 / / rw - overlay overlay rw\n"),
            None
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
