//! The results as a Markdown report: one table per part, then the targets.

use std::fmt::Write;

use crate::harness::Group;
use crate::Results;

fn ms(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

fn group_table(out: &mut String, g: &Group) {
    let reference = &g.tools.get(g.reference).map(|t| t.name.clone()).unwrap_or_default();
    let _ = writeln!(out, "### {}\n", g.title);
    let pace = match g.idle_ms {
        0 => "back to back".to_string(),
        ms => format!("each run after {ms} ms with nothing running (one-shot)"),
    };
    let _ = writeln!(out, "{} paired iterations, each tool once per iteration in shuffled order, {pace}.\n", g.iterations);
    let _ = writeln!(out, "| tool | median ms | p95 ms | {reference} ÷ tool (paired) |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for t in &g.tools {
        match (&t.summary, &t.error) {
            (Some(s), _) => {
                let ratio = t.ratio_to_reference.map(|r| format!("{r:.2}")).unwrap_or_else(|| "reference".into());
                let fail = if t.failures > 0 { format!(" ({} failed)", t.failures) } else { String::new() };
                let _ = writeln!(out, "| {}{fail} | {} | {} | {ratio} |", t.name, ms(s.median), ms(s.p95));
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "| {} | failed | | {} |", t.name, e.replace('|', "/").replace('\n', " "));
            }
            _ => {}
        }
    }
    for n in &g.notes {
        let _ = writeln!(out, "\n{n}");
    }
    out.push('\n');
}

/// A target line: what, measured, goal, met.
struct Target {
    what: String,
    measured: String,
    goal: String,
    met: Option<bool>,
}

fn targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();
    let median = |g: &str, tool: &str| -> Option<f64> {
        r.groups.iter().find(|x| x.key == g)?.tool(tool)?.summary.as_ref().map(|s| s.median)
    };
    let ratio = |g: &str, tool: &str| -> Option<f64> { r.groups.iter().find(|x| x.key == g)?.tool(tool)?.ratio_to_reference };
    for (key, pace) in [("cycle", "back to back"), ("cycle-one-shot", "one-shot")] {
        if let (Some(n), Some(b), Some(q)) = (median(key, "nucleus"), median(key, "bwrap"), ratio(key, "bwrap")) {
            t.push(Target {
                what: format!("cycle, no limits, vs bwrap ({pace})"),
                measured: format!("{} ms vs {} ms (paired ratio {q:.2})", ms(n), ms(b)),
                goal: "≤ 1.0 (goal 0.5)".into(),
                met: Some(q <= 1.0),
            });
        }
    }
    for (key, pace) in [("limits", "back to back"), ("limits-one-shot", "one-shot")] {
        let (nucleus, crun) = ("nucleus with limits", "crun with limits");
        if let (Some(n), Some(c), Some(q)) = (median(key, nucleus), median(key, crun), ratio(key, crun)) {
            t.push(Target {
                what: format!("cycle with memory/pids/cpu limits vs crun with the same ({pace})"),
                measured: format!("{} ms vs {} ms (paired ratio {q:.2})", ms(n), ms(c)),
                goal: "≤ 0.33 (3× faster)".into(),
                met: Some(q <= 1.0 / 3.0),
            });
        }
    }
    for (tool, label) in [
        ("host spawn+wait /bin/true (output collected)", "output collected"),
        ("host spawn+wait /bin/true (stdio to /dev/null)", "stdio to /dev/null"),
    ] {
        if let (Some(n), Some(h), Some(q)) = (median("exec", "nucleus exec /bin/true"), median("exec", tool), ratio("exec", tool)) {
            t.push(Target {
                what: format!("exec /bin/true vs host spawn+wait ({label})"),
                measured: format!("{} ms vs {} ms (paired ratio {q:.2})", ms(n), ms(h)),
                goal: "≤ 1.3".into(),
                met: Some(q <= 1.3),
            });
        }
    }
    if let Some(d) = &r.density {
        let mib = d.per_sandbox_kib_system / 1024.0;
        t.push(Target {
            what: format!("{} idle sandboxes, host memory each (MemAvailable drop)", d.held),
            measured: format!("{mib:.2} MiB"),
            goal: "≤ 2 MiB, ≥ 1000 held".into(),
            met: Some(mib <= 2.0 && d.held >= 1000),
        });
        t.push(Target {
            what: format!("destroy all {}", d.held),
            measured: format!("{:.2} s", d.destroy_seconds),
            goal: "< 5 s".into(),
            met: Some(d.destroy_seconds < 5.0 && d.held >= 1000),
        });
    }
    let rate = |name: &str| r.throughput.iter().find(|(n, _)| n == name).map(|(_, x)| x.per_second);
    if let (Some(n), Some(b)) = (rate("nucleus"), rate("bwrap")) {
        t.push(Target {
            what: "throughput, 2 workers, vs bwrap".into(),
            measured: format!("{n:.0} vs {b:.0} cycles/s ({:.2}×)", n / b),
            goal: "≥ 1.0×".into(),
            met: Some(n >= b),
        });
    }
    t
}

pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## nucleus benchmark results\n");
    let _ = writeln!(out, "| host | |\n|---|---|");
    for (k, v) in &r.host {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push('\n');
    for n in &r.setup_notes {
        let _ = writeln!(out, "- {n}");
    }
    if !r.setup_notes.is_empty() {
        out.push('\n');
    }
    for g in &r.groups {
        group_table(&mut out, g);
        if g.key == "cycle" && !r.phases.is_empty() {
            let _ = writeln!(out, "nucleus cycle by phase (median / p95 ms): {}\n",
                r.phases.iter().map(|(n, s)| format!("{n} {} / {}", ms(s.median), ms(s.p95))).collect::<Vec<_>>().join(", "));
        }
        if g.key == "pool" && !r.pool_phases.is_empty() {
            // A take is microseconds: three decimals.
            let _ = writeln!(out, "warm-pool run by phase (median / p95 ms): {}\n",
                r.pool_phases.iter().map(|(n, s)| format!("{n} {:.3} / {:.3}", s.median, s.p95)).collect::<Vec<_>>().join(", "));
        }
    }
    if let Some(p) = &r.python_api {
        let _ = writeln!(out, "### Python API: `sandbox.run([\"/bin/true\"])` vs `subprocess.run(..., capture_output=True)`\n");
        if let Some(e) = p.get("error") {
            let _ = writeln!(out, "failed: {e}\n");
        } else {
            let f = |k: &str, q: &str| p[k][q].as_f64().map(ms).unwrap_or_default();
            let _ = writeln!(out, "| call | median ms | p95 ms |\n|---|---:|---:|");
            let _ = writeln!(out, "| sandbox.run | {} | {} |", f("sandbox.run", "median"), f("sandbox.run", "p95"));
            let _ = writeln!(out, "| subprocess.run | {} | {} |", f("subprocess.run", "median"), f("subprocess.run", "p95"));
            let _ = writeln!(out, "\npaired ratio sandbox.run ÷ subprocess.run: {:.2} ({} runs each)\n",
                p["ratio"].as_f64().unwrap_or(f64::NAN), p["sandbox.run"]["n"]);
        }
    }
    if !r.throughput.is_empty() {
        let _ = writeln!(out, "### Throughput: full cycles of /bin/true, 2 parallel workers\n");
        let _ = writeln!(out, "| tool | cycles/s | completed | failed | seconds |\n|---|---:|---:|---:|---:|");
        for (n, x) in &r.throughput {
            let _ = writeln!(out, "| {n} | {:.0} | {} | {} | {:.1} |", x.per_second, x.completed, x.failed, x.seconds);
        }
        for (n, x) in &r.throughput {
            if let Some(e) = &x.first_error {
                let _ = writeln!(out, "\n{n} first error: {e}");
            }
        }
        out.push('\n');
    }
    if let Some(d) = &r.density {
        let _ = writeln!(out, "### Density: idle sandboxes held at once\n");
        let _ = writeln!(out, "| measure | value |\n|---|---:|");
        let _ = writeln!(out, "| sandboxes held | {} of {} |", d.held, d.requested);
        let _ = writeln!(out, "| time to create and start them (sequential) | {:.1} s |", d.create_seconds);
        let _ = writeln!(out, "| MemAvailable drop per sandbox | {:.0} KiB ({:.2} MiB) |", d.per_sandbox_kib_system, d.per_sandbox_kib_system / 1024.0);
        if let Some(c) = d.per_sandbox_kib_cgroup {
            let _ = writeln!(out, "| charged to the benchmark's memory cgroup, per sandbox | {c:.0} KiB |");
        }
        if let Some(s) = d.supervisor_pss_kib {
            let _ = writeln!(out, "| supervisor PSS (mean) | {s:.0} KiB |");
        }
        if let Some(s) = d.init_pss_kib {
            let _ = writeln!(out, "| sandbox init PSS (mean) | {s:.0} KiB |");
        }
        let _ = writeln!(out, "| descriptors held by the caller, per sandbox | {:.1} |", d.caller_fds as f64 / d.held.max(1) as f64);
        let _ = writeln!(out, "| time to destroy them all (sequential) | {:.2} s |", d.destroy_seconds);
        let _ = writeln!(out, "| MemAvailable recovered after destroy | {} KiB |", d.mem_recovered_kib);
        let per: Vec<String> = d.meminfo_deltas_kib.iter().map(|(k, v)| format!("{k} {:+.0}", *v as f64 / d.held.max(1) as f64)).collect();
        let _ = writeln!(out, "\nper-sandbox /proc/meminfo deltas (KiB): {}\n", per.join(", "));
        let _ = writeln!(out, "{}", d.alive_check);
        if let Some(e) = &d.create_error {
            let _ = writeln!(out, "\ncreation stopped: {e}");
        }
        if d.destroy_errors > 0 {
            let _ = writeln!(out, "\ndestroy errors: {}", d.destroy_errors);
        }
        out.push('\n');
    }
    if !r.missing_layers.is_empty() {
        let _ = writeln!(out, "### Layer variants not measured\n");
        for (n, e) in &r.missing_layers {
            let _ = writeln!(out, "- {n}: {e}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### Targets\n\n| target | measured | goal | met |\n|---|---|---|---|");
    for t in targets(r) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(out, "| {} | {} | {} | {met} |", t.what, t.measured, t.goal);
    }
    out
}
