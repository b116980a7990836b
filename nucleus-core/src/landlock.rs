//! Landlock: filesystem access rules derived from the mount plan, plus IPC scoping.
//!
//! Read-only views may be read and executed; `/tmp`, `/workspace` and writable mounts may
//! be written; devices may be read, written and ioctl'd; nothing else may be opened. On
//! ABI 6 and later, abstract unix sockets and signals are scoped to the sandbox. The
//! sandbox's init restricts itself once it is built, so every command (a child of the
//! init) is in the same Landlock domain: commands can signal each other, nothing outside.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rootfs::{MountPlan, Step};

/// What a rule grants beneath its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// List directories (the root itself).
    List,
    /// Read files and list directories.
    Read,
    /// Read and execute.
    ReadExecute,
    /// Device files: read, write, truncate and ioctl.
    Device,
    /// Everything.
    ReadWrite,
}

/// The Landlock ruleset of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// The ABI version used (the kernel's best).
    pub abi: i32,
    /// Rules: a path inside the sandbox and what is granted beneath it.
    pub rules: Vec<(PathBuf, Grant)>,
}

/// The Landlock ABI version of the running kernel; 0 when it has none.
pub fn kernel_abi() -> i32 {
    // SAFETY: the version query takes no pointers.
    let v = unsafe {
        libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<libc::c_void>(), 0usize, 1u32)
    };
    v.max(0) as i32
}

/// The Landlock ABI the sandbox will get, a kernel fact asked once per process. A caller
/// whose own query fails with ENOSYS may be running under an emulator (valgrind does not
/// know the Landlock calls), so it asks the supervisor executable, which runs natively.
pub fn host_abi(shim: &Path) -> i32 {
    static ABI: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *ABI.get_or_init(|| match kernel_abi() {
        0 => std::process::Command::new(shim)
            .arg(crate::supervisor::LANDLOCK_ABI_FLAG)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .unwrap_or(0),
        abi => abi,
    })
}

impl LandlockPlan {
    /// The rules for a mount plan, at ABI `abi`.
    pub fn compile(mounts: &MountPlan, abi: i32) -> LandlockPlan {
        let root = if mounts.rootfs.is_some() { Grant::ReadExecute } else { Grant::List };
        let mut rules = vec![(PathBuf::from("/"), root)];
        for step in mounts.flat_steps() {
            let rule = match step {
                Step::Bind { device: true, .. } => None,
                Step::Bind { target, readonly, .. } => {
                    Some((target.clone(), if *readonly { Grant::ReadExecute } else { Grant::ReadWrite }))
                }
                Step::Symlink { .. } | Step::File { .. } | Step::Mask { .. } | Step::ReadOnly { .. } => None,
                Step::SealReadOnly { .. } => None,
                // `flat_steps` gives the steps it stands for instead.
                Step::Prebuilt { .. } => None,
                Step::Dir { target, .. } => Some((target.clone(), Grant::Read)),
                Step::Proc { target } => Some((target.clone(), Grant::Read)),
                Step::Devpts { target } => Some((target.clone(), Grant::Device)),
                Step::Tmpfs { target, .. } if target == Path::new("/dev") => Some((target.clone(), Grant::Device)),
                Step::Tmpfs { target, .. } => Some((target.clone(), Grant::ReadWrite)),
            };
            rules.extend(rule);
        }
        LandlockPlan { abi, rules }
    }

    /// Restrict the calling process (the init, inside its new root). Returns the ABI
    /// enforced; anything short of full enforcement is an error.
    pub(crate) fn apply(&self) -> Result<i32> {
        let abi = ABI::from(self.abi);
        let fail = |e: &dyn std::fmt::Display| Error::Syscall {
            call: format!("landlock ({e})"),
            path: None,
            errno: crate::sys::errno(),
        };
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| fail(&e))?;
        let scopes = Scope::from_all(abi);
        if !scopes.is_empty() {
            ruleset = ruleset.scope(scopes).map_err(|e| fail(&e))?;
        }
        let mut created = ruleset.create().map_err(|e| fail(&e))?;
        for (path, grant) in &self.rules {
            let fd = match PathFd::new(path) {
                Ok(fd) => fd,
                // A mount point the plan skipped (an absent host directory).
                Err(_) if !path.exists() => continue,
                Err(e) => return Err(fail(&e).with_path(path)),
            };
            let access = access(*grant, abi) & AccessFs::from_all(abi);
            let dir = crate::sys::is_dir(fd.as_fd()).map_err(|e| e.with_path(path))?;
            let access = if dir { access } else { access & AccessFs::from_file(abi) };
            created = created.add_rule(PathBeneath::new(fd, access)).map_err(|e| fail(&e).with_path(path))?;
        }
        let status = created.restrict_self().map_err(|e| fail(&e))?;
        if status.ruleset != RulesetStatus::FullyEnforced {
            return Err(Error::Unsupported {
                layer: "landlock".into(),
                reason: format!("ruleset only {:?}", status.ruleset),
            });
        }
        Ok(self.abi)
    }
}

fn access(grant: Grant, abi: ABI) -> BitFlags<AccessFs> {
    match grant {
        Grant::List => AccessFs::ReadDir.into(),
        Grant::Read => AccessFs::ReadFile | AccessFs::ReadDir,
        Grant::ReadExecute => AccessFs::from_read(abi),
        Grant::Device => AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev,
        Grant::ReadWrite => AccessFs::from_all(abi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mount, SandboxConfig};
    use crate::idmap::UserPlan;

    #[test]
    fn rules_follow_the_mount_plan() {
        let config = SandboxConfig::new()
            .mount(Mount::readonly("/usr", "/data/ro"))
            .mount(Mount::writable("/usr", "/data/rw"));
        let mounts = MountPlan::compile(&config, &UserPlan::compile(&config)).unwrap();
        let plan = LandlockPlan::compile(&mounts, 7);
        let grant = |p: &str| plan.rules.iter().find(|(path, _)| path == Path::new(p)).map(|r| r.1);
        assert_eq!(grant("/"), Some(Grant::List));
        assert_eq!(grant("/usr"), Some(Grant::ReadExecute));
        assert_eq!(grant("/etc"), Some(Grant::Read));
        assert_eq!(grant("/tmp"), Some(Grant::ReadWrite));
        assert_eq!(grant("/workspace"), Some(Grant::ReadWrite));
        assert_eq!(grant("/data/ro"), Some(Grant::ReadExecute));
        assert_eq!(grant("/data/rw"), Some(Grant::ReadWrite));
        assert_eq!(grant("/dev"), Some(Grant::Device));
        assert_eq!(grant("/dev/shm"), Some(Grant::ReadWrite));
        assert_eq!(grant("/proc"), Some(Grant::Read));
        assert_eq!(grant("/dev/null"), None, "covered by /dev");
    }
}
