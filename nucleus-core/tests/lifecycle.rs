//! The lifecycle: states, wrong-state errors, idempotent destroy, and what is left after.

mod common;
use common::*;
use nucleus_core::{ErrorKind, ExecRequest, Sandbox, SandboxConfig, Status};

#[test]
fn lifecycle_moves_through_its_states() {
    let sb = Sandbox::create(SandboxConfig::new()).unwrap();
    assert!(matches!(sb.status(), Status::Creating));
    let e = sb.exec(&ExecRequest::new(["true"])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State);
    assert_eq!(e.to_string(), "sandbox is creating, but this needs it running");
    sb.start().unwrap();
    assert_eq!(sb.status(), Status::Running);
    assert_eq!(sb.start().unwrap_err().kind(), ErrorKind::State);
    sb.destroy().unwrap();
    assert_eq!(sb.status(), Status::Stopped);
    sb.destroy().unwrap();
    assert_eq!(sb.exec(&ExecRequest::new(["true"])).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(sb.read_file("/etc/passwd").unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn lifecycle_destroy_leaves_no_process_workspace_record_or_mount() {
    let sb = start(SandboxConfig::new());
    sh_ok(&sb, "sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 &");
    let init = sb.init_pid().unwrap();
    let supervisor = sb.supervisor_pid().unwrap();
    let ns = sandbox_pid_ns(&sb);
    // The init is not dumpable, so a rootless caller cannot see its namespace: count
    // the two sleeps.
    assert!(members_of(&ns).len() >= 2, "two sleeps");
    let ws = sb.workspace_path().unwrap();
    let record = nucleus_core::state::default_root().join(format!("{}.json", sb.id()));
    assert!(ws.exists() && record.exists());
    sb.destroy().unwrap();
    assert!(members_of(&ns).is_empty(), "processes survived destroy");
    assert!(!alive(supervisor) && !alive(init));
    assert!(!ws.exists(), "workspace {} left behind", ws.display());
    assert!(!record.exists(), "state record left behind");
    assert!(host_mounts_mentioning(sb.id()).is_empty());
}

#[test]
fn lifecycle_drop_tears_down() {
    let sb = start(SandboxConfig::new());
    let (init, ws) = (sb.init_pid().unwrap(), sb.workspace_path().unwrap());
    drop(sb);
    assert!(!alive(init));
    assert!(!ws.exists());
}

#[test]
fn lifecycle_create_without_start_then_drop_cleans_up() {
    let sb = Sandbox::create(SandboxConfig::new()).unwrap();
    let supervisor = sb.supervisor_pid().unwrap();
    let id = sb.id().to_string();
    drop(sb);
    assert!(!alive(supervisor));
    let record = nucleus_core::state::default_root().join(format!("{id}.json"));
    assert!(!record.exists());
    assert!(!std::env::temp_dir().join(format!("nucleus-{id}")).exists());
}

#[test]
fn lifecycle_a_sandbox_whose_init_died_reports_stopped() {
    let sb = start(SandboxConfig::new());
    let init = sb.init_pid().unwrap();
    // Only the host can kill PID 1 of the sandbox; from inside it ignores signals.
    assert_eq!(sh(&sb, "kill -9 1; echo $?").stdout_text().trim(), "0");
    assert_eq!(sb.status(), Status::Running, "PID 1 ignores SIGKILL from inside its namespace");
    unsafe { libc::kill(init, libc::SIGKILL) };
    assert!(eventually(5, || sb.status() == Status::Stopped));
    let e = sb.exec(&ExecRequest::new(["true"])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::State | ErrorKind::Supervisor), "{e}");
    sb.destroy().unwrap();
}

#[test]
fn lifecycle_bad_config_fails_at_create_naming_the_field() {
    let e = Sandbox::create(SandboxConfig::new().hostname("bad host")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert_eq!(e.field(), Some("hostname"));
    let e = Sandbox::create(SandboxConfig::new().shim_path("/nonexistent/shim")).unwrap_err();
    assert_eq!(e.field(), Some("shim_path"));
}

#[test]
fn lifecycle_setup_failure_leaves_nothing_behind() {
    let state = scratch_dir("setup-failure");
    let link_dir = scratch_dir("setup-failure-src");
    std::os::unix::fs::symlink("/usr", link_dir.join("link")).unwrap();
    let sb = Sandbox::create(
        SandboxConfig::new()
            .state_root(state.join("records"))
            .mount(nucleus_core::Mount::readonly(link_dir.join("link"), "/x")),
    )
    .unwrap();
    let supervisor = sb.supervisor_pid().unwrap();
    let id = sb.id().to_string();
    assert!(sb.start().is_err());
    assert_eq!(sb.status(), Status::Stopped);
    assert!(!alive(supervisor));
    assert_eq!(std::fs::read_dir(state.join("records")).unwrap().count(), 0);
    assert!(!std::env::temp_dir().join(format!("nucleus-{id}")).exists());
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::remove_dir_all(&link_dir).unwrap();
}

#[test]
fn lifecycle_destroy_is_prompt_even_when_a_command_holds_up_the_init() {
    use std::time::{Duration, Instant};
    let sb = start(SandboxConfig::new());
    // Stop every other process in the sandbox, over and over: a command being started is
    // stopped before it can exec, which holds up PID 1 (it waits for that exec).
    let _flood = sb.spawn(&ExecRequest::new(["/bin/sh", "-c", "while :; do kill -STOP -1; done"])).unwrap();
    for _ in 0..3 {
        let _ = sb.exec(&ExecRequest::new(["/bin/true"]).timeout(Duration::from_millis(300)));
    }
    let started = Instant::now();
    sb.destroy().unwrap();
    // Far below the teardown timeout that a stuck init would run into.
    assert!(started.elapsed() < Duration::from_secs(3), "destroy took {:?}", started.elapsed());
    assert!(!sb.workspace_path().unwrap().exists());
}

#[test]
fn lifecycle_init_keeps_serving_while_a_command_is_stopped_before_its_exec() {
    use std::time::{Duration, Instant};
    let sb = start(SandboxConfig::new());
    // Stop every other process in the sandbox, over and over: a command being started is
    // stopped before it can exec.
    let mut flood = sb.spawn(&ExecRequest::new(["/bin/sh", "-c", "while :; do kill -STOP -1; done"])).unwrap();
    // Until one command is held before its exec (it never reports that it started), every
    // exec returns soon: started and done, or killed at its timeout, or not started.
    let mut held = false;
    for _ in 0..100 {
        let started = Instant::now();
        let out = sb.exec(&ExecRequest::new(["/bin/true"]).timeout(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(3), "exec took {:?}", started.elapsed());
        match out {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => {
                held = true;
                break;
            }
            Err(e) => panic!("exec: {e}"),
        }
    }
    assert!(held, "no command was stopped before its exec");
    // The init still serves: it kills the flood and reports its end...
    flood.kill(libc::SIGKILL).unwrap();
    let status = flood.wait_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(status.map(|s| s.signal), Some(Some(libc::SIGKILL)), "the flood was not killed");
    // ...and runs the next command.
    let started = Instant::now();
    let out = sb.exec(&ExecRequest::new(["/bin/echo", "ok"]).timeout(Duration::from_secs(5))).unwrap();
    assert_eq!((out.stdout_text().as_str(), out.timed_out), ("ok\n", false));
    assert!(started.elapsed() < Duration::from_secs(3), "exec took {:?}", started.elapsed());
    // The command that never started was killed when its start timed out: nothing is
    // left stopped in the sandbox.
    let out = sb.exec(&ExecRequest::new(["/bin/sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"])).unwrap();
    let text = out.stdout_text();
    let stopped: Vec<&str> =
        text.lines().filter(|line| line.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))).collect();
    assert!(stopped.is_empty(), "stopped processes: {stopped:?}");
}
