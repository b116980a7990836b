//! The sandbox's identity and the uid/gid maps of its user namespace.
//!
//! Each map has one line: the sandbox's id to one host id. An unprivileged caller can
//! only map its own ids (and must deny `setgroups` first); root maps sandbox root to an
//! unprivileged host id (65534 unless configured) so it is never host root.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::SandboxConfig;
use crate::error::{Error, Result};
use crate::sys;

/// The host id root callers map the sandbox to by default.
pub const DEFAULT_ROOT_HOST_ID: u32 = 65534;

/// Identity of the sandboxed processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPlan {
    /// Whether a user namespace is created.
    pub namespace: bool,
    /// Whether the caller is root (the supervisor then builds the sandbox with host
    /// privileges and creates the user namespace last).
    pub privileged: bool,
    /// uid inside the sandbox.
    pub uid: u32,
    /// gid inside the sandbox.
    pub gid: u32,
    /// Host uid that `uid` maps to (or runs as, without a user namespace).
    pub host_uid: u32,
    /// Host gid that `gid` maps to.
    pub host_gid: u32,
}

impl UserPlan {
    /// The identity a config asks for on this host.
    pub fn compile(config: &SandboxConfig) -> UserPlan {
        let privileged = sys::euid() == 0;
        let (default_uid, default_gid) = if privileged {
            (DEFAULT_ROOT_HOST_ID, DEFAULT_ROOT_HOST_ID)
        } else {
            (sys::euid(), sys::egid())
        };
        let u = &config.user;
        UserPlan {
            namespace: u.namespace,
            privileged,
            uid: u.uid,
            gid: u.gid,
            host_uid: if u.namespace { u.host_uid.unwrap_or(default_uid) } else { u.uid },
            host_gid: if u.namespace { u.host_gid.unwrap_or(default_gid) } else { u.gid },
        }
    }

    /// The `uid_map` line.
    pub fn uid_map(&self) -> String {
        format!("{} {} 1\n", self.uid, self.host_uid)
    }

    /// The `gid_map` line.
    pub fn gid_map(&self) -> String {
        format!("{} {} 1\n", self.gid, self.host_gid)
    }

    /// Write the maps of the user namespace of process `pid`, from its parent namespace.
    pub(crate) fn write_maps(&self, pid: libc::pid_t) -> Result<()> {
        let write = |name: &str, text: &str| -> Result<()> {
            let path = PathBuf::from(format!("/proc/{pid}/{name}"));
            std::fs::write(&path, text).map_err(|e| Error::Syscall {
                call: "write".into(),
                path: Some(path),
                errno: e.raw_os_error().unwrap_or(0),
            })
        };
        write("uid_map", &self.uid_map())?;
        if !self.privileged {
            write("setgroups", "deny")?;
        }
        write("gid_map", &self.gid_map())
    }
}

/// One line of a `/proc/<pid>/uid_map`: (inside, outside, count).
pub fn parse_map(text: &str) -> Option<Vec<(u32, u32, u32)>> {
    text.lines()
        .map(|line| {
            let mut it = line.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some((it.next()??, it.next()??, it.next()??))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_one_line_each() {
        let plan = UserPlan {
            namespace: true,
            privileged: true,
            uid: 0,
            gid: 0,
            host_uid: 65534,
            host_gid: 65534,
        };
        assert_eq!(plan.uid_map(), "0 65534 1\n");
        assert_eq!(parse_map("         0      65534          1\n"), Some(vec![(0, 65534, 1)]));
        assert_eq!(parse_map("0 x 1"), None);
    }

    #[test]
    fn root_never_maps_to_host_root_by_default() {
        let plan = UserPlan::compile(&SandboxConfig::new());
        if plan.privileged {
            assert_eq!((plan.host_uid, plan.host_gid), (65534, 65534));
        } else {
            assert_eq!(plan.host_uid, sys::euid());
        }
    }
}
