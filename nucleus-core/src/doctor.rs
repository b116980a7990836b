//! `doctor()`: a preflight of what this host can enforce, no sandbox needed. Each check
//! says what it found and, when something is missing, the one-line fix.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One preflight check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked, e.g. `landlock`.
    pub name: String,
    /// Whether nucleus can use it.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when not ok.
    pub fix: Option<String>,
}

/// The host's preflight report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }
}

fn check(name: &str, ok: bool, detail: String, fix: &str) -> Check {
    Check { name: name.into(), ok, detail, fix: (!ok).then(|| fix.to_string()) }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Check what this host supports.
pub fn doctor() -> DoctorReport {
    let mut checks = Vec::new();
    let max_userns = read_trimmed("/proc/sys/user/max_user_namespaces").and_then(|v| v.parse::<u64>().ok());
    let debian_knob = read_trimmed("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor_knob = read_trimmed("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let root = crate::sys::euid() == 0;
    let userns_ok = max_userns.unwrap_or(0) > 0
        && (root || debian_knob.as_deref() != Some("0"))
        && (root || apparmor_knob.as_deref() != Some("1"));
    checks.push(check(
        "user_namespaces",
        userns_ok,
        format!(
            "max_user_namespaces={}, unprivileged_userns_clone={}, apparmor_restrict_unprivileged_userns={}",
            max_userns.map_or("?".into(), |v| v.to_string()),
            debian_knob.as_deref().unwrap_or("absent"),
            apparmor_knob.as_deref().unwrap_or("absent"),
        ),
        if apparmor_knob.as_deref() == Some("1") {
            "Ubuntu restricts unprivileged user namespaces: add an AppArmor profile allowing userns for the program, or sysctl kernel.apparmor_restrict_unprivileged_userns=0"
        } else {
            "sysctl user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 where it exists)"
        },
    ));
    let shim = crate::shim::locate(None);
    let abi = shim.as_ref().map_or_else(|_| crate::landlock::kernel_abi(), |s| crate::landlock::host_abi(s));
    checks.push(check(
        "landlock",
        abi > 0,
        if abi > 0 { format!("ABI {abi}") } else { "not available".into() },
        "boot Linux 5.13+ with landlock in the lsm= list (e.g. lsm=landlock,lockdown,yama,apparmor,bpf)",
    ));
    checks.push(check(
        "seccomp",
        crate::security::seccomp_available(),
        format!("filter mode {}", if crate::security::seccomp_available() { "available" } else { "missing" }),
        "use a kernel built with CONFIG_SECCOMP_FILTER",
    ));
    checks.push(cgroups_check());
    let container = [("/.dockerenv", "docker"), ("/run/.containerenv", "podman")]
        .iter()
        .find(|(p, _)| Path::new(p).exists())
        .map(|(_, name)| name.to_string());
    checks.push(Check {
        name: "container".into(),
        ok: true,
        detail: match &container {
            Some(name) => format!("running inside a {name} container: nested namespaces need it to allow them (seccomp unconfined or a userns-friendly profile)"),
            None => "not inside a container".into(),
        },
        fix: None,
    });
    checks.push(check(
        "supervisor",
        shim.is_ok(),
        match &shim {
            Ok(path) => path.display().to_string(),
            Err(e) => e.to_string(),
        },
        "build it with cargo build -p nucleus-core --bin nucleus-shim, or set NUCLEUS_SHIM",
    ));
    DoctorReport { checks }
}

/// The cgroup layout: v2 (unified), hybrid, or v1, and whether this process may create
/// cgroups (root, or a writable delegated v2 subtree).
fn cgroups_check() -> Check {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let fstype = |line: &str| line.split(" - ").nth(1).and_then(|r| r.split(' ').next()).map(str::to_string);
    let v1 = mounts.lines().filter(|l| fstype(l).as_deref() == Some("cgroup")).count();
    let v2 = mounts.lines().find(|l| fstype(l).as_deref() == Some("cgroup2")).and_then(|l| l.split(' ').nth(4)).map(str::to_string);
    let v2_controllers = v2
        .as_ref()
        .and_then(|dir| std::fs::read_to_string(Path::new(dir).join("cgroup.controllers")).ok())
        .unwrap_or_default();
    let layout = match (v1 > 0, &v2) {
        (false, Some(dir)) => format!("cgroup v2 at {dir} (controllers: {})", v2_controllers.trim()),
        (true, Some(dir)) => format!("hybrid: {v1} v1 hierarchies, cgroup2 at {dir} (controllers: {})", v2_controllers.trim()),
        (true, None) => format!("cgroup v1 ({v1} hierarchies)"),
        (false, None) => "no cgroup filesystem mounted".into(),
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own_v2 = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").to_string();
    let delegated = v2.as_ref().is_some_and(|dir| {
        let path = format!("{dir}{own_v2}");
        // SAFETY: access() only reads the path string.
        let c = std::ffi::CString::new(path).unwrap_or_default();
        unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
    });
    let root = crate::sys::euid() == 0;
    let ok = (root && (v1 > 0 || v2.is_some())) || delegated;
    check(
        "cgroups",
        ok,
        format!("{layout}; {}", if root { "root".to_string() } else if delegated { format!("delegated subtree {own_v2}") } else { "no writable cgroup".to_string() }),
        "run as root, or use cgroup v2 with a delegated subtree (systemd-run --user --scope -p Delegate=yes ...)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_reports_every_check_with_a_fix_when_not_ok() {
        let report = doctor();
        for name in ["user_namespaces", "landlock", "seccomp", "cgroups", "container", "supervisor"] {
            let c = report.check(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(c.fix.is_some(), !c.ok, "{c:?}");
        }
        assert!(report.to_json().contains("\"landlock\""));
    }
}
