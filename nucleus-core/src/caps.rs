//! Capabilities: the sandbox's processes keep none — effective, permitted, inheritable,
//! ambient and bounding sets are all emptied before any workload code runs — unless the
//! config names some to keep. Kept ones stay in every set, ambient included, so they
//! survive `execve` under `no_new_privs`.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

use crate::config::SecurityConfig;
use crate::error::{Error, Result};
use crate::sys;

/// Capabilities that hand out an escape route or control of the host; keeping one needs
/// `allow_dangerous_capabilities`.
const DANGEROUS: [Capability; 14] = [
    Capability::CAP_SYS_ADMIN,
    Capability::CAP_SYS_PTRACE,
    Capability::CAP_SYS_MODULE,
    Capability::CAP_SYS_RAWIO,
    Capability::CAP_SYS_BOOT,
    Capability::CAP_SYS_TIME,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_MAC_ADMIN,
    Capability::CAP_MAC_OVERRIDE,
    Capability::CAP_NET_ADMIN,
    Capability::CAP_BPF,
    Capability::CAP_PERFMON,
    Capability::CAP_SYSLOG,
    Capability::CAP_SETPCAP,
];

/// Check the keep-list: known names only, dangerous ones only with the extra opt-in.
pub(crate) fn validate(config: &SecurityConfig) -> Result<()> {
    compile(config).map(drop)
}

/// The capability numbers to keep.
pub fn compile(config: &SecurityConfig) -> Result<Vec<u8>> {
    let mut keep = Vec::new();
    for (i, name) in config.capabilities.iter().enumerate() {
        let field = format!("security.capabilities[{i}]");
        let cap = Capability::from_str(&name.to_ascii_uppercase())
            .map_err(|_| Error::config(&field, format!("unknown capability {name:?}")))?;
        if DANGEROUS.contains(&cap) && !config.allow_dangerous_capabilities {
            return Err(Error::config(
                field,
                format!("{cap} opens an escape route; set security.allow_dangerous_capabilities to keep it"),
            ));
        }
        keep.push(cap.index());
    }
    keep.sort_unstable();
    keep.dedup();
    Ok(keep)
}

/// The highest capability number this kernel knows (it may know more than this crate's
/// list, and those must go too).
fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

fn syscall_error(call: &str, e: caps::errors::CapsError) -> Error {
    Error::Syscall { call: format!("{call} ({e})"), path: None, errno: sys::errno() }
}

/// Empty the bounding set but for `keep`, so no later execve can regain anything else.
/// Needs `CAP_SETPCAP`, so it runs before the identity change.
pub(crate) fn drop_bounding(keep: &[u8]) -> Result<()> {
    for cap in 0..=last_cap() {
        if !keep.contains(&cap) {
            sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
                .map_err(|e| e.with_call("prctl(PR_CAPBSET_DROP)"))?;
        }
    }
    if !keep.is_empty() {
        // Keep the permitted set across a change of uid away from 0.
        sys::prctl(libc::PR_SET_KEEPCAPS, 1)?;
    }
    Ok(())
}

/// Set the effective, permitted, inheritable and ambient sets to exactly `keep`.
pub(crate) fn set(keep: &[u8]) -> Result<()> {
    let kept: CapsHashSet = caps::all().into_iter().filter(|c| keep.contains(&c.index())).collect();
    caps::clear(None, CapSet::Ambient).map_err(|e| syscall_error("clear ambient capabilities", e))?;
    for set in [CapSet::Effective, CapSet::Inheritable, CapSet::Permitted] {
        caps::set(None, set, &kept).map_err(|e| syscall_error("capset", e))?;
    }
    for cap in &kept {
        caps::raise(None, CapSet::Ambient, *cap).map_err(|e| syscall_error("raise ambient capability", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_list_is_validated() {
        let config = |names: &[&str], dangerous| SecurityConfig {
            capabilities: names.iter().map(|s| s.to_string()).collect(),
            allow_dangerous_capabilities: dangerous,
            ..SecurityConfig::default()
        };
        assert_eq!(compile(&config(&["CAP_NET_BIND_SERVICE"], false)).unwrap(), vec![10]);
        let e = compile(&config(&["CAP_NET_BIND_SERVICE", "CAP_FLY"], false)).unwrap_err();
        assert_eq!(e.field(), Some("security.capabilities[1]"));
        let e = compile(&config(&["CAP_SYS_ADMIN"], false)).unwrap_err();
        assert!(e.to_string().contains("allow_dangerous_capabilities"), "{e}");
        assert_eq!(compile(&config(&["cap_sys_admin"], true)).unwrap(), vec![21]);
    }
}
