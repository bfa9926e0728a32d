//! Network levels: which host names the commands a task runs may reach
//! through the egress proxy.

use std::fmt;

use serde::Deserialize;

/// How far commands may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkLevel {
    /// GitHub only.
    #[default]
    Integration,
    /// GitHub and the package registries.
    Dependencies,
    /// Anything.
    Open,
    /// GitHub and the configured `allowed_domains`.
    Custom,
}

impl NetworkLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkLevel::Integration => "integration",
            NetworkLevel::Dependencies => "dependencies",
            NetworkLevel::Open => "open",
            NetworkLevel::Custom => "custom",
        }
    }

    /// Parses an action input or flag value.
    pub fn parse(text: &str) -> Option<NetworkLevel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "integration" => Some(NetworkLevel::Integration),
            "dependencies" => Some(NetworkLevel::Dependencies),
            "open" => Some(NetworkLevel::Open),
            "custom" => Some(NetworkLevel::Custom),
            _ => None,
        }
    }
}

impl fmt::Display for NetworkLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GitHub's own hosts (besides the server and API hosts of the run).
const GITHUB: &[&str] = &[
    "github.com",
    "*.github.com",
    "*.githubusercontent.com",
    "ghcr.io",
];

/// The package registries of the `dependencies` level.
const REGISTRIES: &[&str] = &[
    // npm
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    // PyPI
    "pypi.org",
    "files.pythonhosted.org",
    // Rust crates
    "crates.io",
    "static.crates.io",
    "index.crates.io",
    // Maven Central
    "repo.maven.apache.org",
    "repo1.maven.org",
    // Go modules
    "proxy.golang.org",
    "sum.golang.org",
    // RubyGems
    "rubygems.org",
    "index.rubygems.org",
];

/// Which host names one level lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub level: NetworkLevel,
    /// Patterns: `name` matches itself; `*.name` and `.name` match its
    /// subdomains.
    patterns: Vec<String>,
}

impl HostPolicy {
    /// `github_hosts` are the hosts of `GITHUB_SERVER_URL` and
    /// `GITHUB_API_URL`; `allowed_domains` counts for `custom` only.
    pub fn new(level: NetworkLevel, github_hosts: &[String], allowed_domains: &[String]) -> Self {
        let mut patterns: Vec<String> = GITHUB.iter().map(|s| s.to_string()).collect();
        patterns.extend(github_hosts.iter().map(|h| h.to_ascii_lowercase()));
        match level {
            NetworkLevel::Dependencies => {
                patterns.extend(REGISTRIES.iter().map(|s| s.to_string()));
            }
            NetworkLevel::Custom => {
                patterns.extend(
                    allowed_domains
                        .iter()
                        .map(|d| d.trim().to_ascii_lowercase()),
                );
            }
            NetworkLevel::Integration | NetworkLevel::Open => {}
        }
        patterns.retain(|p| !p.is_empty());
        HostPolicy { level, patterns }
    }

    pub fn allows(&self, host: &str) -> bool {
        if self.level == NetworkLevel::Open {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.patterns.iter().any(|p| {
            if let Some(suffix) = p.strip_prefix("*.").or_else(|| p.strip_prefix('.')) {
                host.len() > suffix.len()
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            } else {
                host == *p
            }
        })
    }
}

/// The host of a URL such as `https://github.example.com/api/v3`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_allows_github_only() {
        let p = HostPolicy::new(
            NetworkLevel::Integration,
            &["ghe.example.com".into()],
            &["evil.example.com".into()],
        );
        assert!(p.allows("github.com"));
        assert!(p.allows("api.github.com"));
        assert!(p.allows("GHE.example.com."));
        assert!(!p.allows("evil.example.com"));
        assert!(!p.allows("registry.npmjs.org"));
        assert!(!p.allows("notgithub.com"));
    }

    #[test]
    fn dependencies_custom_and_open() {
        let d = HostPolicy::new(NetworkLevel::Dependencies, &[], &[]);
        assert!(d.allows("static.crates.io") && d.allows("pypi.org"));
        assert!(!d.allows("example.org"));
        let c = HostPolicy::new(NetworkLevel::Custom, &[], &["*.corp.example".into()]);
        assert!(c.allows("pkg.corp.example") && !c.allows("corp.example"));
        assert!(!c.allows("pypi.org"));
        assert!(HostPolicy::new(NetworkLevel::Open, &[], &[]).allows("anything.example"));
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://api.github.com/x").as_deref(),
            Some("api.github.com")
        );
        assert_eq!(
            url_host("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(url_host("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(
            url_host("http://u:p@h.example:1").as_deref(),
            Some("h.example")
        );
    }
}
