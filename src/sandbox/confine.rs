//! Landlock rules for commands: which directories they may read, which
//! they may write, and which TCP port they may connect to; built in the
//! parent, enforced in the child just before `exec`.

use std::path::PathBuf;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, Scope, ABI,
};

/// The newest Landlock ABI these rules use; older kernels get what they
/// support (best effort), and [`Support`] says what that leaves out.
const ABI_USED: ABI = ABI::V6;

/// What one command may touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// Read and execute beneath these.
    pub read: Vec<PathBuf>,
    /// Read, write, create and remove beneath these.
    pub write: Vec<PathBuf>,
    /// TCP connections only to this port (on any address); `None` leaves
    /// the network to the kernel's defaults (level `open`).
    pub connect_port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the Landlock rules for commands: {0}")]
pub struct ConfineError(#[from] RulesetError);

impl Confinement {
    /// The ruleset, ready for `restrict_self` in the child.
    pub fn ruleset(&self) -> Result<RulesetCreated, ConfineError> {
        let mut ruleset = Ruleset::default().handle_access(AccessFs::from_all(ABI_USED))?;
        if self.connect_port.is_some() {
            ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
        }
        let mut created = ruleset
            .scope(Scope::from_all(ABI_USED))?
            .create()?
            .add_rules(path_beneath_rules(
                &self.read,
                AccessFs::from_read(ABI_USED),
            ))?
            .add_rules(path_beneath_rules(
                &self.write,
                AccessFs::from_all(ABI_USED),
            ))?;
        if let Some(port) = self.connect_port {
            created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
        }
        Ok(created)
    }
}

/// What the running kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The kernel's Landlock ABI version; `None` without Landlock.
    pub abi: Option<i32>,
}

impl Support {
    pub fn probe() -> Support {
        // SAFETY: the version query reads no memory (NULL attr, size 0).
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        Support {
            abi: (v > 0).then_some(v as i32),
        }
    }

    pub fn filesystem(&self) -> bool {
        self.abi.is_some()
    }

    /// TCP connect rules arrived with ABI 4.
    pub fn network(&self) -> bool {
        self.abi.is_some_and(|v| v >= 4)
    }

    /// What is only advisory on this kernel, one line each; empty when the
    /// rules are enforced.
    pub fn advisories(&self, net_rules: bool) -> Vec<String> {
        let mut out = Vec::new();
        if !self.filesystem() {
            out.push(
                "this kernel has no Landlock: the filesystem rules for commands (write only the worktree, no reading of Deckhand's home or the workspace's .git) are advisory only"
                    .to_string(),
            );
        }
        if net_rules && !self.network() {
            out.push(format!(
                "this kernel's Landlock (ABI {}) has no network rules: commands that ignore the proxy variables can connect anywhere; the network level is advisory only",
                self.abi.map_or("none".to_string(), |v| v.to_string())
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisories_name_what_is_not_enforced() {
        let none = Support { abi: None };
        let lines = none.advisories(true);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("advisory") && lines[1].contains("network level"));
        assert!(Support { abi: Some(3) }.advisories(true)[0].contains("ABI 3"));
        assert!(Support { abi: Some(4) }.advisories(true).is_empty());
        assert!(Support { abi: Some(1) }.advisories(false).is_empty());
    }

    #[test]
    fn rules_build_for_missing_paths_too() {
        let c = Confinement {
            read: vec!["/usr".into(), "/no/such/dir".into()],
            write: vec![std::env::temp_dir()],
            connect_port: Some(9),
        };
        assert!(c.ruleset().is_ok());
    }
}
