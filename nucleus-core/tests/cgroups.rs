//! Resource limits: memory (OOM kill), task count (fork bomb), CPU bandwidth, counters,
//! and that no cgroup outlives its sandbox, whichever way the sandbox ends.
//!
//! These run against this host's real cgroups (v1 on the hybrid development hosts). Where
//! the caller cannot create cgroups (rootless on v1), every limit test asserts the
//! `Unsupported` error and the degraded-mode warning instead. The v2 file protocol is
//! exercised against a directory tree laid out like a cgroup2 hierarchy, since the
//! development hosts have no v2 controllers.

mod common;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nucleus_core::cgroups::{Cgroups, Host};
use nucleus_core::{ByteSize, ErrorKind, ExecRequest, IoLimit, Limits, Sandbox, SandboxConfig, Stats};

const MIB: u64 = 1 << 20;

/// A running sandbox with `limits`, or `None` after asserting that this caller cannot
/// have cgroups: creating fails with `Unsupported` naming the layer and a fix, and in
/// degraded mode succeeds with a warning saying what is not enforced.
fn limited(limits: Limits) -> Option<Sandbox> {
    match Sandbox::create(SandboxConfig::new().limits(limits.clone())) {
        Ok(sb) => {
            sb.start().expect("start");
            assert!(!sb.cgroup_paths().is_empty());
            Some(sb)
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert_ne!(euid(), 0, "root must get cgroups on this host: {e}");
            let text = e.to_string();
            assert!(text.starts_with("unsupported on this host: cgroups: "), "{text}");
            assert!(text.contains("run as root") && text.contains("allow_degraded"), "{text}");
            let sb = start(SandboxConfig::new().limits(limits).allow_degraded(true));
            let warnings = sb.warnings();
            assert!(warnings.iter().any(|w| w.starts_with("cgroups: ")), "{warnings:?}");
            assert!(sb.cgroup_paths().is_empty());
            assert_eq!(sb.stats().unwrap_err().kind(), ErrorKind::Unsupported);
            assert_eq!(sh_ok(&sb, "echo still runs"), "still runs");
            eprintln!("no cgroups for uid {}: checked the Unsupported error and the warning", euid());
            None
        }
    }
}

fn stats(sb: &Sandbox) -> Stats {
    sb.stats().expect("stats")
}

/// Whether this host's memory controller is on cgroup v1.
fn memory_on_v1() -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().any(|l| l.contains(" - cgroup ") && l.split(',').any(|o| o.trim() == "memory"))
}

#[test]
fn cgroups_memory_bomb_is_oom_killed_and_the_sandbox_stays_usable() {
    let Some(sb) = limited(Limits { memory: Some(ByteSize(64 * MIB)), ..Limits::default() }) else { return };
    let bomb = "a = []\nwhile True: a.append(b'x' * (1 << 20))";
    let out = sb.exec(&ExecRequest::new(["python3", "-c", bomb])).unwrap();
    assert_eq!(out.status.signal, Some(libc::SIGKILL), "{}", out.stderr_text());
    assert!(out.oom_killed, "{out:?}");
    let peak = out.peak_memory.expect("peak memory");
    assert!((32 * MIB..=64 * MIB).contains(&peak), "peak {peak}");
    let after = sh(&sb, "echo alive");
    assert_eq!(after.stdout_text(), "alive\n");
    assert!(!after.oom_killed);
    assert_eq!(stats(&sb).oom_kills, Some(1));
    // A process dying of SIGKILL for another reason is not an OOM kill.
    assert!(!sh(&sb, "kill -9 $$").oom_killed);
}

#[test]
fn cgroups_fork_bomb_stops_at_the_pids_limit_and_destroy_is_quick() {
    let Some(sb) = limited(Limits { pids: Some(32), ..Limits::default() }) else { return };
    let dirs = sb.cgroup_paths();
    // Every process forks for ever and shrugs off EAGAIN, so the population never dies out.
    let bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass";
    let _bomb = sb.spawn(&ExecRequest::new(["python3", "-c", bomb])).unwrap();
    assert!(eventually(10, || stats(&sb).tasks >= Some(28)), "{:?}", stats(&sb));
    for _ in 0..20 {
        let tasks = stats(&sb).tasks.unwrap();
        assert!(tasks <= 32, "{tasks} tasks over the limit");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    sb.destroy().unwrap();
    let took = started.elapsed();
    eprintln!("destroying a fork-bombed sandbox took {took:?}");
    assert!(took < Duration::from_secs(3), "destroy took {took:?}");
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?} left behind");
}

#[test]
fn cgroups_half_a_cpu_keeps_two_spinners_near_half_a_core() {
    let Some(sb) = limited(Limits { cpus: Some(0.5), ..Limits::default() }) else { return };
    let spinners = sb.spawn(&ExecRequest::shell("while :; do :; done & while :; do :; done")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (cpu_before, wall) = (stats(&sb).cpu_usec.unwrap(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let used = stats(&sb).cpu_usec.unwrap() - cpu_before;
    let share = used as f64 / wall.elapsed().as_micros() as f64;
    eprintln!("two spinners under cpus=0.5 used {share:.2} of a core");
    assert!((0.25..=0.75).contains(&share), "share {share}");
    spinners.kill(libc::SIGKILL).unwrap();
    sb.destroy().unwrap();
}

#[test]
fn cgroups_stats_are_sane_and_the_init_is_inside() {
    let limits = Limits { memory: Some(ByteSize(256 * MIB)), pids: Some(100), cpus: Some(1.0), ..Limits::default() };
    let Some(sb) = limited(limits) else { return };
    // The init is in the sandbox's cgroup on the host, and its cgroup namespace is rooted
    // there: inside, every hierarchy shows "/".
    let init_cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", sb.init_pid().unwrap())).unwrap();
    assert!(init_cgroups.contains(sb.id()), "{init_cgroups}");
    // The supervisor carried the init in (v1) or cloned it inside (v2) and is back
    // where it was spawned, the caller's cgroups.
    let supervisor = std::fs::read_to_string(format!("/proc/{}/cgroup", sb.supervisor_pid().unwrap())).unwrap();
    assert_eq!(supervisor, std::fs::read_to_string("/proc/self/cgroup").unwrap());
    let inside = sh_ok(&sb, "cat /proc/self/cgroup");
    assert!(!inside.contains(sb.id()), "host cgroup path visible inside: {inside}");
    sh_ok(&sb, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; head -c 20000000 /dev/zero > /tmp/fill");
    let s = stats(&sb);
    eprintln!("{}", serde_json::to_string(&s).unwrap());
    let current = s.memory_current.unwrap();
    assert!((MIB..=256 * MIB).contains(&current), "{s:?}");
    assert!(s.memory_peak.unwrap() >= current, "{s:?}");
    assert!(s.cpu_usec.unwrap() > 10_000, "{s:?}");
    assert_eq!(s.tasks, Some(1), "only the init is left: {s:?}");
    assert_eq!(s.oom_kills, Some(0));
    let out = sh(&sb, "true");
    assert!(out.peak_memory.unwrap() >= 20_000_000, "{out:?}");
}

#[test]
fn cgroups_destroy_leaves_no_cgroup_directory() {
    let Some(sb) = limited(Limits { memory: Some(ByteSize(128 * MIB)), pids: Some(64), ..Limits::default() }) else {
        return;
    };
    sh_ok(&sb, "sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 &");
    let dirs = sb.cgroup_paths();
    assert!(dirs.iter().all(|d| d.is_dir() && d.ends_with(sb.id())), "{dirs:?}");
    sb.destroy().unwrap();
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
        let siblings: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().flatten().collect();
        assert!(siblings.iter().all(|e| e.file_name() != sb.id()));
    }
}

#[test]
fn cgroups_sandbox_without_limits_touches_no_cgroup() {
    let sb = start(SandboxConfig::new());
    assert!(sb.cgroup_paths().is_empty());
    let e = sb.stats().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("limits.memory"), "{e}");
    let out = sh(&sb, "true");
    assert!(!out.oom_killed && out.peak_memory.is_none());
    let mine = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let init = std::fs::read_to_string(format!("/proc/{}/cgroup", sb.init_pid().unwrap())).unwrap();
    assert_eq!(init, mine, "the init stays in its caller's cgroups");
}

#[test]
fn cgroups_bad_limits_name_the_field() {
    let field = |json: &str| {
        let e = SandboxConfig::from_json(json).and_then(Sandbox::create).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        e.field().unwrap().to_owned()
    };
    assert_eq!(field(r#"{"limits": {"cpus": -1}}"#), "limits.cpus");
    assert_eq!(field(r#"{"limits": {"cpus": 0.001}}"#), "limits.cpus");
    assert_eq!(field(r#"{"limits": {"memory": "12X"}}"#), "limits.memory");
    assert_eq!(field(r#"{"limits": {"memory": 100}}"#), "limits.memory");
    assert_eq!(field(r#"{"limits": {"pids": 0}}"#), "limits.pids");
    assert_eq!(field(r#"{"limits": {"cpu_weight": 20000}}"#), "limits.cpu_weight");
    assert_eq!(field(r#"{"limits": {"io": [{"device": "/dev/null", "read_bps": "1M"}]}}"#), "limits.io[0].device");
    assert_eq!(field(r#"{"limits": {"io": [{"device": "/dev/loop0"}]}}"#), "limits.io[0]");
    assert_eq!(field(r#"{"limits": {"cgroup_parent": "rel/x"}}"#), "limits.cgroup_parent");
    let e = SandboxConfig::from_json(r#"{"limits": {"memroy": "1G"}}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `memroy`"), "{e}");
    let config = SandboxConfig::from_json(r#"{"limits": {"memory": "512M", "cpus": 1.5, "pids": 100}}"#).unwrap();
    assert_eq!(config.limits.memory, Some(ByteSize(512 * MIB)));
    assert_eq!(SandboxConfig::from_json(&config.to_json()).unwrap(), config);
}

#[test]
fn cgroups_v2_only_limits_on_a_v1_host_are_an_error_or_a_warning() {
    if !memory_on_v1() {
        eprintln!("memory is on cgroup v2 here: cpu_weight is supported, nothing to refuse");
        return;
    }
    let limits = Limits { cpu_weight: Some(200), pids: Some(100), ..Limits::default() };
    let e = Sandbox::create(SandboxConfig::new().limits(limits.clone())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("limits.cpu_weight: needs cgroup v2"), "{e}");
    let sb = start(SandboxConfig::new().limits(limits).allow_degraded(true));
    assert!(sb.warnings().iter().any(|w| w.contains("limits.cpu_weight")), "{:?}", sb.warnings());
    // pids is still enforced where cgroups can be made at all.
    assert_eq!(sb.cgroup_paths().is_empty(), euid() != 0);
}

// ---- the caller or the supervisor killed -------------------------------------------

const CHILD_ENV: &str = "NUCLEUS_TEST_CGROUPS_CHILD";

/// Not a test on its own: the body of the child process the tests below kill.
#[test]
#[ignore = "run by the cgroup cleanup tests as a child process"]
fn cgroups_cleanup_child_body() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let sb = start(SandboxConfig::new().limits(Limits { memory: Some(ByteSize(128 * MIB)), ..Limits::default() }));
    sh_ok(&sb, "sleep 1000 >/dev/null 2>&1 &");
    let dirs: Vec<String> = sb.cgroup_paths().iter().map(|d| d.display().to_string()).collect();
    println!("READY {} {} {}", sb.id(), sb.supervisor_pid().unwrap(), dirs.join(" "));
    std::thread::sleep(Duration::from_secs(600));
}

/// A child process owning a sandbox with a memory limit: its id, supervisor and cgroups.
fn spawn_owner() -> (std::process::Child, String, i32, Vec<PathBuf>) {
    let (child, f) = spawn_test_child("cgroups_cleanup_child_body", CHILD_ENV);
    (child, f[0].clone(), f[1].parse().unwrap(), f[2..].iter().map(PathBuf::from).collect())
}

/// Whether this caller gets cgroups; asserts the refusal otherwise.
fn cgroups_available() -> bool {
    limited(Limits { memory: Some(ByteSize(128 * MIB)), ..Limits::default() }).is_some()
}

#[test]
fn cleanup_after_caller_sigkill_leaves_no_cgroup() {
    if !cgroups_available() {
        return;
    }
    let (mut child, _, supervisor, dirs) = spawn_owner();
    assert!(!dirs.is_empty() && dirs.iter().all(|d| d.is_dir()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(eventually(10, || !alive(supervisor)), "supervisor outlived its caller");
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?} left behind");
}

#[test]
fn cgroups_cleanup_stale_removes_the_cgroup_of_a_killed_supervisor() {
    if !cgroups_available() {
        return;
    }
    let (mut child, id, supervisor, dirs) = spawn_owner();
    // SAFETY: plain kill of a process this test started (through its child).
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    assert!(eventually(10, || !alive(supervisor)));
    assert!(dirs.iter().all(|d| d.is_dir()), "nothing to clean up?");
    let cleaned = nucleus_core::cleanup_stale(None).unwrap();
    assert!(cleaned.contains(&id), "{cleaned:?}");
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?} left behind");
    child.kill().unwrap();
    child.wait().unwrap();
}

// ---- cgroup v2, as far as a host without v2 controllers allows --------------------

/// A directory laid out like the root of a cgroup2 hierarchy offering `controllers`.
fn fake_cgroup2_root(name: &str, controllers: &str) -> (PathBuf, Host) {
    let root = scratch_dir(name);
    for (file, text) in [("cgroup.controllers", controllers), ("cgroup.subtree_control", ""), ("cgroup.procs", "")] {
        std::fs::write(root.join(file), text).unwrap();
    }
    let mountinfo = format!("41 31 0:38 / {} rw,relatime - cgroup2 cgroup2 rw\n", root.display());
    (root.clone(), Host::parse(&mountinfo, "0::/\n"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cgroups_v2_file_protocol_against_a_directory_tree_writes_limits_and_reads_counters() {
    let (root, host) = fake_cgroup2_root("v2-tree", "cpuset cpu io memory hugetlb pids");
    let io = IoLimit {
        device: "/dev/loop0".into(),
        read_bps: Some(ByteSize(MIB)),
        write_bps: None,
        read_iops: None,
        write_iops: Some(50),
    };
    let limits = Limits {
        memory: Some(ByteSize(64 * MIB)),
        cpus: Some(1.5),
        pids: Some(100),
        cpu_weight: Some(200),
        io: if Path::new("/dev/loop0").exists() { vec![io] } else { vec![] },
        cgroup_parent: None,
    };
    let (cgroups, problems) = host.plan(&limits, "sb1").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let cgroups = cgroups.unwrap();
    assert!(matches!(cgroups, Cgroups::V2(_)));
    let dir = root.join("nucleus/sb1");
    assert_eq!(cgroups.dirs(), vec![dir.clone()]);

    cgroups.create().unwrap();
    let enabled = if limits.io.is_empty() { "+memory +pids +cpu" } else { "+memory +pids +cpu +io" };
    assert_eq!(read(&root.join("cgroup.subtree_control")), enabled);
    assert_eq!(read(&root.join("nucleus/cgroup.subtree_control")), enabled);
    assert_eq!(read(&dir.join("memory.max")), (64 * MIB).to_string());
    assert_eq!(read(&dir.join("cpu.max")), "150000 100000");
    assert_eq!(read(&dir.join("cpu.weight")), "200");
    assert_eq!(read(&dir.join("pids.max")), "100");
    if !limits.io.is_empty() {
        assert_eq!(read(&dir.join("io.max")), "7:0 rbps=1048576 wiops=50");
    }
    // The kernel makes memory.swap.max where swap is accounted; a plain tree has none.
    assert!(!dir.join("memory.swap.max").exists());
    cgroups.enter(4242).unwrap();
    assert_eq!(read(&dir.join("cgroup.procs")), "4242");

    for (file, text) in [
        ("memory.current", "1000\n"),
        ("memory.peak", "2000\n"),
        ("cpu.stat", "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n"),
        ("pids.current", "3\n"),
        ("memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n"),
    ] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let expected = Stats {
        memory_current: Some(1000),
        memory_peak: Some(2000),
        cpu_usec: Some(5000),
        tasks: Some(3),
        oom_kills: Some(1),
    };
    assert_eq!(cgroups.stats(), expected);

    // A second sandbox finds its parent made and the controllers enabled, and writes
    // nothing there. Play the kernel: it lists enabled controllers without the '+' and
    // gives every cgroup its cgroup.controllers and cgroup.procs.
    let listed = enabled.replace('+', "");
    std::fs::write(root.join("nucleus/cgroup.subtree_control"), &listed).unwrap();
    std::fs::write(root.join("nucleus/cgroup.controllers"), &listed).unwrap();
    std::fs::write(root.join("nucleus/cgroup.procs"), "").unwrap();
    let (second, _) = host.plan(&Limits { pids: Some(10), ..Limits::default() }, "sb2").unwrap();
    second.unwrap().create().unwrap();
    assert_eq!(read(&root.join("nucleus/sb2/pids.max")), "10");
    assert_eq!(read(&root.join("nucleus/cgroup.subtree_control")), listed);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cgroups_v2_file_protocol_against_a_directory_tree_without_controllers_refuses() {
    // Like this host's unified hierarchy: only hugetlb.
    let (root, host) = fake_cgroup2_root("v2-hugetlb", "hugetlb");
    let limits = Limits { memory: Some(ByteSize(64 * MIB)), pids: Some(10), ..Limits::default() };
    let (cgroups, problems) = host.plan(&limits, "sb").unwrap();
    assert!(cgroups.is_none());
    let controllers_missing = format!("the memory controller is not enabled for {}", root.display());
    assert_eq!(problems[0], format!("limits.memory: {controllers_missing}"));
    assert!(problems[1].starts_with("limits.pids: the pids controller"), "{problems:?}");
    std::fs::remove_dir_all(&root).unwrap();
}
