//! Capabilities: the sandbox's processes keep none — effective, permitted, inheritable,
//! ambient and bounding sets are all emptied before any workload code runs.

use crate::error::{Error, Result};
use crate::sys;

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Empty the bounding set, so no later execve can regain a capability. Needs
/// `CAP_SETPCAP`, so it runs before the identity change.
pub(crate) fn drop_bounding() -> Result<()> {
    for cap in 0..=last_cap() {
        sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
            .map_err(|e| rename(e, "prctl(PR_CAPBSET_DROP)"))?;
    }
    Ok(())
}

/// Empty the ambient, inheritable, permitted and effective sets.
pub(crate) fn clear() -> Result<()> {
    // SAFETY: plain prctl arguments.
    let r = unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0)
    };
    sys::check(r as _, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", None)?;
    let header = libc_cap_header();
    let data = [CapData::default(); 2];
    // SAFETY: header and data have the layout capset(2) expects for version 3.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    sys::check(r, "capset", None).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn libc_cap_header() -> CapHeader {
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 }
}

fn rename(e: Error, call: &str) -> Error {
    match e {
        Error::Syscall { path, errno, .. } => Error::Syscall { call: call.into(), path, errno },
        other => other,
    }
}
