//! The root filesystem, for real: what is visible, what is writable, and that no symlink
//! planted inside can reach the host.

mod common;
use common::*;
use nucleus_core::{ErrorKind, Mount, SandboxConfig};

#[test]
fn rootfs_host_secrets_and_homes_are_invisible() {
    let sb = start(SandboxConfig::new());
    for path in ["/root", "/home", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh"] {
        let out = sh(&sb, &format!("test -e {path}"));
        assert_eq!(out.code(), Some(1), "{path} is visible inside");
    }
    let passwd = sh_ok(&sb, "cat /etc/passwd");
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    assert!(!passwd.contains("nucleus-test"), "host users leak: {passwd}");
}

#[test]
fn rootfs_usr_and_root_are_read_only() {
    let sb = start(SandboxConfig::new());
    for path in ["/usr/nucleus-probe", "/nucleus-probe", "/etc/nucleus-probe", "/dev/nucleus-probe"] {
        let out = sh(&sb, &format!("touch {path} 2>&1"));
        assert_ne!(out.code(), Some(0), "{path} is writable");
        assert!(out.stdout_text().contains("Read-only file system"), "{path}: {}", out.stdout_text());
    }
}

#[test]
fn rootfs_etc_shows_the_host_files_and_each_sandboxs_own() {
    // As root, /etc comes from a tree built once per process (one per set of the
    // sandbox's own files); rootless, each init builds it. Both must show the same.
    let alpha = start(SandboxConfig::new().hostname("alpha"));
    let beta = start(SandboxConfig::new().hostname("beta"));
    for (sb, name) in [(&alpha, "alpha"), (&beta, "beta")] {
        assert_eq!(sh_ok(sb, "cat /etc/hostname"), name);
        assert!(sh_ok(sb, "cat /etc/hosts").contains(&format!("localhost {name}")));
        for file in ["services", "protocols", "ld.so.conf"] {
            let host = std::path::Path::new("/etc").join(file);
            if let Ok(text) = std::fs::read_to_string(&host) {
                assert_eq!(sh_ok(sb, &format!("cat {}", host.display())), text.trim(), "{}", host.display());
            }
        }
        if std::path::Path::new("/etc/ssl/certs").is_dir() {
            sh_ok(sb, "test -d /etc/ssl/certs && ls /etc/ssl/certs >/dev/null");
        }
        let out = sh(sb, "touch /etc/ssl/nucleus-probe 2>&1");
        assert!(out.stdout_text().contains("Read-only file system"), "{}", out.stdout_text());
    }
}

#[test]
fn rootfs_host_mounts_made_later_never_propagate_into_a_sandbox() {
    // Root only: an unprivileged test process cannot make the mount namespace below.
    if euid() != 0 || !std::path::Path::new("/etc/alternatives").is_dir() {
        return;
    }
    // In a thread with a mount namespace of its own whose mounts are all shared (as on a
    // systemd host), made private first so that nothing reaches the real host.
    std::thread::spawn(|| {
        let call = |r: i32, what: &str| assert_eq!(r, 0, "{what}: {}", std::io::Error::last_os_error());
        let mount = |source: &std::ffi::CStr, target: &std::ffi::CStr, fstype: &std::ffi::CStr, flags| {
            // SAFETY: C string literals; no data argument.
            unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags, std::ptr::null()) }
        };
        // SAFETY: plain flag argument; affects this thread only.
        call(unsafe { libc::unshare(libc::CLONE_NEWNS) }, "unshare");
        call(mount(c"none", c"/", c"", libc::MS_REC | libc::MS_PRIVATE), "make private");
        call(mount(c"none", c"/", c"", libc::MS_REC | libc::MS_SHARED), "make shared");
        let before = start(SandboxConfig::new());
        let tags = sh_ok(&before, "grep -c -E 'shared:|master:' /proc/self/mountinfo || true");
        assert_eq!(tags, "0", "{}", sh_ok(&before, "cat /proc/self/mountinfo"));
        let listing = sh_ok(&before, "ls /etc/alternatives | wc -l");
        assert_ne!(listing, "0");
        call(mount(c"tmpfs", c"/etc/alternatives", c"tmpfs", 0), "mount over /etc/alternatives");
        // The running sandbox does not see it...
        assert_eq!(sh_ok(&before, "ls /etc/alternatives | wc -l"), listing);
        // ...a sandbox made now does, as it sees the host as it is.
        let after = start(SandboxConfig::new());
        assert_eq!(sh_ok(&after, "ls /etc/alternatives | wc -l"), "0");
    })
    .join()
    .unwrap();
}

const UMASK_CHILD_ENV: &str = "NUCLEUS_TEST_UMASK_CHILD";

/// Not a test on its own: a caller whose umask lets nobody else read what it creates.
#[test]
#[ignore = "run by rootfs_a_callers_umask_does_not_reach_the_sandboxs_root as a child process"]
fn rootfs_umask_child_body() {
    if std::env::var_os(UMASK_CHILD_ENV).is_none() {
        return;
    }
    // SAFETY: umask cannot fail; this process is this test's own.
    unsafe { libc::umask(0o077) };
    let sb = start(SandboxConfig::new().hostname("masked"));
    let seen = sh_ok(&sb, "cat /etc/hostname && ls /etc | grep -c . && stat -c %a /etc /dev /proc /tmp / | tr '\\n' ,");
    println!("READY {}", seen.replace('\n', " "));
}

#[test]
fn rootfs_a_callers_umask_does_not_reach_the_sandboxs_root() {
    let (mut child, fields) = spawn_test_child("rootfs_umask_child_body", UMASK_CHILD_ENV);
    // Its report is all this needs (the rest of its output goes nowhere).
    child.wait().unwrap();
    assert_eq!(fields[0], "masked", "{fields:?}");
    assert!(fields[1].parse::<u32>().unwrap() > 5, "{fields:?}");
    assert_eq!(fields[2], "755,755,555,1777,755,", "{fields:?}");
}

#[test]
fn rootfs_tmp_is_a_size_limited_tmpfs_and_writable() {
    let sb = start(SandboxConfig::new().tmpfs_size(8 << 20));
    assert_eq!(sh_ok(&sb, "stat -f -c %T /tmp"), "tmpfs");
    assert_eq!(sh_ok(&sb, "echo ok > /tmp/f && cat /tmp/f"), "ok");
    let out = sh(&sb, "dd if=/dev/zero of=/tmp/big bs=1M count=16 2>&1");
    assert_ne!(out.code(), Some(0));
    assert!(out.stdout_text().contains("No space left on device"), "{}", out.stdout_text());
    assert_eq!(sh_ok(&sb, "echo shm > /dev/shm/x && cat /dev/shm/x"), "shm");
}

#[test]
fn rootfs_workspace_writes_are_visible_on_the_host() {
    let sb = start(SandboxConfig::new());
    sh_ok(&sb, "echo from-inside > /workspace/out.txt");
    let host = sb.workspace_path().unwrap();
    assert_eq!(std::fs::read_to_string(host.join("out.txt")).unwrap(), "from-inside\n");
    assert_eq!(sh_ok(&sb, "pwd"), "/workspace");
}

#[test]
fn rootfs_given_workspace_is_used_and_kept() {
    let dir = scratch_dir("given-ws");
    std::fs::write(dir.join("in.txt"), "from-host").unwrap();
    // Sandbox root maps to another host id when the caller is root; let it write.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let sb = start(SandboxConfig::new().workspace(&dir));
    assert_eq!(sh_ok(&sb, "cat /workspace/in.txt && echo x > /workspace/new"), "from-host");
    sb.destroy().unwrap();
    assert!(dir.join("new").exists(), "a given workspace must survive the sandbox");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rootfs_dev_has_the_minimal_devices() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sh_ok(&sb, "ls /dev | sort | tr '\\n' ' '"), "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero");
    assert_eq!(sh_ok(&sb, "head -c 4 /dev/zero | od -An -tx1 | tr -d ' '"), "00000000");
    assert_eq!(sh_ok(&sb, "echo gone > /dev/null && echo ok"), "ok");
    assert_eq!(sh_ok(&sb, "head -c 16 /dev/urandom | wc -c"), "16");
    // A pty can be opened (devpts is a private instance).
    let out = sb
        .exec(&nucleus_core::ExecRequest::new(["python3", "-c", "import os,pty; m,s=pty.openpty(); print(os.ttyname(s))"]))
        .unwrap();
    assert!(out.stdout_text().starts_with("/dev/pts/"), "{} {}", out.stdout_text(), out.stderr_text());
}

#[test]
fn rootfs_proc_masks_the_oci_default_paths() {
    let sb = start(SandboxConfig::new());
    // Which of the masked paths exist depends on the kernel's configuration.
    let mut checked = 0;
    for file in ["kcore", "keys", "timer_list", "interrupts", "sched_debug"] {
        if std::path::Path::new("/proc").join(file).exists() {
            assert_eq!(sh_ok(&sb, &format!("wc -c < /proc/{file}")), "0", "/proc/{file} is not masked");
            checked += 1;
        }
    }
    assert!(checked > 0, "no maskable /proc file exists on this host");
    if std::path::Path::new("/proc/acpi").exists() {
        assert_eq!(sh_ok(&sb, "ls /proc/acpi | wc -l"), "0");
    }
    let out = sh(&sb, "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1");
    assert_ne!(out.code(), Some(0));
    assert!(out.stdout_text().contains("Read-only file system"), "{}", out.stdout_text());
    let out = sh(&sb, "(echo h > /proc/sysrq-trigger) 2>&1");
    assert_ne!(out.code(), Some(0));
}

#[test]
fn rootfs_old_root_is_fully_detached() {
    let sb = start(SandboxConfig::new());
    let mounts = sh_ok(&sb, "cat /proc/self/mountinfo");
    for line in mounts.lines() {
        let mount_point = line.split(' ').nth(4).unwrap();
        assert!(!mount_point.starts_with("/tmp/"), "staging or old root visible: {line}");
    }
    assert!(mounts.lines().count() < 80, "{mounts}");
}

#[test]
fn rootfs_user_mounts_are_read_only_unless_asked() {
    let dir = scratch_dir("mounts");
    std::fs::write(dir.join("data.txt"), "payload").unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let sb = start(
        SandboxConfig::new()
            .mount(Mount::readonly(&dir, "/data/ro"))
            .mount(Mount::writable(&dir, "/data/rw")),
    );
    assert_eq!(sh_ok(&sb, "cat /data/ro/data.txt"), "payload");
    assert_ne!(sh(&sb, "touch /data/ro/x").code(), Some(0));
    sh_ok(&sb, "touch /data/rw/x");
    assert!(dir.join("x").exists());
    drop(sb);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rootfs_symlink_planted_inside_cannot_reach_host_files() {
    let sb = start(SandboxConfig::new());
    sh_ok(&sb, "ln -s /etc/shadow /workspace/x && ln -s ../../../../../etc/shadow /workspace/y \
                && ln -s /proc/1/root/etc/shadow /workspace/z && ln -s /usr/bin/env /workspace/w");
    for link in ["/workspace/x", "/workspace/y", "/workspace/z"] {
        let e = sb.read_file(link).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syscall, "{link}: {e}");
        assert!(matches!(e.errno(), Some(libc::ENOENT) | Some(libc::ELOOP) | Some(libc::EXDEV)), "{link}: {e}");
        assert!(e.to_string().contains(link), "the message names the path: {e}");
    }
    // Writing through a link lands inside the sandbox's view, which is read-only there.
    let e = sb.write_file("/workspace/w", b"overwrite").unwrap_err();
    assert_eq!(e.errno(), Some(libc::EROFS), "{e}");
    // Reading through a link that stays inside works as inside.
    assert_eq!(sb.read_file("/workspace/w").unwrap(), std::fs::read("/usr/bin/env").unwrap());
    // Round trip of the file API.
    sb.write_file("/workspace/f.txt", b"data").unwrap();
    assert_eq!(sb.read_file("/workspace/f.txt").unwrap(), b"data");
    assert_eq!(sb.read_file("/tmp/../workspace/f.txt").unwrap_err().field(), Some("path"));
}

#[test]
fn rootfs_file_api_refuses_fifos_and_devices() {
    let sb = start(SandboxConfig::new());
    sh_ok(&sb, "mkfifo /workspace/fifo");
    let e = sb.read_file("/workspace/fifo").unwrap_err();
    assert!(e.to_string().contains("/workspace/fifo"), "{e}");
    assert!(sb.read_file("/dev/zero").is_err());
}

#[test]
fn rootfs_planted_symlink_cannot_redirect_a_later_mount() {
    // Code in a first sandbox plants a link in a shared directory...
    let dir = scratch_dir("planted");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let first = start(SandboxConfig::new().workspace(&dir));
    sh_ok(&first, "ln -s /etc /workspace/project");
    drop(first);
    // ...and a later sandbox that mounts that path must refuse it, not mount host /etc.
    let sb = nucleus_core::Sandbox::create(SandboxConfig::new().mount(Mount::readonly(dir.join("project"), "/project")))
        .unwrap();
    let e = sb.start().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
    assert!(e.to_string().contains("project"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rootfs_given_rootfs_replaces_the_host_view_and_its_symlinks_stay_inside() {
    let root = scratch_dir("rootfs");
    std::fs::create_dir_all(root.join("usr")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    for (link, to) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")] {
        std::os::unix::fs::symlink(to, root.join(link)).unwrap();
    }
    std::fs::write(root.join("marker"), "my rootfs").unwrap();
    // A hostile link: /tmp in the image points at /etc. The /tmp mount must land on the
    // image's own /etc, never on the host's.
    std::os::unix::fs::symlink("/etc", root.join("tmp")).unwrap();
    let sb = start(SandboxConfig::new().rootfs(&root).mount(Mount::readonly("/usr", "/usr")));
    assert_eq!(sh_ok(&sb, "cat /marker"), "my rootfs");
    assert_eq!(sh(&sb, "test -e /etc/passwd").code(), Some(1));
    sh_ok(&sb, "echo planted > /tmp/nucleus-rootfs-probe");
    assert!(!std::path::Path::new("/etc/nucleus-rootfs-probe").exists());
    assert_ne!(sh(&sb, "touch /marker2").code(), Some(0), "the given rootfs is mounted read-only");
    drop(sb);
    std::fs::remove_dir_all(&root).unwrap();
}
