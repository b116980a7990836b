//! Run one command in a fresh sandbox and print its output: `run [--timeout SECS] -- CMD ARGS`.
//! Handy for trying what works inside.

use std::time::Duration;

use nucleus_core::{ExecRequest, Sandbox, SandboxConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut timeout = Duration::from_secs(60);
    if args.first().map(String::as_str) == Some("--timeout") {
        timeout = Duration::from_secs_f64(args[1].parse()?);
        args.drain(..2);
    }
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    let sandbox = Sandbox::create(SandboxConfig::new())?;
    sandbox.start()?;
    let out = sandbox.exec(&ExecRequest::new(args).timeout(timeout))?;
    print!("{}", out.stdout_text());
    eprint!("{}", out.stderr_text());
    eprintln!("[{:?}{}]", out.status, if out.timed_out { ", timed out" } else { "" });
    sandbox.destroy()?;
    std::process::exit(out.code().unwrap_or(128 + out.status.signal.unwrap_or(0)));
}
