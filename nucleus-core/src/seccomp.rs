//! seccomp-bpf: which system calls sandboxed commands may make.
//!
//! The caller compiles the filters ([`SeccompPlan::compile`]) — the built-in allowlist,
//! comparable to Docker's default profile, or a user profile in the OCI/Docker JSON format
//! — into BPF programs; each command's child process installs them ([`SeccompPlan::apply`])
//! right before `execve`. Denied calls fail with an errno (EPERM), never a kill; `clone3`
//! fails with ENOSYS so libc falls back to `clone`, whose flags the filter can inspect.
//! Foreign architectures (i386 via `int 0x80`) are killed by the architecture check, and
//! x32 numbers never match the allowlist.

use std::collections::BTreeMap;
use std::path::Path;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

use crate::config::{SeccompConfig, SeccompMode};
use crate::error::{Error, Result};

/// Compiled filters, in the order they are installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompPlan {
    /// Enforce or log.
    pub mode: SeccompMode,
    /// Where the rules came from: `default` or the profile's path.
    pub source: String,
    /// BPF programs, each instruction packed as `code << 48 | jt << 40 | jf << 32 | k`.
    pub programs: Vec<Vec<u64>>,
}

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// The namespace-creating clone flags a sandboxed `clone` may not pass.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64
    | 0x80; // CLONE_NEWTIME

/// System calls the built-in profile allows without conditions. Everything else fails
/// with EPERM: mount and the new mount API, pivot_root, unshare, setns, ptrace,
/// process_vm_*, kcmp, pidfd_getfd, keyctl, add_key, request_key, bpf, perf_event_open,
/// userfaultfd, io_uring_*, open_by_handle_at, kexec_*, *_module, reboot, swapon/off,
/// acct, settimeofday, clock_settime/adjtime, adjtimex, syslog, quotactl, iopl/ioperm,
/// chroot, sethostname, setdomainname, fanotify_init, vhangup, and the rest.
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep",
    "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
    "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
    "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
    "futex_waitv", "futimesat", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu",
    "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname",
    "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
    "io_getevents", "io_pgetevents", "io_setup", "io_submit", "ioprio_get", "ioprio_set", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "madvise", "membarrier", "memfd_create", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
    "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
    "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
    "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsuid", "setgid",
    "setgroups", "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid",
    "setreuid", "setrlimit", "setsid", "setsockopt", "setuid", "setxattr", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "socketpair",
    "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime",
    "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimes", "vfork", "wait4", "waitid", "write", "writev",
];

/// Validate the seccomp section of a config (the profile is read at compile time).
pub(crate) fn validate(config: &SeccompConfig) -> Result<()> {
    if let Some(hash) = &config.profile_sha256 {
        if config.profile.is_none() {
            return Err(Error::config("security.seccomp.profile_sha256", "needs security.seccomp.profile"));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::config("security.seccomp.profile_sha256", "must be 64 hex digits"));
        }
    }
    if let Some(path) = &config.profile {
        if !path.is_absolute() {
            return Err(Error::config("security.seccomp.profile", "must be an absolute path"));
        }
    }
    Ok(())
}

impl SeccompPlan {
    /// Compile the filters a config asks for; `None` when seccomp is off.
    pub fn compile(config: &SeccompConfig, kept_caps: &[String]) -> Result<Option<SeccompPlan>> {
        if config.mode == SeccompMode::Off {
            return Ok(None);
        }
        let log = config.mode == SeccompMode::Log;
        let (source, filters) = match &config.profile {
            None => ("default".to_string(), default_filters(log)?),
            Some(path) => {
                let text = read_profile(path, config.profile_sha256.as_deref())?;
                (path.display().to_string(), profile_filters(&text, log, kept_caps)?)
            }
        };
        let programs = filters
            .into_iter()
            .map(|f| {
                let program: BpfProgram =
                    f.try_into().map_err(|e| Error::internal(format!("seccomp compile: {e}")))?;
                Ok(program.iter().map(pack).collect())
            })
            .collect::<Result<_>>()?;
        Ok(Some(SeccompPlan { mode: config.mode, source, programs }))
    }

    /// The programs, ready to install (done once, before any fork).
    pub(crate) fn programs(&self) -> Vec<BpfProgram> {
        self.programs.iter().map(|p| p.iter().map(|&i| unpack(i)).collect()).collect()
    }
}

/// Install `programs` on the calling thread, in order. Needs `no_new_privs`.
pub(crate) fn apply(programs: &[BpfProgram]) -> std::result::Result<(), i32> {
    for program in programs {
        if seccompiler::apply_filter(program).is_err() {
            return Err(crate::sys::errno());
        }
    }
    Ok(())
}

fn pack(i: &seccompiler::sock_filter) -> u64 {
    (i.code as u64) << 48 | (i.jt as u64) << 40 | (i.jf as u64) << 32 | i.k as u64
}

fn unpack(i: u64) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code: (i >> 48) as u16, jt: (i >> 40) as u8, jf: (i >> 32) as u8, k: i as u32 }
}

/// The number of system call `name` on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    crate::syscalls::number(name)
}

fn cond(index: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value).expect("argument index below 6")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("conditions are not empty")
}

fn filter(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<SeccompFilter> {
    SeccompFilter::new(rules, mismatch, matched, ARCH).map_err(|e| Error::internal(format!("seccomp filter: {e}")))
}

/// The built-in profile: an allowlist (EPERM for the rest) and a second filter that
/// turns `clone3` into ENOSYS. Both return ERRNO for `clone3`; the kernel then takes the
/// data of the filter installed last.
fn default_filters(log: bool) -> Result<Vec<SeccompFilter>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for name in ALLOWED {
        if let Some(nr) = syscall_number(name) {
            rules.insert(nr, vec![]);
        }
    }
    let mut add = |name: &str, alternatives: Vec<SeccompRule>| {
        if let Some(nr) = syscall_number(name) {
            rules.insert(nr, alternatives);
        }
    };
    // Sockets: local, IPv4 and IPv6 only (no raw packet sockets, no netlink).
    add(
        "socket",
        [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]
            .map(|family| rule(vec![cond(0, SeccompCmpOp::Eq, family as u64)]))
            .to_vec(),
    );
    // ioctl: not TIOCSTI (typing into the terminal) nor TIOCLINUX. The kernel truncates the
    // request to 32 bits, so comparing the low 32 bits is exact.
    add(
        "ioctl",
        vec![rule(vec![
            cond(1, SeccompCmpOp::Ne, libc::TIOCSTI),
            cond(1, SeccompCmpOp::Ne, libc::TIOCLINUX),
        ])],
    );
    // clone: threads and processes, never new namespaces.
    add("clone", vec![rule(vec![cond(0, SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)])]);
    // personality: only the harmless personas (and the query).
    add(
        "personality",
        [0u64, 0x0008, 0x20000, 0x20008, 0xffff_ffff]
            .map(|p| rule(vec![cond(0, SeccompCmpOp::Eq, p)]))
            .to_vec(),
    );
    let deny = if log { SeccompAction::Log } else { SeccompAction::Errno(libc::EPERM as u32) };
    let allowlist = filter(rules, deny, SeccompAction::Allow)?;
    let clone3 = BTreeMap::from([(syscall_number("clone3").expect("clone3 exists"), vec![])]);
    let clone3 = filter(clone3, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32))?;
    Ok(vec![allowlist, clone3])
}

fn read_profile(path: &Path, sha256: Option<&str>) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::config("security.seccomp.profile", format!("{}: {e}", path.display()))
    })?;
    if let Some(expected) = sha256 {
        use sha2::Digest;
        let actual: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::config(
                "security.seccomp.profile_sha256",
                format!("{} has sha256 {actual}, expected {expected}", path.display()),
            ));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::config("security.seccomp.profile", format!("{} is not UTF-8", path.display())))
}

/// A profile in the OCI / Docker JSON format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    syscalls: Vec<ProfileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileEntry {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<ProfileArg>,
    #[serde(default)]
    includes: Filters,
    #[serde(default)]
    excludes: Filters,
}

#[derive(Debug, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileArg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// This architecture's names in profiles.
const PROFILE_ARCH_NAMES: &[&str] = if cfg!(target_arch = "x86_64") {
    &["SCMP_ARCH_X86_64", "amd64", "x86_64"]
} else {
    &["SCMP_ARCH_AARCH64", "arm64", "aarch64"]
};

fn action(name: &str, errno: Option<u32>, default_errno: u32, field: &str) -> Result<SeccompAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(default_errno)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(0)),
        other => return Err(Error::config(field, format!("unknown action {other:?}"))),
    })
}

fn arg_condition(arg: &ProfileArg, field: &str) -> Result<SeccompCondition> {
    let op = match arg.op.as_str() {
        "SCMP_CMP_EQ" => SeccompCmpOp::Eq,
        "SCMP_CMP_NE" => SeccompCmpOp::Ne,
        "SCMP_CMP_LT" => SeccompCmpOp::Lt,
        "SCMP_CMP_LE" => SeccompCmpOp::Le,
        "SCMP_CMP_GT" => SeccompCmpOp::Gt,
        "SCMP_CMP_GE" => SeccompCmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => SeccompCmpOp::MaskedEq(arg.value),
        other => return Err(Error::config(field, format!("unknown op {other:?}"))),
    };
    let value = if arg.op == "SCMP_CMP_MASKED_EQ" { arg.value_two } else { arg.value };
    SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| Error::config(field, format!("bad argument condition: {e}")))
}

/// Compile a Docker/OCI profile. One filter per action: each matches its own entries and
/// allows the rest, and a first filter applies the default action to every call no entry
/// names (and to calls whose allow-entries' conditions fail). Where filters disagree the
/// kernel takes the strictest action.
fn profile_filters(text: &str, log: bool, kept_caps: &[String]) -> Result<Vec<SeccompFilter>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let profile: Profile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        Error::config(format!("security.seccomp.profile: {}", e.path()), e.inner().to_string())
    })?;
    if !profile.architectures.is_empty()
        && !profile.architectures.iter().any(|a| PROFILE_ARCH_NAMES.contains(&a.as_str()))
    {
        return Err(Error::config(
            "security.seccomp.profile: architectures",
            format!("does not list this architecture ({})", PROFILE_ARCH_NAMES[0]),
        ));
    }
    let default_errno = profile.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let soften = |a: SeccompAction| if log && a != SeccompAction::Allow { SeccompAction::Log } else { a };
    let default = soften(action(&profile.default_action, None, default_errno, "security.seccomp.profile: defaultAction")?);
    // Per call: `None` matches unconditionally, `Some(rules)` when any rule matches.
    type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;
    let mut allowed: Rules = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, Rules)> = Vec::new();
    for (i, entry) in profile.syscalls.iter().enumerate() {
        let field = format!("security.seccomp.profile: syscalls[{i}]");
        let applies = entry.includes.caps.iter().all(|c| kept_caps.contains(c))
            && !entry.excludes.caps.iter().any(|c| kept_caps.contains(c))
            && (entry.includes.arches.is_empty()
                || entry.includes.arches.iter().any(|a| PROFILE_ARCH_NAMES.contains(&a.as_str())))
            && !entry.excludes.arches.iter().any(|a| PROFILE_ARCH_NAMES.contains(&a.as_str()));
        let act = soften(action(&entry.action, entry.errno_ret, default_errno, &format!("{field}.action"))?);
        let conditions = entry
            .args
            .iter()
            .enumerate()
            .map(|(j, a)| arg_condition(a, &format!("{field}.args[{j}]")))
            .collect::<Result<Vec<_>>>()?;
        if entry.names.is_empty() && entry.name.is_none() {
            return Err(Error::config(format!("{field}.names"), "names no system call"));
        }
        if !applies {
            continue;
        }
        let target = if act == SeccompAction::Allow {
            &mut allowed
        } else {
            if !by_action.iter().any(|(a, _)| *a == act) {
                by_action.push((act.clone(), BTreeMap::new()));
            }
            &mut by_action.iter_mut().find(|(a, _)| *a == act).expect("present").1
        };
        // Names of calls this architecture lacks are skipped, as libseccomp does.
        for nr in entry.names.iter().chain(&entry.name).filter_map(|n| syscall_number(n)) {
            let alternatives = target.entry(nr).or_insert_with(|| Some(Vec::new()));
            match (alternatives, conditions.is_empty()) {
                (Some(rules), false) => rules.push(rule(conditions.clone())),
                (slot, true) => *slot = None,
                (None, false) => {}
            }
        }
    }
    let finish = |rules: Rules| -> BTreeMap<i64, Vec<SeccompRule>> {
        rules.into_iter().map(|(nr, r)| (nr, r.unwrap_or_default())).collect()
    };
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        // Calls handled by an action filter pass this one, unless an allow entry narrowed them.
        for (_, rules) in &by_action {
            for nr in rules.keys() {
                allowed.entry(*nr).or_insert(None);
            }
        }
        filters.push(filter(finish(allowed), default.clone(), SeccompAction::Allow)?);
    }
    for (act, rules) in by_action {
        if act != default {
            filters.push(filter(finish(rules), SeccompAction::Allow, act)?);
        }
    }
    if filters.is_empty() {
        return Err(Error::config("security.seccomp.profile", "allows everything; use mode \"off\" instead"));
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile `profile` from a file in a directory that is removed again.
    fn compile(profile: &str) -> Result<Option<SeccompPlan>> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nucleus-seccomp-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("profile.json");
        std::fs::write(&path, profile).unwrap();
        let config = SeccompConfig { profile: Some(path), ..SeccompConfig::default() };
        let result = SeccompPlan::compile(&config, &[]);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn default_profile_compiles_to_two_programs() {
        let plan = SeccompPlan::compile(&SeccompConfig::default(), &[]).unwrap().unwrap();
        assert_eq!(plan.source, "default");
        assert_eq!(plan.programs.len(), 2);
        assert!(plan.programs[0].len() > 200, "an allowlist of a few hundred calls");
        let restored = plan.programs();
        assert_eq!(restored[0].iter().map(pack).collect::<Vec<_>>(), plan.programs[0]);
    }

    #[test]
    fn escape_calls_are_not_on_the_allowlist() {
        for name in [
            "mount", "umount2", "pivot_root", "unshare", "setns", "ptrace", "process_vm_readv",
            "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
            "io_uring_setup", "open_by_handle_at", "kexec_load", "init_module", "reboot",
            "swapon", "acct", "settimeofday", "clock_settime", "fsopen", "open_tree", "move_mount",
            "chroot", "clone3",
        ] {
            assert!(!ALLOWED.contains(&name), "{name} is allowed");
            assert!(syscall_number(name).is_some(), "{name} unknown");
        }
        for name in ALLOWED {
            assert!(syscall_number(name).is_some(), "{name} unknown on this architecture");
        }
    }

    #[test]
    fn off_compiles_to_nothing() {
        let config = SeccompConfig { mode: SeccompMode::Off, ..SeccompConfig::default() };
        assert_eq!(SeccompPlan::compile(&config, &[]).unwrap(), None);
    }

    #[test]
    fn docker_profile_compiles_one_filter_per_action() {
        let plan = compile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.programs.len(), 1);
        let plan = compile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read", "write", "not_a_call_here"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.programs.len(), 2);
    }

    #[test]
    fn malformed_profiles_name_the_entry() {
        let e = compile(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).unwrap_err();
        assert_eq!(e.to_string(), "invalid config: security.seccomp.profile: defaultAction: unknown action \"SCMP_ACT_NOPE\"");
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["write"], "action": "ALLOW"}]}"#).unwrap_err();
        assert_eq!(e.field(), Some("security.seccomp.profile: syscalls[1].action"));
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}"#).unwrap_err();
        assert_eq!(e.field(), Some("security.seccomp.profile: syscalls[0].args[0]"));
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}"#).unwrap_err();
        assert!(e.field().unwrap().starts_with("security.seccomp.profile: syscalls[0].names"), "{e}");
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_PPC"]}"#).unwrap_err();
        assert_eq!(e.field(), Some("security.seccomp.profile: architectures"));
        let e = compile("{not json").unwrap_err();
        assert!(e.field().unwrap().starts_with("security.seccomp.profile"), "{e}");
    }

    #[test]
    fn pinned_hash_must_match() {
        let dir = std::env::temp_dir().join(format!("nucleus-seccomp-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.json");
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#).unwrap();
        let config = SeccompConfig { profile: Some(path.clone()), profile_sha256: Some("0".repeat(64)), ..Default::default() };
        let e = SeccompPlan::compile(&config, &[]).unwrap_err();
        assert_eq!(e.field(), Some("security.seccomp.profile_sha256"));
        use sha2::Digest;
        let real: String = sha2::Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
        let config = SeccompConfig { profile_sha256: Some(real), ..config };
        assert!(SeccompPlan::compile(&config, &[]).unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
