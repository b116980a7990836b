//! The library is called from threaded hosts: many threads creating, using and
//! destroying sandboxes at once, and many threads sharing one sandbox.

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use nucleus_core::{ExecRequest, Sandbox, SandboxConfig};

#[test]
fn threads_eight_create_use_and_destroy_concurrently_while_others_allocate() {
    let stop = Arc::new(AtomicBool::new(false));
    let allocators: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<u8> = vec![1; 1 << 16];
                    n += v.len() as u64;
                }
                n
            })
        })
        .collect();
    let workers: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut leftovers = Vec::new();
                for round in 0..3 {
                    let sb = start(SandboxConfig::new().hostname(format!("t{t}")));
                    let out = sh_ok(&sb, &format!("hostname; echo {round}"));
                    assert_eq!(out, format!("t{t}\n{round}"));
                    leftovers.push((sb.init_pid().unwrap(), sb.workspace_path().unwrap()));
                    sb.destroy().unwrap();
                }
                leftovers
            })
        })
        .collect();
    let leftovers: Vec<_> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
    stop.store(true, Ordering::Relaxed);
    for a in allocators {
        assert!(a.join().unwrap() > 0);
    }
    for (init, ws) in leftovers {
        assert!(!alive(init), "init {init} left running");
        assert!(!ws.exists(), "{} left behind", ws.display());
    }
}

#[test]
fn threads_creating_sandboxes_of_many_configs_at_once_each_get_their_own_etc() {
    // More distinct /etc contents than the library keeps prebuilt trees for (8): the
    // rest are built per sandbox; all at once, from twelve threads, twice over.
    let threads: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                for round in 0..2 {
                    let name = format!("host-{i}-{}", round % 2);
                    let sb = start(SandboxConfig::new().hostname(&name));
                    assert_eq!(sh_ok(&sb, "cat /etc/hostname; hostname"), format!("{name}\n{name}"));
                    sb.destroy().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn threads_share_one_sandbox() {
    let sb = Arc::new(start(SandboxConfig::new()));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let out = sb.exec(&ExecRequest::new(["echo", &format!("{t}-{i}")])).unwrap();
                    assert_eq!(out.stdout_text(), format!("{t}-{i}\n"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn threads_destroy_while_another_thread_runs_a_command() {
    let sb = Arc::new(start(SandboxConfig::new()));
    let runner = {
        let sb = sb.clone();
        std::thread::spawn(move || sb.exec(&ExecRequest::new(["sleep", "30"])))
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    sb.destroy().unwrap();
    let result = runner.join().unwrap();
    assert!(result.is_err(), "the command cannot finish normally: {result:?}");
    let _: &Sandbox = &sb;
}
