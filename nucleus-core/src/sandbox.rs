//! The public sandbox handle and its lifecycle: `create` → `start` → `exec`/`spawn`/files
//! → `destroy` (or `Drop`).
//!
//! `create` validates the config, asks the zygote for a supervisor, compiles the plan and
//! hands it over; the supervisor starts building at once; `start` waits until it is built. A `Sandbox` is `Send + Sync`:
//! any number of threads may run commands in it at the same time.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::cgroups::{self, Cgroups, Stats};
use crate::config::SandboxConfig;
use crate::error::{Error, Result};
use crate::idmap::UserPlan;
use crate::namespaces::NamespacePlan;
use crate::process::{self, ExecOutput, ExecRequest, Pipes, Process};
use crate::protocol::{self, Plan, Probe, Reply, Request, SetupReply, WorkspacePlan, PROTOCOL_VERSION};
use crate::report::{self, SecurityReport};
use crate::security::SecurityPlan;
use crate::rootfs::MountPlan;
use crate::shim::{self, Supervisor};
use crate::zygote;
use crate::{state, sys};

/// How long `start` waits for the supervisor to build the sandbox.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a command without a timeout may take to start (to reach its `execve`).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long teardown waits for the supervisor before killing it.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a sandbox is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The supervisor is building the sandbox.
    Creating,
    /// Built, waiting for `start`.
    Created,
    /// Running commands.
    Running,
    /// Torn down, or ended by itself.
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

impl Status {
    fn can_start(self) -> bool {
        matches!(self, Status::Creating | Status::Created)
    }

    fn can_exec(self) -> bool {
        self == Status::Running
    }
}

/// A sandbox: an isolated set of namespaces with its own root filesystem, in which
/// commands run.
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    config: SandboxConfig,
    /// The compiled security layers, for the report.
    security: SecurityPlan,
    /// The cgroup holding the sandbox's processes, when it has limits.
    cgroups: Option<Cgroups>,
    /// Warnings of degraded mode: requested protections that are not enforced.
    warnings: Mutex<Vec<String>>,
    /// The control socket; `None` once torn down. Senders hold the read lock so teardown
    /// cannot close it under them.
    control: RwLock<Option<OwnedFd>>,
    life: Mutex<Life>,
    next_exec: AtomicU64,
}

struct Life {
    status: Status,
    supervisor: Option<Supervisor>,
    workspace: Option<PathBuf>,
    init_pid: Option<i32>,
    landlock_abi: Option<i32>,
}

impl Sandbox {
    /// Validate `config`, compile the sandbox's plan and start building it.
    pub fn create(config: SandboxConfig) -> Result<Sandbox> {
        config.validate()?;
        let shim_path = shim::locate(config.shim_path.as_deref())?;
        // The zygote forks the supervisor while this thread compiles the plan.
        let supervisor = zygote::request_supervisor(&shim_path)?;
        let id = new_id()?;
        let user = UserPlan::compile(&config);
        let state_root = config.state_root.clone().unwrap_or_else(state::default_root);
        let mut rootfs = MountPlan::compile(&config, &user)?;
        let (security, mut warnings) = SecurityPlan::compile(&config, &rootfs, &shim_path)?;
        // After the security plan, which sees every step it replaces.
        let trees = rootfs.prebuild(&user);
        let (cgroups, cgroup_warnings) = cgroups::compile(&config, &id)?;
        warnings.extend(cgroup_warnings);
        let plan = Plan {
            version: PROTOCOL_VERSION,
            id: id.clone(),
            namespaces: NamespacePlan::compile(&config),
            rootfs,
            security: security.clone(),
            cgroups: cgroups.clone(),
            user,
            workspace: match &config.workspace {
                Some(dir) => WorkspacePlan::Given(dir.clone()),
                None => WorkspacePlan::Private(std::env::temp_dir()),
            },
            state_root,
        };
        let (supervisor, mine) = supervisor.wait()?;
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                id,
                config,
                security,
                cgroups,
                warnings: Mutex::new(warnings),
                control: RwLock::new(Some(mine)),
                life: Mutex::new(Life {
                    status: Status::Creating,
                    supervisor: Some(supervisor),
                    workspace: None,
                    init_pid: None,
                    landlock_abi: None,
                }),
                next_exec: AtomicU64::new(1),
            }),
        };
        let trees: Vec<_> = trees.iter().map(|tree| tree.as_raw_fd()).collect();
        sandbox.inner.send(&plan, &trees)?;
        Ok(sandbox)
    }

    /// Wait until the sandbox is built and make it ready for commands.
    pub fn start(&self) -> Result<()> {
        let mut life = self.inner.life();
        if !life.status.can_start() {
            return Err(state_error("creating or created", life.status));
        }
        if life.status == Status::Creating {
            let result = self.inner.await_setup(&mut life);
            if let Err(e) = result {
                drop(life);
                let cleanup = self.inner.teardown().err().into_iter().collect();
                return Err(e.with_cleanup(cleanup));
            }
        }
        life.status = Status::Running;
        Ok(())
    }

    /// The sandbox's id (also the name of its state record).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The config it was created from.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Where it is in its life. Notices a sandbox that ended by itself.
    pub fn status(&self) -> Status {
        let mut life = self.inner.life();
        if matches!(life.status, Status::Created | Status::Running) && !self.inner.control_alive() {
            life.status = Status::Stopped;
        }
        life.status
    }

    /// Host path of `/workspace`, once built.
    pub fn workspace_path(&self) -> Option<PathBuf> {
        self.inner.life().workspace.clone()
    }

    /// Host pid of the sandbox's PID 1, once built.
    pub fn init_pid(&self) -> Option<i32> {
        self.inner.life().init_pid
    }

    /// Host pid of the supervisor, while it runs.
    pub fn supervisor_pid(&self) -> Option<i32> {
        self.inner.life().supervisor.as_ref().map(Supervisor::pid)
    }

    /// Run a command to completion and collect its output. A command that has not
    /// started (reached its `execve`) by its timeout, or within 30 s without one, is
    /// killed and reported as a timeout: sandboxed code can stop a command before its exec.
    pub fn exec(&self, request: &ExecRequest) -> Result<ExecOutput> {
        self.run(request, None).map(|out| out.expect("only a cancelled command has no output"))
    }

    /// Like [`Sandbox::exec`], but asks `cancel` every 100 ms whether to stop; when it says
    /// so, the command's tree is killed and `None` returned. For hosts that must stay
    /// responsive while a command runs (Python checks for Ctrl-C this way).
    pub fn exec_cancellable(
        &self,
        request: &ExecRequest,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<Option<ExecOutput>> {
        self.run(request, Some(cancel))
    }

    fn run(&self, request: &ExecRequest, mut cancel: Option<&mut dyn FnMut() -> bool>) -> Result<Option<ExecOutput>> {
        request.validate()?;
        let started = Instant::now();
        let deadline = request.timeout.map(|t| started + t);
        // Read before the command starts, so an OOM kill right at its start is counted.
        let cgroups = self.inner.cgroups.as_ref();
        let oom_kills_before = cgroups.and_then(Cgroups::oom_kills);
        let asked = cancel.as_mut().map(|c| &mut **c as &mut dyn FnMut() -> bool);
        let Some(launched) = self.inner.launch_spec(request, false, deadline, asked)? else {
            return Ok(None);
        };
        let id = launched.id;
        let inner = &self.inner;
        let max = request.max_output.unwrap_or(process::DEFAULT_MAX_OUTPUT);
        let kill = || inner.kill(Some(id), libc::SIGKILL);
        let Some(mut out) = process::collect(launched, &request.stdin, max, deadline, started, kill, cancel)? else {
            return Ok(None);
        };
        if let Some(cgroups) = cgroups {
            // The sandbox's counter: an OOM kill while this command ran counts for it
            // (and for any command run at the same time).
            out.oom_killed = matches!((oom_kills_before, cgroups.oom_kills()), (Some(b), Some(a)) if a > b);
            out.peak_memory = cgroups.memory_peak();
        }
        Ok(Some(out))
    }

    /// The counters of the sandbox's cgroup: memory, CPU time, tasks, OOM kills.
    /// `Unsupported` for a sandbox without limits, which has no cgroup of its own.
    pub fn stats(&self) -> Result<Stats> {
        match &self.inner.cgroups {
            Some(cgroups) => Ok(cgroups.stats()),
            None => Err(Error::Unsupported {
                layer: "cgroups".into(),
                reason: "the sandbox has no cgroup; set a limit (limits.memory, limits.cpus or limits.pids)".into(),
            }),
        }
    }

    /// The sandbox's cgroup directories on the host (one per v1 hierarchy, one on v2);
    /// empty without limits.
    pub fn cgroup_paths(&self) -> Vec<PathBuf> {
        self.inner.cgroups.as_ref().map(Cgroups::dirs).unwrap_or_default()
    }

    /// Start a command and return with its streams as soon as it runs (its `execve`
    /// succeeded). One that has not started within 30 s is killed and reported as a
    /// timeout.
    pub fn spawn(&self, request: &ExecRequest) -> Result<Process> {
        request.validate_for_spawn()?;
        let launched = self.inner.launch(request, false, None)?;
        let id = launched.id;
        let inner = Arc::downgrade(&self.inner);
        let killer = Box::new(move |signal| match inner.upgrade() {
            Some(inner) => inner.kill(Some(id), signal),
            None => Ok(()),
        });
        Ok(Process::new(launched, killer))
    }

    /// Warnings of degraded mode: protections that were requested but are not enforced on
    /// this host. Empty unless `allow_degraded` was set.
    pub fn warnings(&self) -> Vec<String> {
        self.inner.warnings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Which protections hold, per layer, verified from inside the running sandbox by a
    /// probe process confined exactly like a command.
    pub fn security_report(&self) -> Result<SecurityReport> {
        let mut request = ExecRequest::new(["nucleus-probe"]);
        request.timeout = Some(SETUP_TIMEOUT);
        let started = Instant::now();
        let deadline = Some(started + SETUP_TIMEOUT);
        let launched = self.inner.launch(&request, true, deadline)?;
        let id = launched.id;
        let kill = || self.inner.kill(Some(id), libc::SIGKILL);
        let out = process::collect(launched, &[], process::DEFAULT_MAX_OUTPUT, deadline, started, kill, None)?
            .expect("not cancellable");
        let probe = Probe::parse(&out.stdout).ok_or_else(|| {
            Error::supervisor(format!("truncated probe report ({:?}, {})", out.status, out.stderr_text()))
        })?;
        let landlock_abi = self.inner.life().landlock_abi;
        Ok(report::build(&self.inner.config, &self.inner.security, landlock_abi, &probe, self.warnings()))
    }

    /// Send `signal` to every process in the sandbox but its PID 1.
    pub fn kill(&self, signal: i32) -> Result<()> {
        self.inner.require_running()?;
        self.inner.kill(None, signal)
    }

    /// Write `data` to the file at `path` inside the sandbox (created with mode 0644 or
    /// truncated). Symlinks resolve inside the sandbox, never to the host.
    pub fn write_file(&self, path: impl AsRef<Path>, data: &[u8]) -> Result<()> {
        let file = self.inner.open(path.as_ref(), true, 0o644)?;
        sys::write_all(std::os::fd::AsFd::as_fd(&file), data)
            .map_err(|e| e.with_path(path.as_ref()))
    }

    /// Read the whole file at `path` inside the sandbox.
    pub fn read_file(&self, path: impl AsRef<Path>) -> Result<Vec<u8>> {
        use std::io::Read;
        let file = self.inner.open(path.as_ref(), false, 0)?;
        let mut data = Vec::new();
        std::fs::File::from(file).read_to_end(&mut data).map_err(|e| Error::Syscall {
            call: "read".into(),
            path: Some(path.as_ref().into()),
            errno: e.raw_os_error().unwrap_or(0),
        })?;
        Ok(data)
    }

    /// Tear the sandbox down: every process in it dies, and its mounts, workspace (if
    /// private) and state record are removed. Idempotent.
    pub fn destroy(&self) -> Result<()> {
        self.inner.teardown()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.inner.teardown();
    }
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("id", &self.inner.id).field("status", &self.status()).finish()
    }
}

impl Inner {
    fn life(&self) -> std::sync::MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send on the control socket, failing cleanly when it is already closed.
    fn send<T: serde::Serialize>(&self, msg: &T, fds: &[i32]) -> Result<()> {
        let control = self.control.read().unwrap_or_else(|p| p.into_inner());
        match control.as_ref() {
            Some(sock) => protocol::send(sock, msg, fds).map_err(|e| match e {
                Error::Syscall { errno: libc::EPIPE | libc::ECONNRESET, .. } => {
                    Error::supervisor("the sandbox has ended")
                }
                other => other,
            }),
            None => Err(state_error("running", Status::Stopped)),
        }
    }

    fn control_alive(&self) -> bool {
        let control = self.control.read().unwrap_or_else(|p| p.into_inner());
        let Some(sock) = control.as_ref() else { return false };
        let mut fds = [libc::pollfd { fd: sock.as_raw_fd(), events: 0, revents: 0 }];
        !matches!(sys::poll(&mut fds, Some(Duration::ZERO)), Ok(1) if fds[0].revents & libc::POLLHUP != 0)
    }

    fn require_running(&self) -> Result<()> {
        let status = self.life().status;
        if status.can_exec() {
            Ok(())
        } else {
            Err(state_error("running", status))
        }
    }

    /// Wait for the supervisor's answer to the plan.
    fn await_setup(&self, life: &mut Life) -> Result<()> {
        let control = self.control.read().unwrap_or_else(|p| p.into_inner());
        let sock = control.as_ref().ok_or_else(|| state_error("creating", Status::Stopped))?;
        let mut fds = [libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if sys::poll(&mut fds, Some(SETUP_TIMEOUT))? == 0 {
            return Err(Error::Timeout { what: "building the sandbox".into(), after: SETUP_TIMEOUT });
        }
        match protocol::recv::<SetupReply>(sock)? {
            Some((SetupReply::Ready { init_pid, workspace, landlock_abi }, _)) => {
                life.init_pid = Some(init_pid);
                life.workspace = Some(workspace);
                life.landlock_abi = landlock_abi;
                life.status = Status::Created;
                Ok(())
            }
            Some((SetupReply::Failed(e), _)) => Err(e),
            None => Err(Error::supervisor("the supervisor exited while building the sandbox")),
        }
    }

    /// [`Inner::launch_spec`] that cannot be cancelled.
    fn launch(&self, request: &ExecRequest, probe: bool, deadline: Option<Instant>) -> Result<process::Launched> {
        let launched = self.launch_spec(request, probe, deadline, None)?;
        launched.ok_or_else(|| Error::internal("a start with no cancel stopped"))
    }

    /// Send an exec (or probe) request and wait until the child runs (`None`: `cancel`
    /// said stop).
    fn launch_spec(
        &self,
        request: &ExecRequest,
        probe: bool,
        deadline: Option<Instant>,
        cancel: Option<&mut dyn FnMut() -> bool>,
    ) -> Result<Option<process::Launched>> {
        self.require_running()?;
        let id = self.next_exec.fetch_add(1, Ordering::Relaxed);
        let spec = protocol::ExecSpec { probe, ..self.exec_spec(id, request) };
        let pipes = Pipes::new()?;
        let theirs = pipes.theirs.each_ref().map(|fd| fd.as_raw_fd());
        self.send(&Request::Exec(spec), &theirs)?;
        drop(pipes.theirs);
        // Sandboxed code can stop a child before its exec, so that the command never
        // starts: it is given up at the deadline (or after a generous bound without one),
        // or when cancelled. A command that did not come out started is killed, in case
        // it still runs: the caller could not reach it any more.
        let deadline = deadline.unwrap_or_else(|| Instant::now() + START_TIMEOUT);
        let launched = process::await_start(id, pipes.mine, deadline, cancel);
        if !matches!(launched, Ok(Some(_))) {
            let _ = self.kill(Some(id), libc::SIGKILL);
        }
        launched
    }

    /// The command as the init runs it: environment merged, working directory chosen.
    fn exec_spec(&self, id: u64, request: &ExecRequest) -> protocol::ExecSpec {
        let mut env = std::collections::BTreeMap::from([
            ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
            ("HOME".to_string(), "/tmp".to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("HOSTNAME".to_string(), self.config.hostname.clone()),
        ]);
        env.extend(self.config.env.clone());
        env.extend(request.env.clone());
        protocol::ExecSpec {
            id,
            argv: request.argv.clone(),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: request.cwd.clone().unwrap_or_else(|| self.config.cwd.clone()),
            probe: false,
        }
    }

    fn kill(&self, exec: Option<u64>, signal: i32) -> Result<()> {
        self.send(&Request::Kill { exec, signal }, &[])
    }

    /// Ask the init to open `path` inside the sandbox.
    fn open(&self, path: &Path, write: bool, mode: u32) -> Result<OwnedFd> {
        self.require_running()?;
        let path = crate::config::sandbox_path(path, "path")?;
        let (mine, theirs) = sys::seqpacket_pair()?;
        self.send(&Request::Open { path: path.clone(), write, mode }, &[theirs.as_raw_fd()])?;
        drop(theirs);
        match protocol::recv::<Reply>(&mine)? {
            Some((Reply::Opened, mut fds)) if fds.len() == 1 => Ok(fds.remove(0)),
            Some((Reply::Failed(e), _)) => Err(e),
            Some((other, _)) => Err(Error::supervisor(format!("unexpected reply {other:?}"))),
            None => Err(Error::supervisor("the sandbox ended during the request")),
        }
    }

    /// Close the control socket (the init exits, the kernel kills the sandbox's
    /// processes), then wait for the supervisor to finish removing what it made.
    fn teardown(&self) -> Result<()> {
        drop(self.control.write().unwrap_or_else(|p| p.into_inner()).take());
        let mut life = self.life();
        life.status = Status::Stopped;
        let Some(supervisor) = life.supervisor.take() else { return Ok(()) };
        drop(life);
        let exited = supervisor.wait(TEARDOWN_TIMEOUT) || {
            supervisor.kill();
            supervisor.wait(TEARDOWN_TIMEOUT)
        };
        // A supervisor that was killed (by us just now, or by someone else earlier)
        // could not remove its record and workspace: do it here.
        let root = self.config.state_root.clone().unwrap_or_else(state::default_root);
        state::cleanup_one(&root, &self.id)?;
        if exited {
            Ok(())
        } else {
            Err(Error::Timeout { what: "sandbox teardown".into(), after: 2 * TEARDOWN_TIMEOUT })
        }
    }
}

fn state_error(expected: &str, actual: Status) -> Error {
    Error::State { expected: expected.into(), actual: actual.to_string() }
}


/// 16 random hex digits.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 8];
    // SAFETY: bytes is valid for writes of its length.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    sys::check(n as _, "getrandom", None)?;
    Ok(format!("{:016x}", u64::from_be_bytes(bytes)))
}
