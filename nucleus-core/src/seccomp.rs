//! seccomp-bpf: which system calls sandboxed commands may make.
//!
//! The caller compiles the filters ([`SeccompPlan::compile`]) — the built-in allowlist,
//! comparable to Docker's default profile, or a user profile in the OCI/Docker JSON format
//! — into BPF programs; the sandbox's init installs them once, and every command inherits
//! them. Denied calls fail with an errno (EPERM), never a kill; `clone3` fails with ENOSYS
//! so libc falls back to `clone`, whose flags the filter can inspect. Foreign
//! architectures (i386 via `int 0x80`) are killed by the architecture check, and x32
//! numbers never match the allowlist.
//!
//! A filter finds a call's verdict by binary search over ranges of consecutive call
//! numbers, not by a chain of one comparison per call. Each time a sandbox starts, the
//! kernel checks and JIT-compiles the program and runs it once per call number to build
//! its cache of always-allowed calls, so the program's length is paid for at every start,
//! and its depth at every call the cache does not answer.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bpf::{self, Cmp, Label};
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

/// This architecture's `AUDIT_ARCH_*` value, as `seccomp_data.arch` carries it.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Byte offsets into `struct seccomp_data`: `{ int nr; u32 arch; u64 ip; u64 args[6]; }`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const ARGS_OFFSET: u32 = 16;

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
    /// Compile the filters a config asks for; `None` when seccomp is off. A profile is
    /// read again every time (it may have changed), but compiled only once per content.
    pub fn compile(config: &SeccompConfig, kept_caps: &[String]) -> Result<Option<SeccompPlan>> {
        if config.mode == SeccompMode::Off {
            return Ok(None);
        }
        let (source, profile) = match &config.profile {
            None => ("default".to_string(), None),
            Some(path) => (path.display().to_string(), Some(read_profile(path, config.profile_sha256.as_deref())?)),
        };
        let from = Source { log: config.mode == SeccompMode::Log, profile, kept_caps: kept_caps.to_vec() };
        Ok(Some(SeccompPlan { mode: config.mode, source, programs: from.programs()? }))
    }

    /// The programs, ready to install (done once, before any fork).
    pub(crate) fn programs(&self) -> Vec<Vec<bpf::Insn>> {
        self.programs.iter().map(|p| p.iter().map(|&i| bpf::Insn::unpack(i)).collect()).collect()
    }
}

/// What a set of programs is compiled from.
#[derive(Debug, PartialEq, Eq)]
struct Source {
    log: bool,
    /// The text of the profile; `None` for the built-in one.
    profile: Option<String>,
    /// Profile entries may apply only with some capability kept.
    kept_caps: Vec<String>,
}

/// How many compiled sources a process keeps; callers mostly use one or two.
const KEPT_PROGRAMS: usize = 8;

impl Source {
    /// The packed programs, compiled unless this source was compiled before.
    fn programs(self) -> Result<Vec<Vec<u64>>> {
        use std::sync::{Mutex, PoisonError};
        static COMPILED: Mutex<Vec<(Source, Vec<Vec<u64>>)>> = Mutex::new(Vec::new());
        let compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, programs)) = compiled.iter().find(|(source, _)| *source == self) {
            return Ok(programs.clone());
        }
        drop(compiled);
        let programs = self.compile()?;
        let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        if compiled.len() == KEPT_PROGRAMS {
            compiled.remove(0);
        }
        compiled.push((self, programs.clone()));
        Ok(programs)
    }

    fn compile(&self) -> Result<Vec<Vec<u64>>> {
        let filters = match &self.profile {
            None => default_filters(self.log),
            Some(text) => profile_filters(text, self.log, &self.kept_caps)?,
        };
        filters
            .iter()
            .map(|f| {
                let program = f.program();
                if program.len() > libc::BPF_MAXINSNS as usize {
                    return Err(Error::config(
                        "security.seccomp.profile",
                        format!("a filter takes {} BPF instructions, the kernel at most {}", program.len(), libc::BPF_MAXINSNS),
                    ));
                }
                Ok(program.into_iter().map(bpf::Insn::pack).collect())
            })
            .collect()
    }
}

/// Install `programs` on the calling thread, in order. Needs `no_new_privs`.
pub(crate) fn apply(programs: &[Vec<bpf::Insn>]) -> std::result::Result<(), i32> {
    for program in programs {
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
        };
        // SAFETY: `Insn` has the layout of `sock_filter`, `fprog` points at `program` with
        // its length, and the kernel only reads it.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const libc::sock_fprog)
        };
        if rc != 0 {
            return Err(crate::sys::errno());
        }
    }
    Ok(())
}

/// The number of system call `name` on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    crate::syscalls::number(name)
}

/// What a filter tells the kernel to do with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    /// The filter's return value: `SECCOMP_RET_*` and its 16 bits of data.
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | (errno & libc::SECCOMP_RET_DATA),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Trace(data) => libc::SECCOMP_RET_TRACE | (data & libc::SECCOMP_RET_DATA),
        }
    }
}

/// How a condition compares an argument with its value (unsigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == value & mask`.
    MaskedEq(u64),
}

/// A test of one argument of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cond {
    /// Which argument, 0 to 5.
    arg: u8,
    op: Op,
    value: u64,
    /// Compare the low 32 bits only: the kernel truncates `int` arguments itself, so
    /// garbage in the high half must not change the verdict.
    low32: bool,
}

/// The calls a filter names, by number, each with its alternatives: it matches when all
/// conditions of any alternative hold; with no alternatives, always.
type Calls = BTreeMap<u32, Vec<Vec<Cond>>>;

/// One filter: the calls it names that match get `matched`, everything else `otherwise`
/// (after the architecture check, which kills the process).
#[derive(Debug)]
struct Filter {
    calls: Calls,
    matched: Action,
    otherwise: Action,
}

/// What a range of call numbers leads to.
#[derive(Debug, PartialEq)]
enum Leaf<'a> {
    Return(Action),
    /// The alternatives of the one call in the range, or of adjacent calls with the same.
    Test(&'a [Vec<Cond>]),
}

impl Filter {
    fn program(&self) -> Vec<bpf::Insn> {
        let mut b = bpf::Builder::default();
        let dispatch = b.ranges(&self.ranges(), &mut |b, leaf| match leaf {
            Leaf::Return(action) => b.ret(action.ret()),
            Leaf::Test(alternatives) => {
                let matched = b.ret(self.matched.ret());
                let otherwise = b.ret(self.otherwise.ret());
                any_alternative(b, alternatives, matched, otherwise)
            }
        });
        let nr = b.load(NR_OFFSET, dispatch);
        let foreign = b.ret(libc::SECCOMP_RET_KILL_PROCESS);
        let arch = b.jump(Cmp::Eq, AUDIT_ARCH, nr, foreign);
        let entry = b.load(ARCH_OFFSET, arch);
        b.finish(entry)
    }

    /// The call numbers as ranges with one leaf each, adjacent equal leaves merged: an
    /// allowlist is mostly runs of consecutive calls.
    fn ranges(&self) -> Vec<(u32, Leaf<'_>)> {
        fn set<'a>(ranges: &mut Vec<(u32, Leaf<'a>)>, start: u32, leaf: Leaf<'a>) {
            if ranges.last().is_some_and(|&(s, _)| s == start) {
                ranges.pop();
            }
            if ranges.last().map(|(_, l)| l) != Some(&leaf) {
                ranges.push((start, leaf));
            }
        }
        let mut ranges = Vec::new();
        set(&mut ranges, 0, Leaf::Return(self.otherwise));
        for (&nr, alternatives) in &self.calls {
            let leaf = if alternatives.is_empty() { Leaf::Return(self.matched) } else { Leaf::Test(alternatives) };
            set(&mut ranges, nr, leaf);
            if let Some(next) = nr.checked_add(1) {
                set(&mut ranges, next, Leaf::Return(self.otherwise));
            }
        }
        ranges
    }
}

/// Code that goes to `yes` when all conditions of any alternative hold, else to `no`.
fn any_alternative(b: &mut bpf::Builder, alternatives: &[Vec<Cond>], yes: Label, no: Label) -> Label {
    alternatives.iter().rev().fold(no, |next_alternative, conds| {
        conds.iter().rev().fold(yes, |next_cond, cond| cond.code(b, next_cond, next_alternative))
    })
}

impl Cond {
    /// Code that goes to `yes` when the condition holds, else to `no`. A 64-bit argument
    /// is compared as its two 32-bit words, the high one first.
    fn code(&self, b: &mut bpf::Builder, yes: Label, no: Label) -> Label {
        // Little-endian: the low word first.
        let low = ARGS_OFFSET + 8 * self.arg as u32;
        let high = low + 4;
        let (negated, mask, order) = match self.op {
            Op::Eq => (false, u64::MAX, None),
            Op::Ne => (true, u64::MAX, None),
            Op::MaskedEq(mask) => (false, mask, None),
            Op::Gt => (false, 0, Some(Cmp::Gt)),
            Op::Ge => (false, 0, Some(Cmp::Ge)),
            Op::Le => (true, 0, Some(Cmp::Gt)),
            Op::Lt => (true, 0, Some(Cmp::Ge)),
        };
        let (yes, no) = if negated { (no, yes) } else { (yes, no) };
        let value = self.value;
        match order {
            None => {
                // Without its high word the mask compares only the low one.
                let mask = if self.low32 { mask & 0xffff_ffff } else { mask };
                let low_equal = word_equal(b, low, mask as u32, value as u32, yes, no);
                word_equal(b, high, (mask >> 32) as u32, (value >> 32) as u32, low_equal, no)
            }
            Some(cmp) => {
                let low_cmp = b.jump(cmp, value as u32, yes, no);
                let low_word = b.load(low, low_cmp);
                if self.low32 {
                    return low_word;
                }
                // Above in the high word decides; equal there leaves it to the low word.
                let high_equal = b.jump(Cmp::Eq, (value >> 32) as u32, low_word, no);
                let high_above = b.jump(Cmp::Gt, (value >> 32) as u32, yes, high_equal);
                b.load(high, high_above)
            }
        }
    }
}

/// Code that goes to `yes` when the word at `offset`, masked, equals `value` masked.
fn word_equal(b: &mut bpf::Builder, offset: u32, mask: u32, value: u32, yes: Label, no: Label) -> Label {
    if mask == 0 {
        return yes;
    }
    let equal = b.jump(Cmp::Eq, value & mask, yes, no);
    let masked = if mask == u32::MAX { equal } else { b.and(mask, equal) };
    b.load(offset, masked)
}

/// A condition on the low 32 bits of argument `arg`, as the built-in profile uses.
fn cond(arg: u8, op: Op, value: u64) -> Cond {
    Cond { arg, op, value, low32: true }
}

/// The built-in profile: an allowlist (EPERM for the rest) and a second filter that
/// turns `clone3` into ENOSYS. Both return ERRNO for `clone3`; the kernel then takes the
/// data of the filter installed last.
fn default_filters(log: bool) -> Vec<Filter> {
    let mut calls = Calls::new();
    let mut add = |name: &str, alternatives: Vec<Vec<Cond>>| {
        if let Some(nr) = syscall_number(name) {
            calls.insert(nr as u32, alternatives);
        }
    };
    for name in ALLOWED {
        add(name, vec![]);
    }
    // Sockets: local, IPv4 and IPv6 only (no raw packet sockets, no netlink).
    add("socket", [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6].map(|family| vec![cond(0, Op::Eq, family as u64)]).to_vec());
    // ioctl: not TIOCSTI (typing into the terminal) nor TIOCLINUX. The kernel truncates the
    // request to 32 bits, so comparing the low 32 bits is exact.
    add("ioctl", vec![vec![cond(1, Op::Ne, libc::TIOCSTI), cond(1, Op::Ne, libc::TIOCLINUX)]]);
    // clone: threads and processes, never new namespaces.
    add("clone", vec![vec![cond(0, Op::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)]]);
    // personality: only the harmless personas (and the query).
    add("personality", [0u64, 0x0008, 0x20000, 0x20008, 0xffff_ffff].map(|p| vec![cond(0, Op::Eq, p)]).to_vec());
    let deny = if log { Action::Log } else { Action::Errno(libc::EPERM as u32) };
    let allowlist = Filter { calls, matched: Action::Allow, otherwise: deny };
    let clone3 = Calls::from([(syscall_number("clone3").expect("clone3 exists") as u32, vec![])]);
    let clone3 = Filter { calls: clone3, matched: Action::Errno(libc::ENOSYS as u32), otherwise: Action::Allow };
    vec![allowlist, clone3]
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

fn action(name: &str, errno: Option<u32>, default_errno: u32, field: &str) -> Result<Action> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(default_errno)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(0)),
        other => return Err(Error::config(field, format!("unknown action {other:?}"))),
    })
}

fn arg_condition(arg: &ProfileArg, field: &str) -> Result<Cond> {
    let op = match arg.op.as_str() {
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq(arg.value),
        other => return Err(Error::config(field, format!("unknown op {other:?}"))),
    };
    if arg.index > 5 {
        return Err(Error::config(field, format!("argument index {} is above 5", arg.index)));
    }
    let value = if let Op::MaskedEq(_) = op { arg.value_two } else { arg.value };
    Ok(Cond { arg: arg.index, op, value, low32: false })
}

/// Per call: `None` matches unconditionally, `Some(alternatives)` when any holds.
type Rules = BTreeMap<u32, Option<Vec<Vec<Cond>>>>;

/// Let the calls `nrs` match `rules` also when `conditions` hold (always, with none).
fn add_alternative(rules: &mut Rules, nrs: &[u32], conditions: &[Cond]) {
    for &nr in nrs {
        match (rules.entry(nr).or_insert_with(|| Some(Vec::new())), conditions.is_empty()) {
            (Some(alternatives), false) => alternatives.push(conditions.to_vec()),
            (slot, true) => *slot = None,
            (None, false) => {}
        }
    }
}

/// Compile a Docker/OCI profile. A call gets the strictest action of the entries that
/// match it, or the default action when none does. As filters: a first one applies the
/// default action to calls no entry matches, and one per action other than allow applies
/// it where its entries match. The kernel takes the strictest verdict, and of equally
/// strict ones (two errno values) that of the filter installed last: the action that
/// first appears later in the profile.
fn profile_filters(text: &str, log: bool, kept_caps: &[String]) -> Result<Vec<Filter>> {
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
    let soften = |a: Action| if log && a != Action::Allow { Action::Log } else { a };
    let default = soften(action(&profile.default_action, None, default_errno, "security.seccomp.profile: defaultAction")?);
    let mut any_entry = Rules::new();
    let mut by_action: Vec<(Action, Rules)> = Vec::new();
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
        // Names of calls this architecture lacks are skipped, as libseccomp does.
        let nrs: Vec<u32> =
            entry.names.iter().chain(&entry.name).filter_map(|n| syscall_number(n)).map(|nr| nr as u32).collect();
        add_alternative(&mut any_entry, &nrs, &conditions);
        if act != Action::Allow {
            let rules = match by_action.iter().position(|(a, _)| *a == act) {
                Some(i) => &mut by_action[i].1,
                None => {
                    by_action.push((act, Rules::new()));
                    &mut by_action.last_mut().expect("just pushed").1
                }
            };
            add_alternative(rules, &nrs, &conditions);
        }
    }
    let finish = |rules: Rules| -> Calls { rules.into_iter().map(|(nr, r)| (nr, r.unwrap_or_default())).collect() };
    let mut filters = Vec::new();
    if default != Action::Allow {
        filters.push(Filter { calls: finish(any_entry), matched: Action::Allow, otherwise: default });
    }
    // The default action's own entries too: where they match, another entry's weaker
    // action must not win.
    filters.extend(by_action.into_iter().map(|(act, rules)| Filter { calls: finish(rules), matched: act, otherwise: Action::Allow }));
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
        let restored = plan.programs();
        assert_eq!(restored[0].iter().map(|i| i.pack()).collect::<Vec<_>>(), plan.programs[0]);
    }

    #[test]
    fn default_allowlist_is_a_short_range_search() {
        let filters = default_filters(false);
        let ranges = filters[0].ranges().len();
        let lengths: Vec<usize> = filters.iter().map(|f| f.program().len()).collect();
        println!("default profile: {ranges} ranges, programs of {lengths:?} instructions");
        // On x86_64: 74 ranges, 102 instructions (a chain of one comparison per call: 1471).
        assert!(ranges < 100, "{ranges} ranges");
        assert!(lengths[0] < 150, "{lengths:?}");
        assert!(lengths[1] < 10, "{lengths:?}");
    }

    const DATA_LEN: usize = 64;

    /// `struct seccomp_data` for the interpreter.
    fn data(arch: u32, nr: u32, args: [u64; 6]) -> Vec<u8> {
        let mut d = [nr.to_ne_bytes(), arch.to_ne_bytes()].concat();
        d.extend(0u64.to_ne_bytes());
        args.iter().for_each(|a| d.extend(a.to_ne_bytes()));
        d
    }

    /// What the kernel does when several filters are installed: the strictest action wins,
    /// and among equally strict ones the filter installed last.
    fn kernel_verdict(programs: &[Vec<bpf::Insn>], data: &[u8]) -> u32 {
        let strictness = |ret: u32| (ret & libc::SECCOMP_RET_ACTION_FULL) as i32;
        programs.iter().map(|p| bpf::run(p, data)).fold(libc::SECCOMP_RET_ALLOW, |best, ret| {
            if strictness(ret) <= strictness(best) { ret } else { best }
        })
    }

    /// A deterministic stream of argument vectors drawn from `values`.
    fn argument_samples(values: &[u64], count: usize) -> Vec<[u64; 6]> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut pick = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values[(state % values.len() as u64) as usize]
        };
        (0..count).map(|_| std::array::from_fn(|_| pick())).collect()
    }

    const X32: u32 = 0x4000_0000;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;

    #[test]
    fn default_programs_give_the_verdicts_of_the_policy() {
        let nr = |name: &str| syscall_number(name).unwrap() as u32;
        let allowed: Vec<u32> = ALLOWED.iter().map(|name| nr(name)).collect();
        let clone_flags = CLONE_NAMESPACE_FLAGS as u32;
        let tiocsti = libc::TIOCSTI as u32;
        let tioclinux = libc::TIOCLINUX as u32;
        // The policy, written out: the low 32 bits of an argument decide.
        let policy = |log: bool, call: u32, args: [u64; 6]| -> u32 {
            let (a0, a1) = (args[0] as u32, args[1] as u32);
            let allow = allowed.contains(&call)
                || (call == nr("socket") && [1, 2, 10].contains(&a0))
                || (call == nr("ioctl") && a1 != tiocsti && a1 != tioclinux)
                || (call == nr("clone") && a0 & clone_flags == 0)
                || (call == nr("personality") && [0, 8, 0x20000, 0x20008, 0xffff_ffff].contains(&a0));
            if call == nr("clone3") {
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
            } else if allow {
                libc::SECCOMP_RET_ALLOW
            } else if log {
                libc::SECCOMP_RET_LOG
            } else {
                libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
            }
        };
        let values = [
            0, 1, 2, 8, 10, 16, 17, 0x20000, 0x20008, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001,
            0x8_0000_000a, u64::MAX, libc::TIOCSTI, libc::TIOCLINUX, libc::TIOCGWINSZ,
            libc::TIOCSTI | 1 << 32, (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64,
            (libc::CLONE_VM | libc::CLONE_THREAD | libc::SIGCHLD) as u64, 0x80, 0x7_0000_0011,
        ];
        let mut samples = argument_samples(&values, 300);
        samples.extend(values.iter().map(|&v| [v; 6]));
        for log in [false, true] {
            let programs: Vec<_> = default_filters(log).iter().map(Filter::program).collect();
            programs.iter().for_each(|p| bpf::check(p, DATA_LEN));
            for call in 0..=512 {
                for &args in &samples {
                    let expected = policy(log, call, args);
                    assert_eq!(kernel_verdict(&programs, &data(AUDIT_ARCH, call, args)), expected, "call {call} {args:x?}");
                    // x32 numbers are never allowed, clone3 included.
                    let x32 = if log { libc::SECCOMP_RET_LOG } else { libc::SECCOMP_RET_ERRNO | libc::EPERM as u32 };
                    assert_eq!(kernel_verdict(&programs, &data(AUDIT_ARCH, call | X32, args)), x32, "x32 call {call}");
                    assert_eq!(
                        kernel_verdict(&programs, &data(AUDIT_ARCH_I386, call, args)),
                        libc::SECCOMP_RET_KILL_PROCESS,
                        "i386 call {call}"
                    );
                }
            }
        }
    }

    impl Cond {
        fn holds(&self, args: &[u64; 6]) -> bool {
            let width = if self.low32 { 0xffff_ffff } else { u64::MAX };
            let (arg, value) = (args[self.arg as usize] & width, self.value & width);
            match self.op {
                Op::Eq => arg == value,
                Op::Ne => arg != value,
                Op::Lt => arg < value,
                Op::Le => arg <= value,
                Op::Gt => arg > value,
                Op::Ge => arg >= value,
                Op::MaskedEq(mask) => arg & mask == value & mask,
            }
        }

        /// Argument values at the edges of the condition, in both words.
        fn edges(&self) -> Vec<u64> {
            let v = self.value;
            let mut edges = vec![v, v.wrapping_add(1), v.wrapping_sub(1), v ^ 1 << 32, v ^ 1, v & 0xffff_ffff];
            edges.extend([v.wrapping_add(1 << 32), v.wrapping_sub(1 << 32), v | 0xffff_ffff, v & !0xffff_ffff]);
            if let Op::MaskedEq(mask) = self.op {
                edges.extend([v & mask, v & mask | !mask, (v ^ mask) & mask, v & mask & 0xffff_ffff]);
            }
            edges
        }
    }

    /// The verdict of `filter` by its table, without BPF.
    fn table_verdict(filter: &Filter, arch: u32, call: u32, args: &[u64; 6]) -> u32 {
        if arch != AUDIT_ARCH {
            return libc::SECCOMP_RET_KILL_PROCESS;
        }
        match filter.calls.get(&call) {
            Some(alternatives)
                if alternatives.is_empty() || alternatives.iter().any(|conds| conds.iter().all(|c| c.holds(args))) =>
            {
                filter.matched.ret()
            }
            _ => filter.otherwise.ret(),
        }
    }

    /// Check every filter's program against its table: every call number up to 512 and
    /// beyond the table, x32 and i386, and, for calls with conditions, arguments at the
    /// edges of every condition.
    fn check_against_tables(filters: &[Filter]) {
        for filter in filters {
            let program = filter.program();
            bpf::check(&program, DATA_LEN);
            let mut values: Vec<u64> = vec![0, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000];
            for conds in filter.calls.values().flatten().flatten() {
                values.extend(conds.edges());
            }
            values.sort_unstable();
            values.dedup();
            let samples = argument_samples(&values, 400);
            let calls = (0..=512).chain([X32, X32 | 1, X32 | 435, u32::MAX]);
            for call in calls {
                let conditional = filter.calls.get(&call).is_some_and(|alternatives| !alternatives.is_empty());
                let args: &[[u64; 6]] = if conditional { &samples } else { &samples[..3] };
                for args in args {
                    for arch in [AUDIT_ARCH, AUDIT_ARCH_I386] {
                        assert_eq!(
                            bpf::run(&program, &data(arch, call, *args)),
                            table_verdict(filter, arch, call, args),
                            "arch {arch:#x} call {call} args {args:x?} in {filter:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_programs_match_their_tables() {
        check_against_tables(&default_filters(false));
    }

    /// A profile entry as JSON.
    fn entry(names: &[&str], action: &str, args: &[(u8, &str, u64, u64)]) -> String {
        let args: Vec<String> = args
            .iter()
            .map(|(index, op, value, value_two)| {
                format!(r#"{{"index": {index}, "op": "SCMP_CMP_{op}", "value": {value}, "valueTwo": {value_two}}}"#)
            })
            .collect();
        format!(r#"{{"names": {names:?}, "action": "{action}", "args": [{}]}}"#, args.join(", "))
    }

    fn profile(default_action: &str, entries: &[String]) -> String {
        format!(r#"{{"defaultAction": "{default_action}", "syscalls": [{}]}}"#, entries.join(",\n"))
    }

    #[test]
    fn profile_programs_match_their_tables_for_every_comparison() {
        const ERRNO: &str = "SCMP_ACT_ERRNO";
        const ALLOW: &str = "SCMP_ACT_ALLOW";
        let big = 0x1234_5678_9abc_def0;
        let entries = [
            entry(&["read", "write", "close", "openat", "not_a_call_here"], ALLOW, &[]),
            entry(&["personality"], ALLOW, &[(0, "EQ", 8, 0)]),
            entry(&["personality"], ALLOW, &[(0, "EQ", big, 0)]),
            entry(&["mmap"], ALLOW, &[(2, "LE", 7, 0), (3, "NE", big, 0)]),
            entry(&["mprotect"], ALLOW, &[(2, "LT", big, 0)]),
            entry(&["munmap"], ALLOW, &[(1, "GT", 0x1_0000_0000, 0)]),
            entry(&["brk"], ALLOW, &[(0, "GE", 0xffff_ffff, 0)]),
            entry(&["clone"], ALLOW, &[(0, "MASKED_EQ", 0x7e02_0000_0000_0080, 0x0002_0000_0000_0000)]),
            entry(&["prctl"], ALLOW, &[(5, "MASKED_EQ", 0xffff_ffff_0000_0000, big)]),
            entry(&["ioctl"], ALLOW, &[(1, "MASKED_EQ", 0xff, 0x54)]),
            entry(&["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS", &[(1, "EQ", 0o777, 0)]),
            entry(&["kill"], "SCMP_ACT_TRAP", &[]),
            entry(&["getpid"], "SCMP_ACT_LOG", &[(0, "GE", 1, 0), (1, "LT", 5, 0)]),
            entry(&["socket"], ERRNO, &[(0, "EQ", 40, 0)]).replace(r#""args""#, r#""errnoRet": 22, "args""#),
        ];
        for default in [ERRNO, ALLOW, "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRACE"] {
            for log in [false, true] {
                let filters = profile_filters(&profile(default, &entries), log, &[]).unwrap();
                check_against_tables(&filters);
            }
        }
    }

    /// What a profile means, computed from its entries without filters: the strictest
    /// action of the entries that match the call (of equally strict ones, the action that
    /// first appears later in the profile), or the default action if none does.
    fn profile_verdict(text: &str, log: bool, arch: u32, call: u32, args: &[u64; 6]) -> u32 {
        if arch != AUDIT_ARCH {
            return libc::SECCOMP_RET_KILL_PROCESS;
        }
        let profile: Profile = serde_json::from_str(text).unwrap();
        let soften = |a: Action| if log && a != Action::Allow { Action::Log } else { a };
        let errno = profile.default_errno_ret.unwrap_or(libc::EPERM as u32);
        let actions: Vec<Action> =
            profile.syscalls.iter().map(|e| soften(action(&e.action, e.errno_ret, errno, "").unwrap())).collect();
        let matching = profile.syscalls.iter().zip(&actions).filter(|(e, _)| {
            e.names.iter().chain(&e.name).any(|n| syscall_number(n) == Some(call as i64))
                && e.args.iter().all(|a| arg_condition(a, "").unwrap().holds(args))
        });
        let strictness = |a: &Action| (a.ret() & libc::SECCOMP_RET_ACTION_FULL) as i32;
        let first_seen = |a: &Action| actions.iter().position(|b| b == a);
        let strictest = matching.map(|(_, a)| a).min_by_key(|a| (strictness(a), std::cmp::Reverse(first_seen(a))));
        strictest.copied().unwrap_or_else(|| soften(action(&profile.default_action, None, errno, "").unwrap())).ret()
    }

    #[test]
    fn profile_programs_give_the_strictest_matching_action() {
        let entries = [
            entry(&["read", "write", "close", "socket", "getpid", "mmap"], "SCMP_ACT_ALLOW", &[]),
            // Conditional entries of other actions than the default's.
            entry(&["socket"], "SCMP_ACT_ERRNO", &[(0, "EQ", 40, 0)]).replace(r#""args""#, r#""errnoRet": 22, "args""#),
            entry(&["openat"], "SCMP_ACT_TRAP", &[(2, "MASKED_EQ", 0o100, 0o100)]),
            entry(&["mkdir"], "SCMP_ACT_LOG", &[(1, "GT", 0o700, 0)]),
            entry(&["mkdir"], "SCMP_ACT_ALLOW", &[(1, "LE", 0o755, 0)]),
            // Entries with the default action (for the errno default), with and without
            // conditions, and overlapping an allowed call.
            entry(&["kill"], "SCMP_ACT_ERRNO", &[]),
            entry(&["tkill"], "SCMP_ACT_ERRNO", &[(1, "EQ", 9, 0)]),
            entry(&["getpid"], "SCMP_ACT_ERRNO", &[(0, "NE", 0, 0)]),
            entry(&["mmap"], "SCMP_ACT_ERRNO", &[(3, "EQ", 0x20, 0)]).replace(r#""args""#, r#""errnoRet": 12, "args""#),
            entry(&["mmap"], "SCMP_ACT_KILL_THREAD", &[(3, "EQ", 0x1_0000_0020, 0)]),
        ];
        let calls: Vec<u32> = ["read", "socket", "openat", "mkdir", "kill", "tkill", "getpid", "mmap", "clone3"]
            .iter()
            .map(|n| syscall_number(n).unwrap() as u32)
            .collect();
        let values = [0, 9, 0x20, 40, 0o100, 0o700, 0o701, 0o755, 0o777, 0x1_0000_0020, 0x1_0000_0000, u64::MAX];
        let samples = argument_samples(&values, 400);
        for default in ["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRAP", "SCMP_ACT_KILL_PROCESS"] {
            let text = profile(default, &entries);
            for log in [false, true] {
                let programs: Vec<_> = profile_filters(&text, log, &[]).unwrap().iter().map(Filter::program).collect();
                programs.iter().for_each(|p| bpf::check(p, DATA_LEN));
                for call in calls.iter().copied().chain([X32 | calls[0], 1000]) {
                    for args in &samples {
                        for arch in [AUDIT_ARCH, AUDIT_ARCH_I386] {
                            assert_eq!(
                                kernel_verdict(&programs, &data(arch, call, *args)),
                                profile_verdict(&text, log, arch, call, args),
                                "default {default} log {log} arch {arch:#x} call {call} args {args:x?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A profile whose filter is well beyond the reach of one conditional jump: allows the
    /// built-in list, and a hundred calls each with three conditions of 64 bits.
    fn big_profile() -> String {
        let mut entries = vec![entry(ALLOWED, "SCMP_ACT_ALLOW", &[])];
        for (i, name) in ALLOWED.iter().take(100).enumerate() {
            let i = i as u64;
            for j in 0..3 {
                let arg = (i + j) as u8 % 6;
                entries.push(entry(&[name], "SCMP_ACT_TRAP", &[(arg, "EQ", (i << 36) | (j << 8), 0)]));
            }
        }
        entries.push(entry(&["ioctl"], "SCMP_ACT_ALLOW", &[]));
        let requests: Vec<String> = (0..90).map(|r| entry(&["ioctl"], "SCMP_ACT_TRAP", &[(1, "EQ", 0x5400 + r, 0)])).collect();
        entries.extend(requests);
        profile("SCMP_ACT_ERRNO", &entries)
    }

    #[test]
    fn big_profiles_jump_through_trampolines() {
        let filters = profile_filters(&big_profile(), false, &[]).unwrap();
        let programs: Vec<_> = filters.iter().map(Filter::program).collect();
        let lengths: Vec<usize> = programs.iter().map(Vec::len).collect();
        println!("big profile: programs of {lengths:?} instructions");
        assert!(lengths.iter().any(|&n| n > 1000), "{lengths:?}");
        let far = programs.iter().flatten().filter(|i| i.code == (libc::BPF_JMP | libc::BPF_JA) as u16 && i.k > u8::MAX as u32);
        assert!(far.count() > 0, "no jump went beyond 255 instructions");
        check_against_tables(&filters);
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
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "invalid config: security.seccomp.profile: syscalls[0].args[0]: argument index 6 is above 5");
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}"#).unwrap_err();
        assert!(e.field().unwrap().starts_with("security.seccomp.profile: syscalls[0].names"), "{e}");
        let e = compile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_PPC"]}"#).unwrap_err();
        assert_eq!(e.field(), Some("security.seccomp.profile: architectures"));
        let e = compile("{not json").unwrap_err();
        assert!(e.field().unwrap().starts_with("security.seccomp.profile"), "{e}");
    }

    #[test]
    fn a_rewritten_profile_or_other_kept_caps_compile_again() {
        let dir = std::env::temp_dir().join(format!("nucleus-seccomp-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.json");
        let deny = |name: &str| {
            format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO"}},
                    {{"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "excludes": {{"caps": ["CAP_BPF"]}}}}]}}"#
            )
        };
        let fresh = |text: String, kept_caps: &[&str]| {
            let kept_caps = kept_caps.iter().map(|c| c.to_string()).collect();
            Source { log: false, profile: Some(text), kept_caps }.compile().unwrap()
        };
        let config = SeccompConfig { profile: Some(path.clone()), ..Default::default() };
        std::fs::write(&path, deny("mkdir")).unwrap();
        let first = SeccompPlan::compile(&config, &[]).unwrap().unwrap();
        assert_eq!(first.programs, fresh(deny("mkdir"), &[]));
        assert_eq!(SeccompPlan::compile(&config, &[]).unwrap().unwrap(), first);
        let with_bpf = SeccompPlan::compile(&config, &["CAP_BPF".into()]).unwrap().unwrap();
        assert_eq!(with_bpf.programs, fresh(deny("mkdir"), &["CAP_BPF"]));
        assert_ne!(with_bpf.programs, first.programs);
        std::fs::write(&path, deny("rmdir")).unwrap();
        let second = SeccompPlan::compile(&config, &[]).unwrap().unwrap();
        assert_eq!(second.programs, fresh(deny("rmdir"), &[]));
        assert_ne!(second.programs, first.programs);
        std::fs::remove_dir_all(&dir).unwrap();
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
