//! The lifeline: a caller killed with SIGKILL leaves nothing behind, and stale state from
//! a killed supervisor is found and removed.

mod common;
use common::*;
use nucleus_core::{SandboxConfig, SeccompConfig, SecurityConfig};

const CHILD_ENV: &str = "NUCLEUS_TEST_CLEANUP_CHILD";

/// Not a test on its own: the body of the child process the tests below kill.
#[test]
#[ignore = "run by cleanup tests as a child process"]
fn cleanup_child_body() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let sb = start(SandboxConfig::new());
    sh_ok(&sb, "sleep 1000 >/dev/null 2>&1 &");
    println!(
        "READY {} {} {} {}",
        sb.id(),
        sb.supervisor_pid().unwrap(),
        sb.workspace_path().unwrap().display(),
        sandbox_pid_ns(&sb).display(),
    );
    // Hold the sandbox from a thread other than the one that created it.
    let handle = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(600));
        drop(sb);
    });
    handle.join().unwrap();
}

const DEEP_ENV: &str = "NUCLEUS_TEST_DEEP_CHILD";

/// Not a test on its own: run by the test below in a process allowed 64 descriptors,
/// fewer than the levels of the tree its sandboxes leave in their workspaces. Reports
/// how destroy, and cleanup_stale after a killed supervisor, removed them.
#[test]
#[ignore = "run by cleanup tests as a child process"]
fn cleanup_deep_child_body() {
    if std::env::var_os(DEEP_ENV).is_none() {
        return;
    }
    // Before the first sandbox: the zygote and its supervisors inherit the limit.
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur = 64;
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    // A private state root: cleanup_stale here must not race other tests' records.
    let root = scratch_dir("deep-state");
    let config = SandboxConfig { state_root: Some(root.clone()), ..SandboxConfig::new() };
    // 200 levels, one of them no longer readable, writable or searchable.
    let deep = "mkdir -p $(printf 'd/%.0s' $(seq 200)) && touch d/d/d/f && chmod 000 d/d/d";
    let destroyed = start(config.clone());
    sh_ok(&destroyed, deep);
    let first = destroyed.workspace_path().unwrap();
    let destroy = if destroyed.destroy().is_ok() { "destroyed" } else { "destroy-failed" };
    let stale = start(config);
    sh_ok(&stale, deep);
    let second = stale.workspace_path().unwrap();
    let supervisor = stale.supervisor_pid().unwrap();
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    assert!(eventually(10, || !alive(supervisor)));
    let cleanup = match nucleus_core::cleanup_stale(Some(&root)) {
        Ok(cleaned) if cleaned == [stale.id().to_string()] => "cleaned",
        _ => "cleanup-failed",
    };
    let gone = |dir: &std::path::Path| if dir.exists() { "left" } else { "gone" };
    let (first, second) = (gone(&first), gone(&second));
    drop(stale);
    std::fs::remove_dir_all(&root).unwrap();
    println!("READY {destroy} {first} {cleanup} {second}");
}

#[test]
fn cleanup_a_workspace_deeper_than_the_descriptors_allowed_is_removed() {
    let (mut child, report) = spawn_test_child("cleanup_deep_child_body", DEEP_ENV);
    child.wait().unwrap();
    assert_eq!(report, ["destroyed", "gone", "cleaned", "gone"]);
}

struct Owned {
    id: String,
    supervisor: i32,
    workspace: std::path::PathBuf,
    pid_ns: std::path::PathBuf,
}

fn spawn_owner() -> (std::process::Child, Owned) {
    let (child, f) = spawn_test_child("cleanup_child_body", CHILD_ENV);
    let owned = Owned {
        id: f[0].clone(),
        supervisor: f[1].parse().unwrap(),
        workspace: f[2].clone().into(),
        pid_ns: f[3].clone().into(),
    };
    (child, owned)
}

#[test]
fn cleanup_after_caller_sigkill_leaves_nothing() {
    let (mut child, owned) = spawn_owner();
    let ns = owned.pid_ns.clone();
    assert!(!members_of(&ns).is_empty(), "the background sleep runs");
    let (zygote, name) = parent_and_name(owned.supervisor);
    assert_eq!(name, "nucleus-zygote");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(eventually(10, || !alive(owned.supervisor)), "supervisor outlived its caller");
    assert!(eventually(10, || !alive(zygote)), "zygote outlived its caller");
    assert!(members_of(&ns).is_empty(), "sandbox processes outlived the caller");
    assert!(!owned.workspace.exists(), "workspace left behind");
    let record = nucleus_core::state::default_root().join(format!("{}.json", owned.id));
    assert!(!record.exists(), "state record left behind");
    assert!(host_mounts_mentioning(&owned.id).is_empty());
}

#[test]
fn cleanup_stale_removes_what_a_killed_supervisor_left() {
    let (mut child, owned) = spawn_owner();
    let ns = owned.pid_ns.clone();
    // Kill the supervisor itself: it cannot clean up, but its sandbox must still die.
    unsafe { libc::kill(owned.supervisor, libc::SIGKILL) };
    assert!(eventually(10, || members_of(&ns).is_empty()), "sandbox outlived its supervisor");
    let record = nucleus_core::state::default_root().join(format!("{}.json", owned.id));
    assert!(record.exists() && owned.workspace.exists(), "nothing to clean up?");
    let cleaned = nucleus_core::cleanup_stale(None).unwrap();
    assert!(cleaned.contains(&owned.id), "{cleaned:?}");
    assert!(!record.exists());
    assert!(!owned.workspace.exists());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn cleanup_a_killed_zygote_is_replaced_and_its_supervisors_carry_on() {
    // The only test here that makes sandboxes in this process, so killing this process's
    // zygote disturbs no other test.
    let first = start(SandboxConfig::new());
    let (zygote, name) = parent_and_name(first.supervisor_pid().unwrap());
    assert_eq!(name, "nucleus-zygote");
    unsafe { libc::kill(zygote, libc::SIGKILL) };
    assert!(eventually(10, || !alive(zygote)));
    assert_eq!(sh_ok(&first, "echo still here"), "still here");
    // A descriptor this process left inheritable must not reach the new zygote, or the
    // supervisors and inits it forks.
    let marker = scratch_dir("inherited").join("marker");
    std::fs::write(&marker, "x").unwrap();
    let path = std::ffi::CString::new(marker.to_str().unwrap()).unwrap();
    let stray = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    assert!(stray >= 0);
    let second = start(SandboxConfig::new());
    unsafe { libc::close(stray) };
    let (new_zygote, _) = parent_and_name(second.supervisor_pid().unwrap());
    assert_ne!(new_zygote, zygote);
    assert!(alive(new_zygote));
    let mut processes = vec![new_zygote, second.supervisor_pid().unwrap()];
    if euid() == 0 {
        processes.push(second.init_pid().unwrap()); // not dumpable: only root may look
    }
    for pid in processes {
        let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).collect();
        assert!(!fds.contains(&marker), "process {pid} holds {}: {fds:?}", marker.display());
    }
    assert_eq!(std::fs::read_link(format!("/proc/{new_zygote}/cwd")).unwrap(), std::path::Path::new("/"));
    std::fs::remove_dir_all(marker.parent().unwrap()).unwrap();
    assert_eq!(sh_ok(&second, "echo fresh"), "fresh");
    // A create that fails after asking for its supervisor (here: the seccomp profile is
    // read while the zygote forks) leaves no supervisor behind.
    let seccomp = SeccompConfig { profile: Some("/nonexistent/profile.json".into()), ..SeccompConfig::default() };
    let failing = SandboxConfig::new().security(SecurityConfig { seccomp, ..SecurityConfig::default() });
    assert!(nucleus_core::Sandbox::create(failing).is_err());
    let only_second = || children_of(new_zygote) == [second.supervisor_pid().unwrap()];
    assert!(eventually(10, only_second), "{:?}", children_of(new_zygote));
    first.destroy().unwrap();
    second.destroy().unwrap();
    assert!(!first.workspace_path().unwrap().exists() && !second.workspace_path().unwrap().exists());
}
