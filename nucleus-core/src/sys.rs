//! Thin typed wrappers around the system calls nucleus makes. Each returns an error that
//! carries the call's name, the path it worked on and the errno. No logic lives here.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// Turn a C-style return value into a `Result`, reading errno on `-1`.
pub(crate) fn check(ret: libc::c_long, call: &str, path: Option<&Path>) -> Result<libc::c_long> {
    if ret == -1 {
        Err(Error::last_os(call, path))
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int, call: &str, path: Option<&Path>) -> Result<libc::c_int> {
    check(ret as libc::c_long, call, path).map(|r| r as libc::c_int)
}

/// Retry a call while it fails with EINTR.
fn retry<F: FnMut() -> libc::c_long>(mut f: F) -> libc::c_long {
    loop {
        let r = f();
        if r != -1 || errno() != libc::EINTR {
            return r;
        }
    }
}

/// The calling thread's errno.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A path as a C string; a NUL inside is an error naming the path.
pub(crate) fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Syscall {
        call: "path".into(),
        path: Some(path.to_path_buf()),
        errno: libc::EINVAL,
    })
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: callers pass a descriptor the kernel just returned, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective gid of this process.
pub fn egid() -> u32 {
    // SAFETY: getegid cannot fail.
    unsafe { libc::getegid() }
}

/// A connected `SOCK_SEQPACKET` unix socket pair, close-on-exec.
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    check_int(
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        },
        "socketpair",
        None,
    )?;
    Ok((owned(fds[0] as _), owned(fds[1] as _)))
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, "pipe2", None)?;
    Ok((owned(fds[0] as _), owned(fds[1] as _)))
}

/// Set or clear `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a valid descriptor.
    unsafe {
        let flags = check_int(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL), "fcntl", None)?;
        let flags = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        check_int(libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags), "fcntl", None)?;
    }
    Ok(())
}

/// `fcntl(F_SETFL)`: set the status flags of `fd` to exactly `flags`.
pub(crate) fn set_status_flags(fd: BorrowedFd<'_>, flags: i32) -> Result<()> {
    // SAFETY: F_SETFL on a valid descriptor.
    check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) }, "fcntl", None).map(drop)
}

/// A close-on-exec duplicate of `fd` numbered `floor` or higher.
pub(crate) fn dup_above(fd: BorrowedFd<'_>, floor: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor returns a new one or -1.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    check_int(r, "fcntl(F_DUPFD_CLOEXEC)", None).map(|fd| owned(fd as _))
}

/// Set `FD_CLOEXEC` on a descriptor.
pub(crate) fn set_cloexec(fd: RawFd) -> Result<()> {
    // SAFETY: F_SETFD on a descriptor the caller owns.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }, "fcntl", None)?;
    Ok(())
}

/// The most descriptors one message carries.
pub(crate) const MAX_FDS: usize = 8;

/// Send one datagram with descriptors attached. Never raises SIGPIPE.
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> Result<()> {
    assert!(fds.len() <= MAX_FDS);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cmsg_buf = [0u64; 8];
    // SAFETY: msghdr is plain data; all pointers point at live buffers of the given sizes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            let fd_bytes = std::mem::size_of_val(fds) as u32;
            msg.msg_control = cmsg_buf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(fd_bytes) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        check(
            retry(|| libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) as _),
            "sendmsg",
            None,
        )?;
    }
    Ok(())
}

/// Receive one datagram and the descriptors attached to it (close-on-exec).
/// `None` means the peer closed the socket.
pub(crate) fn recv_with_fds(sock: BorrowedFd<'_>) -> Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    // Learn the datagram's size first so any size fits.
    let mut probe = [0u8; 1];
    // SAFETY: probe is a valid one-byte buffer.
    let size = check(
        retry(|| unsafe {
            libc::recv(
                sock.as_raw_fd(),
                probe.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_TRUNC,
            ) as _
        }),
        "recv",
        None,
    )? as usize;
    let mut data = vec![0u8; size.max(1)];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut cmsg_buf = [0u64; 8];
    let mut fds = Vec::new();
    // SAFETY: as in send_with_fds; the kernel writes at most msg_controllen bytes.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cmsg_buf) as _;
        let n = check(
            retry(|| libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) as _),
            "recvmsg",
            None,
        )?;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let ptr = libc::CMSG_DATA(cmsg) as *const RawFd;
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(owned(ptr.add(i).read_unaligned() as _));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        n as usize
    };
    if n == 0 && size == 0 {
        return Ok(None);
    }
    data.truncate(n);
    Ok(Some((data, fds)))
}

/// `poll(2)` on a set of descriptors; returns how many are ready. `None` waits forever.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize> {
    let ms = match timeout {
        None => -1,
        Some(d) => d.as_millis().min(i32::MAX as u128) as i32,
    };
    // SAFETY: fds is a valid slice of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, ms) };
    if r == -1 && errno() == libc::EINTR {
        return Ok(0);
    }
    check_int(r, "poll", None).map(|n| n as usize)
}

/// `read(2)`, retrying on EINTR.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    check(
        retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) as _ }),
        "read",
        None,
    )
    .map(|n| n as usize)
}

/// `write(2)`, retrying on EINTR.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    check(
        retry(|| unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) as _ }),
        "write",
        None,
    )
    .map(|n| n as usize)
}

/// Write all of `buf`.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        let n = write(fd, buf)?;
        buf = &buf[n..];
    }
    Ok(())
}

/// `openat2(2)` with a resolve mode. `dir` of `None` means the current directory.
pub(crate) fn openat2(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: open_how is plain data; zero is its valid default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = mode as u64;
    how.resolve = resolve;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: c and how outlive the call; size matches the struct passed.
    let fd = check(
        retry(|| unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        }),
        "openat2",
        Some(path),
    )?;
    Ok(owned(fd))
}

/// `mkdirat(2)`, with exactly `mode` whatever the process's umask (a library cannot set
/// the umask of its caller's process); an existing directory is fine, as it is.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> Result<()> {
    let c = cpath(name)?;
    // SAFETY: c outlives the call.
    let r = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) };
    if r == -1 && errno() == libc::EEXIST {
        return Ok(());
    }
    check_int(r, "mkdirat", Some(name))?;
    // SAFETY: c outlives the call.
    check_int(unsafe { libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode, 0) }, "fchmodat", Some(name)).map(drop)
}

/// `fchmod(2)`.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32, path: &Path) -> Result<()> {
    // SAFETY: plain arguments.
    check_int(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }, "fchmod", Some(path)).map(drop)
}

/// `symlinkat(2)`: create `name` in `dir` pointing at `target`.
pub(crate) fn symlinkat(target: &Path, dir: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let (t, n) = (cpath(target)?, cpath(name)?);
    // SAFETY: both strings outlive the call.
    check_int(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }, "symlinkat", Some(name))
        .map(drop)
}

/// Classic `mount(2)`.
pub(crate) fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let src = CString::new(source).expect("mount source has no NUL");
    let fs = CString::new(fstype).expect("fstype has no NUL");
    let tgt = cpath(target)?;
    let data = data.map(|d| CString::new(d).expect("mount data has no NUL"));
    // SAFETY: all strings outlive the call.
    check_int(
        unsafe {
            libc::mount(
                src.as_ptr(),
                tgt.as_ptr(),
                fs.as_ptr(),
                flags,
                data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr().cast()),
            )
        },
        "mount",
        Some(target),
    )
    .map(drop)
}

/// `open_tree(2)` of an open path: a detached copy of the mount tree at `fd`.
pub(crate) fn open_tree_clone(fd: BorrowedFd<'_>, recursive: bool, path: &Path) -> Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: an empty C string literal outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    check(r, "open_tree", Some(path)).map(owned)
}

/// The `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Mount attributes, as in `MOUNT_ATTR_*`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `mount_setattr(2)`: set `set` on the (detached or attached) mount at `fd` alone.
pub(crate) fn mount_setattr(fd: BorrowedFd<'_>, set: u64, path: &Path) -> Result<()> {
    setattr(fd, set, 0, 0, path)
}

/// Set `set` on every mount of a tree just cloned (`open_tree`) and make each private:
/// a clone of a shared mount is otherwise its peer, and mounts made later on the host
/// side would appear in it (without the attributes set here).
pub(crate) fn seal_clone(fd: BorrowedFd<'_>, set: u64, path: &Path) -> Result<()> {
    setattr(fd, set, libc::AT_RECURSIVE as u32, PROPAGATION_PRIVATE, path)
}

/// `MS_PRIVATE`, as `struct mount_attr` takes a propagation type.
const PROPAGATION_PRIVATE: u64 = 1 << 18;

fn setattr(fd: BorrowedFd<'_>, set: u64, flags: u32, propagation: u64, path: &Path) -> Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: 0, propagation, userns_fd: 0 };
    // SAFETY: attr outlives the call and its size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags | libc::AT_EMPTY_PATH as u32,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(r, "mount_setattr", Some(path)).map(drop)
}

/// A new tmpfs with `options` (`key=value,...`), not attached anywhere: a detached
/// mount (`fsopen`, `fsconfig`, `fsmount`) that lives as long as its descriptor.
pub(crate) fn detached_tmpfs(options: &str) -> Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
    // SAFETY: a C string literal outlives the call.
    let context = owned(check(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC) }, "fsopen", None)?);
    let fd = context.as_raw_fd();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        let bad = |_| Error::internal(format!("tmpfs option {option:?}"));
        let (key, value) = (CString::new(key).map_err(bad)?, CString::new(value).map_err(bad)?);
        // SAFETY: key and value outlive the call.
        let r = unsafe { libc::syscall(libc::SYS_fsconfig, fd, FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0) };
        check(r, &format!("fsconfig(tmpfs {option})"), None)?;
    }
    // SAFETY: plain arguments; null key and value are what the command takes.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fd, FSCONFIG_CMD_CREATE, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0) };
    check(r, "fsconfig(create tmpfs)", None)?;
    // SAFETY: plain arguments.
    let r = unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, 0 as libc::c_uint) };
    check(r, "fsmount", None).map(owned)
}

/// `move_mount(2)` of the tree at `from` onto the directory or file open at `to`.
pub(crate) fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>, path: &Path) -> Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: empty C string literals outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    check(r, "move_mount", Some(path)).map(drop)
}

/// `umount2(2)`.
pub(crate) fn umount2(target: &Path, flags: i32) -> Result<()> {
    let c = cpath(target)?;
    // SAFETY: c outlives the call.
    check_int(unsafe { libc::umount2(c.as_ptr(), flags) }, "umount2", Some(target)).map(drop)
}

/// `pivot_root(2)`.
pub(crate) fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let (n, o) = (cpath(new_root)?, cpath(put_old)?);
    // SAFETY: both strings outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) };
    check(r, "pivot_root", Some(new_root)).map(drop)
}

/// `chdir(2)`.
pub(crate) fn chdir(path: &Path) -> Result<()> {
    let c = cpath(path)?;
    // SAFETY: c outlives the call.
    check_int(unsafe { libc::chdir(c.as_ptr()) }, "chdir", Some(path)).map(drop)
}

/// `fchdir(2)`.
pub(crate) fn fchdir(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: a valid descriptor.
    check_int(unsafe { libc::fchdir(fd.as_raw_fd()) }, "fchdir", None).map(drop)
}


/// Fork-like `clone(2)` with namespace flags: returns the child's pid in the parent and 0
/// in the child, which runs on a copy of the caller's stack. Only for single-threaded
/// callers (the supervisor).
pub(crate) fn clone_process(flags: libc::c_int) -> Result<libc::pid_t> {
    // SAFETY: with a NULL stack the child continues on a copy-on-write copy of this
    // stack, exactly as after fork(); the supervisor is single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    check(r, "clone", None).map(|p| p as libc::pid_t)
}

/// [`clone_process`] with `clone3(2)` and `CLONE_INTO_CGROUP`: the child starts inside
/// the cgroup whose directory `cgroup` is open, so it is never migrated (Linux 5.7).
pub(crate) fn clone_into_cgroup(flags: libc::c_int, cgroup: RawFd) -> Result<libc::pid_t> {
    /// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup as u64,
        ..CloneArgs::default()
    };
    // SAFETY: args is a valid clone_args of the size passed; with no stack the child
    // runs on a copy-on-write copy of this stack, as after fork(); single-threaded caller.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    check(r, "clone3", None).map(|p| p as libc::pid_t)
}

/// `fork(2)`, for the single-threaded zygote and supervisor only.
pub(crate) fn fork() -> Result<libc::pid_t> {
    // SAFETY: called only from the single-threaded zygote and supervisor processes.
    check_int(unsafe { libc::fork() }, "fork", None)
}

/// Memory for a child's stack: an anonymous mapping whose lowest page is a guard, so an
/// overflow faults instead of writing over whatever lies below.
pub(crate) struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

impl Stack {
    pub(crate) fn new(len: usize) -> Result<Stack> {
        // SAFETY: a fresh private anonymous mapping, owned by the returned value.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last_os("mmap", None));
        }
        let stack = Stack { base, len };
        // SAFETY: sysconf has no preconditions; the first page lies inside the mapping.
        check_int(
            unsafe { libc::mprotect(base, libc::sysconf(libc::_SC_PAGESIZE) as usize, libc::PROT_NONE) },
            "mprotect",
            None,
        )?;
        Ok(stack)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// `clone(CLONE_VM)`: run `entry(arg)` in a child process that shares this process's
/// memory, on `stack`. Returns the child's pid at once: the child runs alongside the
/// calling thread until it calls `execve` successfully or exits.
///
/// # Safety
///
/// `entry` runs on this process's memory, at the same time as it, with this thread's
/// TLS: it may only make system calls that leave `errno` alone ([`raw_syscall`]), must
/// not allocate, take locks or unwind, and must end in `execve` or `_exit`. `stack` and
/// what `arg` points at must stay valid, unmoved and unchanged until the child has exec'd
/// or exited. Signals whose handlers must not run in the child should be blocked around
/// the call.
pub(crate) unsafe fn clone_vm(
    stack: &Stack,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t> {
    // The stack grows down from the end of the mapping (page aligned, as the ABI wants).
    // SAFETY: the end of the mapping is one past its last byte.
    let top = unsafe { stack.base.cast::<u8>().add(stack.len) };
    let flags = libc::CLONE_VM | libc::SIGCHLD;
    // SAFETY: the caller upholds the contract above.
    check_int(unsafe { libc::clone(entry, top.cast(), flags, arg) }, "clone", None)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("sys::raw_syscall knows the system call convention of x86_64 and aarch64 only");

/// A system call made without the C library's wrapper: the result, or the errno, comes
/// back in the return value, and `errno` is neither written nor read. For a child that
/// shares this process's memory while the process runs on: `errno` is thread-local, and
/// the child has the TLS of the thread that cloned it, so a wrapper's `errno` would be
/// that thread's, which it reads after its own calls. `args` are the call's arguments in
/// order; missing ones are 0.
///
/// # Safety
///
/// `args` must be what the kernel takes for call `nr`, with every pointer valid for what
/// the call reads or writes through it.
pub(crate) unsafe fn raw_syscall(nr: libc::c_long, args: &[usize]) -> std::result::Result<usize, i32> {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let ret: isize;
    // SAFETY: the kernel's calling convention: number and six arguments in registers, the
    // result in the first; the instruction clobbers nothing else (rcx and r11 on x86_64)
    // and leaves the stack alone. The caller vouches for the arguments.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") arg(0), in("rsi") arg(1), in("rdx") arg(2),
            in("r10") arg(3), in("r8") arg(4), in("r9") arg(5),
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    // SAFETY: as above (number in x8, arguments and result in x0 to x5). The kernel
    // keeps every other general and FP/SIMD register; SVE/SME state beyond those it may
    // drop, and this crate is not built with them.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") arg(0) as isize => ret,
            in("x1") arg(1), in("x2") arg(2), in("x3") arg(3), in("x4") arg(4), in("x5") arg(5),
            options(nostack),
        );
    }
    // The kernel returns an error as the negated errno, -4095 to -1.
    if (-4095..0).contains(&ret) {
        Err(-ret as i32)
    } else {
        Ok(ret as usize)
    }
}

/// The kernel's `struct statfs` on 64-bit architectures (the `libc` crate hides `f_flags`).
#[repr(C)]
struct KernelStatfs {
    /// `f_type`, `f_bsize`, `f_blocks`, `f_bfree`, `f_bavail`, `f_files`, `f_ffree`,
    /// `f_fsid`, `f_namelen`, `f_frsize`.
    _before: [u64; 10],
    f_flags: u64,
    _spare: [u64; 4],
}

/// Whether the filesystem at `path` is mounted read-only; false if it cannot be told.
/// A raw call ([`raw_syscall`]) on a stack buffer.
pub(crate) fn mounted_read_only(path: &CStr) -> bool {
    let mut st = KernelStatfs { _before: [0; 10], f_flags: 0, _spare: [0; 4] };
    let st_ptr = std::ptr::from_mut(&mut st) as usize;
    // SAFETY: path is a C string; st is a kernel statfs, written by the call.
    let r = unsafe { raw_syscall(libc::SYS_statfs, &[path.as_ptr() as usize, st_ptr]) };
    r.is_ok() && st.f_flags & libc::ST_RDONLY != 0
}

/// `setns(2)`: enter the namespace open at `fd`, of type `kind` (a `CLONE_NEW*` flag).
pub(crate) fn setns(fd: BorrowedFd<'_>, kind: libc::c_int) -> Result<()> {
    // SAFETY: plain arguments.
    check_int(unsafe { libc::setns(fd.as_raw_fd(), kind) }, "setns", None).map(drop)
}

/// `fstat(2)`; works on `O_PATH` descriptors.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat> {
    // SAFETY: stat is plain data, zero is a valid value, and the kernel fills it in.
    let (r, stat) = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        (libc::fstat(fd.as_raw_fd(), &mut stat), stat)
    };
    check_int(r, "fstat", None)?;
    Ok(stat)
}

/// Whether the open file `fd` is a directory (works on `O_PATH` descriptors).
pub(crate) fn is_dir(fd: BorrowedFd<'_>) -> Result<bool> {
    Ok(fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Close every descriptor from `first` on (`close_range(2)`, called raw: glibc wraps it
/// only from 2.34 on).
pub(crate) fn close_from(first: u32) -> Result<()> {
    // SAFETY: plain arguments; the caller owns no descriptor in that range any more.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0 as libc::c_uint) };
    check(r, "close_range", None).map(drop)
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> Result<()> {
    // SAFETY: plain flag argument.
    check_int(unsafe { libc::unshare(flags) }, "unshare", None).map(drop)
}

/// `sethostname(2)`.
pub(crate) fn sethostname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe name.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }, "sethostname", None)
        .map(drop)
}

/// `waitpid(2)`, retrying on EINTR. Returns (pid, raw status); pid 0 with `WNOHANG`
/// means nothing was ready.
pub(crate) fn waitpid(pid: libc::pid_t, flags: i32) -> Result<(libc::pid_t, i32)> {
    let mut status = 0;
    // SAFETY: status is a valid int.
    let r = retry(|| unsafe { libc::waitpid(pid, &mut status, flags) as _ });
    check(r, "waitpid", None).map(|p| (p as libc::pid_t, status))
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, sig: i32) -> Result<()> {
    // SAFETY: plain arguments.
    check_int(unsafe { libc::kill(pid, sig) }, "kill", None).map(drop)
}

/// Set the disposition of `signal` to `handler` (`SIG_IGN` or `SIG_DFL`).
pub(crate) fn set_signal_handler(signal: i32, handler: libc::sighandler_t) -> Result<()> {
    // SAFETY: a zeroed sigaction with a plain disposition and an empty mask is valid.
    let r = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigaction(signal, &action, std::ptr::null_mut())
    };
    check_int(r, "sigaction", None).map(drop)
}

/// `prctl(2)` with one argument.
pub(crate) fn prctl(option: i32, arg: libc::c_ulong) -> Result<()> {
    // SAFETY: options used here take one integer argument.
    check_int(unsafe { libc::prctl(option, arg, 0, 0, 0) }, "prctl", None).map(drop)
}

/// Become `uid`/`gid` for real, effective and saved ids, with no supplementary groups.
pub(crate) fn set_identity(uid: u32, gid: u32, drop_groups: bool) -> Result<()> {
    // SAFETY: plain arguments; a NULL list with size 0 clears the groups.
    unsafe {
        if drop_groups {
            check_int(libc::setgroups(0, std::ptr::null()), "setgroups", None)?;
        }
        check(libc::syscall(libc::SYS_setresgid, gid, gid, gid), "setresgid", None)?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid), "setresuid", None)?;
    }
    Ok(())
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    // SAFETY: plain arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check(r, "pidfd_open", None).map(owned)
}

/// `memfd_create(2)`.
pub(crate) fn memfd_create(name: &CStr, flags: u32) -> Result<OwnedFd> {
    // SAFETY: name is a valid C string.
    let r = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    check_int(r, "memfd_create", None).map(|fd| owned(fd as _))
}

/// Add file seals to a memfd.
pub(crate) fn add_seals(fd: BorrowedFd<'_>, seals: i32) -> Result<()> {
    // SAFETY: F_ADD_SEALS on a valid descriptor.
    check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }, "fcntl", None)
        .map(drop)
}

/// A signalfd for `signals`, which the caller must have blocked.
pub(crate) fn signalfd(signals: &[i32]) -> Result<OwnedFd> {
    // SAFETY: the set is initialised before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        let fd = check_int(
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK),
            "signalfd",
            None,
        )?;
        Ok(owned(fd as _))
    }
}

/// Block (`how = SIG_BLOCK`) or unblock signals for the calling thread; returns the
/// previous mask.
pub(crate) fn sigmask(how: i32, signals: &[i32]) -> libc::sigset_t {
    // SAFETY: both sets are initialised before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(how, &set, &mut old);
        old
    }
}

/// The kernel's `struct sigaction` of `rt_sigaction(2)`. Called directly, it reaches
/// every signal, including the two (32 and 33) that glibc's `sigaction` refuses: glibc's
/// `posix_spawn` leaves them ignored in the processes it starts.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The signals whose disposition is not the default (ignored or caught).
pub(crate) fn non_default_signals() -> Vec<libc::c_int> {
    (1..=libc::SIGRTMAX())
        .filter(|&sig| {
            let mut old = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
            // SAFETY: a query; old is a valid kernel sigaction of the size passed.
            let r = unsafe {
                libc::syscall(libc::SYS_rt_sigaction, sig, std::ptr::null::<KernelSigaction>(), &mut old, 8)
            };
            r == 0 && old.handler != libc::SIG_DFL
        })
        .collect()
}

/// Set `sig` to its default disposition. A raw call, allocation-free (it runs in a child
/// on its parent's memory, see [`clone_vm`]); a signal that cannot be changed is left as
/// it is.
pub(crate) fn reset_signal(sig: libc::c_int) {
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    let default = std::ptr::from_ref(&default) as usize;
    // SAFETY: default is a valid kernel sigaction of the size passed; no old one is asked.
    let _ = unsafe { raw_syscall(libc::SYS_rt_sigaction, &[sig as usize, default, 0, 8]) };
}

/// Block every signal for the calling thread; returns the previous mask.
pub(crate) fn block_all_signals() -> libc::sigset_t {
    // SAFETY: both sets are initialised before use.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

/// Restore a mask returned by [`sigmask`] or [`block_all_signals`].
pub(crate) fn set_sigmask(mask: &libc::sigset_t) {
    // SAFETY: mask came from pthread_sigmask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
}

/// The kernel's boot-relative start time of `pid` (field 22 of `/proc/pid/stat`), which
/// tells a live process from a later one that reused its pid. `None` for a process that
/// does not exist or has exited (a zombie).
pub fn process_start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and ')'; fields resume after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether a process's mount table may have changed since the watch was made: after any
/// change the kernel flags the next poll of the `mountinfo` file kept open here (once
/// only), and a process that entered another mount namespace sees another table.
#[derive(Debug)]
pub(crate) struct MountWatch {
    /// The `mountinfo` file, opened when the watch was made (and only polled).
    file: std::fs::File,
    path: std::path::PathBuf,
    /// The mount namespace (its inode).
    namespace: u64,
}

impl MountWatch {
    /// Watch the table of the process (or thread) whose `/proc` directory is `proc`.
    pub(crate) fn new(proc: &Path) -> Result<MountWatch> {
        let namespace = mount_namespace(proc)?;
        let path = proc.join("mountinfo");
        let file = std::fs::File::open(&path).map_err(|e| Error::Syscall {
            call: "open".into(),
            path: Some(path.clone()),
            errno: e.raw_os_error().unwrap_or(0),
        })?;
        Ok(MountWatch { file, namespace, path })
    }

    /// Whether the table `proc` shows may differ from the watched one. A change is
    /// reported once: forget what was derived from the table when it is.
    pub(crate) fn changed(&self, proc: &Path) -> bool {
        self.table_changed() || self.other_namespace(proc)
    }

    /// Whether something was mounted, unmounted or changed in the watched table since the
    /// last time this said so (or the watch was made).
    pub(crate) fn table_changed(&self) -> bool {
        let mut fds = [libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN | libc::POLLPRI, revents: 0 }];
        !matches!(poll(&mut fds, Some(Duration::ZERO)), Ok(1) if fds[0].revents & (libc::POLLPRI | libc::POLLERR) == 0)
    }

    /// Whether `proc` is in another mount namespace than the watched one.
    pub(crate) fn other_namespace(&self, proc: &Path) -> bool {
        mount_namespace(proc).ok() != Some(self.namespace)
    }

    /// The watched table as it is now (read through a descriptor of its own, so that
    /// threads reading at once do not share a file offset).
    pub(crate) fn read(&self) -> Result<String> {
        std::fs::read_to_string(&self.path).map_err(|e| Error::Syscall {
            call: "read".into(),
            path: Some(self.path.clone()),
            errno: e.raw_os_error().unwrap_or(0),
        })
    }
}

/// The inode of the mount namespace of the process whose `/proc` directory is `proc`.
fn mount_namespace(proc: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let path = proc.join("ns/mnt");
    std::fs::metadata(&path).map(|m| m.ino()).map_err(|e| Error::Syscall {
        call: "stat".into(),
        path: Some(path.clone()),
        errno: e.raw_os_error().unwrap_or(0),
    })
}
