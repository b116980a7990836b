//! Resource limits (`setrlimit`) of every command, soft and hard alike so a command
//! cannot raise them. Defaults: 4096 open files, 8192 processes, no core dumps, 64 KiB of
//! locked memory, an 8 MiB stack; file size unlimited unless configured.

use serde::{Deserialize, Serialize};

use crate::config::RlimitConfig;
use crate::error::{Error, Result};

/// One limit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `RLIMIT_*` resource number.
    pub resource: i32,
    /// Soft and hard value.
    pub value: u64,
}

/// (config field, resource, default).
const LIMITS: [(&str, libc::__rlimit_resource_t, Option<u64>); 6] = [
    ("nofile", libc::RLIMIT_NOFILE, Some(4096)),
    ("nproc", libc::RLIMIT_NPROC, Some(8192)),
    ("core", libc::RLIMIT_CORE, Some(0)),
    ("memlock", libc::RLIMIT_MEMLOCK, Some(64 << 10)),
    ("fsize", libc::RLIMIT_FSIZE, None),
    ("stack", libc::RLIMIT_STACK, Some(8 << 20)),
];

fn configured(config: &RlimitConfig, field: &str) -> Option<u64> {
    match field {
        "nofile" => config.nofile,
        "nproc" => config.nproc,
        "core" => config.core,
        "memlock" => config.memlock,
        "fsize" => config.fsize,
        "stack" => config.stack,
        _ => unreachable!("every field of LIMITS is listed"),
    }
}

/// This process's hard limit for `resource`: the most a sandbox can get.
fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid rlimit.
    unsafe { libc::getrlimit(resource, &mut lim) };
    lim.rlim_max
}

/// Check explicit limits against what this process could grant.
pub(crate) fn validate(config: &RlimitConfig) -> Result<()> {
    compile(config).map(drop)
}

/// The limits to set: explicit ones must fit under the caller's hard limits (a sandbox
/// cannot raise them), defaults are capped there.
pub fn compile(config: &RlimitConfig) -> Result<Vec<Rlimit>> {
    let mut out = Vec::new();
    for (field, resource, default) in LIMITS {
        let hard = hard_limit(resource);
        let value = match (configured(config, field), default) {
            (Some(v), _) if v > hard => {
                return Err(Error::config(
                    format!("security.rlimits.{field}"),
                    format!("{v} is above this process's hard limit {hard}"),
                ));
            }
            (Some(v), _) => v,
            (None, Some(d)) => d.min(hard),
            (None, None) => continue,
        };
        out.push(Rlimit { resource: resource as i32, value });
    }
    Ok(out)
}

/// Set every limit on the calling process (an exec child, which runs on the init's
/// memory: a raw call, see [`crate::sys::raw_syscall`]). Returns the errno on failure.
pub(crate) fn apply(limits: &[Rlimit]) -> std::result::Result<(), i32> {
    for l in limits {
        let lim = libc::rlimit { rlim_cur: l.value, rlim_max: l.value };
        let args = [0, l.resource as usize, std::ptr::from_ref(&lim) as usize, 0];
        // SAFETY: prlimit64 on this process (pid 0) with a valid new limit and no old one asked.
        unsafe { crate::sys::raw_syscall(libc::SYS_prlimit64, &args) }?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sane_and_core_dumps_are_off() {
        let limits = compile(&RlimitConfig::default()).unwrap();
        let get = |r| limits.iter().find(|l| l.resource == r as i32).map(|l| l.value);
        assert_eq!(get(libc::RLIMIT_CORE), Some(0));
        assert!(get(libc::RLIMIT_NOFILE).unwrap() <= 4096);
        assert_eq!(get(libc::RLIMIT_FSIZE), None);
    }

    #[test]
    fn a_limit_above_the_hard_limit_names_its_field() {
        let hard = hard_limit(libc::RLIMIT_NOFILE);
        if hard == u64::MAX {
            return; // nothing is above an unlimited hard limit
        }
        let e = compile(&RlimitConfig { nofile: Some(hard + 1), ..Default::default() }).unwrap_err();
        assert_eq!(e.field(), Some("security.rlimits.nofile"));
    }
}
