//! Helpers shared by the integration tests. Every test runs real sandboxes on this
//! kernel; nothing is mocked.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nucleus_core::{ExecOutput, ExecRequest, Sandbox, SandboxConfig};

/// Create and start a sandbox.
pub fn start(config: SandboxConfig) -> Sandbox {
    let sandbox = Sandbox::create(config).expect("create");
    sandbox.start().expect("start");
    sandbox
}

/// Run a shell script in the sandbox.
pub fn sh(sandbox: &Sandbox, script: &str) -> ExecOutput {
    sandbox.exec(&ExecRequest::shell(script)).expect("exec")
}

/// Run a shell script and return its trimmed stdout, failing on a non-zero exit.
pub fn sh_ok(sandbox: &Sandbox, script: &str) -> String {
    let out = sh(sandbox, script);
    assert_eq!(out.code(), Some(0), "{script}: stdout {:?} stderr {:?}", out.stdout_text(), out.stderr_text());
    out.stdout_text().trim().to_string()
}

/// The pid namespace of a host process, as `/proc/<pid>/ns/pid` names it.
pub fn pid_ns(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// The sandbox's pid namespace, as its own processes see it (the host cannot read the
/// links of the non-dumpable init when it is not root).
pub fn sandbox_pid_ns(sandbox: &Sandbox) -> PathBuf {
    PathBuf::from(sh_ok(sandbox, "readlink /proc/self/ns/pid"))
}

/// Host pids of every process in the pid namespace `ns`.
pub fn members_of(ns: &Path) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid_ns(pid).as_deref() == Some(ns))
        .collect()
}

/// Whether a process with this pid exists (zombies count as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}

/// The command name and parent pid of a process, if it exists.
fn name_and_parent(pid: i32) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let name = stat[stat.find('(')? + 1..stat.rfind(')')?].to_string();
    let ppid = stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()?;
    Some((name, ppid))
}

/// The live children of a process.
pub fn children_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| alive(pid) && name_and_parent(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// The parent of a process: its pid and command name.
pub fn parent_and_name(pid: i32) -> (i32, String) {
    let parent = name_and_parent(pid).expect("the process exists").1;
    (parent, name_and_parent(parent).expect("its parent exists").0)
}

/// Wait up to `secs` for `cond`.
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}

/// A fresh directory for one test, removed by the caller.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nucleus-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The host's mount table lines that mention `needle`.
pub fn host_mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Run the ignored test `body` of this test binary as a child process with `env` set,
/// and return it with the fields of the `READY ...` line it prints once its sandbox is up.
pub fn spawn_test_child(body: &str, env: &str) -> (std::process::Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", body, "--ignored", "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line, before the test's own output.
    let line = lines
        .find_map(|l| l.ok().and_then(|l| l.find("READY ").map(|at| l[at + 6..].to_string())))
        .expect("child reports READY");
    (child, line.split(' ').map(str::to_string).collect())
}

/// The effective uid of the test process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}
