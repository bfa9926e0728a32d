//! A dev container's own Docker network: internal (nothing routes out of
//! it), with the address Deckhand's egress proxy listens on there as the
//! only way out; removed when dropped.

use std::net::IpAddr;

use super::container::{docker, quote, unique_name, ContainerError, CONTROL_TIMEOUT};
use super::host::HostLauncher;

/// A network made for one dev container.
#[derive(Debug)]
pub struct DevNetwork {
    name: String,
    /// Deckhand's own container, connected to the network (in the action).
    own: Option<String>,
    /// Where the proxy listens, reachable from the network.
    listen: IpAddr,
}

impl DevNetwork {
    /// Creates the network. In the action (`own` is Deckhand's container)
    /// the host gets no address on it and Deckhand's container is
    /// connected: its address there is the only one the dev container can
    /// reach. On a host (or in a container on the host's network), the
    /// proxy listens on the network's gateway address.
    pub async fn create(
        host: &HostLauncher,
        own: Option<&str>,
    ) -> Result<DevNetwork, ContainerError> {
        // A container on the host's network is reached as the host is.
        let own = match own {
            Some(id) if !on_host_network(host, id).await? => Some(id),
            _ => None,
        };
        let name = unique_name("net");
        let mut create = String::from("docker network create --internal");
        if own.is_some() {
            create.push_str(" -o com.docker.network.bridge.inhibit_ipv4=true");
        }
        docker(host, &format!("{create} {}", quote(&name)), CONTROL_TIMEOUT).await?;
        // From here on, dropping it removes the network.
        let mut net = DevNetwork {
            name,
            own: None,
            listen: IpAddr::from([127, 0, 0, 1]),
        };
        let (command, what) = match own {
            Some(id) => {
                docker(
                    host,
                    &format!("docker network connect {} {}", quote(&net.name), quote(id)),
                    CONTROL_TIMEOUT,
                )
                .await?;
                net.own = Some(id.to_string());
                let format = format!(
                    "{{{{with index .NetworkSettings.Networks \"{}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}",
                    net.name
                );
                (
                    format!(
                        "docker container inspect -f {} {}",
                        quote(&format),
                        quote(id)
                    ),
                    "Deckhand's own address on it",
                )
            }
            None => (
                format!(
                    "docker network inspect -f {} {}",
                    quote("{{range .IPAM.Config}}{{.Gateway}} {{end}}"),
                    quote(&net.name)
                ),
                "its gateway address",
            ),
        };
        let out = docker(host, &command, CONTROL_TIMEOUT).await?;
        net.listen = first_ipv4(&out.output).ok_or_else(|| ContainerError::Docker {
            command,
            status: format!("no IPv4 address: {what}"),
            tail: out.output.trim().to_string(),
        })?;
        Ok(net)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the proxy listens on for this network.
    pub fn listen(&self) -> IpAddr {
        self.listen
    }
}

/// Whether container `id` shares the host's network namespace.
async fn on_host_network(host: &HostLauncher, id: &str) -> Result<bool, ContainerError> {
    let out = docker(
        host,
        &format!(
            "docker container inspect -f {} {}",
            quote("{{.HostConfig.NetworkMode}}"),
            quote(id)
        ),
        CONTROL_TIMEOUT,
    )
    .await?;
    Ok(out.output.trim() == "host")
}

fn first_ipv4(text: &str) -> Option<IpAddr> {
    text.split_whitespace()
        .filter_map(|w| w.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}

impl Drop for DevNetwork {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if let Some(own) = &self.own {
            run(&["network", "disconnect", "-f", &self.name, own]);
        }
        if !run(&["network", "rm", &self.name]) {
            tracing::warn!("could not remove the dev container network {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ipv4_address_counts() {
        assert_eq!(
            first_ipv4("fd00::1 172.18.0.1 \n"),
            Some(IpAddr::from([172, 18, 0, 1]))
        );
        assert_eq!(first_ipv4("<no value>"), None);
    }
}
