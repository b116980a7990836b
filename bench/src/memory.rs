//! Host memory as the system reports it: /proc/meminfo, a process's PSS, and the memory
//! cgroup the benchmark runs in.

use std::collections::HashMap;

/// /proc/meminfo, in KiB per field.
pub fn meminfo() -> HashMap<String, u64> {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), kb))
        })
        .collect()
}

/// Proportional set size of a process, in KiB.
pub fn pss_kib(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Bytes charged to the memory cgroup this process is in (v1 `memory.usage_in_bytes`, or
/// v2 `memory.current`), with the file read. Children of this process are charged here
/// too, so other workloads on the machine do not disturb it.
pub fn cgroup_charge() -> Option<(u64, String)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let candidates = if ctrls.split(',').any(|c| c == "memory") {
            vec![format!("/sys/fs/cgroup/memory{path}/memory.usage_in_bytes")]
        } else if ctrls.is_empty() {
            vec![format!("/sys/fs/cgroup{path}/memory.current"), format!("/sys/fs/cgroup/unified{path}/memory.current")]
        } else {
            continue;
        };
        for file in candidates {
            if let Ok(v) = std::fs::read_to_string(&file) {
                if let Ok(n) = v.trim().parse() {
                    return Some((n, file));
                }
            }
        }
    }
    None
}
