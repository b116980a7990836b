//! The supervisor: the `nucleus-shim` process that owns one sandbox, forked for it by the
//! caller's zygote (`zygote.rs`).
//!
//! It stays in the host's namespaces, single-threaded, and owns the sandbox's lifetime:
//! it clones the sandbox's init into new namespaces (born in its cgroup on v2), and while
//! the init builds its root it writes the state record, creates the private workspace and
//! the cgroup, and has a child make the namespaces the init enters later (see
//! [`Plan::namespaces_beside`]); then it reports readiness to the caller. The caller's control socket is the lifeline: it
//! closes when the caller destroys the sandbox or its process dies, whichever thread
//! created the sandbox. Then, or when the init ends by itself, the supervisor kills the
//! init (the kernel kills the rest of the sandbox with it) and removes the cgroup, the
//! workspace and the record.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::cgroups::Cgroups;
use crate::error::{Error, Result};
use crate::namespaces::{Holder, Namespace};
use crate::protocol::{self, Plan, SetupReply, SetupStep, WorkspacePlan};
use crate::{init, shim, state, sys, zygote};

/// Entry point of the `nucleus-shim` executable.
pub fn main() -> ! {
    if std::env::args().nth(1).as_deref() == Some(LANDLOCK_ABI_FLAG) {
        // Asked by a caller that cannot query the kernel itself (see landlock::host_abi).
        println!("{}", crate::landlock::kernel_abi());
        std::process::exit(0);
    }
    let served = (|| {
        sys::set_cloexec(shim::ZYGOTE_FD)?;
        // The caller's descriptors without close-on-exec and its working directory came
        // along; the zygote lives as long as the caller, so it lets go of them at once.
        sys::close_from(shim::ZYGOTE_FD as u32 + 1)?;
        sys::chdir(std::path::Path::new("/"))?;
        // Run from a memfd, the kernel would name this process after the descriptor number.
        sys::prctl(libc::PR_SET_NAME, c"nucleus-zygote".as_ptr() as libc::c_ulong)?;
        // SAFETY: the caller placed the zygote's socket at this descriptor for us to own.
        zygote::serve(unsafe { OwnedFd::from_raw_fd(shim::ZYGOTE_FD) })
    })();
    std::process::exit(match served {
        Ok(()) => 0,
        Err(e) => {
            debug(&format!("zygote: {e}"));
            1
        }
    })
}

/// Supervise the sandbox whose control socket is `control` (in a child the zygote forked);
/// returns the exit code. A panic ends here, not in the zygote's loop.
pub(crate) fn supervise(control: OwnedFd) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(control))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            debug(&format!("supervisor: {e}"));
            1
        }
        Err(_) => 101,
    }
}

/// The argument that makes the supervisor print the kernel's Landlock ABI and exit.
pub(crate) const LANDLOCK_ABI_FLAG: &str = "--landlock-abi";

/// Print to stderr when `NUCLEUS_DEBUG` is set (the caller then lets stderr through).
pub(crate) fn debug(message: &str) {
    if std::env::var_os("NUCLEUS_DEBUG").is_some() {
        eprintln!("nucleus: {message}");
    }
}

fn run(control: OwnedFd) -> Result<()> {
    sys::prctl(libc::PR_SET_NAME, c"nucleus-shim".as_ptr() as libc::c_ulong)?;
    // The supervisor stays dumpable: a rootless supervisor must open its child's
    // /proc/<pid>/uid_map, which a non-dumpable child would deny. No sandboxed process
    // can see it (it lives outside the sandbox's pid namespace); the init makes itself
    // non-dumpable once built.
    let Some((plan, trees)) = protocol::recv::<Plan>(&control)? else {
        return Ok(()); // the caller went away before sending anything
    };
    if let Err(e) = protocol::check_version(plan.version) {
        return protocol::send(&control, &SetupReply::Failed(e.clone()), &[]).and(Err(e));
    }
    let mut sandbox = Owned { plan: &plan, workspace: None, record: false, cgroups: false };
    let result = sandbox.build(control, trees);
    let cleanup = sandbox.cleanup();
    match (result, cleanup) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), c) => Err(e.with_cleanup(c.err().into_iter().collect())),
        (Ok(()), Err(c)) => Err(c),
    }
}

/// What the supervisor created and must remove.
struct Owned<'a> {
    plan: &'a Plan,
    workspace: Option<PathBuf>,
    record: bool,
    cgroups: bool,
}

impl Owned<'_> {
    /// Build the sandbox, report to the caller, and wait for the sandbox's end.
    /// `trees` are the prebuilt trees that came with the plan.
    fn build(&mut self, control: OwnedFd, trees: Vec<OwnedFd>) -> Result<()> {
        // The init's pidfd is taken before the sandbox is reported ready: without it the
        // init could not be watched, and a ready sandbox would die at once.
        let started = self.start_init(&control, trees).and_then(|(init, abi, workspace)| {
            match sys::pidfd_open(init) {
                Ok(init_fd) => Ok((init, init_fd, abi, workspace)),
                Err(e) => {
                    let _ = sys::kill(init, libc::SIGKILL);
                    let _ = sys::waitpid(init, 0);
                    Err(e)
                }
            }
        });
        let (init, init_fd, landlock_abi, workspace) = match started {
            Ok(x) => x,
            Err(e) => {
                let _ = protocol::send(&control, &SetupReply::Failed(e.clone()), &[]);
                return Err(e);
            }
        };
        let reply = SetupReply::Ready { init_pid: init, workspace, landlock_abi };
        if protocol::send(&control, &reply, &[]).is_ok() {
            wait_for_caller_or_init(&init_fd, &control);
        }
        // The sandbox ends with its init: the kernel kills everything in its pid namespace.
        let _ = sys::kill(init, libc::SIGKILL);
        sys::waitpid(init, 0).map(drop)
    }

    /// Clone the sandbox's init into its namespaces and walk it through setup. Returns
    /// the init's host pid, the Landlock ABI it enforced and the workspace once the
    /// sandbox is built.
    fn start_init(&mut self, control: &OwnedFd, trees: Vec<OwnedFd>) -> Result<(libc::pid_t, Option<i32>, PathBuf)> {
        let plan = self.plan;
        state::ensure_root(&plan.state_root)?;
        if plan.cgroups.as_ref().is_some_and(Cgroups::born_inside) {
            // The init is born in its cgroup, which the record must list first.
            self.write_record()?;
            self.create_cgroups()?;
        }
        // Otherwise the init can come first: should this process die before the record
        // exists, the init dies with it (parent-death signal) and nothing is left.
        let (mine, theirs) = sys::seqpacket_pair()?;
        let pid = clone_init(plan)?;
        if pid == 0 {
            drop(mine);
            init::run(plan, control, theirs, trees);
        }
        drop((theirs, trees));
        let result = (|| {
            if plan.user.namespace && !plan.user.privileged {
                plan.user.write_maps(pid)?;
            }
            protocol::send(&mine, &SetupStep::Proceed, &[])?;
            let workspace = self.prepare_beside(pid, &mine)?;
            match protocol::recv::<SetupStep>(&mine)? {
                Some((SetupStep::Built(landlock_abi), _)) => Ok((pid, landlock_abi, workspace)),
                Some((SetupStep::Failed(e), _)) => Err(e),
                Some((step, _)) => Err(Error::internal(format!("init sent {step:?}"))),
                None => Err(Error::supervisor("sandbox init exited during setup")),
            }
        })();
        if result.is_err() {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
        }
        result
    }

    /// While the init (`pid`, on `sync`) builds its root, make what it needs next and
    /// send it over, in the order it asks: the record first, then the workspace (which is
    /// returned), its cgroup if it moves in by itself, and the namespaces made beside it.
    fn prepare_beside(&mut self, pid: libc::pid_t, sync: &OwnedFd) -> Result<PathBuf> {
        let plan = self.plan;
        let beside = plan.namespaces_beside();
        let holder = if beside.is_empty() {
            None
        } else {
            // Rootless, they belong in the init's user namespace.
            let rootless = plan.user.namespace && !plan.user.privileged;
            Some(Holder::spawn(beside, rootless.then(|| Namespace::User.open_of(pid)).transpose()?)?)
        };
        if !self.record {
            self.write_record()?;
        }
        let workspace = self.make_workspace()?;
        // A failed send means the init has failed: its report is read after this.
        let _ = protocol::send(sync, &SetupStep::Workspace, &[]);
        if let Some(cgroups) = plan.cgroups.as_ref().filter(|c| !c.born_inside()) {
            self.create_cgroups()?;
            let files = cgroups.join_files()?;
            let fds: Vec<_> = files.iter().map(|f| f.as_raw_fd()).collect();
            let _ = protocol::send(sync, &SetupStep::Cgroup, &fds);
        }
        if let Some(holder) = holder {
            for (kind, namespace) in holder.open(&plan.user)? {
                let _ = protocol::send(sync, &SetupStep::handing_over(kind), &[namespace.as_raw_fd()]);
            }
        }
        Ok(workspace)
    }

    fn create_cgroups(&mut self) -> Result<()> {
        let Some(cgroups) = &self.plan.cgroups else { return Ok(()) };
        // Set first: a half-made cgroup is removed too.
        self.cgroups = true;
        cgroups.create()
    }

    fn write_record(&mut self) -> Result<()> {
        let plan = self.plan;
        let me = std::process::id() as i32;
        let record = state::Record {
            id: plan.id.clone(),
            supervisor_pid: me,
            supervisor_start: sys::process_start_time(me).unwrap_or(0),
            private_workspace: self.private_workspace(),
            cgroups: plan.cgroups.as_ref().map(Cgroups::dirs).unwrap_or_default(),
        };
        state::write(&plan.state_root, &record)?;
        self.record = true;
        Ok(())
    }

    fn private_workspace(&self) -> Option<PathBuf> {
        let private = matches!(self.plan.workspace, WorkspacePlan::Private(_));
        private.then(|| self.plan.workspace.dir(&self.plan.id))
    }

    /// Create the private workspace (or take the given one); returns it.
    fn make_workspace(&mut self) -> Result<PathBuf> {
        let plan = self.plan;
        match (&plan.workspace, self.private_workspace()) {
            (WorkspacePlan::Given(dir), _) => Ok(dir.clone()),
            (_, Some(dir)) => {
                std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| Error::Syscall {
                    call: "mkdir".into(),
                    path: Some(dir.clone()),
                    errno: e.raw_os_error().unwrap_or(0),
                })?;
                self.workspace = Some(dir.clone());
                if plan.user.privileged {
                    // Sandbox root is an unprivileged host id: give it its workspace.
                    let (uid, gid) = (plan.user.host_uid, plan.user.host_gid);
                    std::os::unix::fs::lchown(&dir, Some(uid), Some(gid)).map_err(|e| Error::Syscall {
                        call: "lchown".into(),
                        path: Some(dir.clone()),
                        errno: e.raw_os_error().unwrap_or(0),
                    })?;
                }
                Ok(dir)
            }
            (WorkspacePlan::Private(_), None) => Err(Error::internal("private workspace without a path")),
        }
    }

    /// Remove what [`Owned::start_init`] created.
    fn cleanup(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        let cgroups = self.plan.cgroups.as_ref().filter(|_| std::mem::take(&mut self.cgroups));
        if let Some(cgroups) = cgroups {
            if let Err(e) = crate::cgroups::remove(&self.plan.id, &cgroups.dirs()) {
                errors.push(e);
                // Keep the record: cleanup_stale retries what it lists.
                self.record = false;
            }
        }
        if let Some(dir) = self.workspace.take() {
            if let Err(e) = state::remove_tree(&dir) {
                errors.push(e);
                self.record = false;
            }
        }
        if std::mem::take(&mut self.record) {
            if let Err(e) = state::remove(&self.plan.state_root, &self.plan.id) {
                errors.push(e);
            }
        }
        Error::first_of(errors)
    }
}

/// Wait until the init exits or the caller closes its end of `control` (destroy, or the
/// caller died). The init serves the caller on that socket and also exits at its EOF, but
/// an init stuck in a request (a command stopped before it could exec holds up the
/// spawn) would never see it; this process only polls the socket for the hang-up and
/// never reads from it.
fn wait_for_caller_or_init(init: &OwnedFd, control: &OwnedFd) {
    let mut fds = [
        libc::pollfd { fd: init.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: control.as_raw_fd(), events: 0, revents: 0 },
    ];
    while fds.iter().all(|f| f.revents == 0) {
        if sys::poll(&mut fds, None).is_err() {
            return;
        }
    }
}

/// Clone the sandbox's init into its namespaces (and its cgroup); returns 0 in the init.
fn clone_init(plan: &Plan) -> Result<libc::pid_t> {
    // Rootless: the user namespace must come first, or the other namespaces cannot be
    // made. Root: everything else is built with host privileges, and the init enters
    // its user namespace last, so the sandbox holds no capability over its mounts.
    let user_first = plan.user.namespace && !plan.user.privileged;
    // The init makes its cgroup namespace itself once it is in its own cgroup: a new
    // namespace is rooted at its maker's cgroup, which at clone time is the supervisor's.
    let mut flags = plan.namespaces.flags_without_user() & !Namespace::Cgroup.flag();
    if user_first {
        flags |= Namespace::User.flag();
    }
    for ns in plan.namespaces_beside() {
        flags &= !ns.flag();
    }
    // With limits, the init is in its cgroup before it runs a command, so nothing escapes
    // them: born there on v2, moving itself in during its setup on v1.
    match &plan.cgroups {
        Some(cgroups) => cgroups.clone_init(flags),
        None => sys::clone_process(flags),
    }
}
