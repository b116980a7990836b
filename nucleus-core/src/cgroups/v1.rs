//! cgroup v1: one hierarchy per controller (or per group of co-mounted controllers), so a
//! sandbox has one directory in each, and a process is moved into each separately.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    can_create, drop_unavailable, make_dir, parent_dir, read_key, read_number, write, Cgroup, Cgroups, Host,
    Limits, Setting, Stats, CPU_PERIOD_USEC, NO_CGROUP_FIX,
};
use crate::error::{Error, Result};
use crate::sys;

/// The controllers a sandbox joins: those of the limits, and cpuacct for the CPU time.
const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "cpuacct"];

/// A sandbox's cgroups on v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupV1 {
    /// Controller → the sandbox's directory in its hierarchy (co-mounted controllers
    /// share one).
    dirs: BTreeMap<String, PathBuf>,
    /// The limits, in the order they are written.
    settings: Vec<Setting>,
}

/// Plan the v1 cgroups of sandbox `id`.
pub(super) fn plan(host: &Host, limits: &Limits, id: &str) -> Result<(Option<Cgroups>, Vec<String>)> {
    let mut limits = limits.clone();
    let mut problems = Vec::new();
    drop_unavailable(&mut limits, &mut problems, |field, controller| match field {
        "limits.cpu_weight" | "limits.io" => Some("needs cgroup v2; this host's controllers are on cgroup v1".into()),
        _ => host.v1_mount(controller).is_none().then(|| format!("the {controller} controller is not mounted")),
    });
    if limits.is_empty() {
        return Ok((None, problems));
    }
    let mut dirs = BTreeMap::new();
    for controller in CONTROLLERS {
        let Some(mount) = host.v1_mount(controller) else { continue };
        let parent = parent_dir(mount, &limits, &mount.point).map_err(|e| Error::config("limits.cgroup_parent", e))?;
        dirs.insert(controller.to_owned(), parent.join(id));
    }
    if let Some(dir) = dirs.values().find(|d| !can_create(d)) {
        let parent = dir.parent().unwrap_or(dir);
        problems.push(format!("cannot create cgroups in {}: {NO_CGROUP_FIX}", parent.display()));
        return Ok((None, problems));
    }
    let dir = |controller: &str| &dirs[controller];
    let mut settings = Vec::new();
    if let Some(memory) = limits.memory {
        settings.push(Setting::new(dir("memory"), "memory.limit_in_bytes", memory));
        // Memory plus swap capped at the same amount: no swap. Must follow the memory
        // limit, which it may never be below.
        settings.push(Setting::optional(dir("memory"), "memory.memsw.limit_in_bytes", memory));
    }
    if let Some(cpus) = limits.cpus {
        settings.push(Setting::new(dir("cpu"), "cpu.cfs_period_us", CPU_PERIOD_USEC));
        settings.push(Setting::new(dir("cpu"), "cpu.cfs_quota_us", Limits::cpu_quota_usec(cpus)));
    }
    if let Some(pids) = limits.pids {
        settings.push(Setting::new(dir("pids"), "pids.max", pids));
    }
    Ok((Some(Cgroups::V1(CgroupV1 { dirs, settings })), problems))
}

impl CgroupV1 {
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    fn file(&self, controller: &str, name: &str) -> Option<PathBuf> {
        self.dir(controller).map(|d| d.join(name))
    }
}

impl Cgroup for CgroupV1 {
    fn create(&self) -> Result<()> {
        for dir in self.dirs() {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| super::io_error("mkdir", parent, e))?;
            }
            make_dir(&dir)?;
        }
        self.settings.iter().try_for_each(Setting::apply)
    }

    /// One write per hierarchy. Only the first pays the RCU grace period: the kernel
    /// keeps the fast path off for a grace period after each migration, so the writes
    /// go back to back.
    fn enter(&self, pid: libc::pid_t) -> Result<()> {
        self.dirs().iter().try_for_each(|dir| write(&dir.join("cgroup.procs"), &pid.to_string()))
    }

    /// Born outside: moving another process into a v1 cgroup waits for an RCU grace
    /// period (milliseconds), a thread moving itself does not.
    fn born_inside(&self) -> bool {
        false
    }

    fn clone_init(&self, flags: libc::c_int) -> Result<libc::pid_t> {
        sys::clone_process(flags)
    }

    /// `tasks` of each hierarchy: `0` written there moves the writing thread, which is
    /// the whole init while it is single-threaded.
    fn join_files(&self) -> Result<Vec<OwnedFd>> {
        self.dirs()
            .iter()
            .map(|dir| {
                let tasks = dir.join("tasks");
                let file = std::fs::OpenOptions::new().write(true).open(&tasks);
                file.map(OwnedFd::from).map_err(|e| super::io_error("open", &tasks, e))
            })
            .collect()
    }

    fn stats(&self) -> Stats {
        let number = |c: &str, name: &str| self.file(c, name).and_then(|f| read_number(&f));
        Stats {
            memory_current: number("memory", "memory.usage_in_bytes"),
            memory_peak: self.memory_peak(),
            cpu_usec: number("cpuacct", "cpuacct.usage").map(|ns| ns / 1000),
            tasks: number("pids", "pids.current"),
            oom_kills: self.oom_kills(),
        }
    }

    fn oom_kills(&self) -> Option<u64> {
        read_key(&self.file("memory", "memory.oom_control")?, "oom_kill")
    }

    fn memory_peak(&self) -> Option<u64> {
        read_number(&self.file("memory", "memory.max_usage_in_bytes")?)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.dirs.values().cloned().collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}
