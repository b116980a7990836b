//! Resource limits: a sandbox with 64 MiB of memory, half a CPU and 64 tasks, a command
//! that allocates past the limit, and the sandbox's counters. Also prints what the limits
//! cost at start-up: `Sandbox::create` + `start` with and without them.
//!
//! ```text
//! cargo run -p nucleus-core --example limits [ROUNDS] [PAUSE_MS]
//! ```
//!
//! On v1, moving the init into its cgroups waits for an RCU grace period unless another
//! migration happened just before; PAUSE_MS between rounds (default 100) measures the
//! cold case, 0 the back-to-back one.
//!
//! Without root this host may have no cgroups to give: then the example shows the error,
//! and the warning of degraded mode.

use std::time::{Duration, Instant};

use nucleus_core::{ByteSize, ExecRequest, Limits, Sandbox, SandboxConfig};

fn limits() -> Limits {
    Limits { memory: Some(ByteSize(64 << 20)), cpus: Some(0.5), pids: Some(64), ..Limits::default() }
}

/// The median time to create and start a sandbox with `config`, over `rounds` spaced by
/// `pause`.
fn startup(config: &SandboxConfig, rounds: usize, pause: Duration) -> nucleus_core::Result<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        std::thread::sleep(pause);
        let started = Instant::now();
        let sandbox = Sandbox::create(config.clone())?;
        sandbox.start()?;
        times.push(started.elapsed());
        sandbox.destroy()?;
    }
    times.sort();
    Ok(times[rounds / 2])
}

fn main() -> nucleus_core::Result<()> {
    let arg = |n: usize| std::env::args().nth(n).and_then(|a| a.parse().ok());
    let rounds = arg(1).unwrap_or(20);
    let pause = Duration::from_millis(arg(2).unwrap_or(100) as u64);
    let config = SandboxConfig::new().limits(limits());
    let sandbox = match Sandbox::create(config.clone()) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            println!("limits refused: {e}");
            let sandbox = Sandbox::create(config.allow_degraded(true))?;
            println!("degraded mode warnings: {:?}", sandbox.warnings());
            return Ok(());
        }
    };
    sandbox.start()?;
    println!("cgroups: {:?}", sandbox.cgroup_paths());
    let bomb = "a = []\nwhile True: a.append(b'x' * (1 << 20))";
    let out = sandbox.exec(&ExecRequest::new(["python3", "-c", bomb]))?;
    println!("memory bomb: {:?}, oom_killed {}, peak {:?} bytes", out.status, out.oom_killed, out.peak_memory);
    println!("stats: {}", serde_json::to_string(&sandbox.stats()?).expect("stats serialize"));
    sandbox.destroy()?;

    let plain = startup(&SandboxConfig::new(), rounds, pause)?;
    let limited = startup(&SandboxConfig::new().limits(limits()), rounds, pause)?;
    println!("create+start, median of {rounds} spaced {pause:?}: without limits {plain:?}, with limits {limited:?}");
    Ok(())
}
