//! Namespaces, for real: the sandbox has its own hostname, PID 1, network and users.

mod common;
use common::*;
use nucleus_core::{Network, SandboxConfig, UserConfig};

#[test]
fn namespaces_hostname_is_set() {
    let sb = start(SandboxConfig::new().hostname("inside-box"));
    assert_eq!(sh_ok(&sb, "hostname"), "inside-box");
    assert_eq!(sh_ok(&sb, "cat /etc/hostname"), "inside-box");
    assert_ne!(sh_ok(&sb, "hostname"), std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim());
}

#[test]
fn namespaces_pid_1_is_the_sandbox_init() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sh_ok(&sb, "cat /proc/1/comm"), "nucleus-shim");
    // The command is not PID 1, and its parent is.
    assert_eq!(sh_ok(&sb, "echo $PPID"), "1");
}

#[test]
fn namespaces_host_pids_are_invisible() {
    let sb = start(SandboxConfig::new());
    let me = std::process::id();
    let pids = sh_ok(&sb, "ls /proc | grep -E '^[0-9]+$'");
    let pids: Vec<u32> = pids.lines().map(|l| l.parse().unwrap()).collect();
    assert!(!pids.contains(&me), "test process {me} visible inside: {pids:?}");
    assert!(pids.len() <= 4, "only init and the command's processes are visible: {pids:?}");
    let out = sh(&sb, &format!("kill -0 {me}"));
    assert_ne!(out.code(), Some(0));
}

#[test]
fn namespaces_loopback_server_and_client_work_inside() {
    let sb = start(SandboxConfig::new());
    let script = r#"
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def serve():
    conn, _ = srv.accept(); conn.sendall(conn.recv(100).upper()); conn.close()
threading.Thread(target=serve).start()
c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"ping"); print(c.recv(100).decode())
"#;
    let out = sb.exec(&nucleus_core::ExecRequest::new(["python3", "-c", script])).unwrap();
    assert_eq!(out.stdout_text().trim(), "PING", "stderr: {}", out.stderr_text());
}

#[test]
fn namespaces_network_beyond_loopback_is_unreachable() {
    let sb = start(SandboxConfig::new());
    // 192.0.2.0/24 is reserved for documentation; with only loopback in the namespace
    // the kernel refuses before any packet could leave.
    let script = r#"
import socket, errno
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("192.0.2.1", 80)); print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e))
"#;
    let out = sb.exec(&nucleus_core::ExecRequest::new(["python3", "-c", script])).unwrap();
    assert_eq!(out.stdout_text().trim(), "ENETUNREACH", "stderr: {}", out.stderr_text());
    assert_eq!(sh_ok(&sb, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"), "lo");
}

#[test]
fn namespaces_host_network_is_shared_only_when_asked() {
    let sb = start(SandboxConfig::new().network(Network::Host));
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let inside = sh_ok(&sb, "readlink /proc/self/ns/net");
    assert_eq!(inside, host_ns.to_str().unwrap());
}

#[test]
fn namespaces_user_namespace_maps_sandbox_root_to_an_unprivileged_host_id() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sh_ok(&sb, "id -u"), "0");
    let map = sh_ok(&sb, "cat /proc/self/uid_map");
    let map = nucleus_core::idmap::parse_map(&map).unwrap();
    let expected_host = if euid() == 0 { 65534 } else { euid() };
    assert_eq!(map, vec![(0, expected_host, 1)]);
    // Host-root-owned files are owned by nobody inside.
    assert_eq!(sh_ok(&sb, "stat -c %u /usr/bin/env"), "65534");
}

#[test]
fn namespaces_ipc_and_uts_and_cgroup_are_private() {
    let sb = start(SandboxConfig::new());
    for ns in ["ipc", "uts", "cgroup", "mnt", "pid"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let inside = sh_ok(&sb, &format!("readlink /proc/self/ns/{ns}"));
        assert_ne!(inside, host.to_str().unwrap(), "{ns} namespace is shared with the host");
    }
}

#[test]
fn namespaces_without_user_namespace_needs_root() {
    let config = SandboxConfig::new().user(UserConfig { namespace: false, ..UserConfig::default() });
    if euid() != 0 {
        let e = nucleus_core::Sandbox::create(config).unwrap_err();
        assert_eq!(e.field(), Some("user.namespace"));
        return;
    }
    let sb = start(config.user(UserConfig { namespace: false, uid: 65534, gid: 65534, ..UserConfig::default() }));
    assert_eq!(sh_ok(&sb, "id -u"), "65534");
    assert_eq!(sh_ok(&sb, "cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'"), "0 0 4294967295");
    assert_eq!(sh_ok(&sb, "grep CapEff /proc/self/status | cut -f2"), "0000000000000000");
}

#[test]
fn namespaces_each_sandbox_has_a_network_namespace_of_its_own() {
    let (a, b) = (start(SandboxConfig::new()), start(SandboxConfig::new()));
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    let (in_a, in_b) = (sh_ok(&a, "readlink /proc/self/ns/net"), sh_ok(&b, "readlink /proc/self/ns/net"));
    assert_ne!(in_a, host.to_str().unwrap());
    assert_ne!(in_a, in_b);
    // The init itself is in it too, not only the commands (only root may look: the init
    // is not dumpable).
    if euid() == 0 {
        let init = std::fs::read_link(format!("/proc/{}/ns/net", a.init_pid().unwrap())).unwrap();
        assert_eq!(init.to_str().unwrap(), in_a);
    }
}
