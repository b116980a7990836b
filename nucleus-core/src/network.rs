//! The sandbox's network: in a private network namespace only loopback exists, and it
//! starts down; bring it up so servers on 127.0.0.1 work inside.

use std::os::fd::{FromRawFd, OwnedFd, AsRawFd};

use crate::error::{Error, Result};
use crate::sys;

/// Set `IFF_UP` on `lo` in the current network namespace.
pub(crate) fn loopback_up() -> Result<()> {
    // SAFETY: socket() returns a fresh descriptor or -1.
    let fd = sys::check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) } as _,
        "socket",
        None,
    )?;
    // SAFETY: fd was just returned by socket().
    let sock = unsafe { OwnedFd::from_raw_fd(fd as _) };
    // SAFETY: ifreq is plain data; the name fits in IFNAMSIZ.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) == -1 {
            return Err(Error::last_os("ioctl(SIOCGIFFLAGS lo)", None));
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) == -1 {
            return Err(Error::last_os("ioctl(SIOCSIFFLAGS lo)", None));
        }
    }
    Ok(())
}
