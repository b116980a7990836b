//! The security layers, for real: from inside a sandbox the kernel denies the escape
//! surface (checked by errno), normal programs keep working, and the report says what
//! holds.

mod common;
use common::*;
use nucleus_core::{ErrorKind, ExecRequest, SandboxConfig, SeccompConfig, SeccompMode, SecurityConfig};

/// Run a Python snippet inside; return its stdout, failing on a non-zero exit.
fn py(sb: &nucleus_core::Sandbox, code: &str) -> String {
    let out = sb.exec(&ExecRequest::new(["python3", "-c", code])).unwrap();
    assert_eq!(out.code(), Some(0), "stdout {} stderr {}", out.stdout_text(), out.stderr_text());
    out.stdout_text().trim().to_string()
}

const SYSCALL_PRELUDE: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), "OK") if r == -1 else "OK"
"#;

#[test]
fn seccomp_escape_calls_fail_with_eperm() {
    let sb = start(SandboxConfig::new());
    let code = format!(
        r#"{SYSCALL_PRELUDE}
fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
print("mount", call(165, 0, 0, 0, 0, 0))
print("unshare_user", call(272, 0x10000000))
print("setns", call(308, fd, 0))
print("ptrace_pid1", call(101, 16, 1, 0, 0))
print("keyctl", call(250, 0, 0, 0, 0, 0))
print("bpf", call(321, 0, 0, 0))
print("perf_event_open", call(298, 0, 0, -1, -1, 0))
print("userfaultfd", call(323, 0))
print("io_uring_setup", call(425, 1, 0))
print("open_by_handle_at", call(304, 0, 0, 0))
print("clone_newuser", call(56, 0x10000000 | 17, 0, 0, 0, 0))
print("clone3", call(435, 0, 0))
"#
    );
    let out = py(&sb, &code);
    let expected = "mount EPERM\nunshare_user EPERM\nsetns EPERM\nptrace_pid1 EPERM\nkeyctl EPERM\nbpf EPERM\n\
                    perf_event_open EPERM\nuserfaultfd EPERM\nio_uring_setup EPERM\nopen_by_handle_at EPERM\n\
                    clone_newuser EPERM\nclone3 ENOSYS";
    assert_eq!(out, expected);
}

#[test]
fn seccomp_tiocsti_and_raw_sockets_are_denied() {
    let sb = start(SandboxConfig::new());
    let out = py(
        &sb,
        r#"
import fcntl, os, pty, socket, termios, errno
m, s = pty.openpty()
try:
    fcntl.ioctl(s, termios.TIOCSTI, b"x"); print("TIOCSTI allowed")
except OSError as e:
    print("TIOCSTI", errno.errorcode[e.errno])
fcntl.ioctl(s, termios.TIOCGWINSZ, b"\0" * 8); print("TIOCGWINSZ ok")
for name, family in [("AF_PACKET", 17), ("AF_NETLINK", 16)]:
    try:
        socket.socket(family, socket.SOCK_RAW, 0); print(name, "allowed")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
socket.socket(socket.AF_UNIX).close(); socket.socket(socket.AF_INET).close(); print("unix inet ok")
"#,
    );
    assert_eq!(out, "TIOCSTI EPERM\nTIOCGWINSZ ok\nAF_PACKET EPERM\nAF_NETLINK EPERM\nunix inet ok");
}

#[test]
fn seccomp_custom_docker_profile_takes_effect_and_malformed_is_rejected() {
    let dir = scratch_dir("profile");
    let profile = dir.join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let security = SecurityConfig {
        seccomp: SeccompConfig { profile: Some(profile.clone()), ..SeccompConfig::default() },
        ..SecurityConfig::default()
    };
    let sb = start(SandboxConfig::new().security(security.clone()));
    let out = sh(&sb, "mkdir /tmp/d 2>&1");
    assert!(out.stdout_text().contains("Permission denied"), "{}", out.stdout_text());
    assert_eq!(sh_ok(&sb, "touch /tmp/f && echo created"), "created");
    drop(sb);

    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}"#).unwrap();
    let e = nucleus_core::Sandbox::create(SandboxConfig::new().security(security)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert_eq!(e.field(), Some("security.seccomp.profile: syscalls[0].action"));
    assert!(e.to_string().contains("SCMP_ACT_MAYBE"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seccomp_profile_rewritten_between_creates_takes_effect() {
    let dir = scratch_dir("rewritten-profile");
    let profile = dir.join("deny.json");
    let deny = |name: &str| {
        let text = format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}}]}}"#);
        std::fs::write(&profile, text).unwrap();
    };
    let security = SecurityConfig {
        seccomp: SeccompConfig { profile: Some(profile.clone()), ..SeccompConfig::default() },
        ..SecurityConfig::default()
    };
    let config = SandboxConfig::new().security(security);
    let script = "mkdir /tmp/d 2>&1 && echo made; rmdir /tmp/d 2>&1 && echo removed";
    deny("mkdir");
    let out = sh(&start(config.clone()), script).stdout_text();
    assert!(out.starts_with("mkdir: cannot create directory") && out.contains("Permission denied"), "{out}");
    deny("rmdir");
    let out = sh(&start(config), script).stdout_text();
    assert!(out.starts_with("made\nrmdir: failed to remove"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seccomp_docker_profile_beyond_one_jump_is_loaded_and_enforced() {
    // Conditions no normal call meets make the filter longer than a conditional jump
    // reaches (255 instructions); getpriority for some ids fails with EACCES, for others
    // it reaches the kernel (ESRCH: no such process).
    let mut entries: Vec<String> = Vec::new();
    for name in ["read", "write", "openat", "close", "mmap", "mprotect", "fstat", "newfstatat", "lseek", "brk",
                 "rt_sigaction", "rt_sigprocmask", "ioctl", "pread64", "readlink", "getdents64", "getcwd", "execve",
                 "wait4", "clone", "futex", "dup2", "pipe2", "fcntl", "prlimit64", "getrandom", "statx", "uname"] {
        for k in 0..4 {
            let value = 0xdead_0000_0000u64 + k;
            entries.push(format!(
                r#"{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{{"index": 5, "value": {value}, "op": "SCMP_CMP_EQ"}}]}}"#
            ));
        }
    }
    for who in 1000..1040 {
        entries.push(format!(
            r#"{{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{{"index": 1, "value": {who}, "op": "SCMP_CMP_EQ"}}]}}"#
        ));
    }
    let dir = scratch_dir("big-profile");
    let profile = dir.join("big.json");
    std::fs::write(&profile, format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{}]}}"#, entries.join(",\n")))
        .unwrap();
    let seccomp = SeccompConfig { profile: Some(profile), ..SeccompConfig::default() };
    let plan = nucleus_core::seccomp::SeccompPlan::compile(&seccomp, &[]).unwrap().unwrap();
    let sb = start(SandboxConfig::new().security(SecurityConfig { seccomp, ..SecurityConfig::default() }));
    // The profile was read when the sandbox was created.
    std::fs::remove_dir_all(&dir).unwrap();
    // A JA (code 0x05) past 255 instructions: a trampoline for a conditional jump.
    let far_jump = plan.programs[0].iter().any(|&i| i >> 48 == 0x05 && i as u32 > 255);
    assert!(far_jump, "{} instructions, none jumping beyond 255", plan.programs[0].len());
    let out = py(&sb, &format!("{SYSCALL_PRELUDE}\nprint(call(140, 0, 1007), call(140, 0, 1039), call(140, 0, 0), call(140, 0, 1040))"));
    assert_eq!(out, "EACCES EACCES OK ESRCH");
}

#[test]
fn seccomp_log_mode_allows_and_says_so() {
    let security = SecurityConfig {
        seccomp: SeccompConfig { mode: SeccompMode::Log, ..SeccompConfig::default() },
        ..SecurityConfig::default()
    };
    let sb = start(SandboxConfig::new().security(security));
    // personality(PER_LINUX32) is outside the profile: logged and allowed.
    let out = py(&sb, &format!("{SYSCALL_PRELUDE}\nprint(call(135, 0x0008 | 0x800000))"));
    assert_eq!(out, "OK");
    let report = sb.security_report().unwrap();
    let seccomp = report.layer("seccomp").unwrap();
    assert!(seccomp.requested && !seccomp.enforced, "{seccomp:?}");
    assert!(report.warnings.iter().any(|w| w.contains("log mode")), "{:?}", report.warnings);
}

#[test]
fn landlock_denies_writes_where_the_plan_grants_only_reads() {
    // /proc is mounted writable, but Landlock grants it read-only.
    let sb = start(SandboxConfig::new());
    let out = sh(&sb, "(echo renamed > /proc/self/comm) 2>&1");
    assert_ne!(out.code(), Some(0));
    assert!(out.stdout_text().contains("Permission denied"), "{}", out.stdout_text());
    // The same write works with Landlock off: Landlock is what denied it.
    let off = SecurityConfig { landlock: false, ..SecurityConfig::default() };
    let sb = start(SandboxConfig::new().security(off));
    assert_eq!(sh_ok(&sb, "echo renamed > /proc/self/comm && echo written"), "written");
}

#[test]
fn landlock_scopes_signals_to_the_sandbox_and_commands_share_a_domain() {
    let sb = start(SandboxConfig::new());
    let mut background = sb.spawn(&ExecRequest::new(["sleep", "100"])).unwrap();
    // Another command may signal it: one Landlock domain for the whole sandbox.
    sh_ok(&sb, &format!("kill -TERM {}", background.pid()));
    assert_eq!(background.wait().unwrap().signal, Some(libc::SIGTERM));
}

#[test]
fn capabilities_are_all_dropped_unless_kept() {
    let sb = start(SandboxConfig::new());
    let status = sh_ok(&sb, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | cut -f2 | sort -u");
    assert_eq!(status, "0000000000000000");
    sh_ok(&sb, "echo secret > /tmp/locked && chmod 000 /tmp/locked");
    assert!(sh(&sb, "cat /tmp/locked 2>&1").stdout_text().contains("Permission denied"));
    let keep = SecurityConfig { capabilities: vec!["CAP_DAC_OVERRIDE".into()], ..SecurityConfig::default() };
    let sb = start(SandboxConfig::new().security(keep));
    assert_eq!(sh_ok(&sb, "grep CapEff /proc/self/status | cut -f2"), "0000000000000002");
    sh_ok(&sb, "echo secret > /tmp/locked && chmod 000 /tmp/locked");
    assert_eq!(sh_ok(&sb, "cat /tmp/locked"), "secret", "the kept capability works");
    let dangerous = SecurityConfig { capabilities: vec!["CAP_SYS_ADMIN".into()], ..SecurityConfig::default() };
    let e = nucleus_core::Sandbox::create(SandboxConfig::new().security(dangerous)).unwrap_err();
    assert_eq!(e.field(), Some("security.capabilities[0]"));
}

#[test]
fn rlimits_have_defaults_and_can_be_set() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sh_ok(&sb, "ulimit -c; ulimit -n"), "0\n4096");
    let mut security = SecurityConfig::default();
    security.rlimits.nofile = Some(64);
    security.rlimits.fsize = Some(1 << 20);
    let sb = start(SandboxConfig::new().security(security));
    assert_eq!(sh_ok(&sb, "ulimit -n"), "64");
    let out = sh(&sb, "dd if=/dev/zero of=/tmp/big bs=1M count=2 2>&1");
    assert_ne!(out.code(), Some(0), "fsize must stop a 2 MiB file");
}

#[test]
fn normal_programs_keep_working_under_every_layer() {
    let sb = start(SandboxConfig::new());
    // A file, not -c: multiprocessing's spawn start method re-imports the main module.
    let script = r#"
import asyncio, multiprocessing as mp, sqlite3, subprocess, tempfile, threading

def square(x):
    return x * x

async def echo_round_trip():
    async def echo(r, w):
        w.write(await r.readline()); await w.drain(); w.close()
    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    r, w = await asyncio.open_connection(*srv.sockets[0].getsockname()[:2])
    w.write(b"ping\n"); await w.drain()
    return (await r.readline()).decode().strip()

if __name__ == "__main__":
    results = []
    ts = [threading.Thread(target=lambda i=i: results.append(i)) for i in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print("threads", len(results))
    for method in ("fork", "spawn"):
        with mp.get_context(method).Pool(2) as pool:
            print(method, sum(pool.map(square, range(10))))
    print("subprocess", subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout.strip())
    print("asyncio", asyncio.run(echo_round_trip()))
    db = sqlite3.connect(tempfile.mktemp(suffix=".db"))
    db.execute("create table t(x)"); db.execute("insert into t values (42)")
    print("sqlite", db.execute("select x from t").fetchone()[0])
    with tempfile.NamedTemporaryFile() as f:
        print("tempfile", bool(f.name))
"#;
    sb.write_file("/workspace/programs.py", script.as_bytes()).unwrap();
    let out = sb
        .exec(&ExecRequest::new(["python3", "/workspace/programs.py"]).timeout(std::time::Duration::from_secs(60)))
        .unwrap();
    assert!(!out.timed_out, "stdout {} stderr {}", out.stdout_text(), out.stderr_text());
    assert_eq!(
        out.stdout_text().trim(),
        "threads 8\nfork 285\nspawn 285\nsubprocess hi\nasyncio ping\nsqlite 42\ntempfile True",
        "stderr: {}",
        out.stderr_text()
    );
}

#[test]
fn normal_programs_a_c_program_compiled_inside_runs() {
    let sb = start(SandboxConfig::new());
    sb.write_file("/workspace/hello.c", b"#include <stdio.h>\nint main(void){puts(\"compiled inside\");return 0;}\n").unwrap();
    let out = sh(&sb, "cd /workspace && gcc -O1 -o hello hello.c 2>&1 && ./hello");
    assert_eq!(out.stdout_text(), "compiled inside\n", "stderr: {}", out.stderr_text());
}

#[test]
fn security_report_is_verified_from_inside_field_by_field() {
    let sb = start(SandboxConfig::new());
    let report = sb.security_report().unwrap();
    assert!(report.fully_enforced(), "{report:#?}");
    assert!(report.warnings.is_empty());
    for ns in ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let l = report.layer(&format!("{ns}_namespace")).unwrap();
        assert!(l.requested && l.enforced, "{l:?}");
        assert!(l.verified.starts_with(&format!("inside {ns}:[")), "{l:?}");
    }
    let nnp = report.layer("no_new_privs").unwrap();
    assert_eq!(nnp.verified, "/proc/self/status: NoNewPrivs: 1");
    let caps = report.layer("capabilities").unwrap();
    assert!(caps.enforced);
    assert!(caps.verified.contains("CapBnd 0000000000000000"), "{caps:?}");
    let seccomp = report.layer("seccomp").unwrap();
    assert!(seccomp.enforced && seccomp.verified.starts_with("/proc/self/status: Seccomp: 2, Seccomp_filters: 2"), "{seccomp:?}");
    let landlock = report.layer("landlock").unwrap();
    assert!(landlock.enforced, "{landlock:?}");
    assert!(landlock.verified.contains(&format!("ABI {}", nucleus_core::landlock::kernel_abi())), "{landlock:?}");
    let rlimits = report.layer("rlimits").unwrap();
    assert_eq!(rlimits.verified, "/proc/self/limits: open files 4096, core 0");
    assert!(report.layer("uid_map").unwrap().enforced);
    assert!(report.layer("read_only_root").unwrap().enforced);
    assert!(sb.warnings().is_empty());

    // A layer switched off shows as not requested, and the rest still hold.
    let off = SecurityConfig {
        seccomp: SeccompConfig { mode: SeccompMode::Off, ..SeccompConfig::default() },
        landlock: false,
        ..SecurityConfig::default()
    };
    let sb = start(SandboxConfig::new().security(off));
    let report = sb.security_report().unwrap();
    let seccomp = report.layer("seccomp").unwrap();
    assert!(!seccomp.requested && !seccomp.enforced);
    assert!(seccomp.verified.contains("Seccomp: 0"), "{seccomp:?}");
    assert!(!report.layer("landlock").unwrap().requested);
    assert!(report.fully_enforced());
}
