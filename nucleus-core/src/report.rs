//! The security report: per layer, whether it was requested, whether it is enforced, and
//! how that was verified — from inside the running sandbox wherever possible, by a probe
//! child that gets exactly the confinement of a command and reads its own
//! `/proc/self/status`, id maps, limits and namespaces.

use serde::{Deserialize, Serialize};

use crate::config::{SandboxConfig, SeccompMode};
use crate::protocol::Probe;
use crate::security::SecurityPlan;

/// One layer's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    /// The layer, e.g. `seccomp`.
    pub layer: String,
    /// The config asked for it.
    pub requested: bool,
    /// It holds for every command in the sandbox.
    pub enforced: bool,
    /// How that was established, e.g. `/proc/self/status: Seccomp: 2`.
    pub verified: String,
}

/// Which protections a running sandbox has, and the warnings of degraded mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityReport {
    /// One entry per layer, in a fixed order.
    pub layers: Vec<LayerReport>,
    /// Warnings of degraded mode (a requested layer that is not enforced).
    pub warnings: Vec<String>,
}

impl SecurityReport {
    /// The entry for `layer`.
    pub fn layer(&self, layer: &str) -> Option<&LayerReport> {
        self.layers.iter().find(|l| l.layer == layer)
    }

    /// Whether every requested layer is enforced.
    pub fn fully_enforced(&self) -> bool {
        self.layers.iter().all(|l| !l.requested || l.enforced)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }
}

/// The value of `key:` in a `/proc/<pid>/status` text.
pub(crate) fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(str::trim)
}

/// The soft limit of `name` (e.g. `Max open files`) in a `/proc/<pid>/limits` text.
fn limit_field(limits: &str, name: &str) -> Option<String> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next().map(str::to_string)
}

fn layer(layer: &str, requested: bool, enforced: bool, verified: String) -> LayerReport {
    LayerReport { layer: layer.into(), requested, enforced, verified }
}

/// Build the report from the plan, the probe's view from inside, and the host's own
/// namespaces (to tell which the sandbox does not share).
pub(crate) fn build(
    config: &SandboxConfig,
    plan: &SecurityPlan,
    landlock_abi: Option<i32>,
    probe: &Probe,
    warnings: Vec<String>,
) -> SecurityReport {
    let mut layers = Vec::new();
    let status = |key: &str| status_field(&probe.status, key).unwrap_or("?").to_string();
    for (name, link) in &probe.namespaces {
        let host = std::fs::read_link(format!("/proc/self/ns/{name}")).map(|l| l.display().to_string()).unwrap_or_default();
        let requested = match name.as_str() {
            "user" => config.user.namespace,
            "net" => config.network == crate::config::Network::None,
            _ => true,
        };
        layers.push(layer(
            &format!("{name}_namespace"),
            requested,
            !link.is_empty() && *link != host,
            format!("inside {link}, caller {host}"),
        ));
    }
    let map = probe.uid_map.split_whitespace().collect::<Vec<_>>().join(" ");
    layers.push(layer(
        "uid_map",
        config.user.namespace,
        config.user.namespace && !map.starts_with("0 0 "),
        format!("/proc/self/uid_map: {map}"),
    ));
    layers.push(layer(
        "no_new_privs",
        true,
        status("NoNewPrivs") == "1",
        format!("/proc/self/status: NoNewPrivs: {}", status("NoNewPrivs")),
    ));
    let expected: u64 = plan.capabilities.iter().map(|c| 1u64 << c).sum();
    let sets = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
    let caps_ok = sets.iter().all(|k| u64::from_str_radix(&status(k), 16).ok() == Some(expected));
    layers.push(layer(
        "capabilities",
        true,
        caps_ok,
        format!(
            "/proc/self/status: {}",
            sets.iter().map(|k| format!("{k} {}", status(k))).collect::<Vec<_>>().join(", ")
        ),
    ));
    let seccomp_requested = config.security.seccomp.mode != SeccompMode::Off;
    let enforcing = plan.seccomp.as_ref().is_some_and(|s| s.mode == SeccompMode::Enforce);
    layers.push(layer(
        "seccomp",
        seccomp_requested,
        enforcing && status("Seccomp") == "2",
        format!(
            "/proc/self/status: Seccomp: {}, Seccomp_filters: {}; profile {}",
            status("Seccomp"),
            status("Seccomp_filters"),
            plan.seccomp.as_ref().map_or("none".into(), |s| format!("{} ({:?})", s.source, s.mode).to_lowercase()),
        ),
    ));
    layers.push(layer(
        "landlock",
        config.security.landlock,
        landlock_abi.is_some(),
        match landlock_abi {
            Some(abi) => format!("ruleset fully enforced by the sandbox's init at ABI {abi} (filesystem rules, scoped signals and abstract sockets from ABI 6)"),
            None => "not applied".into(),
        },
    ));
    let nofile = limit_field(&probe.limits, "Max open files").unwrap_or_default();
    let core = limit_field(&probe.limits, "Max core file size").unwrap_or_default();
    let wanted_nofile = plan.rlimits.iter().find(|r| r.resource == libc::RLIMIT_NOFILE as i32).map(|r| r.value.to_string());
    layers.push(layer(
        "rlimits",
        true,
        core == "0" && Some(&nofile) == wanted_nofile.as_ref(),
        format!("/proc/self/limits: open files {nofile}, core {core}"),
    ));
    layers.push(layer(
        "read_only_root",
        true,
        probe.root_readonly,
        format!("statfs(\"/\") read-only: {}", probe.root_readonly),
    ));
    SecurityReport { layers, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tsh\nNoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0000000000000000\n";
        assert_eq!(status_field(status, "Seccomp"), Some("2"));
        assert_eq!(status_field(status, "CapEff"), Some("0000000000000000"));
        assert_eq!(status_field(status, "Cap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax core file size        0                    0                    bytes\nMax open files            4096                 4096                 files\n";
        assert_eq!(limit_field(limits, "Max open files").as_deref(), Some("4096"));
        assert_eq!(limit_field(limits, "Max core file size").as_deref(), Some("0"));
    }
}
