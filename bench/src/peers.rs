//! The tools users would pick instead of nucleus, each set up for the same isolation:
//! new user, pid, mount, network, IPC, UTS (and cgroup) namespaces; a read-only view of
//! the host's /usr with /bin, /sbin and /lib* as on the host; a fresh /proc; a minimal
//! /dev; a tmpfs /tmp; no network (a private namespace with only loopback).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

/// The executable search path every tool's command gets.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a top-level directory of the host's root is shown in the sandbox.
#[derive(Debug, Clone)]
pub enum TopEntry {
    /// `/name` is a symlink (merged /usr): recreate it.
    Link { name: String, target: String },
    /// `/name` is a real directory: bind it read-only.
    Dir { name: String },
}

/// /bin, /sbin and /lib* of the host, as they are there.
pub fn host_top_entries() -> Vec<TopEntry> {
    let mut out = Vec::new();
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let path = Path::new("/").join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&path) {
                    out.push(TopEntry::Link { name: name.into(), target: target.to_string_lossy().into() });
                }
            }
            Ok(m) if m.is_dir() => out.push(TopEntry::Dir { name: name.into() }),
            _ => {}
        }
    }
    out
}

/// Whether an executable is on `$PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Run a command to completion with stdin closed and stdout/stderr collected (what an
/// agent framework does with a command's output); an error carries its stderr.
pub fn run_collect(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} exited with {}: {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `bwrap` arguments for equal isolation, followed by `argv`.
pub fn bwrap_args(argv: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for e in host_top_entries() {
        match e {
            TopEntry::Link { name, target } => a.extend(["--symlink".into(), target, format!("/{name}")]),
            TopEntry::Dir { name } => a.extend(["--ro-bind".into(), format!("/{name}"), format!("/{name}")]),
        }
    }
    a.extend(
        [
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--hostname", "sandbox", "--chdir", "/tmp",
            "--clearenv", "--setenv", "PATH", PATH, "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a.extend(argv.iter().map(|s| s.to_string()));
    a
}

/// `unshare` with the seven namespaces and nothing else (no root filesystem): the floor
/// that namespace creation alone costs.
pub fn unshare_args(argv: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["--user", "--map-root-user", "--pid", "--fork", "--mount", "--net", "--ipc", "--uts", "--cgroup", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(argv.iter().map(|s| s.to_string()));
    a
}

/// Resource limits given to the OCI runtimes (and to nucleus through its config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: u64,
    /// CPU quota per 100 ms period, in microseconds.
    pub cpu_quota_us: u64,
}

pub const BENCH_LIMITS: Limits = Limits { memory_bytes: 512 << 20, pids: 256, cpu_quota_us: 100_000 };

/// An OCI bundle directory with its `config.json`.
pub struct Bundle {
    pub dir: PathBuf,
}

/// Make the shared root directory of the bundles: empty mount points plus the host's
/// /bin, /sbin, /lib* links.
fn make_rootfs(dir: &Path) -> std::io::Result<()> {
    for d in ["usr", "proc", "dev", "tmp"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    for e in host_top_entries() {
        match e {
            TopEntry::Link { name, target } => {
                let p = dir.join(&name);
                let _ = std::fs::remove_file(&p);
                std::os::unix::fs::symlink(target, p)?;
            }
            TopEntry::Dir { name } => std::fs::create_dir_all(dir.join(name))?,
        }
    }
    Ok(())
}

/// Write a bundle under `root/name` that runs `argv` with equal isolation.
pub fn make_bundle(root: &Path, name: &str, argv: &[&str], limits: Option<Limits>) -> std::io::Result<Bundle> {
    let rootfs = root.join("rootfs");
    make_rootfs(&rootfs)?;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // As root, sandbox root maps to the unprivileged host id 65534, as nucleus does.
    let (host_uid, host_gid) = if uid == 0 { (65534, 65534) } else { (uid, gid) };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1g"]}),
        json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]}),
    ];
    for e in host_top_entries() {
        if let TopEntry::Dir { name } = e {
            let p = format!("/{name}");
            mounts.push(json!({"destination": p, "type": "bind", "source": p, "options": ["rbind", "ro", "nosuid", "nodev"]}));
        }
    }
    let mut linux = json!({
        "namespaces": [
            {"type": "user"}, {"type": "pid"}, {"type": "mount"}, {"type": "network"},
            {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}
        ],
        "uidMappings": [{"containerID": 0, "hostID": host_uid, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": host_gid, "size": 1}],
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    });
    if let Some(l) = limits {
        linux["resources"] = json!({
            "memory": {"limit": l.memory_bytes},
            "pids": {"limit": l.pids},
            "cpu": {"quota": l.cpu_quota_us, "period": 100_000}
        });
    }
    let config: Value = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": [format!("PATH={PATH}"), "HOME=/tmp", "LANG=C.UTF-8"],
            "cwd": "/tmp",
            "noNewPrivileges": true,
            "capabilities": {"bounding": [], "effective": [], "permitted": []}
        },
        "root": {"path": rootfs.to_string_lossy(), "readonly": true},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": linux
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).expect("json"))?;
    Ok(Bundle { dir })
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A container name unique to this process.
pub fn container_id() -> String {
    format!("nbench-{}-{}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// `crun run` / `runc run` of a bundle, with the runtime's global options first.
pub fn oci_run(runtime: &str, global: &[&str], bundle: &Bundle) -> Result<(), String> {
    let mut cmd = Command::new(runtime);
    cmd.args(global).arg("run").arg("--bundle").arg(&bundle.dir).arg(container_id());
    run_collect(&mut cmd)
}

/// The cgroup layout on this host, as the OCI runtimes see it.
pub fn cgroup_mode() -> &'static str {
    let magic = |p: &str| -> Option<i64> {
        let c = std::ffi::CString::new(p).ok()?;
        // SAFETY: statfs writes into a zeroed struct it is given.
        unsafe {
            let mut s: libc::statfs = std::mem::zeroed();
            (libc::statfs(c.as_ptr(), &mut s) == 0).then_some(s.f_type as i64)
        }
    };
    const CGROUP2: i64 = 0x6367_7270;
    match magic("/sys/fs/cgroup") {
        Some(CGROUP2) => "unified (v2)",
        _ if magic("/sys/fs/cgroup/unified") == Some(CGROUP2) => "hybrid (v1 + v2)",
        _ => "legacy (v1)",
    }
}

/// crun (1.8) refuses to run on a hybrid host whose cgroup2 hierarchy holds any
/// controller ("cgroups in hybrid mode not supported"), whatever the cgroup manager. On
/// such a host, move the whole benchmark into a private mount namespace in which the
/// cgroup2 mount at /sys/fs/cgroup/unified is absent: every tool then runs in the same
/// view of the host (a pure v1 layout), nothing outside the benchmark changes, and no
/// per-run cost is added to any tool. Must be called before any thread starts.
pub fn hide_hybrid_cgroup2() -> Result<Option<String>, String> {
    if cgroup_mode() != "hybrid (v1 + v2)" {
        return Ok(None);
    }
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
    if controllers.trim().is_empty() {
        return Ok(None);
    }
    // SAFETY: single-threaded here; unshare and mount take valid C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!("unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error()));
        }
        if libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
            return Err(format!("making / private: {}", std::io::Error::last_os_error()));
        }
        if libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH) != 0 {
            return Err(format!("umount /sys/fs/cgroup/unified: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(Some(format!(
        "hybrid cgroup host whose cgroup2 holds [{}]: the benchmark runs in a private mount namespace \
         without /sys/fs/cgroup/unified (crun then sees cgroup v1 and uses it); all tools share that view",
        controllers.trim()
    )))
}

/// First line of `prog --version`.
pub fn version(prog: &str) -> String {
    Command::new(prog)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
