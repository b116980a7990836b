//! The warm pool: what it hands out, how it refills, how it reports failures, and what
//! it leaves behind.

mod common;
use common::*;
use nucleus_core::{ErrorKind, Pool, Sandbox, SandboxConfig, Status};
use std::path::Path;
use std::time::Duration;

/// A config whose state records go to `dir`, so a test can see its own sandboxes.
fn config_in(dir: &Path) -> SandboxConfig {
    SandboxConfig::new().state_root(dir.join("records"))
}

fn records(dir: &Path) -> Vec<nucleus_core::state::Record> {
    nucleus_core::state::list(&dir.join("records")).unwrap()
}

/// A ready pool of `size` (the refill thread has built them all).
fn full_pool(config: SandboxConfig, size: usize) -> Pool {
    let pool = Pool::new(config, size).expect("pool");
    assert!(eventually(30, || pool.ready() == size), "pool never filled: {} of {size}", pool.ready());
    pool
}

#[test]
fn pool_take_returns_running_fresh_distinct_sandboxes() {
    let pool = full_pool(SandboxConfig::new().hostname("pooled"), 2);
    // More than the pool holds: the last ones come from refills or are built inline.
    let taken: Vec<Sandbox> = (0..4).map(|_| pool.take().unwrap()).collect();
    for sb in &taken {
        assert_eq!(sb.status(), Status::Running);
        assert_eq!(sh_ok(sb, "hostname"), "pooled");
    }
    let mut ids: Vec<&str> = taken.iter().map(|sb| sb.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "a sandbox was handed out twice");
    let inits: std::collections::HashSet<_> = taken.iter().map(|sb| sb.init_pid().unwrap()).collect();
    assert_eq!(inits.len(), 4);
    // What one taker leaves is not in the next one's sandbox.
    for sb in &taken {
        assert_eq!(sh_ok(sb, "ls -A /workspace /tmp | tr -d '\\n'; echo"), "/tmp:/workspace:");
        sh_ok(sb, "echo mine > /workspace/mark; echo mine > /tmp/mark");
    }
}

#[test]
fn pool_refills_what_is_taken() {
    let pool = full_pool(SandboxConfig::new(), 3);
    assert_eq!(pool.size(), 3);
    let a = pool.take().unwrap();
    let b = pool.take().unwrap();
    assert!(pool.ready() < 3);
    assert!(eventually(30, || pool.ready() == 3), "not refilled: {}", pool.ready());
    assert_eq!(sh_ok(&a, "echo a"), "a");
    assert_eq!(sh_ok(&b, "echo b"), "b");
}

#[test]
fn pool_drop_destroys_idle_sandboxes_and_spares_taken_ones() {
    let dir = scratch_dir("pool-drop");
    let pool = full_pool(config_in(&dir), 3);
    let kept = pool.take().unwrap();
    assert!(eventually(30, || pool.ready() == 3));
    let idle: Vec<_> = records(&dir).into_iter().filter(|r| r.id != kept.id()).collect();
    assert_eq!(idle.len(), 3);
    assert!(idle.iter().all(|r| alive(r.supervisor_pid)));
    drop(pool);
    for r in &idle {
        assert!(!alive(r.supervisor_pid), "supervisor {} of {} survived the pool", r.supervisor_pid, r.id);
        let ws = r.private_workspace.as_ref().unwrap();
        assert!(!ws.exists(), "workspace {} left behind", ws.display());
        assert!(host_mounts_mentioning(&r.id).is_empty());
    }
    // Only the taken sandbox's record is left, and the sandbox still works.
    let left: Vec<String> = records(&dir).into_iter().map(|r| r.id).collect();
    assert_eq!(left, [kept.id().to_string()]);
    assert_eq!(sh_ok(&kept, "echo still here"), "still here");
    kept.destroy().unwrap();
    assert!(records(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pool_close_reports_success_and_leaves_nothing() {
    let dir = scratch_dir("pool-close");
    let pool = full_pool(config_in(&dir), 2);
    let supervisors: Vec<i32> = records(&dir).iter().map(|r| r.supervisor_pid).collect();
    pool.close().unwrap();
    assert!(records(&dir).is_empty());
    assert!(supervisors.iter().all(|&pid| !alive(pid)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pool_concurrent_takes_from_eight_threads() {
    let pool = Pool::new(SandboxConfig::new(), 4).unwrap();
    let ids = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8 {
            let (pool, ids) = (&pool, &ids);
            s.spawn(move || {
                for _ in 0..2 {
                    let sb = pool.take().unwrap();
                    assert_eq!(sh_ok(&sb, &format!("echo {t}")), t.to_string());
                    ids.lock().unwrap().push(sb.id().to_string());
                }
            });
        }
    });
    let mut ids = ids.into_inner().unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16, "a sandbox was handed out twice");
}

#[test]
fn pool_new_reports_a_config_that_cannot_be_built_with_its_own_error() {
    let dir = scratch_dir("pool-unbuildable");
    std::os::unix::fs::symlink("/usr", dir.join("link")).unwrap();
    // Valid, but setup refuses a mount source that is a symlink.
    let config = config_in(&dir).mount(nucleus_core::Mount::readonly(dir.join("link"), "/x"));
    let direct = Sandbox::create(config.clone()).unwrap().start().unwrap_err();
    let e = Pool::new(config, 2).unwrap_err();
    assert_eq!(e, direct);
    assert!(records(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Setting up `dir/src` as a mount source that a test can take away.
fn pool_with_removable_mount(dir: &Path) -> (Pool, std::path::PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let config = config_in(dir).mount(nucleus_core::Mount::readonly(&src, "/x"));
    (full_pool(config, 1), src)
}

#[test]
fn pool_refill_failure_surfaces_at_the_next_take() {
    let dir = scratch_dir("pool-refill-error");
    let (pool, src) = pool_with_removable_mount(&dir);
    std::fs::remove_dir(&src).unwrap();
    // The ready sandbox was built before; taking it starts a refill, which fails.
    let first = pool.take().unwrap();
    // Time for the refill thread to try once, even on a loaded machine (it needs
    // microseconds); its failure waits for a take however long this is.
    std::thread::sleep(Duration::from_secs(2));
    // Buildable again: only the refill's failure can fail this take.
    std::fs::create_dir(&src).unwrap();
    let e = pool.take().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert_eq!(e.field(), Some("mounts[0].source"), "{e}");
    // Reported once; the pool goes on.
    let next = pool.take().unwrap();
    assert_eq!(sh_ok(&next, "test -d /x && echo mounted"), "mounted");
    drop((first, next, pool));
    assert!(records(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// CPU time (ms) of this process's threads named `nucleus-pool`, by thread id.
fn refill_threads_cpu_ms() -> std::collections::HashMap<String, f64> {
    // SAFETY: sysconf has no preconditions.
    let tick_ms = 1000.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut cpu = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == "nucleus-pool") {
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            // utime and stime, fields 14 and 15 of stat (11 and 12 after the name).
            let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
            cpu.insert(task.file_name().to_string_lossy().into_owned(), ticks * tick_ms);
        }
    }
    cpu
}

#[test]
fn pool_whose_refills_keep_failing_backs_off() {
    let dir = scratch_dir("pool-backoff");
    let (pool, src) = pool_with_removable_mount(&dir);
    std::fs::remove_dir(&src).unwrap();
    let first = pool.take().unwrap();
    let before = refill_threads_cpu_ms();
    std::thread::sleep(Duration::from_secs(2));
    let after = refill_threads_cpu_ms();
    // Threads of other tests' pools are counted too; a spinning one would use ~2000 ms.
    let used: f64 = after.iter().filter_map(|(tid, ms)| Some(ms - before.get(tid)?)).sum();
    assert!(used < 500.0, "refill threads used {used} ms of CPU in 2 s");
    assert_eq!(pool.take().unwrap_err().field(), Some("mounts[0].source"));
    drop((first, pool));
    assert!(records(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The live children of `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&child| {
            // Processes come and go during the walk: one that is gone is no child.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { return false };
            let ppid = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).and_then(|p| p.parse().ok());
            ppid == Some(pid) && alive(child)
        })
        .collect()
}

#[test]
fn pool_skips_a_ready_sandbox_that_ended_while_it_waited() {
    let dir = scratch_dir("pool-dead");
    let pool = full_pool(config_in(&dir), 1);
    let idle = records(&dir).remove(0);
    // The sandbox has ended once the supervisor and its children (the init, which holds
    // the other end of the control socket too) are gone.
    let mut doomed = children_of(idle.supervisor_pid);
    assert!(!doomed.is_empty(), "the init is a child of the supervisor");
    doomed.push(idle.supervisor_pid);
    // SAFETY: kill has no memory preconditions; the pid is the idle sandbox's supervisor.
    assert_eq!(unsafe { libc::kill(idle.supervisor_pid, libc::SIGKILL) }, 0);
    assert!(eventually(10, || doomed.iter().all(|&pid| !alive(pid))));
    let sb = pool.take().unwrap();
    assert_ne!(sb.id(), idle.id);
    assert_eq!(sh_ok(&sb, "echo fresh"), "fresh");
    // The dead one was cleaned up on the way.
    assert!(records(&dir).iter().all(|r| r.id != idle.id));
    assert!(!idle.private_workspace.unwrap().exists());
    drop((sb, pool));
    std::fs::remove_dir_all(&dir).unwrap();
}
