//! nucleus-bench: start-up, exec latency, density and throughput of nucleus sandboxes,
//! side by side with bubblewrap, crun and runc set up for the same isolation.
//!
//! `scripts/bench.sh` installs the peers and runs this; `docs/benchmarks.md` explains the
//! method and the figures. Run `nucleus-bench --help` for the options.

mod chart;
mod harness;
mod memory;
mod peers;
mod report;
mod stats;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nucleus_core::{ExecRequest, Pool, Sandbox, SandboxConfig};
use serde::Serialize;
use serde_json::Value;

use harness::{Group, Tool};
use peers::Bundle;

const TRUE: &str = "/bin/true";
const PYTHON: &str = "/usr/bin/python3";
/// Sandboxes the warm pool of the `pool` part keeps ready.
const POOL_SIZE: usize = 4;

/// Command-line options.
#[derive(Debug, Clone)]
struct Options {
    cycles: usize,
    python_cycles: usize,
    execs: usize,
    density: usize,
    throughput_secs: f64,
    layer_cycles: usize,
    /// Paired runs of the one-shot cycle and limits comparisons (0: not run).
    one_shot: usize,
    /// Idle time before each one-shot run.
    idle_ms: u64,
    workers: usize,
    only: Option<Vec<String>>,
    out_dir: PathBuf,
    chart: PathBuf,
    layers: PathBuf,
    python: Option<PathBuf>,
    /// Profiling aid: run only this many nucleus cycles (or execs) and exit.
    loop_cycles: Option<usize>,
    loop_execs: Option<usize>,
}

impl Options {
    fn parse() -> Options {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
        let mut o = Options {
            cycles: 300,
            python_cycles: 120,
            execs: 1000,
            density: 1000,
            throughput_secs: 10.0,
            layer_cycles: 150,
            one_shot: 100,
            idle_ms: 50,
            workers: 2,
            only: None,
            out_dir: root.join("target/bench"),
            chart: root.join("docs/benchmarks.png"),
            layers: root.join("bench/layers.json"),
            python: None,
            loop_cycles: None,
            loop_execs: None,
        };
        let venv = root.join("target/python-venv/bin/python");
        if venv.is_file() {
            o.python = Some(venv);
        }
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        let value = |i: &mut usize| -> String {
            *i += 1;
            args.get(*i).cloned().unwrap_or_else(|| die(&format!("{} needs a value", args[*i - 1])))
        };
        let num = |s: String| -> usize { s.parse().unwrap_or_else(|_| die(&format!("not a number: {s}"))) };
        while i < args.len() {
            match args[i].as_str() {
                "--quick" => {
                    o.cycles = 60;
                    o.python_cycles = 30;
                    o.execs = 300;
                    o.density = 200;
                    o.throughput_secs = 4.0;
                    o.layer_cycles = 40;
                    o.one_shot = 20;
                }
                "--cycles" => o.cycles = num(value(&mut i)),
                "--python-cycles" => o.python_cycles = num(value(&mut i)),
                "--execs" => o.execs = num(value(&mut i)),
                "--density" => o.density = num(value(&mut i)),
                "--throughput-secs" => {
                    o.throughput_secs = value(&mut i).parse().unwrap_or_else(|_| die("--throughput-secs: not a number"))
                }
                "--layer-cycles" => o.layer_cycles = num(value(&mut i)),
                "--one-shot" => o.one_shot = num(value(&mut i)),
                "--idle-ms" => o.idle_ms = num(value(&mut i)) as u64,
                "--workers" => o.workers = num(value(&mut i)),
                "--only" => o.only = Some(value(&mut i).split(',').map(str::to_owned).collect()),
                "--out-dir" => o.out_dir = value(&mut i).into(),
                "--chart" => o.chart = value(&mut i).into(),
                "--layers" => o.layers = value(&mut i).into(),
                "--python" => o.python = Some(value(&mut i).into()),
                "--no-python" => o.python = None,
                "--loop-cycles" => o.loop_cycles = Some(num(value(&mut i))),
                "--loop-execs" => o.loop_execs = Some(num(value(&mut i))),
                "-h" | "--help" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                other => die(&format!("unknown option {other} (see --help)")),
            }
            i += 1;
        }
        o
    }

    fn wants(&self, part: &str) -> bool {
        self.only.as_ref().map_or(true, |o| o.iter().any(|p| p == part))
    }

    /// The idle time before each one-shot run, when one-shot runs are wanted.
    fn one_shot_idle(&self) -> Option<Duration> {
        (self.one_shot > 0).then(|| Duration::from_millis(self.idle_ms))
    }
}

/// How a group's title says it was paced.
fn pace_title(idle: Option<Duration>) -> String {
    match idle {
        Some(idle) => format!(", one-shot (each run after {} ms idle)", idle.as_millis()),
        None => String::new(),
    }
}

const HELP: &str = "nucleus-bench [options]
  --quick                 fewer runs (a smoke test of the harness, not figures to quote)
  --cycles N              paired runs of the /bin/true cycle (300)
  --python-cycles N       paired runs of the python3 -c pass cycle (120)
  --execs N               paired runs of exec vs host spawn (1000)
  --density N             idle sandboxes to hold at once (1000)
  --throughput-secs S     seconds per tool of the parallel cycle test (10)
  --workers N             parallel workers of the throughput test (2)
  --layer-cycles N        paired runs per security-layer variant (150)
  --one-shot N            paired one-shot runs of the cycle and limits comparisons, each
                          after --idle-ms of idleness (100; 0 leaves them out)
  --idle-ms MS            idle time before each one-shot run (50)
  --layers FILE           the layer variants as config JSON fragments (bench/layers.json)
  --only a,b              run only these parts: cycle,pool,python,exec,pyapi,density,throughput,layers
  --out-dir DIR           results.json and results.md go here (target/bench)
  --chart FILE            the chart (docs/benchmarks.png)
  --python PY / --no-python   interpreter with the nucleus package for the Python API
                          comparison (default target/python-venv/bin/python when present)";

fn die(msg: &str) -> ! {
    eprintln!("nucleus-bench: {msg}");
    std::process::exit(2)
}

/// Everything one run found, as written to results.json.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub host: Vec<(String, String)>,
    pub setup_notes: Vec<String>,
    pub groups: Vec<Group>,
    pub phases: Vec<(String, stats::Summary)>,
    /// The warm-pool run by phase: take, exec, destroy.
    pub pool_phases: Vec<(String, stats::Summary)>,
    pub density: Option<Density>,
    pub throughput: Vec<(String, harness::Rate)>,
    pub python_api: Option<Value>,
    pub missing_layers: Vec<(String, String)>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Density {
    pub requested: usize,
    pub held: usize,
    pub create_error: Option<String>,
    pub create_seconds: f64,
    pub mem_available_drop_kib: i64,
    pub per_sandbox_kib_system: f64,
    pub cgroup_file: Option<String>,
    pub per_sandbox_kib_cgroup: Option<f64>,
    pub meminfo_deltas_kib: Vec<(String, i64)>,
    pub supervisor_pss_kib: Option<f64>,
    pub init_pss_kib: Option<f64>,
    pub caller_fds: usize,
    pub alive_check: String,
    pub destroy_seconds: f64,
    pub destroy_errors: usize,
    pub mem_recovered_kib: i64,
    pub bwrap_per_sandbox_kib_system: Option<f64>,
}

fn main() {
    let opts = Options::parse();
    if opts.loop_cycles.is_some() || opts.loop_execs.is_some() {
        profile_loop(&opts);
        return;
    }
    let mut results = Results::default();
    let cgroups = peers::cgroup_mode();

    // Before any thread exists: the crun workaround needs a single-threaded process.
    match peers::hide_hybrid_cgroup2() {
        Ok(Some(note)) => results.setup_notes.push(note),
        Ok(None) => {}
        Err(e) => results.setup_notes.push(format!("could not hide the cgroup2 mount for crun: {e}")),
    }
    raise_nofile(&mut results);
    describe_host(&mut results, cgroups);
    for (k, v) in &results.host {
        eprintln!("{k:>22}: {v}");
    }
    for n in &results.setup_notes {
        eprintln!("note: {n}");
    }

    std::fs::create_dir_all(&opts.out_dir).unwrap_or_else(|e| die(&format!("{}: {e}", opts.out_dir.display())));
    let bundles = opts.out_dir.join("oci");
    let bundle_true = peers::make_bundle(&bundles, "true", &[TRUE], None).unwrap_or_else(|e| die(&format!("bundle: {e}")));
    let bundle_py =
        peers::make_bundle(&bundles, "python", &[PYTHON, "-c", "pass"], None).unwrap_or_else(|e| die(&format!("bundle: {e}")));
    let bundle_limits = peers::make_bundle(&bundles, "true-limits", &[TRUE], Some(peers::BENCH_LIMITS))
        .unwrap_or_else(|e| die(&format!("bundle: {e}")));

    if opts.wants("cycle") {
        eprintln!("== cycle: create, start, run {TRUE}, destroy");
        let (group, phases) = cycle_group("cycle", TRUE, &[TRUE], &bundle_true, opts.cycles, true, None);
        results.phases = phases;
        results.groups.push(group);
        if let Some(idle) = opts.one_shot_idle() {
            eprintln!("== cycle, one-shot: each run after {} ms idle", opts.idle_ms);
            let (group, _) = cycle_group("cycle-one-shot", TRUE, &[TRUE], &bundle_true, opts.one_shot, true, Some(idle));
            results.groups.push(group);
        }
    }
    if opts.wants("pool") {
        eprintln!("== warm pool: take, run {TRUE}, destroy");
        let (group, phases) = pool_group(opts.cycles);
        results.pool_phases = phases;
        results.groups.push(group);
    }
    if opts.wants("python") {
        eprintln!("== cycle: python3 -c pass");
        let (group, _) = cycle_group("python", "python3 -c pass", &[PYTHON, "-c", "pass"], &bundle_py, opts.python_cycles, false, None);
        results.groups.push(group);
    }
    if opts.wants("exec") {
        eprintln!("== exec in a running sandbox");
        results.groups.push(exec_group(opts.execs));
    }
    if opts.wants("pyapi") {
        match &opts.python {
            Some(py) => {
                eprintln!("== Python API: sandbox.run vs subprocess.run");
                results.python_api = python_api(py, opts.execs / 2);
            }
            None => results.setup_notes.push(
                "Python API comparison skipped: no target/python-venv (run scripts/test-python.sh once, or pass --python)".into(),
            ),
        }
    }
    if opts.wants("throughput") {
        eprintln!("== throughput: {} workers, {} s per tool", opts.workers, opts.throughput_secs);
        results.throughput = throughput(&opts, &bundle_true);
    }
    if opts.wants("layers") {
        eprintln!("== security layers and limits");
        layers(&opts, &bundle_limits, &mut results);
    }
    if opts.wants("density") {
        eprintln!("== density: {} idle sandboxes", opts.density);
        results.density = Some(density(opts.density));
    }

    let md = report::markdown(&results);
    println!("{md}");
    let _ = std::fs::write(opts.out_dir.join("results.md"), &md);
    let _ = std::fs::write(
        opts.out_dir.join("results.json"),
        serde_json::to_vec_pretty(&results).expect("results serialize"),
    );
    match chart::draw(&results, &opts.chart) {
        Ok(()) => eprintln!("chart: {}", opts.chart.display()),
        Err(e) => eprintln!("chart not drawn: {e}"),
    }
    eprintln!("results: {}/results.{{md,json}}", opts.out_dir.display());
}

/// Run only nucleus work, for a profiler to watch (perf, strace, callgrind).
fn profile_loop(opts: &Options) {
    let config = match std::env::var("NUCLEUS_BENCH_CONFIG") {
        Ok(fragment) => {
            let fragment: Value = serde_json::from_str(&fragment).unwrap_or_else(|e| die(&format!("NUCLEUS_BENCH_CONFIG: {e}")));
            config_with(&fragment).unwrap_or_else(|e| die(&e))
        }
        Err(_) => nucleus_config(),
    };
    if let Some(n) = opts.loop_cycles {
        let phases = RefCell::new(Vec::new());
        let t = Instant::now();
        for _ in 0..n {
            nucleus_cycle(&config, &[TRUE], Some(&phases)).unwrap_or_else(|e| die(&e));
        }
        println!("{n} cycles, mean {:.3} ms", t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64);
        for (name, summary) in phase_summaries(phases.into_inner(), n, ["create", "start", "exec", "destroy"]) {
            println!("  {name}: median {:.3} ms", summary.median);
        }
    }
    if let Some(n) = opts.loop_execs {
        let sb = Sandbox::create(config).and_then(|s| s.start().map(|_| s)).unwrap_or_else(|e| die(&e.to_string()));
        let req = ExecRequest::new([TRUE]);
        let t = Instant::now();
        for _ in 0..n {
            sb.exec(&req).unwrap_or_else(|e| die(&e.to_string()));
        }
        println!("{n} execs, mean {:.3} ms", t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64);
    }
}

/// Each sandbox holds descriptors in the caller (control socket, pidfd): lift the soft
/// limit on open files to the hard one.
fn raise_nofile(results: &mut Results) {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            let old = r.rlim_cur;
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 {
                results.setup_notes.push(format!("RLIMIT_NOFILE raised from {old} to {}", r.rlim_max));
            }
        }
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

fn describe_host(results: &mut Results, cgroups: &str) {
    let mut uname: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct.
    unsafe { libc::uname(&mut uname) };
    let release = unsafe { std::ffi::CStr::from_ptr(uname.release.as_ptr()) }.to_string_lossy().into_owned();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = memory::meminfo().get("MemTotal").copied().unwrap_or(0) / 1024;
    let nofile = {
        let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
        r.rlim_cur
    };
    let h = &mut results.host;
    h.push(("kernel".into(), release));
    h.push(("cpus / memory".into(), format!("{cpus} / {mem} MiB")));
    h.push(("user".into(), format!("uid {}", unsafe { libc::geteuid() })));
    h.push(("cgroups".into(), cgroups.into()));
    h.push(("limits".into(), format!(
        "nofile {nofile}, pid_max {}, threads-max {}",
        read_trim("/proc/sys/kernel/pid_max"),
        read_trim("/proc/sys/kernel/threads-max")
    )));
    h.push(("nucleus".into(), nucleus_core::VERSION.into()));
    for tool in ["bwrap", "crun", "runc", "unshare"] {
        let v = if peers::which(tool).is_some() { peers::version(tool) } else { "not installed".into() };
        h.push((tool.into(), v));
    }
}

fn nucleus_config() -> SandboxConfig {
    SandboxConfig::new()
}

/// A config fragment: seccomp and Landlock switched off (degraded mode).
const LAYER_FREE: &str = r#"{"allow_degraded": true, "security": {"seccomp": {"mode": "off"}, "landlock": false}}"#;

/// The default config with `fragment` merged in, built from JSON so that the benchmark
/// compiles whatever the schema's Rust types look like.
fn config_with(fragment: &Value) -> Result<SandboxConfig, String> {
    let mut v: Value = serde_json::from_str(&SandboxConfig::new().to_json()).expect("config json");
    merge(&mut v, fragment);
    SandboxConfig::from_json(&v.to_string()).map_err(|e| format!("no such config: {e}"))
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Run `argv` in `sb`, then destroy it; returns the exec and destroy times in ms.
fn exec_and_destroy(sb: Sandbox, argv: &[&str]) -> Result<[f64; 2], String> {
    let t = Instant::now();
    let out = sb.exec(&ExecRequest::new(argv.iter().copied())).map_err(|e| format!("exec: {e}"))?;
    let exec = ms_since(t);
    let t = Instant::now();
    sb.destroy().map_err(|e| format!("destroy: {e}"))?;
    let destroy = ms_since(t);
    if !out.status.success() {
        return Err(format!("{argv:?} exited {:?}: {}", out.status, out.stderr_text().trim()));
    }
    Ok([exec, destroy])
}

/// Per-phase summaries of the recorded `phases`, warm-up runs (recorded first) dropped.
fn phase_summaries<const N: usize>(
    phases: Vec<[f64; N]>,
    iterations: usize,
    names: [&str; N],
) -> Vec<(String, stats::Summary)> {
    let measured = &phases[phases.len().saturating_sub(iterations)..];
    let column = |i: usize| measured.iter().map(|x| x[i]).collect::<Vec<_>>();
    names.iter().enumerate().map(|(i, name)| (name.to_string(), stats::summarize(&column(i)))).collect()
}

/// The nucleus cycle: create → start → exec → destroy, with each phase's time pushed to
/// `phases` (create, start, exec, destroy).
fn nucleus_cycle(config: &SandboxConfig, argv: &[&str], phases: Option<&RefCell<Vec<[f64; 4]>>>) -> Result<(), String> {
    let t = Instant::now();
    let sb = Sandbox::create(config.clone()).map_err(|e| format!("create: {e}"))?;
    let create = ms_since(t);
    let t = Instant::now();
    sb.start().map_err(|e| format!("start: {e}"))?;
    let start = ms_since(t);
    let [exec, destroy] = exec_and_destroy(sb, argv)?;
    if let Some(p) = phases {
        p.borrow_mut().push([create, start, exec, destroy]);
    }
    Ok(())
}

fn cycle_group(
    key: &str,
    what: &str,
    argv: &[&str],
    bundle: &Bundle,
    iterations: usize,
    with_baselines: bool,
    idle: Option<Duration>,
) -> (Group, Vec<(String, stats::Summary)>) {
    let config = nucleus_config();
    let phases = RefCell::new(Vec::new());
    let bwrap = peers::bwrap_args(argv);
    let unshare = peers::unshare_args(argv);
    let mut tools = vec![
        Tool::new("nucleus", "nucleus", || nucleus_cycle(&config, argv, Some(&phases))),
        Tool::new("bwrap", "peer", || peers::run_collect(Command::new("bwrap").args(&bwrap))),
        Tool::new("crun", "peer", || peers::oci_run("crun", &[], bundle)),
        Tool::new("crun (no cgroup)", "peer", || peers::oci_run("crun", &["--cgroup-manager=disabled"], bundle)),
    ];
    // runc and the unshare baseline add nothing to the python cycle but time.
    if with_baselines && peers::which("runc").is_some() {
        tools.push(Tool::new("runc", "peer", || peers::oci_run("runc", &[], bundle)));
    }
    if with_baselines {
        tools.push(Tool::new("unshare (7 ns, no rootfs)", "baseline", || {
            peers::run_collect(Command::new("unshare").args(&unshare))
        }));
    }
    tools.push(Tool::new("host spawn+wait (no sandbox)", "baseline", || {
        peers::run_collect(Command::new(argv[0]).args(&argv[1..]))
    }));
    let title = format!("Cycle: create → start → run {what} → destroy{}", pace_title(idle));
    let mut group = harness::run_group(key, &title, tools, iterations, 5, 0, idle);
    let summaries = phase_summaries(phases.into_inner(), iterations, ["create", "start", "exec", "destroy"]);
    group.notes.push(format!("peers' commands: bwrap {}", bwrap.join(" ")));
    (group, summaries)
}

/// A sandbox taken from `pool` → exec → destroy, with each phase's time pushed to
/// `phases` (take, exec, destroy).
fn pool_cycle(pool: &Pool, argv: &[&str], phases: &RefCell<Vec<[f64; 3]>>) -> Result<(), String> {
    let t = Instant::now();
    let sb = pool.take().map_err(|e| format!("take: {e}"))?;
    let take = ms_since(t);
    let [exec, destroy] = exec_and_destroy(sb, argv)?;
    phases.borrow_mut().push([take, exec, destroy]);
    Ok(())
}

/// Wait (untimed) until the pool is full again, so its refill overlaps no timed run and
/// every take finds a sandbox ready. Gives up after 30 s; the next take then reports why.
fn await_refill(pool: &Pool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.ready() < pool.size() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The warm pool against the full cycle and bwrap: what a caller that keeps sandboxes
/// ready waits for per sandbox.
fn pool_group(iterations: usize) -> (Group, Vec<(String, stats::Summary)>) {
    let config = nucleus_config();
    let title = format!("Warm pool: take → run {TRUE} → destroy, against the full cycle");
    let pool = match Pool::new(config.clone(), POOL_SIZE) {
        Ok(pool) => pool,
        Err(e) => {
            let mut g = harness::run_group("pool", &title, Vec::new(), 0, 0, 0, None);
            g.notes.push(format!("could not make a pool: {e}"));
            return (g, Vec::new());
        }
    };
    let phases = RefCell::new(Vec::new());
    let bwrap = peers::bwrap_args(&[TRUE]);
    let tools = vec![
        Tool::new("nucleus, taken from a warm pool", "nucleus", || pool_cycle(&pool, &[TRUE], &phases))
            .settled(|| await_refill(&pool)),
        Tool::new("nucleus, created and started", "nucleus", || nucleus_cycle(&config, &[TRUE], None)),
        Tool::new("bwrap", "peer", || peers::run_collect(Command::new("bwrap").args(&bwrap))),
    ];
    let mut group = harness::run_group("pool", &title, tools, iterations, 5, 0, None);
    let summaries = phase_summaries(phases.into_inner(), iterations, ["take", "exec", "destroy"]);
    group.notes.push(format!(
        "pool of {POOL_SIZE}; after each pool run the harness waits, untimed, until the pool is full again, so no \
         refill overlaps a timed run (a refill costs what create and start cost in the cycle)"
    ));
    (group, summaries)
}

fn exec_group(iterations: usize) -> Group {
    let sb = match Sandbox::create(nucleus_config()).and_then(|s| s.start().map(|_| s)) {
        Ok(s) => s,
        Err(e) => {
            let mut g = harness::run_group("exec", "Exec", Vec::new(), 0, 0, 0, None);
            g.notes.push(format!("could not start a sandbox: {e}"));
            return g;
        }
    };
    let exec = |argv: &'static [&'static str]| {
        let sb = &sb;
        let req = ExecRequest::new(argv.iter().copied());
        move || -> Result<(), String> {
            let out = sb.exec(&req).map_err(|e| e.to_string())?;
            if out.status.success() { Ok(()) } else { Err(format!("{argv:?}: {:?}", out.status)) }
        }
    };
    let host_output = |argv: &'static [&'static str]| move || peers::run_collect(Command::new(argv[0]).args(&argv[1..]));
    let host_status = |argv: &'static [&'static str]| {
        move || {
            let s = Command::new(argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if s.success() { Ok(()) } else { Err(format!("{s}")) }
        }
    };
    const T: &[&str] = &[TRUE];
    const P: &[&str] = &[PYTHON, "-c", "pass"];
    // The same exec in a sandbox without seccomp and Landlock: what those layers add to
    // each command.
    let bare_config = config_with(&LAYER_FREE.parse().expect("json"));
    let bare = bare_config.and_then(|c| Sandbox::create(c).and_then(|s| s.start().map(|_| s)).map_err(|e| e.to_string()));
    let exec_bare = || {
        let req = ExecRequest::new([TRUE]);
        let bare = &bare;
        move || -> Result<(), String> {
            let sb = bare.as_ref().map_err(Clone::clone)?;
            let out = sb.exec(&req).map_err(|e| e.to_string())?;
            if out.status.success() { Ok(()) } else { Err(format!("{:?}", out.status)) }
        }
    };
    let tools = vec![
        Tool::new("nucleus exec /bin/true", "nucleus", exec(T)),
        Tool::new("nucleus exec /bin/true, seccomp and landlock off", "nucleus", exec_bare()),
        Tool::new("host spawn+wait /bin/true (output collected)", "baseline", host_output(T)),
        Tool::new("host spawn+wait /bin/true (stdio to /dev/null)", "baseline", host_status(T)),
    ];
    let mut g = harness::run_group("exec", "Exec of /bin/true in a running sandbox vs on the host", tools, iterations, 20, 0, None);
    let tools = vec![
        Tool::new("nucleus exec python3 -c pass", "nucleus", exec(P)),
        Tool::new("host python3 -c pass (output collected)", "baseline", host_output(P)),
    ];
    let gp = harness::run_group("exec-python", "Exec of python3 -c pass", tools, iterations / 5, 5, 0, None);
    // One group for the report; the python rows take their ratio against their own pair.
    g.tools.extend(gp.tools);
    g.notes.push(format!("python3 rows: {} paired runs, ratio against the python pair", iterations / 5));
    g
}

/// sandbox.run vs subprocess.run from Python, timed by a script in the package's venv.
fn python_api(python: &Path, n: usize) -> Option<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py_exec.py");
    let out = Command::new(python).arg(&script).arg(n.to_string()).output().ok()?;
    if !out.status.success() {
        return Some(serde_json::json!({"error": String::from_utf8_lossy(&out.stderr).trim().to_string()}));
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let get = |k: &str| -> Vec<f64> {
        v[k].as_array().map(|a| a.iter().filter_map(Value::as_f64).map(|s| s * 1e3).collect()).unwrap_or_default()
    };
    let (a, b) = (get("sandbox_run"), get("subprocess_run"));
    Some(serde_json::json!({
        "sandbox.run": stats::summarize(&a),
        "subprocess.run": stats::summarize(&b),
        "ratio": stats::paired_ratio(&a, &b),
        "python": v["python"],
    }))
}

/// One full cycle of a tool, callable from any worker thread.
type Job = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

fn throughput(opts: &Options, bundle: &Bundle) -> Vec<(String, harness::Rate)> {
    let config = nucleus_config();
    let nucleus: Job = Arc::new(move || nucleus_cycle(&config, &[TRUE], None));
    let bwrap_args = peers::bwrap_args(&[TRUE]);
    let bwrap: Job =
        Arc::new(move || peers::run_collect(Command::new("bwrap").args(&bwrap_args)));
    let dir = bundle.dir.clone();
    let crun: Job =
        Arc::new(move || peers::oci_run("crun", &[], &Bundle { dir: dir.clone() }));
    // A-B-B-A in two halves: drift on the machine weighs on both alike.
    let half = Duration::from_secs_f64(opts.throughput_secs / 2.0);
    let tools: [(&str, &Job); 3] =
        [("nucleus", &nucleus), ("bwrap", &bwrap), ("crun", &crun)];
    let mut acc: Vec<(String, harness::Rate)> = tools
        .iter()
        .map(|(n, _)| (n.to_string(), harness::Rate { completed: 0, failed: 0, seconds: 0.0, per_second: 0.0, first_error: None }))
        .collect();
    for round in 0..2 {
        let order: Vec<usize> = if round == 0 { vec![0, 1, 2] } else { vec![2, 1, 0] };
        for i in order {
            let r = harness::throughput(tools[i].1.clone(), opts.workers, half);
            eprintln!("  {}: {:.1} cycles/s ({} failed)", tools[i].0, r.per_second, r.failed);
            let a = &mut acc[i].1;
            a.completed += r.completed;
            a.failed += r.failed;
            a.seconds += r.seconds;
            if a.first_error.is_none() {
                a.first_error = r.first_error;
            }
        }
    }
    for (_, a) in &mut acc {
        a.per_second = a.completed as f64 / a.seconds;
    }
    acc
}

/// Deep-merge `patch` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The layer variants: each a JSON fragment on top of the default config. A fragment the
/// config schema does not accept yet is listed as missing.
fn layers(opts: &Options, bundle_limits: &Bundle, results: &mut Results) {
    let text = match std::fs::read_to_string(&opts.layers) {
        Ok(t) => t,
        Err(e) => {
            results.missing_layers.push(("(all)".into(), format!("{}: {e}", opts.layers.display())));
            return;
        }
    };
    let spec: Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&format!("{}: {e}", opts.layers.display())));
    let base_json: Value = serde_json::from_str(&SandboxConfig::new().to_json()).expect("config json");
    let build = |fragment: &Value| -> Result<SandboxConfig, String> {
        let mut v = base_json.clone();
        merge(&mut v, &spec["base"]);
        merge(&mut v, fragment);
        let config = SandboxConfig::from_json(&v.to_string()).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    };
    let mut variants: Vec<(String, SandboxConfig)> = Vec::new();
    for v in spec["variants"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("?").to_string();
        match build(&v["fragment"]) {
            Ok(c) => variants.push((name, c)),
            Err(e) => results.missing_layers.push((name, e)),
        }
    }
    if variants.len() > 1 {
        let tools = variants
            .iter()
            .map(|(name, c)| Tool::new(format!("nucleus, {name}"), "nucleus", move || nucleus_cycle(c, &[TRUE], None)))
            .collect();
        let g = harness::run_group("layers", "Cycle of /bin/true with each layer switched off in turn", tools, opts.layer_cycles, 3, 0, None);
        results.groups.push(g);
    } else if !variants.is_empty() {
        results.missing_layers.push(("(comparison)".into(), "only the reference variant builds; nothing to compare".into()));
    }
    // Limits against crun with the same limits, back to back and one-shot.
    match build(&spec["limits"]) {
        Ok(config) => {
            let paces = [("limits", opts.layer_cycles, None), ("limits-one-shot", opts.one_shot, opts.one_shot_idle())];
            for (key, iterations, idle) in paces.into_iter().filter(|(_, n, _)| *n > 0) {
                let tools = vec![
                    Tool::new("nucleus with limits", "nucleus", || nucleus_cycle(&config, &[TRUE], None)),
                    Tool::new("crun with limits", "peer", || peers::oci_run("crun", &[], bundle_limits)),
                ];
                let title = format!("Cycle of /bin/true with memory 512 MiB, pids 256, cpu 1.0 limits{}", pace_title(idle));
                results.groups.push(harness::run_group(key, &title, tools, iterations, 3, 0, idle));
            }
        }
        Err(e) => results.missing_layers.push(("limits (memory/pids/cpu) vs crun".into(), e)),
    }
}

/// Hold `n` idle sandboxes, measure what they cost the host, destroy them all.
fn density(n: usize) -> Density {
    let mut d = Density { requested: n, ..Default::default() };
    settle();
    let before = memory::meminfo();
    let cg_before = memory::cgroup_charge();
    let fds_before = count_fds();
    let mut held: Vec<Sandbox> = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        match Sandbox::create(nucleus_config()).and_then(|s| s.start().map(|_| s)) {
            Ok(s) => held.push(s),
            Err(e) => {
                d.create_error = Some(format!("sandbox {}: {e}", i + 1));
                break;
            }
        }
        if (i + 1) % 100 == 0 {
            eprint!("\r  created {}/{n} ({:.1} s)   ", i + 1, t0.elapsed().as_secs_f64());
        }
    }
    eprintln!();
    d.create_seconds = t0.elapsed().as_secs_f64();
    d.held = held.len();
    settle();
    let after = memory::meminfo();
    let cg_after = memory::cgroup_charge();
    d.caller_fds = count_fds().saturating_sub(fds_before);
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) as i64 - before.get(k).copied().unwrap_or(0) as i64;
    d.mem_available_drop_kib = -delta("MemAvailable");
    let count = d.held.max(1) as f64;
    d.per_sandbox_kib_system = d.mem_available_drop_kib as f64 / count;
    for k in ["MemFree", "AnonPages", "Shmem", "Slab", "SUnreclaim", "KernelStack", "PageTables", "Cached"] {
        d.meminfo_deltas_kib.push((k.into(), delta(k)));
    }
    if let (Some((b, file)), Some((a, _))) = (&cg_before, &cg_after) {
        d.cgroup_file = Some(file.clone());
        d.per_sandbox_kib_cgroup = Some((*a as f64 - *b as f64) / 1024.0 / count);
    }
    let pss = |pid: Option<i32>| pid.and_then(memory::pss_kib);
    let sup: Vec<u64> = held.iter().filter_map(|s| pss(s.supervisor_pid())).collect();
    let init: Vec<u64> = held.iter().filter_map(|s| pss(s.init_pid())).collect();
    let mean = |v: &[u64]| (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64);
    d.supervisor_pss_kib = mean(&sup);
    d.init_pss_kib = mean(&init);
    // Every one still answers: exec in the first, middle and last.
    let picks = [0, held.len() / 2, held.len().saturating_sub(1)];
    let ok = picks
        .iter()
        .filter_map(|&i| held.get(i))
        .filter(|s| s.exec(&ExecRequest::new([TRUE])).map(|o| o.status.success()).unwrap_or(false))
        .count();
    d.alive_check = format!("exec /bin/true answered in {ok} of {} probed sandboxes", picks.len());
    let t1 = Instant::now();
    for s in &held {
        if s.destroy().is_err() {
            d.destroy_errors += 1;
        }
    }
    d.destroy_seconds = t1.elapsed().as_secs_f64();
    drop(held);
    settle();
    let end = memory::meminfo();
    d.mem_recovered_kib = end.get("MemAvailable").copied().unwrap_or(0) as i64 - after.get("MemAvailable").copied().unwrap_or(0) as i64;
    eprintln!(
        "  held {}, {:.0} KiB each (MemAvailable), created in {:.1} s, destroyed in {:.2} s",
        d.held, d.per_sandbox_kib_system, d.create_seconds, d.destroy_seconds
    );
    d
}

/// Let deferred frees (RCU, workqueues) land before reading memory figures.
fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
