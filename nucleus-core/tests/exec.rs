//! Running commands: exit status, signals, stdin/stdout/stderr, env, cwd, timeouts,
//! output caps, streaming, and many commands per sandbox.

mod common;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::*;
use nucleus_core::{ErrorKind, ExecRequest, SandboxConfig};

#[test]
fn exec_reports_exit_codes_and_signals_exactly() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sh(&sb, "exit 7").status.code, Some(7));
    let out = sh(&sb, "kill -9 $$");
    assert_eq!((out.status.code, out.status.signal), (None, Some(9)));
    let out = sh(&sb, "echo out; echo err >&2");
    assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    assert!(!out.timed_out && !out.truncated);
}

#[test]
fn exec_env_and_cwd_are_applied() {
    let sb = start(SandboxConfig::new().env("FROM_CONFIG", "c").env("BOTH", "config").cwd("/tmp"));
    let out = sb
        .exec(&ExecRequest::shell("echo $FROM_CONFIG $BOTH $HOME; pwd").env("BOTH", "request"))
        .unwrap();
    assert_eq!(out.stdout_text(), "c request /tmp\n/tmp\n");
    let out = sb.exec(&ExecRequest::shell("pwd").cwd("/workspace")).unwrap();
    assert_eq!(out.stdout_text(), "/workspace\n");
}

#[test]
fn exec_missing_program_and_bad_cwd_are_exec_errors() {
    let sb = start(SandboxConfig::new());
    let e = sb.exec(&ExecRequest::new(["no-such-program-xyz"])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ExecFailed);
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.to_string().contains("no-such-program-xyz"), "{e}");
    let e = sb.exec(&ExecRequest::new(["/etc/passwd"])).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EACCES), "{e}");
    let e = sb.exec(&ExecRequest::new(["true"]).cwd("/nope")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ExecFailed);
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.to_string().contains("working directory /nope"), "{e}");
    let e = sb.exec(&ExecRequest::new(["true"]).cwd("/etc/hostname")).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::ExecFailed, Some(libc::ENOTDIR)), "{e}");
    assert!(e.to_string().contains("/etc/hostname"), "{e}");
    // The sandbox is still usable.
    assert_eq!(sh_ok(&sb, "echo fine"), "fine");
}

#[test]
fn exec_commands_starting_at_once_each_get_their_own_result() {
    // Commands start alongside each other while the init serves other requests: programs
    // found after misses of a $PATH search, programs found nowhere, files the init fails
    // to open. Each caller gets its own outcome and errno.
    let sb = start(SandboxConfig::new());
    std::thread::scope(|s| {
        for t in 0..6 {
            let sb = &sb;
            s.spawn(move || {
                for i in 0..40 {
                    match t % 3 {
                        0 => {
                            let out = sb.exec(&ExecRequest::new(["sh", "-c", &format!("exit {}", i % 7)])).unwrap();
                            assert_eq!(out.code(), Some(i % 7));
                        }
                        1 => {
                            let e = sb.exec(&ExecRequest::new(["no-such-program-xyz"])).unwrap_err();
                            assert_eq!((e.kind(), e.errno()), (ErrorKind::ExecFailed, Some(libc::ENOENT)), "{e}");
                        }
                        _ => {
                            let e = sb.read_file("/no/such/file").unwrap_err();
                            assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
                        }
                    }
                }
            });
        }
    });
}

#[test]
fn exec_command_starts_with_default_signals_only_stdio_and_its_own_session() {
    let sb = start(SandboxConfig::new());
    let mask = |status: &str, field: &str| {
        let line = status.lines().find(|l| l.starts_with(field)).expect(field);
        u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
    };
    // The init ignores SIGPIPE (Rust's runtime does; glibc's posix_spawn, which started
    // the supervisor, leaves signals 32 and 33 ignored too) and blocks SIGCHLD (it reads a
    // signalfd); a command sees none of that.
    let init = sh_ok(&sb, "cat /proc/1/status");
    let bit = |sig: i32| 1u64 << (sig - 1);
    assert_ne!(mask(&init, "SigIgn:") & bit(libc::SIGPIPE), 0, "{init}");
    assert_ne!(mask(&init, "SigBlk:") & bit(libc::SIGCHLD), 0, "{init}");
    let own = sb.exec(&ExecRequest::new(["cat", "/proc/self/status"])).unwrap().stdout_text();
    assert_eq!((mask(&own, "SigIgn:"), mask(&own, "SigBlk:")), (0, 0), "{own}");
    // Only stdin, stdout and stderr are inherited (3 is ls's own listing of the directory).
    let fds = sb.exec(&ExecRequest::new(["ls", "/proc/self/fd"])).unwrap().stdout_text();
    assert_eq!(fds.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    // It leads its own session and process group: pid, pgrp and sid are equal.
    let stat = sb.exec(&ExecRequest::new(["cat", "/proc/self/stat"])).unwrap().stdout_text();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let pid = stat.split(' ').next().unwrap();
    assert_eq!((fields[2], fields[3]), (pid, pid), "{stat}");
}

#[test]
fn exec_bad_requests_name_the_field() {
    let sb = start(SandboxConfig::new());
    assert_eq!(sb.exec(&ExecRequest::new(Vec::<String>::new())).unwrap_err().field(), Some("argv"));
    assert_eq!(sb.exec(&ExecRequest::new(["a\0b"])).unwrap_err().field(), Some("argv[0]"));
    assert_eq!(sb.exec(&ExecRequest::new(["true"]).cwd("rel")).unwrap_err().field(), Some("cwd"));
    assert_eq!(sb.exec(&ExecRequest::new(["true"]).env("", "x")).unwrap_err().field(), Some("env."));
    assert_eq!(
        sb.exec(&ExecRequest::new(["true"]).timeout(Duration::ZERO)).unwrap_err().field(),
        Some("timeout")
    );
    assert_eq!(sb.spawn(&ExecRequest::new(["true"]).stdin("x")).unwrap_err().field(), Some("stdin"));
}

#[test]
fn exec_stdin_round_trips() {
    let sb = start(SandboxConfig::new());
    let input: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let out = sb.exec(&ExecRequest::new(["cat"]).stdin(input.clone())).unwrap();
    assert_eq!(out.code(), Some(0));
    assert!(out.stdout == input, "stdin did not round-trip ({} bytes back)", out.stdout.len());
    // A command that ignores its stdin does not hang the caller or kill it with SIGPIPE.
    let out = sb.exec(&ExecRequest::new(["true"]).stdin(vec![b'x'; 1 << 20])).unwrap();
    assert_eq!(out.code(), Some(0));
}

#[test]
fn exec_output_cap_keeps_the_first_bytes_and_never_blocks() {
    let sb = start(SandboxConfig::new());
    let out = sb
        .exec(&ExecRequest::shell("yes | head -c 20000000; echo done >&2").max_output(1000))
        .unwrap();
    assert_eq!(out.code(), Some(0));
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout.starts_with(b"y\ny\n"));
    assert_eq!(out.stderr, b"done\n");
}

#[test]
fn exec_timeout_kills_the_whole_tree() {
    let sb = start(SandboxConfig::new());
    let t = Instant::now();
    let out = sb
        .exec(&ExecRequest::shell("sleep 100 & sleep 100").timeout(Duration::from_millis(500)))
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.status.signal, Some(libc::SIGKILL));
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    assert!(
        eventually(5, || sh_ok(&sb, "cat /proc/[0-9]*/comm 2>/dev/null | grep -c sleep || true") == "0"),
        "a sleep survived the timeout"
    );
}

#[test]
fn exec_returns_when_the_command_exits_even_if_a_background_child_holds_stdout() {
    let sb = start(SandboxConfig::new());
    let t = Instant::now();
    let out = sh(&sb, "sleep 30 & echo started");
    assert_eq!(out.stdout_text(), "started\n");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn exec_two_hundred_commands_in_one_sandbox() {
    let sb = start(SandboxConfig::new());
    for i in 0..200 {
        let out = sb.exec(&ExecRequest::new(["echo", &i.to_string()])).unwrap();
        assert_eq!(out.stdout_text(), format!("{i}\n"));
    }
    // Every exited command was reaped: no zombies, and only init plus this shell remain.
    assert_eq!(sh_ok(&sb, "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l"), "0");
    // The glob is expanded by the shell itself: init and this shell are all there is.
    assert_eq!(sh_ok(&sb, "set -- /proc/[0-9]*; echo $#"), "2");

}

#[test]
fn exec_spawn_streams_lines_before_the_process_ends() {
    let sb = start(SandboxConfig::new());
    let mut p = sb
        .spawn(&ExecRequest::new(["python3", "-u", "-c", "import time\nfor i in range(3):\n    print(i); time.sleep(0.4)"]))
        .unwrap();
    assert!(p.pid() > 1);
    let t = Instant::now();
    let mut lines = BufReader::new(p.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "0");
    let first = t.elapsed();
    assert!(p.try_wait().unwrap().is_none(), "still running after the first line");
    assert_eq!(lines.next().unwrap().unwrap(), "1");
    assert_eq!(lines.next().unwrap().unwrap(), "2");
    assert!(p.wait().unwrap().success());
    assert!(first < t.elapsed(), "the first line came before the end");
}

#[test]
fn exec_spawn_stdin_wait_timeout_and_kill() {
    let sb = start(SandboxConfig::new());
    let mut p = sb.spawn(&ExecRequest::new(["cat"])).unwrap();
    p.stdin.as_mut().unwrap().write_all(b"hello\n").unwrap();
    drop(p.stdin.take());
    let mut line = String::new();
    BufReader::new(p.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "hello\n");
    assert_eq!(p.wait().unwrap().code, Some(0));

    let mut p = sb.spawn(&ExecRequest::new(["sleep", "100"])).unwrap();
    assert_eq!(p.wait_timeout(Duration::from_millis(100)).unwrap(), None);
    p.kill(libc::SIGTERM).unwrap();
    assert_eq!(p.wait().unwrap().signal, Some(libc::SIGTERM));
}

#[test]
fn exec_sandbox_kill_signals_everything_but_init() {
    let sb = start(SandboxConfig::new());
    let mut p = sb.spawn(&ExecRequest::shell("sleep 100 & sleep 100")).unwrap();
    sb.kill(libc::SIGKILL).unwrap();
    assert_eq!(p.wait().unwrap().signal, Some(libc::SIGKILL));
    assert_eq!(sh_ok(&sb, "echo alive"), "alive");
}

#[test]
fn exec_cancellable_stops_when_asked_and_kills_the_command() {
    let sb = start(SandboxConfig::new());
    let t = Instant::now();
    let mut asked = 0;
    let out = sb
        .exec_cancellable(&ExecRequest::shell("sleep 100 & sleep 100"), &mut || {
            asked += 1;
            t.elapsed() > Duration::from_millis(300)
        })
        .unwrap();
    assert!(out.is_none());
    assert!(asked >= 3, "asked {asked} times");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(eventually(5, || sh_ok(&sb, "cat /proc/[0-9]*/comm 2>/dev/null | grep -c sleep || true") == "0"));
    let out = sb.exec_cancellable(&ExecRequest::new(["echo", "done"]), &mut || false).unwrap().unwrap();
    assert_eq!(out.stdout_text(), "done\n");
}
