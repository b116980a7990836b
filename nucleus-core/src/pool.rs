//! A warm pool: sandboxes of one config, created and started ahead of time, so that
//! taking one costs a lock and a queue pop instead of a whole create and start.
//!
//! Built only on the public [`Sandbox`] API. One background thread keeps `size`
//! sandboxes ready; it builds without holding the lock. [`Pool::take`] hands out a ready
//! sandbox, or builds one inline when none is ready (so a drained pool costs what no pool
//! costs, and many takers build in parallel instead of queueing behind the one thread).
//! A sandbox is handed out once and never returns to the pool.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::SandboxConfig;
use crate::error::{Error, Result};
use crate::sandbox::{Sandbox, Status};

/// How long the refill thread waits after its first failure before trying again; each
/// further failure in a row doubles the wait, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Sandboxes of one config, created and started in the background, ready to be taken.
///
/// ```no_run
/// use nucleus_core::{ExecRequest, Pool, SandboxConfig};
///
/// let pool = Pool::new(SandboxConfig::new(), 4)?;
/// let sandbox = pool.take()?; // running, never used; the pool builds a replacement
/// sandbox.exec(&ExecRequest::new(["/bin/true"]))?;
/// # Ok::<(), nucleus_core::Error>(())
/// ```
///
/// `Pool` is `Send + Sync`: any number of threads may take at once. Dropping it (or
/// [`Pool::close`]) stops the refill thread and destroys the sandboxes still waiting;
/// sandboxes already taken are independent of the pool and live on.
pub struct Pool {
    shared: Arc<Shared>,
    refill: Option<JoinHandle<()>>,
}

/// What the caller's handle and the refill thread share.
struct Shared {
    config: SandboxConfig,
    size: usize,
    state: Mutex<State>,
    /// Signalled when a sandbox is taken and when the pool closes; the refill thread
    /// waits on it.
    wake: Condvar,
}

struct State {
    /// Started sandboxes, oldest first.
    ready: VecDeque<Sandbox>,
    /// The last refill failure, kept for the next `take`.
    failure: Option<Error>,
    closed: bool,
}

impl Pool {
    /// Build the first sandbox here (so an invalid config, or one this host cannot
    /// satisfy, fails now with its own error), and start the thread that builds the
    /// other `size - 1` and replaces each one taken.
    ///
    /// `config.workspace` must be unset: the pool's sandboxes would all share that
    /// directory, so a taken one would not be fresh. Each gets a private workspace.
    pub fn new(config: SandboxConfig, size: usize) -> Result<Pool> {
        if size == 0 {
            return Err(Error::config("size", "a pool holds at least 1 sandbox"));
        }
        if config.workspace.is_some() {
            return Err(Error::config(
                "workspace",
                "every sandbox of a pool would share this directory; leave it unset so each gets its own",
            ));
        }
        let first = build(&config)?;
        let shared = Arc::new(Shared {
            config,
            size,
            state: Mutex::new(State { ready: VecDeque::from([first]), failure: None, closed: false }),
            wake: Condvar::new(),
        });
        let refill = std::thread::Builder::new()
            .name("nucleus-pool".into())
            .spawn({
                let shared = shared.clone();
                move || shared.refill()
            })
            .map_err(|e| Error::Syscall { call: "pthread_create".into(), path: None, errno: e.raw_os_error().unwrap_or(0) })?;
        Ok(Pool { shared, refill: Some(refill) })
    }

    /// A running, never-used sandbox. Takes a ready one if there is one (and wakes the
    /// refill thread to replace it); otherwise builds one here, as
    /// `Sandbox::create` + `start` would.
    ///
    /// If building a sandbox in the background failed since the last `take`, this
    /// returns that error (once) instead, so failures are never lost: the next call
    /// goes on as usual. A ready sandbox that ended while it waited (killed from
    /// outside) is torn down and skipped.
    pub fn take(&self) -> Result<Sandbox> {
        loop {
            let mut state = self.shared.lock();
            if let Some(failure) = state.failure.take() {
                return Err(failure);
            }
            let Some(sandbox) = state.ready.pop_front() else {
                drop(state);
                return build(&self.shared.config);
            };
            drop(state);
            self.shared.wake.notify_one();
            if sandbox.status() == Status::Running {
                return Ok(sandbox);
            }
        }
    }

    /// How many sandboxes are ready to be taken now.
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }

    /// How many sandboxes the pool keeps ready.
    pub fn size(&self) -> usize {
        self.shared.size
    }

    /// Stop the refill thread (waiting for a sandbox it is building) and destroy the
    /// sandboxes still in the pool, reporting what went wrong doing so. Dropping the pool
    /// does the same and ignores the errors.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        // Join before emptying the queue: a sandbox the thread was building lands there.
        let panicked = self.refill.take().is_some_and(|thread| thread.join().is_err());
        let idle = std::mem::take(&mut self.shared.lock().ready);
        let mut errors: Vec<Error> = idle.into_iter().filter_map(|sandbox| sandbox.destroy().err()).collect();
        if panicked {
            errors.push(Error::internal("the pool's refill thread panicked"));
        }
        Error::first_of(errors)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("size", &self.shared.size).field("ready", &self.ready()).finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The refill thread: build while the pool is short, until it closes. After a
    /// failure, wait (longer each time in a row) before trying again, so a pool whose
    /// config stopped working on this host does not spin.
    fn refill(&self) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut state = self.lock();
        loop {
            state = self
                .wake
                .wait_while(state, |s| !s.closed && s.ready.len() >= self.size)
                .unwrap_or_else(PoisonError::into_inner);
            if state.closed {
                return;
            }
            drop(state);
            let built = build(&self.config);
            state = self.lock();
            match built {
                Ok(sandbox) => {
                    state.ready.push_back(sandbox);
                    delay = FIRST_RETRY_DELAY;
                }
                Err(e) => {
                    state.failure = Some(e);
                    state = self
                        .wake
                        .wait_timeout_while(state, delay, |s| !s.closed)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }
}

/// A started sandbox of `config`.
fn build(config: &SandboxConfig) -> Result<Sandbox> {
    let sandbox = Sandbox::create(config.clone())?;
    sandbox.start()?;
    Ok(sandbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_zero_is_a_config_error_naming_size() {
        let e = Pool::new(SandboxConfig::new(), 0).unwrap_err();
        assert_eq!(e.to_string(), "invalid config: size: a pool holds at least 1 sandbox");
        assert_eq!(e.field(), Some("size"));
    }

    #[test]
    fn a_given_workspace_is_refused_before_anything_is_built() {
        let e = Pool::new(SandboxConfig::new().workspace("/tmp"), 2).unwrap_err();
        assert_eq!(e.field(), Some("workspace"));
        let e = Pool::new(SandboxConfig::new().hostname("bad host"), 2).unwrap_err();
        assert_eq!(e.field(), Some("hostname"));
    }
}
