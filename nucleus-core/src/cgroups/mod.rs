//! Resource limits with cgroups: memory (swap included), CPU bandwidth and task count on
//! both cgroup versions, plus CPU weight and I/O bandwidth on v2.
//!
//! The caller detects which version governs the controllers, from `/proc/self/mountinfo`
//! and `/proc/self/cgroup` (never from a fixed layout), and compiles the config's
//! `limits` into a [`Cgroups`] value: every directory to create and every file to write.
//! The supervisor creates the cgroup and puts the sandbox's init in it before the init
//! runs any command (on v2 the init is born inside it, with `clone3(CLONE_INTO_CGROUP)`;
//! on v1 the init moves itself in during its setup), and removes it when the sandbox ends. The caller reads the counters (OOM kills, peak
//! memory, CPU time) straight from the files.
//!
//! A sandbox without limits touches no cgroup at all. Moving another process into a
//! cgroup costs the writer an RCU grace period (several ms on the development hosts), so
//! it is only the fallback.

mod v1;
mod v2;

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{ByteSize, SandboxConfig};
use crate::error::{Error, Result};
use crate::sys;

pub use v1::CgroupV1;
pub use v2::CgroupV2;

/// The `limits` section of the config. Every limit is off unless set; a sandbox without
/// limits gets no cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Memory for all the sandbox's processes together, tmpfs pages included. Swap is
    /// turned off for the sandbox so the limit is real. Past it the OOM killer ends the
    /// biggest process.
    pub memory: Option<ByteSize>,
    /// CPU bandwidth in CPUs: 1.5 is 150 ms of CPU time per 100 ms period.
    pub cpus: Option<f64>,
    /// At most this many tasks (processes and threads) at once, the init included.
    pub pids: Option<u64>,
    /// Relative CPU share under contention, 1..=10000 (default 100). cgroup v2 only.
    pub cpu_weight: Option<u64>,
    /// I/O bandwidth limits per block device. cgroup v2 only.
    pub io: Vec<IoLimit>,
    /// The cgroup under which each sandbox's cgroup is made, as a path of the cgroup
    /// hierarchy (as `/proc/self/cgroup` shows them). Default: `nucleus` at the top of
    /// the hierarchy for root, or at the top of the caller's delegated subtree on v2.
    pub cgroup_parent: Option<PathBuf>,
}

// Validation rejects NaN, so equality is reflexive.
impl Eq for Limits {}

/// An I/O limit on one block device (cgroup v2 `io.max`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoLimit {
    /// The block device, e.g. `/dev/sda`.
    pub device: PathBuf,
    /// Bytes read per second.
    #[serde(default)]
    pub read_bps: Option<ByteSize>,
    /// Bytes written per second.
    #[serde(default)]
    pub write_bps: Option<ByteSize>,
    /// Read operations per second.
    #[serde(default)]
    pub read_iops: Option<u64>,
    /// Write operations per second.
    #[serde(default)]
    pub write_iops: Option<u64>,
}

/// The CFS period nucleus uses; `cpus` scales the quota against it.
const CPU_PERIOD_USEC: u64 = 100_000;

impl Limits {
    /// Whether no limit is set (`cgroup_parent` alone asks for nothing).
    pub fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.cpus.is_none()
            && self.pids.is_none()
            && self.cpu_weight.is_none()
            && self.io.is_empty()
    }

    /// Check the values; errors name the field (`limits.cpus`).
    pub fn validate(&self) -> Result<()> {
        if self.memory.is_some_and(|m| m.0 < 1 << 20) {
            return Err(Error::config("limits.memory", "must be at least 1M"));
        }
        if let Some(cpus) = self.cpus {
            // The kernel's smallest quota is 1 ms per period.
            if !(0.01..=4096.0).contains(&cpus) {
                return Err(Error::config("limits.cpus", format!("{cpus} is not between 0.01 and 4096")));
            }
        }
        if self.pids.is_some_and(|p| p < 2) {
            return Err(Error::config("limits.pids", "must be at least 2: the init and one command"));
        }
        if self.cpu_weight.is_some_and(|w| !(1..=10000).contains(&w)) {
            return Err(Error::config("limits.cpu_weight", "must be between 1 and 10000"));
        }
        for (i, io) in self.io.iter().enumerate() {
            io.validate(&format!("limits.io[{i}]"))?;
        }
        if let Some(parent) = &self.cgroup_parent {
            crate::config::sandbox_path(parent, "limits.cgroup_parent")?;
        }
        Ok(())
    }

    /// `cpus` as a CFS quota in microseconds per [`CPU_PERIOD_USEC`].
    fn cpu_quota_usec(cpus: f64) -> u64 {
        (cpus * CPU_PERIOD_USEC as f64).round() as u64
    }
}

impl IoLimit {
    fn validate(&self, field: &str) -> Result<()> {
        let rates = [self.read_bps.map(|b| b.0), self.write_bps.map(|b| b.0), self.read_iops, self.write_iops];
        if rates.iter().all(Option::is_none) {
            return Err(Error::config(field, "set at least one of read_bps, write_bps, read_iops, write_iops"));
        }
        if rates.contains(&Some(0)) {
            return Err(Error::config(field, "a rate must be more than zero"));
        }
        self.device_number(&format!("{field}.device")).map(drop)
    }

    /// `major:minor` of the block device.
    fn device_number(&self, field: &str) -> Result<String> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(&self.device)
            .map_err(|e| Error::config(field, format!("{}: {e}", self.device.display())))?;
        if !meta.file_type().is_block_device() {
            return Err(Error::config(field, format!("{} is not a block device", self.device.display())));
        }
        let rdev = meta.rdev();
        Ok(format!("{}:{}", libc::major(rdev), libc::minor(rdev)))
    }

    /// The `io.max` line: `8:0 rbps=1048576 wiops=100`.
    fn io_max_line(&self) -> Result<String> {
        let mut line = self.device_number("limits.io.device")?;
        let keys = [
            ("rbps", self.read_bps.map(|b| b.0)),
            ("wbps", self.write_bps.map(|b| b.0)),
            ("riops", self.read_iops),
            ("wiops", self.write_iops),
        ];
        for (key, value) in keys {
            if let Some(v) = value {
                line.push_str(&format!(" {key}={v}"));
            }
        }
        Ok(line)
    }
}

/// Counters of a sandbox's cgroup. A value the host's kernel does not keep is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Memory in use now, in bytes.
    pub memory_current: Option<u64>,
    /// The most memory used at once since the sandbox started, in bytes.
    pub memory_peak: Option<u64>,
    /// CPU time used by all the sandbox's processes, in microseconds.
    pub cpu_usec: Option<u64>,
    /// Tasks (processes and threads) alive now, the init included.
    pub tasks: Option<u64>,
    /// Processes the OOM killer ended.
    pub oom_kills: Option<u64>,
}

/// What each cgroup version does its own way.
trait Cgroup {
    /// Make the sandbox's cgroup (and its parents) and write its limits.
    fn create(&self) -> Result<()>;
    /// Move `pid` into the cgroup.
    fn enter(&self, pid: libc::pid_t) -> Result<()>;
    /// Whether the init is born inside the cgroup (which must then be made first).
    fn born_inside(&self) -> bool;
    /// Clone the sandbox's init with `flags`: born inside where the kernel can, else
    /// outside, to move itself in later through [`Cgroup::join_files`]. Returns 0 in the
    /// child, as `fork` does.
    fn clone_init(&self, flags: libc::c_int) -> Result<libc::pid_t>;
    /// Files the init, born outside, writes `0` to in order to move itself in.
    fn join_files(&self) -> Result<Vec<OwnedFd>>;
    /// The counters.
    fn stats(&self) -> Stats;
    /// Processes the OOM killer ended so far.
    fn oom_kills(&self) -> Option<u64>;
    /// The most memory used at once so far.
    fn memory_peak(&self) -> Option<u64>;
    /// The sandbox's own directories, one per hierarchy.
    fn dirs(&self) -> Vec<PathBuf>;
}

/// A sandbox's cgroup, compiled by the caller and applied by the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cgroups {
    /// One directory per controller hierarchy.
    V1(CgroupV1),
    /// One directory in the unified hierarchy.
    V2(CgroupV2),
}

impl Cgroups {
    fn version(&self) -> &dyn Cgroup {
        match self {
            Cgroups::V1(c) => c,
            Cgroups::V2(c) => c,
        }
    }

    /// Make the cgroup and write its limits (the supervisor does this).
    pub fn create(&self) -> Result<()> {
        self.version().create()
    }

    /// Move `pid` into the cgroup.
    pub fn enter(&self, pid: libc::pid_t) -> Result<()> {
        self.version().enter(pid)
    }

    /// Whether the init is born inside the cgroup, which must then be made first.
    pub(crate) fn born_inside(&self) -> bool {
        self.version().born_inside()
    }

    /// Clone the sandbox's init with `flags`, inside the cgroup if it is
    /// [born inside](Cgroups::born_inside). Returns 0 in the child, as `fork` does.
    pub(crate) fn clone_init(&self, flags: libc::c_int) -> Result<libc::pid_t> {
        self.version().clone_init(flags)
    }

    /// Files the init, if born outside, writes `0` to in order to move itself in before
    /// it runs any command (opened by the supervisor, which may).
    pub(crate) fn join_files(&self) -> Result<Vec<OwnedFd>> {
        self.version().join_files()
    }

    /// The counters, read from the cgroup's files.
    pub fn stats(&self) -> Stats {
        self.version().stats()
    }

    /// Processes the OOM killer ended so far.
    pub fn oom_kills(&self) -> Option<u64> {
        self.version().oom_kills()
    }

    /// The most memory used at once so far, in bytes.
    pub fn memory_peak(&self) -> Option<u64> {
        self.version().memory_peak()
    }

    /// The sandbox's cgroup directories (one per v1 hierarchy, one on v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.version().dirs()
    }
}

/// Compile the config's limits for sandbox `id`. `None` without limits, and with
/// `allow_degraded` where the host cannot give them; the strings are the warnings.
pub(crate) fn compile(config: &SandboxConfig, id: &str) -> Result<(Option<Cgroups>, Vec<String>)> {
    let limits = &config.limits;
    if limits.is_empty() {
        return Ok((None, Vec::new()));
    }
    // Read every time: the process may have been moved to another cgroup.
    let proc_cgroup = Path::new("/proc/self/cgroup");
    let proc_cgroup = std::fs::read_to_string(proc_cgroup).map_err(|e| io_error("read", proc_cgroup, e))?;
    let host = Host { mounts: MountTable::current()?, own: parse_own(&proc_cgroup) };
    let (cgroups, problems) = host.plan(limits, id)?;
    if problems.is_empty() {
        return Ok((cgroups, Vec::new()));
    }
    let reason = problems.join("; ");
    if !config.allow_degraded {
        return Err(Error::Unsupported { layer: "cgroups".into(), reason });
    }
    Ok((cgroups, problems.into_iter().map(|p| format!("cgroups: {p}")).collect()))
}

/// One mounted cgroup filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// Where it is mounted.
    point: PathBuf,
    /// The hierarchy path shown at `point` (not `/` inside containers).
    root: PathBuf,
    /// cgroup2 rather than a v1 hierarchy.
    unified: bool,
    /// The v1 controllers bound to it.
    controllers: Vec<String>,
}

/// The cgroup filesystems this process sees and the cgroups it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    mounts: Arc<[Mount]>,
    /// (v1 controllers, or empty for the unified hierarchy; hierarchy path).
    own: Vec<(Vec<String>, PathBuf)>,
}

impl Host {
    /// Read the cgroup mounts from `mountinfo` text and the process's cgroups from
    /// `/proc/<pid>/cgroup` text.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Host {
        Host { mounts: parse_mounts(mountinfo).into(), own: parse_own(proc_cgroup) }
    }

    /// The cgroups that give `limits` to sandbox `id`, and what cannot be given.
    pub fn plan(&self, limits: &Limits, id: &str) -> Result<(Option<Cgroups>, Vec<String>)> {
        // Hybrid hosts bind the controllers to v1 hierarchies, which leaves them
        // unavailable to the unified one.
        if ["memory", "pids", "cpu"].iter().any(|c| self.v1_mount(c).is_some()) {
            return v1::plan(self, limits, id);
        }
        match self.mounts.iter().find(|m| m.unified) {
            Some(mount) => v2::plan(self, mount, limits, id),
            None => Ok((None, vec!["no cgroup filesystem is mounted; mount cgroup2 at /sys/fs/cgroup".into()])),
        }
    }

    /// The v1 mount of `controller`.
    fn v1_mount(&self, controller: &str) -> Option<&Mount> {
        self.mounts.iter().find(|m| !m.unified && m.controllers.iter().any(|c| c == controller))
    }

    /// This process's hierarchy path in the v1 hierarchy of `controller`, or in the
    /// unified hierarchy for `None`.
    fn own_path(&self, controller: Option<&str>) -> Option<&Path> {
        self.own
            .iter()
            .find(|(cs, _)| match controller {
                Some(c) => cs.iter().any(|x| x == c),
                None => cs.is_empty(),
            })
            .map(|(_, p)| p.as_path())
    }
}

/// The cgroup mounts in `mountinfo` text.
fn parse_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
            let unified = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let controllers = options
                .split(',')
                .filter(|o| !unified && !["rw", "ro"].contains(o) && !o.contains('='))
                .map(str::to_owned)
                .collect();
            Some(Mount { root: unescape(left.get(3)?), point: unescape(left.get(4)?), unified, controllers })
        })
        .collect()
}

/// The cgroups in `/proc/<pid>/cgroup` text.
fn parse_own(proc_cgroup: &str) -> Vec<(Vec<String>, PathBuf)> {
    proc_cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let controllers = controllers.split(',').filter(|c| !c.is_empty() && !c.contains('='));
            Some((controllers.map(str::to_owned).collect(), PathBuf::from(path)))
        })
        .collect()
}

/// The cgroup mounts of a process's mount namespace, as read from its `mountinfo`, and
/// what tells when they may have changed. Reading the file costs the kernel a line per
/// mount; polling it costs nothing.
struct MountTable {
    watch: sys::MountWatch,
    mounts: Arc<[Mount]>,
}

impl MountTable {
    /// The cgroup mounts this process sees, read again only after a change.
    fn current() -> Result<Arc<[Mount]>> {
        static TABLE: Mutex<Option<MountTable>> = Mutex::new(None);
        let proc = Path::new("/proc/self");
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        match table.as_ref() {
            Some(t) if !t.changed(proc) => return Ok(t.mounts.clone()),
            // A poll reports a change only once: forget the table for every thread.
            _ => *table = None,
        }
        drop(table);
        let fresh = MountTable::read(proc)?;
        let mounts = fresh.mounts.clone();
        *TABLE.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh);
        Ok(mounts)
    }

    /// Read the table of the process whose `/proc` directory is `proc`.
    fn read(proc: &Path) -> Result<MountTable> {
        // Watched before it is read, so a change during the read is flagged to the next poll.
        let watch = sys::MountWatch::new(proc)?;
        let text = watch.read()?;
        Ok(MountTable { watch, mounts: parse_mounts(&text).into() })
    }

    /// Whether the mount table may differ from the one read.
    fn changed(&self, proc: &Path) -> bool {
        self.watch.changed(proc)
    }
}

impl Mount {
    /// Where hierarchy path `path` is on disk, if this mount shows it.
    fn dir_of(&self, path: &Path) -> Option<PathBuf> {
        let rest = path.strip_prefix(&self.root).ok()?;
        if rest.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.point.join(rest))
    }
}

/// The sandbox cgroup's parent directory in `mount`: the configured hierarchy path, or
/// `nucleus` under `top`.
fn parent_dir(mount: &Mount, limits: &Limits, top: &Path) -> std::result::Result<PathBuf, String> {
    match &limits.cgroup_parent {
        Some(path) => mount.dir_of(path).ok_or_else(|| {
            format!("limits.cgroup_parent {} is not visible at {}", path.display(), mount.point.display())
        }),
        None => Ok(top.join("nucleus")),
    }
}

/// Clear each requested limit that `unavailable(field, controller)` explains cannot be
/// had, and collect the explanations.
fn drop_unavailable(
    limits: &mut Limits,
    problems: &mut Vec<String>,
    unavailable: impl Fn(&str, &str) -> Option<String>,
) {
    let requested = [
        ("limits.memory", "memory", limits.memory.is_some()),
        ("limits.cpus", "cpu", limits.cpus.is_some()),
        ("limits.pids", "pids", limits.pids.is_some()),
        ("limits.cpu_weight", "cpu", limits.cpu_weight.is_some()),
        ("limits.io", "io", !limits.io.is_empty()),
    ];
    for (field, controller, set) in requested {
        let Some(reason) = set.then(|| unavailable(field, controller)).flatten() else { continue };
        problems.push(format!("{field}: {reason}"));
        match field {
            "limits.memory" => limits.memory = None,
            "limits.cpus" => limits.cpus = None,
            "limits.pids" => limits.pids = None,
            "limits.cpu_weight" => limits.cpu_weight = None,
            _ => limits.io.clear(),
        }
    }
}

/// Whether this process could make `dir`: the nearest existing ancestor (or `dir`
/// itself) is writable, as is its `cgroup.procs` (needed to move processes).
fn can_create(dir: &Path) -> bool {
    let existing = dir.ancestors().find(|d| d.exists());
    existing.is_some_and(|d| writable(d) && writable(&d.join("cgroup.procs")))
}

fn writable(path: &Path) -> bool {
    let Ok(c) = sys::cpath(path) else { return false };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// The fix to suggest when no cgroup can be made.
const NO_CGROUP_FIX: &str = "run as root, or on cgroup v2 from a delegated cgroup \
     (systemd-run --user --scope -p Delegate=yes ...), or set allow_degraded";

/// A setting: write `value` to `file`, which the kernel may not have (then skipped) when
/// `optional`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Setting {
    file: PathBuf,
    value: String,
    optional: bool,
}

impl Setting {
    fn new(dir: &Path, file: &str, value: impl ToString) -> Setting {
        Setting { file: dir.join(file), value: value.to_string(), optional: false }
    }

    /// A setting made only where the kernel has the file (swap accounting can be off).
    fn optional(dir: &Path, file: &str, value: impl ToString) -> Setting {
        Setting { optional: true, ..Setting::new(dir, file, value) }
    }

    fn apply(&self) -> Result<()> {
        if self.optional && !self.file.exists() {
            return Ok(());
        }
        write(&self.file, &self.value)
    }
}

/// Make the sandbox's own directory; it must not exist yet.
fn make_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir(dir).map_err(|e| io_error("mkdir", dir, e))
}

/// Write a cgroup file.
fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| io_error("write", path, e))
}

/// Clone, then move the child into `cgroup` before it runs (it waits for the
/// supervisor's go-ahead). The slow way: the write waits for an RCU grace period.
fn clone_then_enter(cgroup: &dyn Cgroup, flags: libc::c_int) -> Result<libc::pid_t> {
    let pid = sys::clone_process(flags)?;
    if pid != 0 {
        if let Err(e) = cgroup.enter(pid) {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            return Err(e);
        }
    }
    Ok(pid)
}

/// Read a number from a file holding one (`memory.current`).
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Read the value of `key` from a flat-keyed file (`memory.events`, `cpu.stat`).
fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

fn io_error(call: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Syscall { call: call.into(), path: Some(path.into()), errno: e.raw_os_error().unwrap_or(0) }
}

/// How long removal waits for the killed tasks to leave a cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Kill every task in the cgroup directories of sandbox `id` and remove them. Refuses a
/// directory not named after the sandbox, so a damaged state record cannot point it at
/// someone else's cgroup. Missing directories are fine.
pub(crate) fn remove(id: &str, dirs: &[PathBuf]) -> Result<()> {
    if let Some(dir) = dirs.iter().find(|d| d.file_name().and_then(|n| n.to_str()) != Some(id)) {
        return Err(Error::internal(format!("refusing to remove cgroup {} of sandbox {id}", dir.display())));
    }
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    for dir in dirs {
        // Usually empty already (a supervisor removes its cgroups once its init is
        // reaped): one rmdir. Else kill what is left, and wait for the killed tasks,
        // which leave the cgroup a moment after they die.
        let mut killed = false;
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    if std::mem::replace(&mut killed, true) {
                        std::thread::sleep(Duration::from_millis(5));
                    } else {
                        kill_all(dir, deadline);
                    }
                }
                Err(e) => return Err(io_error("rmdir", dir, e)),
            }
        }
    }
    Ok(())
}

/// SIGKILL every task in `dir`: at once with `cgroup.kill` (v2, Linux 5.14), else by
/// pid until `cgroup.procs` stays empty. The sandbox's pid namespace means no task can
/// fork once its init is gone, so the loop ends.
fn kill_all(dir: &Path, deadline: Instant) {
    let kill_file = dir.join("cgroup.kill");
    if kill_file.exists() && write(&kill_file, "1").is_ok() {
        return;
    }
    while Instant::now() < deadline {
        let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else { return };
        let pids: Vec<libc::pid_t> = procs.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/user.slice
8:pids:/user.slice
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/user.slice
";

    #[test]
    fn mountinfo_and_proc_cgroup_are_parsed() {
        let host = Host::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(host.mounts.len(), 5, "{host:?}");
        let cpu = host.v1_mount("cpuacct").unwrap();
        assert_eq!(cpu.point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert!(host.mounts.iter().any(|m| m.unified && m.point == Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(host.own_path(Some("memory")), Some(Path::new("/process_api/abc")));
        assert_eq!(host.own_path(None), Some(Path::new("/user.slice")));
        assert_eq!(host.own_path(Some("freezer")), None);
    }

    /// A process alone in new user, mount and cgroup namespaces (needing no privilege),
    /// with a directory to mount on; both go on drop.
    struct Holder(std::process::Child, PathBuf);

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir(&self.1);
        }
    }

    #[test]
    fn mount_table_is_read_again_after_a_mount_or_in_another_namespace() {
        let dir = std::env::temp_dir().join(format!("nucleus-mount-table-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "--cgroup", "--propagation", "private", "sleep", "60"])
            .spawn()
            .unwrap();
        let holder = Holder(child, dir.clone());
        let pid = holder.0.id().to_string();
        let proc = Path::new("/proc").join(&pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(proc.join("comm")).unwrap() != "sleep\n" {
            assert!(Instant::now() < deadline, "unshare did not start sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        let shows_dir = |t: &MountTable| t.mounts.iter().any(|m| m.point == dir && m.unified);
        let table = MountTable::read(&proc).unwrap();
        assert!(!table.changed(&proc));
        assert!(table.changed(Path::new("/proc/self")), "another namespace's table");
        assert!(!shows_dir(&table));
        let mounted = std::process::Command::new("nsenter")
            .args(["-t", &pid, "--user", "--mount", "--cgroup", "--preserve-credentials", "mount", "-t", "cgroup2", "none"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(mounted.success());
        assert!(table.changed(&proc));
        let again = MountTable::read(&proc).unwrap();
        assert!(shows_dir(&again), "{:?}", again.mounts);
        assert!(!again.changed(&proc));
        drop(holder);
    }

    #[test]
    fn hierarchy_paths_map_through_the_mount_root() {
        let m = Mount {
            point: "/sys/fs/cgroup".into(),
            root: "/docker/ctr".into(),
            unified: true,
            controllers: vec![],
        };
        assert_eq!(m.dir_of(Path::new("/docker/ctr/a")), Some(PathBuf::from("/sys/fs/cgroup/a")));
        assert_eq!(m.dir_of(Path::new("/elsewhere")), None);
        assert_eq!(unescape(r"/a\040b"), PathBuf::from("/a b"));
    }

    #[test]
    fn remove_kills_the_tasks_left_inside_then_removes_the_cgroup() {
        use std::os::unix::process::ExitStatusExt;
        if crate::sys::euid() != 0 {
            return; // cannot make a cgroup here
        }
        let mounts = parse_mounts(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
        let Some(mount) = mounts.iter().find(|m| m.unified || m.controllers.iter().any(|c| c == "pids")) else { return };
        let id = format!("nucleus-remove-test-{}", std::process::id());
        let dir = mount.point.join(&id);
        std::fs::create_dir(&dir).unwrap();
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        write(&dir.join("cgroup.procs"), &child.id().to_string()).unwrap();
        remove(&id, std::slice::from_ref(&dir)).unwrap();
        assert!(!dir.exists());
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn bad_limits_name_the_field() {
        let field = |l: Limits| l.validate().unwrap_err().field().map(str::to_owned);
        let limits = Limits::default;
        assert_eq!(field(Limits { cpus: Some(0.0), ..limits() }).as_deref(), Some("limits.cpus"));
        assert_eq!(field(Limits { cpus: Some(f64::NAN), ..limits() }).as_deref(), Some("limits.cpus"));
        assert_eq!(field(Limits { memory: Some(ByteSize(4096)), ..limits() }).as_deref(), Some("limits.memory"));
        assert_eq!(field(Limits { pids: Some(1), ..limits() }).as_deref(), Some("limits.pids"));
        assert_eq!(field(Limits { cpu_weight: Some(0), ..limits() }).as_deref(), Some("limits.cpu_weight"));
        let io = IoLimit { device: "/dev/null".into(), read_bps: Some(ByteSize(1)), write_bps: None, read_iops: None, write_iops: None };
        let e = Limits { io: vec![io], ..limits() }.validate().unwrap_err();
        assert_eq!(e.to_string(), "invalid config: limits.io[0].device: /dev/null is not a block device");
        let e = Limits { cgroup_parent: Some("rel".into()), ..limits() }.validate().unwrap_err();
        assert_eq!(e.field(), Some("limits.cgroup_parent"));
        assert!(Limits { cpus: Some(1.5), memory: Some(ByteSize(64 << 20)), ..limits() }.validate().is_ok());
        assert_eq!(Limits::cpu_quota_usec(1.5), 150_000);
    }
}
