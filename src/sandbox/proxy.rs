//! The egress proxy: an HTTP proxy (CONNECT and plain HTTP) on 127.0.0.1
//! (or a dev container's network) that lets each connection through or refuses it (403) by host name,
//! according to the task's network level. Refusals are logged once each
//! and kept for the report.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::network::{url_host, HostPolicy};

/// Most bytes of a request head the proxy reads.
const MAX_HEAD: usize = 32 * 1024;

/// Called with each refusal's log line, once per host and port.
pub type BlockLog = Arc<dyn Fn(&str) + Send + Sync>;

/// How the proxy reaches the outside.
#[derive(Clone)]
pub struct ProxyConfig {
    pub policy: HostPolicy,
    /// Host names answered from this table instead of DNS.
    pub resolve: HashMap<String, IpAddr>,
    /// The runner's own proxy (`host:port`), used for every other host.
    pub upstream: Option<String>,
    pub on_block: BlockLog,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot start the egress proxy on {ip}: {source}")]
    Bind {
        ip: IpAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running proxy; stops when dropped or [`EgressProxy::stop`]ped.
pub struct EgressProxy {
    port: u16,
    blocked: Arc<Mutex<BTreeSet<String>>>,
    /// The accept loop, which owns every connection; `None` once stopped.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EgressProxy {
    /// A proxy on 127.0.0.1, for commands on this host.
    pub async fn start(config: ProxyConfig) -> Result<EgressProxy, ProxyError> {
        Self::start_on(IpAddr::from([127, 0, 0, 1]), config).await
    }

    /// A proxy listening on `ip` (a dev container's network), on a port
    /// the system picks.
    pub async fn start_on(ip: IpAddr, config: ProxyConfig) -> Result<EgressProxy, ProxyError> {
        let bind = |source| ProxyError::Bind { ip, source };
        let listener = TcpListener::bind((ip, 0)).await.map_err(bind)?;
        let port = listener.local_addr().map_err(bind)?.port();
        let blocked = Arc::new(Mutex::new(BTreeSet::new()));
        let shared = Arc::new(Shared {
            config,
            blocked: blocked.clone(),
        });
        let task = tokio::spawn(async move {
            // Connections live in the loop's set: stopping the loop closes
            // them too, tunnels already open included.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            continue;
                        };
                        let shared = shared.clone();
                        connections.spawn(async move {
                            if let Err(e) = shared.serve(stream).await {
                                tracing::debug!("egress proxy connection: {e}");
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(EgressProxy {
            port,
            blocked,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops listening and closes every connection it holds: from then on
    /// a connection to its port is refused. What it refused before stays
    /// for the report.
    pub async fn stop(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.abort();
            // Returns once the loop, its listener and connections are gone.
            let _ = task.await;
        }
    }

    /// `host:port` of every refused connection, sorted.
    pub fn blocked(&self) -> Vec<String> {
        self.blocked
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// The variables that send commands (and npm, pip, cargo, git, Maven)
/// through the proxy on `port` of 127.0.0.1.
pub fn proxy_env(port: u16, maven_opts: Option<&str>) -> Vec<(String, String)> {
    proxy_env_at("127.0.0.1", port, maven_opts)
}

/// The same for a proxy at `host` (a dev container's network).
pub fn proxy_env_at(host: &str, port: u16, maven_opts: Option<&str>) -> Vec<(String, String)> {
    let url = format!("http://{host}:{port}");
    let mut env: Vec<(String, String)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "npm_config_proxy",
        "npm_config_https_proxy",
        "PIP_PROXY",
        "CARGO_HTTP_PROXY",
        "YARN_HTTP_PROXY",
        "YARN_HTTPS_PROXY",
    ]
    .iter()
    .map(|k| (k.to_string(), url.clone()))
    .collect();
    // Nothing bypasses the proxy.
    env.push(("NO_PROXY".into(), String::new()));
    env.push(("no_proxy".into(), String::new()));
    env.push(("GIT_CONFIG_COUNT".into(), "1".into()));
    env.push(("GIT_CONFIG_KEY_0".into(), "http.proxy".into()));
    env.push(("GIT_CONFIG_VALUE_0".into(), url));
    let java = format!(
        "-Dhttp.proxyHost={host} -Dhttp.proxyPort={port} -Dhttps.proxyHost={host} -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts="
    );
    let maven = match maven_opts {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {java}"),
        _ => java,
    };
    env.push(("MAVEN_OPTS".into(), maven));
    env
}

/// The `host:port` of the runner's proxy setting, if any.
pub fn upstream_from(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    let host = url_host(value)?;
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(80);
    Some(format!("{host}:{port}"))
}

struct Shared {
    config: ProxyConfig,
    blocked: Arc<Mutex<BTreeSet<String>>>,
}

/// One parsed request head.
struct Request {
    connect: bool,
    host: String,
    port: u16,
    /// For plain HTTP: the head rewritten for the origin server.
    head: Vec<u8>,
    /// Bytes read past the head.
    rest: Vec<u8>,
}

impl Shared {
    async fn serve(&self, mut client: TcpStream) -> std::io::Result<()> {
        let Some(req) = read_request(&mut client).await? else {
            return respond(
                &mut client,
                400,
                "Deckhand's proxy could not read the request",
            )
            .await;
        };
        if !self.config.policy.allows(&req.host) {
            self.refuse(&req.host, req.port);
            let text = format!(
                "blocked by Deckhand: {}:{} is outside network level `{}`",
                req.host, req.port, self.config.policy.level
            );
            return respond(&mut client, 403, &text).await;
        }
        let mut upstream = match self.connect(&req.host, req.port).await {
            Ok(s) => s,
            Err(e) => {
                let text = format!(
                    "Deckhand's proxy cannot reach {}:{}: {e}",
                    req.host, req.port
                );
                return respond(&mut client, 502, &text).await;
            }
        };
        if req.connect {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
        } else {
            upstream.write_all(&req.head).await?;
        }
        upstream.write_all(&req.rest).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        Ok(())
    }

    fn refuse(&self, host: &str, port: u16) {
        let key = format!("{host}:{port}");
        let first = self
            .blocked
            .lock()
            .map(|mut b| b.insert(key.clone()))
            .unwrap_or(false);
        if first {
            (self.config.on_block)(&format!(
                "blocked: {key} (level: {})",
                self.config.policy.level
            ));
        }
    }

    async fn connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        if let Some(ip) = self.config.resolve.get(host) {
            return TcpStream::connect(SocketAddr::new(*ip, port)).await;
        }
        let Some(upstream) = &self.config.upstream else {
            return TcpStream::connect((host, port)).await;
        };
        let mut s = TcpStream::connect(upstream.as_str()).await?;
        s.write_all(
            format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
        )
        .await?;
        let (head, _) = read_head(&mut s).await?;
        let status_ok = head
            .split(|b| *b == b' ')
            .nth(1)
            .is_some_and(|code| code == b"200");
        if !status_ok {
            return Err(std::io::Error::other(
                "the runner's proxy refused the tunnel",
            ));
        }
        Ok(s)
    }
}

async fn respond(client: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let reason = match status {
        403 => "Forbidden",
        502 => "Bad Gateway",
        _ => "Bad Request",
    };
    let body = format!("{text}\n");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await?;
    client.write_all(body.as_bytes()).await?;
    client.shutdown().await
}

/// Reads up to the end of a head; returns it and what came after.
async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed in the head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let (head, rest) = match read_head(client).await {
        Ok(h) => h,
        Err(_) => return Ok(None),
    };
    Ok(parse_request(&head, rest))
}

fn parse_request(head: &[u8], rest: Vec<u8>) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let (line, headers) = text.split_once("\r\n")?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(target, 443)?;
        return Some(Request {
            connect: true,
            host,
            port,
            head: Vec::new(),
            rest,
        });
    }
    let after = target.strip_prefix("http://")?;
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let (host, port) = split_host_port(authority, 80)?;
    let mut out = format!("{method} {path} {version}\r\n");
    for h in headers.split("\r\n").filter(|h| !h.is_empty()) {
        let name = h
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name.starts_with("proxy-") {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Some(Request {
        connect: false,
        host,
        port,
        head: out.into_bytes(),
        rest,
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').map(str::parse).transpose().ok()?;
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), port.unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::network::NetworkLevel;

    #[test]
    fn parses_connect_and_absolute_requests() {
        let r = parse_request(
            b"CONNECT evil.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            vec![],
        )
        .unwrap();
        assert!(r.connect);
        assert_eq!((r.host.as_str(), r.port), ("evil.example.com", 443));
        let r = parse_request(
            b"GET http://GitHub.com:8080/a?b HTTP/1.1\r\nHost: github.com\r\nProxy-Connection: keep-alive\r\n\r\n",
            b"body".to_vec(),
        )
        .unwrap();
        assert_eq!((r.host.as_str(), r.port), ("github.com", 8080));
        assert_eq!(
            String::from_utf8(r.head).unwrap(),
            "GET /a?b HTTP/1.1\r\nHost: github.com\r\n\r\n"
        );
        assert_eq!(r.rest, b"body");
        assert!(parse_request(b"GET /origin HTTP/1.1\r\n\r\n", vec![]).is_none());
    }

    #[test]
    fn upstream_setting_becomes_host_and_port() {
        assert_eq!(
            upstream_from(Some("http://proxy.corp.example:3128/")).as_deref(),
            Some("proxy.corp.example:3128")
        );
        assert_eq!(upstream_from(None), None);
    }

    #[tokio::test]
    async fn a_stopped_proxy_refuses_connections_and_closes_its_tunnels() {
        let target = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let target_port = target.local_addr().unwrap().port();
        let proxy = EgressProxy::start(ProxyConfig {
            policy: HostPolicy::new(NetworkLevel::Open, &[], &[]),
            resolve: HashMap::new(),
            upstream: None,
            on_block: Arc::new(|_: &str| {}),
        })
        .await
        .unwrap();
        let mut tunnel = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        tunnel
            .write_all(format!("CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (_far, _) = target.accept().await.unwrap();
        let (head, _) = read_head(&mut tunnel).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200"));
        proxy.stop().await;
        let mut rest = Vec::new();
        // A bound, not a wait: the close comes at once or never.
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tunnel.read_to_end(&mut rest),
        )
        .await
        .expect("the tunnel stays open")
        .unwrap();
        assert!(rest.is_empty(), "the tunnel stays open");
        let again = TcpStream::connect(("127.0.0.1", proxy.port())).await;
        assert!(again.is_err(), "the stopped proxy still accepts");
    }

    #[tokio::test]
    async fn refuses_outside_the_level_once_per_host() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let proxy = EgressProxy::start(ProxyConfig {
            policy: HostPolicy::new(NetworkLevel::Integration, &[], &[]),
            resolve: HashMap::new(),
            upstream: None,
            on_block: Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())),
        })
        .await
        .unwrap();
        for _ in 0..2 {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port()))
                .await
                .unwrap();
            s.write_all(b"CONNECT evil.example.com:443 HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).await.unwrap();
            assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        }
        assert_eq!(
            *lines.lock().unwrap(),
            ["blocked: evil.example.com:443 (level: integration)"]
        );
        assert_eq!(proxy.blocked(), ["evil.example.com:443"]);
    }
}
