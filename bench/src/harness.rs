//! Running tools side by side: every iteration runs each tool once, in a shuffled order,
//! so that what the machine is doing at the time weighs on all of them alike and each
//! ratio compares samples taken seconds apart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::{self, Summary};

/// One thing to time: a name, a role, and the work of one run.
pub struct Tool<'a> {
    pub name: String,
    /// "nucleus", "peer" or "baseline" (colours the chart, picks the reference).
    pub role: &'static str,
    pub run: Box<dyn FnMut() -> Result<(), String> + 'a>,
    /// Untimed work after each run, such as waiting for a pool to refill, so that what a
    /// tool leaves going in the background overlaps no timed run.
    pub settle: Option<Box<dyn FnMut() + 'a>>,
}

impl<'a> Tool<'a> {
    pub fn new(name: impl Into<String>, role: &'static str, run: impl FnMut() -> Result<(), String> + 'a) -> Self {
        Tool { name: name.into(), role, run: Box::new(run), settle: None }
    }

    /// Run `settle`, untimed, after each run of this tool.
    pub fn settled(mut self, settle: impl FnMut() + 'a) -> Self {
        self.settle = Some(Box::new(settle));
        self
    }

    fn settle(&mut self) {
        if let Some(settle) = &mut self.settle {
            settle();
        }
    }
}

/// The outcome for one tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolResult {
    pub name: String,
    pub role: &'static str,
    pub summary: Option<Summary>,
    /// Median over iterations of reference time ÷ this tool's time in the same iteration.
    pub ratio_to_reference: Option<f64>,
    pub failures: usize,
    pub error: Option<String>,
    #[serde(skip)]
    pub samples: Vec<f64>,
}

/// The outcome of a group of tools run side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub key: String,
    pub title: String,
    pub iterations: usize,
    /// Idle time before each timed run, in ms; 0 when the runs follow each other.
    pub idle_ms: u64,
    /// Index of the tool the ratios are taken against.
    pub reference: usize,
    pub tools: Vec<ToolResult>,
    pub notes: Vec<String>,
}

impl Group {
    pub fn tool(&self, name: &str) -> Option<&ToolResult> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// A small deterministic generator for the run order.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Run every tool `iterations` times (after `warmup` unrecorded rounds), one run of each
/// per iteration in shuffled order. A tool that fails during warm-up is dropped with its
/// error; one that fails in more than 5% of the measured runs is reported as failing.
/// Ratios are taken against `tools[reference]`. With `idle`, each timed run comes after
/// that long with nothing running (one-shot), else right after the one before (back to
/// back).
pub fn run_group(
    key: &str,
    title: &str,
    mut tools: Vec<Tool<'_>>,
    iterations: usize,
    warmup: usize,
    reference: usize,
    idle: Option<Duration>,
) -> Group {
    let n = tools.len();
    let mut errors: Vec<Option<String>> = vec![None; n];
    for _ in 0..warmup {
        for (i, t) in tools.iter_mut().enumerate() {
            if errors[i].is_none() {
                if let Err(e) = (t.run)() {
                    errors[i] = Some(e);
                }
                t.settle();
            }
        }
    }
    let mut samples = vec![vec![f64::NAN; iterations]; n];
    let mut failures = vec![0usize; n];
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ key.len() as u64);
    let mut order: Vec<usize> = (0..n).collect();
    let started = Instant::now();
    // Indexes samples[tool][iteration]: the loop runs over iterations.
    #[allow(clippy::needless_range_loop)]
    for it in 0..iterations {
        rng.shuffle(&mut order);
        for &i in &order {
            if errors[i].is_some() {
                continue;
            }
            if let Some(idle) = idle {
                std::thread::sleep(idle);
            }
            let t0 = Instant::now();
            let r = (tools[i].run)();
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            tools[i].settle();
            match r {
                Ok(()) => samples[i][it] = ms,
                Err(e) => {
                    failures[i] += 1;
                    if failures[i] * 20 > iterations {
                        errors[i] = Some(e);
                    }
                }
            }
        }
        if (it + 1) % 50 == 0 || it + 1 == iterations {
            eprint!("\r  {key}: {}/{iterations} iterations ({:.0} s)   ", it + 1, started.elapsed().as_secs_f64());
        }
    }
    eprintln!();
    let reference_samples = samples[reference].clone();
    let results = tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ok = errors[i].is_none();
            ToolResult {
                name: t.name.clone(),
                role: t.role,
                summary: ok.then(|| stats::summarize(&samples[i])),
                ratio_to_reference: (ok && i != reference && errors[reference].is_none())
                    .then(|| stats::paired_ratio(&reference_samples, &samples[i])),
                failures: failures[i],
                error: errors[i].clone(),
                samples: samples[i].clone(),
            }
        })
        .collect();
    let idle_ms = idle.map_or(0, |d| d.as_millis() as u64);
    Group { key: key.into(), title: title.into(), iterations, idle_ms, reference, tools: results, notes: Vec::new() }
}

/// Completed runs per second of `work` done by `workers` threads for `duration`.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub completed: u64,
    pub failed: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub first_error: Option<String>,
}

pub fn throughput(work: Arc<dyn Fn() -> Result<(), String> + Send + Sync>, workers: usize, duration: Duration) -> Rate {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (stop, done, failed, work, first_error) =
                (stop.clone(), done.clone(), failed.clone(), work.clone(), first_error.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match work() {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            first_error.lock().unwrap().get_or_insert(e);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    // Runs still in flight at the deadline finish and count: divide by the real time.
    let seconds = started.elapsed().as_secs_f64();
    let completed = done.load(Ordering::Relaxed);
    let first_error = first_error.lock().unwrap().clone();
    Rate { completed, failed: failed.load(Ordering::Relaxed), seconds, per_second: completed as f64 / seconds, first_error }
}
