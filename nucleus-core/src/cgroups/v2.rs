//! cgroup v2: one unified hierarchy. A controller works in a cgroup only when every
//! ancestor enables it in `cgroup.subtree_control`, so nucleus enables what it needs on
//! the way down from the top it may write (the hierarchy root for root, the delegated
//! subtree for a rootless caller), and the init is born inside the sandbox's cgroup.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    can_create, clone_then_enter, drop_unavailable, make_dir, parent_dir, read_key, read_number, writable, write, Cgroup, Cgroups,
    Host, Limits, Mount, Setting, Stats, CPU_PERIOD_USEC, NO_CGROUP_FIX,
};
use crate::error::{Error, Result};
use crate::sys;

/// A sandbox's cgroup on v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupV2 {
    /// The existing cgroup below which nucleus makes directories and enables controllers.
    base: PathBuf,
    /// The sandbox's cgroup.
    dir: PathBuf,
    /// The controllers enabled from `base` down to the sandbox's parent.
    controllers: Vec<String>,
    /// The limits, in the order they are written.
    settings: Vec<Setting>,
}

/// Plan the v2 cgroup of sandbox `id` in the unified hierarchy `mount`.
pub(super) fn plan(host: &Host, mount: &Mount, limits: &Limits, id: &str) -> Result<(Option<Cgroups>, Vec<String>)> {
    let mut limits = limits.clone();
    let mut problems = Vec::new();
    let own = host.own_path(None).and_then(|p| mount.dir_of(p)).unwrap_or_else(|| mount.point.clone());
    // The highest cgroup this process may manage: the root for root, the top of the
    // delegated subtree (e.g. user@<uid>.service) otherwise.
    let top = own
        .ancestors()
        .take_while(|d| d.starts_with(&mount.point))
        .filter(|d| writable(d) && writable(&d.join("cgroup.procs")) && writable(&d.join("cgroup.subtree_control")))
        .last();
    let Some(top) = top else {
        problems.push(format!("cannot create cgroups in {}: {NO_CGROUP_FIX}", own.display()));
        return Ok((None, problems));
    };
    let parent = parent_dir(mount, &limits, top).map_err(|e| Error::config("limits.cgroup_parent", e))?;
    let dir = parent.join(id);
    if !can_create(&dir) {
        problems.push(format!("cannot create cgroups in {}: {NO_CGROUP_FIX}", parent.display()));
        return Ok((None, problems));
    }
    let base = dir.ancestors().skip(1).find(|d| d.exists()).unwrap_or(top).to_path_buf();
    let available = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    let available: Vec<&str> = available.split_whitespace().collect();
    drop_unavailable(&mut limits, &mut problems, |_, controller| {
        (!available.contains(&controller))
            .then(|| format!("the {controller} controller is not enabled for {}", base.display()))
    });
    if limits.is_empty() {
        return Ok((None, problems));
    }
    // memory and pids also feed the stats, so they come along whenever they can.
    let wanted = [
        ("memory", true),
        ("pids", true),
        ("cpu", limits.cpus.is_some() || limits.cpu_weight.is_some()),
        ("io", !limits.io.is_empty()),
    ];
    let controllers = wanted
        .into_iter()
        .filter(|&(c, want)| want && available.contains(&c))
        .map(|(c, _)| c.to_owned())
        .collect();
    let mut settings = Vec::new();
    if let Some(memory) = limits.memory {
        settings.push(Setting::new(&dir, "memory.max", memory));
        // No swap, so the limit is real; the file is missing where swap accounting is off.
        settings.push(Setting::optional(&dir, "memory.swap.max", 0));
    }
    if let Some(cpus) = limits.cpus {
        settings.push(Setting::new(&dir, "cpu.max", format!("{} {CPU_PERIOD_USEC}", Limits::cpu_quota_usec(cpus))));
    }
    if let Some(weight) = limits.cpu_weight {
        settings.push(Setting::new(&dir, "cpu.weight", weight));
    }
    if let Some(pids) = limits.pids {
        settings.push(Setting::new(&dir, "pids.max", pids));
    }
    for io in &limits.io {
        settings.push(Setting::new(&dir, "io.max", io.io_max_line()?));
    }
    Ok((Some(Cgroups::V2(CgroupV2 { base, dir, controllers, settings })), problems))
}

impl CgroupV2 {
    /// Enable the controllers in `dir`'s `cgroup.subtree_control`, writing only the
    /// missing ones.
    fn enable_controllers(&self, dir: &Path) -> Result<()> {
        let file = dir.join("cgroup.subtree_control");
        let enabled = std::fs::read_to_string(&file).unwrap_or_default();
        let missing: Vec<String> = self
            .controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        write(&file, &missing.join(" ")).map_err(|e| match e.errno() {
            // The "no internal processes" rule: a cgroup holding processes cannot hand
            // controllers to its children.
            Some(libc::EBUSY) => Error::Unsupported {
                layer: "cgroups".into(),
                reason: format!(
                    "{} holds processes, so it cannot enable controllers for its children; set limits.cgroup_parent to an empty cgroup",
                    dir.display()
                ),
            },
            _ => e,
        })
    }
}

impl Cgroup for CgroupV2 {
    fn create(&self) -> Result<()> {
        let parent = self.dir.parent().unwrap_or(&self.dir);
        let mut chain: Vec<&Path> = parent.ancestors().take_while(|d| d.starts_with(&self.base)).collect();
        chain.reverse();
        for dir in chain {
            match std::fs::create_dir(dir) {
                // Made earlier, or just now by another sandbox's supervisor.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => other.map_err(|e| super::io_error("mkdir", dir, e))?,
            }
            self.enable_controllers(dir)?;
        }
        make_dir(&self.dir)?;
        self.settings.iter().try_for_each(Setting::apply)
    }

    fn enter(&self, pid: libc::pid_t) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn born_inside(&self) -> bool {
        true
    }

    /// Born inside with `clone3(CLONE_INTO_CGROUP)`, never migrated.
    fn clone_init(&self, flags: libc::c_int) -> Result<libc::pid_t> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&self.dir)
            .map_err(|e| super::io_error("open", &self.dir, e))?;
        match sys::clone_into_cgroup(flags, dir.as_raw_fd()) {
            // clone3 is missing (Linux < 5.7) or filtered: migrate instead.
            Err(Error::Syscall { errno: libc::ENOSYS | libc::E2BIG | libc::EPERM, .. }) => clone_then_enter(self, flags),
            other => other,
        }
    }

    fn join_files(&self) -> Result<Vec<OwnedFd>> {
        Ok(Vec::new())
    }

    fn stats(&self) -> Stats {
        let number = |name: &str| read_number(&self.dir.join(name));
        Stats {
            memory_current: number("memory.current"),
            memory_peak: self.memory_peak(),
            cpu_usec: read_key(&self.dir.join("cpu.stat"), "usage_usec"),
            tasks: number("pids.current"),
            oom_kills: self.oom_kills(),
        }
    }

    fn oom_kills(&self) -> Option<u64> {
        read_key(&self.dir.join("memory.events"), "oom_kill")
    }

    fn memory_peak(&self) -> Option<u64> {
        read_number(&self.dir.join("memory.peak"))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }
}
