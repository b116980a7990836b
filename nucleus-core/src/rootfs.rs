//! The sandbox's root filesystem, as an ordered list of steps.
//!
//! The caller compiles the plan ([`MountPlan::compile`]): it looks at the host (which of
//! `/bin`, `/lib*` are symlinks, which `/etc` entries exist) and writes everything down as
//! data. The host's part is kept for the life of the process and compiled again only when
//! something it shows has changed. The sandbox's init applies it (`MountPlan::apply`) in its new mount
//! namespace: a fresh tmpfs (or the given rootfs) is built up at a staging point, every
//! target is resolved inside it with `RESOLVE_IN_ROOT` so no symlink can lead a mount
//! outside, and `pivot_root` then detaches the old root completely.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{Network, SandboxConfig};
use crate::error::{Error, Result};
use crate::idmap::UserPlan;
use crate::sys;

/// Host directories that make up the read-only view of the host.
const HOST_DIRS: [&str; 7] = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Host `/etc` entries the sandbox sees, read-only: what programs need to run, find
/// libraries, verify TLS and know the time; never credentials (`shadow`, `sudoers`, ssh).
const HOST_ETC: [&str; 24] = [
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "protocols",
    "services",
    "mime.types",
    "gai.conf",
    "host.conf",
    "os-release",
    "debian_version",
    "terminfo",
    "inputrc",
    "bash.bashrc",
    "profile",
    "magic",
    "perl",
];

/// Device nodes bound from the host into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// `/proc` paths hidden from the sandbox (the OCI runtime-spec defaults).
const PROC_MASKED: [&str; 10] = [
    "acpi",
    "asound",
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "scsi",
    "interrupts",
];

/// `/proc` paths the sandbox may read but not write (the OCI runtime-spec defaults).
const PROC_READONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// Where a bind mount's source comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A host path chosen by nucleus (part of the host view); may be absent.
    Host(PathBuf),
    /// A host path the user gave: opened without following any symlink.
    User(PathBuf),
    /// The sandbox's workspace directory.
    Workspace,
}

/// One step of building the root filesystem. Targets are absolute sandbox paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A fresh tmpfs.
    Tmpfs {
        /// Mount point.
        target: PathBuf,
        /// Size limit in bytes.
        size: u64,
        /// Mode of its root directory.
        mode: u32,
        /// Owner of its root directory, as the mounting process sees ids.
        owner: (u32, u32),
    },
    /// A bind mount (recursive).
    Bind {
        /// What to mount.
        source: Source,
        /// Mount point; created as a directory or file to match the source.
        target: PathBuf,
        /// Read-only (and nosuid, nodev).
        readonly: bool,
        /// A device node: keeps device access, forbids exec.
        device: bool,
    },
    /// A directory.
    Dir {
        /// Path.
        target: PathBuf,
        /// Mode.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// Path of the link.
        target: PathBuf,
        /// What it points to.
        points_to: PathBuf,
    },
    /// A small file with fixed contents.
    File {
        /// Path.
        target: PathBuf,
        /// Contents.
        contents: Contents,
    },
    /// A fresh procfs of the sandbox's pid namespace.
    Proc {
        /// Mount point.
        target: PathBuf,
    },
    /// A fresh devpts instance (`/dev/ptmx` points into it: a step of its own).
    Devpts {
        /// Mount point.
        target: PathBuf,
    },
    /// Hide a path: `/dev/null` over a file, an empty read-only tmpfs over a directory.
    /// Skipped when the path does not exist.
    Mask {
        /// Path.
        target: PathBuf,
    },
    /// Make an existing mount point read-only (recursively); skipped when absent.
    ReadOnly {
        /// Path.
        target: PathBuf,
    },
    /// Make one mount read-only without touching the mounts below it.
    SealReadOnly {
        /// Path; `/` is the root itself.
        target: PathBuf,
    },
    /// The same path of a read-only tree the caller built once for many sandboxes
    /// ([`MountPlan::prebuild`]), mounts below it included.
    Prebuilt {
        /// Path, in the sandbox and in the tree.
        target: PathBuf,
        /// Which of the trees sent with the plan.
        tree: usize,
        /// The steps of this plan the tree stands for (on the caller's side only: what
        /// looks at every path, such as the Landlock rules, reads them).
        #[serde(skip)]
        replaced: Arc<[Step]>,
    },
}

/// The text of a [`Step::File`]. That of host files is encoded as JSON once, with the
/// host view: it travels in every plan, and escaping it again for each one was most of
/// the cost of sending a plan.
#[derive(Clone)]
pub struct Contents {
    text: Arc<str>,
    /// `text` as a JSON string, when encoded ahead.
    json: Option<Arc<RawValue>>,
}

impl Contents {
    /// Contents whose JSON form is kept, for steps sent again and again.
    fn encoded(text: String) -> Contents {
        let json = serde_json::value::to_raw_value(&text).ok().map(Arc::from);
        Contents { text: text.into(), json }
    }
}

impl From<String> for Contents {
    fn from(text: String) -> Contents {
        Contents { text: text.into(), json: None }
    }
}

impl From<&str> for Contents {
    fn from(text: &str) -> Contents {
        Contents { text: text.into(), json: None }
    }
}

impl std::ops::Deref for Contents {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Contents {
    fn eq(&self, other: &Contents) -> bool {
        Arc::ptr_eq(&self.text, &other.text) || self.text == other.text
    }
}

impl Eq for Contents {}

impl fmt::Debug for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl Serialize for Contents {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.json {
            Some(json) => json.serialize(serializer),
            None => serializer.serialize_str(&self.text),
        }
    }
}

impl<'de> Deserialize<'de> for Contents {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Contents, D::Error> {
        String::deserialize(deserializer).map(Contents::from)
    }
}

/// The whole root filesystem of one sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountPlan {
    /// The root: `None` for a fresh tmpfs with the host view, or a rootfs directory.
    pub rootfs: Option<PathBuf>,
    /// What is built on it, in order.
    pub steps: Vec<Step>,
    /// The host view the steps show (caller side only): it keeps the trees prebuilt
    /// from it.
    #[serde(skip)]
    view: Option<Arc<HostView>>,
}

impl PartialEq for MountPlan {
    fn eq(&self, other: &MountPlan) -> bool {
        self.rootfs == other.rootfs && self.steps == other.steps
    }
}

impl Eq for MountPlan {}

fn p(path: &str) -> PathBuf {
    PathBuf::from(path)
}

impl MountPlan {
    /// Compile the plan for `config` by looking at the host once.
    pub fn compile(config: &SandboxConfig, user: &UserPlan) -> Result<MountPlan> {
        // Ids as the process that mounts sees them: host root builds the sandbox before
        // it enters the user namespace; a rootless init builds it from inside.
        let owner = if user.privileged { (user.host_uid, user.host_gid) } else { (user.uid, user.gid) };
        let mut steps = Vec::new();
        let view = config.rootfs.is_none().then(|| host_view(config, user, &mut steps));
        dev(config, owner, &mut steps);
        steps.push(Step::Proc { target: p("/proc") });
        for name in PROC_MASKED {
            steps.push(Step::Mask { target: Path::new("/proc").join(name) });
        }
        for name in PROC_READONLY {
            steps.push(Step::ReadOnly { target: Path::new("/proc").join(name) });
        }
        steps.push(Step::Tmpfs { target: p("/tmp"), size: config.tmpfs_size.0, mode: 0o1777, owner });
        steps.push(Step::Bind {
            source: Source::Workspace,
            target: p(crate::WORKSPACE_DIR),
            readonly: false,
            device: false,
        });
        let mut mounts: Vec<_> = config.mounts.iter().collect();
        // Parents before children, so a mount inside another mount lands on top of it.
        mounts.sort_by_key(|m| m.target.components().count());
        for m in mounts {
            steps.push(Step::Bind {
                source: Source::User(m.source.clone()),
                target: crate::config::sandbox_path(&m.target, "mounts")?,
                readonly: m.readonly,
                device: false,
            });
        }
        steps.push(Step::SealReadOnly { target: p("/dev") });
        steps.push(Step::SealReadOnly { target: p("/") });
        Ok(MountPlan { rootfs: config.rootfs.clone(), steps, view })
    }

    /// Replace the steps that build `/etc` and `/dev` with a clone of a read-only tree
    /// built from them once, in this process, and kept with the host view: more than a
    /// hundred system calls, a tmpfs and its files per sandbox become a few calls. What
    /// must be the sandbox's own (`/dev/pts`, `/dev/shm`) is still mounted per sandbox, on
    /// mount points the tree holds. Only where the init would build these with host
    /// privileges and then enter a user namespace (a root caller), so that the tree is
    /// what it would have made and the sandbox holds no capability over its mounts; and
    /// only on kernels that can mount onto a detached tree and clone one (6.15).
    /// Otherwise the steps stay. Returns the trees to send with the plan, in the order
    /// [`Step::Prebuilt`] counts them.
    ///
    /// Sandboxes of one caller then share these read-only inodes, as they share the
    /// host's `/usr`: `inotify` or `flock` on `/etc/hosts` in one can notice another's use.
    pub(crate) fn prebuild(&mut self, user: &UserPlan) -> Vec<Arc<OwnedFd>> {
        let mut trees = Vec::new();
        let wanted = user.privileged && user.namespace;
        let Some(view) = self.view.clone().filter(|view| wanted && view.cacheable) else { return trees };
        for dir in [Path::new("/etc"), Path::new("/dev")] {
            let Some(start) = self.steps.iter().position(|step| step.target() == dir) else { continue };
            let end = start + self.steps[start..].iter().take_while(|step| step.target().starts_with(dir)).count();
            // A later step that makes a path inside would need it made in the read-only
            // tree; one that only changes what is there (a seal, a mask) is fine.
            let makes_path = |step: &Step| !matches!(step, Step::SealReadOnly { .. } | Step::ReadOnly { .. } | Step::Mask { .. });
            if self.steps[end..].iter().any(|step| step.target().starts_with(dir) && makes_path(step)) {
                continue;
            }
            let run = &self.steps[start..end];
            let (built, kept) = split_tree(dir, run);
            let Some(tree) = view.tree(&built) else { break };
            let replaced = run.iter().filter(|step| !kept.contains(step)).cloned().collect();
            let prebuilt = Step::Prebuilt { target: dir.into(), tree: trees.len(), replaced };
            self.steps.splice(start..end, std::iter::once(prebuilt).chain(kept));
            trees.push(tree);
        }
        trees
    }

    /// Every step, with those a prebuilt tree stands for in its place.
    pub(crate) fn flat_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().flat_map(|step| match step {
            Step::Prebuilt { replaced, .. } => &replaced[..],
            step => std::slice::from_ref(step),
        })
    }

    /// Build the plan in the current (new, private) mount namespace and pivot into it.
    /// `workspace` is the host directory for [`Source::Workspace`], which the supervisor
    /// creates while the steps before it run: `ready` waits for it. `trees` are the
    /// prebuilt trees sent with the plan.
    pub(crate) fn apply(&self, workspace: &Path, trees: &[OwnedFd], mut ready: impl FnMut() -> Result<()>) -> Result<()> {
        sys::mount("none", Path::new("/"), "", libc::MS_REC | libc::MS_PRIVATE, None)?;
        // Open every source, or the workspace's parent, before the staging mount can
        // hide any of them.
        let workspace_parent = open_source(None, workspace.parent().unwrap_or(workspace), libc::RESOLVE_NO_SYMLINKS)?;
        let workspace_name = workspace.file_name().map_or(Path::new("."), Path::new);
        let sources = open_sources(&self.steps, trees)?;
        let dev_null = sys::openat2(None, Path::new("/dev/null"), libc::O_PATH, 0, 0)?;
        let staging = Path::new(STAGING);
        match &self.rootfs {
            None => sys::mount("tmpfs", staging, "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, Some("mode=0755,size=4m"))?,
            Some(dir) => {
                let fd = sys::openat2(None, dir, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
                let tree = sys::open_tree_clone(fd.as_fd(), true, dir)?;
                let at = sys::openat2(None, staging, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
                sys::move_mount(tree.as_fd(), at.as_fd(), staging)?;
            }
        }
        let root = sys::openat2(None, staging, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
        for (step, source) in self.steps.iter().zip(sources) {
            let source = match step {
                Step::Bind { source: Source::Workspace, .. } => {
                    ready()?;
                    let beneath = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
                    Some(open_source(Some(workspace_parent.as_fd()), workspace_name, beneath)?)
                }
                _ => source,
            };
            apply_step(root.as_fd(), step, source, Some(dev_null.as_fd()))?;
        }
        sys::fchdir(root.as_fd())?;
        // Stack the new root over the old one, then detach the old one entirely.
        sys::pivot_root(Path::new("."), Path::new("."))?;
        sys::umount2(Path::new("."), libc::MNT_DETACH)?;
        sys::chdir(Path::new("/"))
    }
}

/// Open the source of every bind in `steps` but the workspace's (`None` for the other
/// steps and for an absent host path).
fn open_sources(steps: &[Step], trees: &[OwnedFd]) -> Result<Vec<Option<OwnedFd>>> {
    steps
        .iter()
        .map(|step| match step {
            Step::Bind { source: Source::Host(path), .. } => open_source(None, path, 0).map(Some).or_else(|e| match e {
                Error::Syscall { errno: libc::ENOENT, .. } => Ok(None),
                e => Err(e),
            }),
            Step::Bind { source: Source::User(path), .. } => open_source(None, path, libc::RESOLVE_NO_SYMLINKS).map(Some),
            Step::Prebuilt { target, tree, .. } => match trees.get(*tree) {
                Some(fd) => resolve(fd.as_fd(), target, libc::O_DIRECTORY).map(Some),
                None => Err(Error::internal(format!("prebuilt tree {tree} for {} was not sent", target.display()))),
            },
            _ => Ok(None),
        })
        .collect()
}

/// Split the steps under `dir` into those a shared tree can hold and those every
/// sandbox must make itself: its own mounts, for which the tree holds mount points.
/// `dir`'s own tmpfs becomes a directory of the tree's (owned by the caller, so the
/// sandbox sees it owned by nobody, like its `/`).
fn split_tree(dir: &Path, steps: &[Step]) -> (Vec<Step>, Vec<Step>) {
    let mut built = Vec::new();
    let mut kept = Vec::new();
    for step in steps {
        match step {
            Step::Tmpfs { target, mode, .. } if target == dir => built.push(Step::Dir { target: target.clone(), mode: *mode }),
            Step::Tmpfs { target, .. } | Step::Devpts { target } | Step::Proc { target } => {
                built.push(Step::Dir { target: target.clone(), mode: 0o755 });
                kept.push(step.clone());
            }
            _ => built.push(step.clone()),
        }
    }
    (built, kept)
}

/// Build `steps` once on a detached tmpfs and make that read-only: the tree
/// [`Step::Prebuilt`] clones from. The binds on it keep the attributes their steps gave
/// them (device nodes stay writable).
fn build_tree(steps: &[Step]) -> Result<OwnedFd> {
    let root = sys::detached_tmpfs("mode=0755,size=4m")?;
    for (step, source) in steps.iter().zip(open_sources(steps, &[])?) {
        apply_step(root.as_fd(), step, source, None)?;
    }
    let sealed = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
    sys::mount_setattr(root.as_fd(), sealed, Path::new("/"))?;
    // Each sandbox clones the tree from its own mount namespace: make sure this kernel
    // lets a detached tree be cloned at all.
    drop(sys::open_tree_clone(root.as_fd(), true, Path::new("/"))?);
    Ok(root)
}

/// The lines of `mountinfo` text for mounts whose place can change what the host view
/// shows: `/` itself and anything at or under `/etc` and `/dev`.
fn shown_mounts(mountinfo: &str) -> String {
    mountinfo
        .lines()
        .filter(|line| {
            let point = line.split(' ').nth(4).unwrap_or_default();
            point == "/" || ["/etc", "/dev"].iter().any(|dir| Path::new(point).starts_with(dir))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The calling thread's `/proc` directory: threads of one process can be in different
/// mount namespaces.
const THREAD_PROC: &str = "/proc/thread-self";

/// Where the new root is assembled in the init's private mount namespace. Every source
/// is opened before the staging mount covers this directory.
const STAGING: &str = "/tmp";

/// Add the host view and the sandbox's own `/etc` files to `steps`; returns the view.
fn host_view(config: &SandboxConfig, user: &UserPlan, steps: &mut Vec<Step>) -> Arc<HostView> {
    let view = HostView::current();
    steps.extend_from_slice(&view.steps);
    let name = if user.uid == 0 { "root" } else { "sandbox" };
    let mut passwd = format!("{name}:x:{}:{}:{name}:/tmp:/bin/sh\n", user.uid, user.gid);
    let mut group = format!("{name}:x:{}:\n", user.gid);
    if user.uid != 65534 {
        passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    }
    if user.gid != 65534 {
        group.push_str("nogroup:x:65534:\n");
    }
    let hostname = &config.hostname;
    let resolv = match config.network {
        Network::Host => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        Network::None => String::new(),
    };
    for (file, contents) in [
        ("passwd", passwd),
        ("group", group),
        ("hostname", format!("{hostname}\n")),
        ("hosts", format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")),
        ("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n".into()),
        ("resolv.conf", resolv),
    ] {
        steps.push(Step::File { target: Path::new("/etc").join(file), contents: contents.into() });
    }
    steps.push(Step::Symlink { target: p("/etc/mtab"), points_to: p("/proc/self/mounts") });
    view
}

/// Text files up to this size are copied into the sandbox's `/etc` rather than bound:
/// a copy costs a write, a bind mount several system calls and a mount to tear down.
const COPY_LIMIT: u64 = 64 << 10;

/// A file's identity and change times, from one `stat`: writing, truncating, chmod,
/// chown or replacing the file changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn new(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of `path` now (symlinks followed); `None` if it is gone.
    fn of(path: &Path) -> Option<Stamp> {
        std::fs::metadata(path).ok().map(|m| Stamp::new(&m))
    }

    /// Whether a change after `since` is sure to give a different stamp. File times
    /// come from the kernel's coarse clock, so a write in the same tick as the one
    /// stamped could leave the stamp as it was: a stamp from the last second or two
    /// is not trusted.
    fn settled(&self, since: std::time::SystemTime) -> bool {
        let since = since.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.mtime.0 < since - 1 && self.ctime.0 < since - 1
    }
}

/// The read-only view of the host's `/` and `/etc`, as steps, with the stamps of what
/// it was compiled from. Which entries exist, and where symlinks point, only changes
/// with the stamp of their directory; a regular file's contents and mode with its own.
#[derive(Debug, Default)]
struct HostView {
    steps: Vec<Step>,
    /// Host paths and their stamps when the view was compiled (`None`: absent).
    stamps: Vec<(PathBuf, Option<Stamp>)>,
    /// Every stamp is settled, so an unchanged stamp means unchanged contents.
    cacheable: bool,
    /// The compiling thread's mount table, and its lines that can change what the view
    /// shows: a mount over or under a bound host directory changes no stamp.
    mounts: Option<(sys::MountWatch, String)>,
    /// A change was seen (the mount table reports one only once).
    stale: std::sync::atomic::AtomicBool,
    /// Trees built from this view ([`MountPlan::prebuild`]), by the steps they hold.
    trees: std::sync::Mutex<Vec<(Vec<Step>, Arc<OwnedFd>)>>,
}

impl HostView {
    /// The view of this host, compiled again only when something it shows has changed.
    fn current() -> Arc<HostView> {
        use std::sync::{Mutex, PoisonError};
        static CACHE: Mutex<Option<Arc<HostView>>> = Mutex::new(None);
        let cached = CACHE.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // Checked and compiled without the lock: both are file system calls.
        if let Some(view) = cached.filter(|view| view.unchanged()) {
            return view;
        }
        let view = Arc::new(HostView::compile(Path::new("/")));
        if view.cacheable {
            *CACHE.lock().unwrap_or_else(PoisonError::into_inner) = Some(view.clone());
        }
        view
    }

    /// Compile the view of the host whose root directory is `root`.
    fn compile(root: &Path) -> HostView {
        let started = std::time::SystemTime::now();
        let etc = root.join("etc");
        // Watched and stamped first: a change while the view is compiled shows later.
        let watch = sys::MountWatch::new(Path::new(THREAD_PROC)).ok();
        let mounts = watch.and_then(|watch| {
            let shown = shown_mounts(&watch.read().ok()?);
            Some((watch, shown))
        });
        let mut view = HostView { mounts, ..HostView::default() };
        view.stamps.push((root.to_path_buf(), Stamp::of(root)));
        view.stamps.push((etc.clone(), Stamp::of(&etc)));
        for name in HOST_DIRS {
            view.entry(root, Path::new("/"), name);
        }
        view.steps.push(Step::Dir { target: p("/etc"), mode: 0o755 });
        for name in HOST_ETC {
            view.entry(&etc, Path::new("/etc"), name);
        }
        // Interpreters keep configuration under /etc/<name><version> (python3.11, ...).
        if let Ok(dir) = std::fs::read_dir(&etc) {
            let mut versioned: Vec<String> = dir
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("python3"))
                .collect();
            versioned.sort();
            for name in versioned {
                view.entry(&etc, Path::new("/etc"), &name);
            }
        }
        view.cacheable =
            view.mounts.is_some() && view.stamps.iter().all(|(_, stamp)| stamp.is_some_and(|s| s.settled(started)));
        view
    }

    /// The read-only tree `steps` build, made on first use. `None` when the view keeps
    /// as many trees as it may, or where this process or kernel cannot make one (then
    /// no tree is tried again).
    fn tree(&self, steps: &[Step]) -> Option<Arc<OwnedFd>> {
        use std::sync::atomic::{AtomicBool, Ordering};
        /// Trees kept per view: one per distinct set of the sandbox's own `/etc` files. A
        /// config beyond them (say, a hostname per sandbox) is built per sandbox instead.
        const KEPT: usize = 8;
        static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
        if UNSUPPORTED.load(Ordering::Relaxed) {
            return None;
        }
        let trees = || self.trees.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = |trees: &[(Vec<Step>, Arc<OwnedFd>)]| {
            trees.iter().find(|(built, _)| built.as_slice() == steps).map(|(_, tree)| tree.clone())
        };
        {
            let trees = trees();
            if let Some(tree) = found(&trees) {
                return Some(tree);
            }
            if trees.len() >= KEPT {
                return None;
            }
        }
        // Built without the lock, so that other configs' creates go on meanwhile.
        let Ok(tree) = build_tree(steps) else {
            UNSUPPORTED.store(true, Ordering::Relaxed);
            return None;
        };
        let mut trees = trees();
        if let Some(tree) = found(&trees) {
            return Some(tree); // another thread built it too
        }
        let tree = Arc::new(tree);
        if trees.len() < KEPT {
            trees.push((steps.to_vec(), tree.clone()));
        }
        Some(tree)
    }

    /// Whether every stamp, and the mount table, is as it was.
    fn unchanged(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.stale.load(Ordering::Relaxed) {
            return false;
        }
        let mounts = self.mounts.as_ref().is_some_and(|(watch, shown)| {
            // Something was mounted somewhere (other tools do that all the time): compare
            // the mounts the view can show.
            let same_shown = || watch.read().is_ok_and(|now| shown_mounts(&now) == *shown);
            !watch.other_namespace(Path::new(THREAD_PROC)) && (!watch.table_changed() || same_shown())
        });
        let same = mounts && self.stamps.iter().all(|(path, stamp)| Stamp::of(path) == *stamp);
        if !same {
            self.stale.store(true, Ordering::Relaxed);
        }
        same
    }

    /// Mirror host entry `dir/name` at `sandbox_dir/name`: a symlink stays a symlink, a
    /// small text file is copied, anything else is bound read-only; an absent entry is
    /// left out.
    fn entry(&mut self, dir: &Path, sandbox_dir: &Path, name: &str) {
        let host = dir.join(name);
        let target = sandbox_dir.join(name);
        let step = match std::fs::symlink_metadata(&host) {
            Err(_) => return,
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(&host) {
                Ok(points_to) => Step::Symlink { target, points_to },
                Err(_) => return,
            },
            Ok(meta) => {
                if meta.is_file() {
                    self.stamps.push((host.clone(), Some(Stamp::new(&meta))));
                }
                match text_to_copy(&host, &meta) {
                    Some(text) => Step::File { target, contents: Contents::encoded(text) },
                    None => Step::Bind { source: Source::Host(host), target, readonly: true, device: false },
                }
            }
        };
        self.steps.push(step);
    }
}

/// The contents of `path` if it is a small, world-readable text file (the copy is
/// readable by everyone in the sandbox).
fn text_to_copy(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    if !meta.is_file() || meta.len() > COPY_LIMIT || meta.permissions().mode() & 0o004 == 0 {
        return None;
    }
    String::from_utf8(std::fs::read(path).ok()?).ok()
}

fn dev(config: &SandboxConfig, owner: (u32, u32), steps: &mut Vec<Step>) {
    steps.push(Step::Tmpfs { target: p("/dev"), size: 64 << 10, mode: 0o755, owner });
    for name in DEVICES {
        let path = Path::new("/dev").join(name);
        steps.push(Step::Bind {
            source: Source::Host(path.clone()),
            target: path,
            readonly: false,
            device: true,
        });
    }
    steps.push(Step::Devpts { target: p("/dev/pts") });
    steps.push(Step::Symlink { target: p("/dev/ptmx"), points_to: p("pts/ptmx") });
    steps.push(Step::Tmpfs { target: p("/dev/shm"), size: config.tmpfs_size.0, mode: 0o1777, owner });
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink { target: Path::new("/dev").join(link), points_to: p(to) });
    }
}

/// Open a mount source (relative to `dir`, if given); `resolve` may refuse symbolic
/// links on the way.
fn open_source(dir: Option<BorrowedFd<'_>>, path: &Path, resolve: u64) -> Result<OwnedFd> {
    sys::openat2(dir, path, libc::O_PATH, 0, resolve).map_err(|e| match e {
        Error::Syscall { errno: libc::ELOOP, .. } => Error::Syscall {
            call: "open mount source (symlinks are refused)".into(),
            path: Some(path.to_path_buf()),
            errno: libc::ELOOP,
        },
        e => e,
    })
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Open `target` inside `root`, never leaving it.
fn resolve(root: BorrowedFd<'_>, target: &Path, flags: i32) -> Result<OwnedFd> {
    sys::openat2(Some(root), target, flags | libc::O_PATH, 0, RESOLVE)
}

/// Create directory `target` and its missing parents inside `root`; return it opened.
fn mkdir_all(root: BorrowedFd<'_>, target: &Path, mode: u32) -> Result<OwnedFd> {
    match resolve(root, target, libc::O_DIRECTORY) {
        Err(Error::Syscall { errno: libc::ENOENT, .. }) => {}
        other => return other,
    }
    let parent = mkdir_all(root, target.parent().unwrap_or(Path::new("/")), 0o755)?;
    let name = Path::new(target.file_name().unwrap_or_default());
    sys::mkdirat(parent.as_fd(), name, mode).map_err(|e| e.with_path(target))?;
    resolve(root, target, libc::O_DIRECTORY)
}

/// Create an empty file `target` (a mount point for a file) inside `root`.
fn touch(root: BorrowedFd<'_>, target: &Path) -> Result<OwnedFd> {
    if let Some(parent) = target.parent() {
        mkdir_all(root, parent, 0o755)?;
    }
    drop(sys::openat2(Some(root), target, libc::O_CREAT | libc::O_WRONLY, 0o644, RESOLVE)?);
    resolve(root, target, 0)
}


/// `/proc/self/fd/N`: a path the classic mount(2) can take for an already resolved target.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn tmpfs(at: &OwnedFd, target: &Path, size: u64, mode: u32, owner: (u32, u32), flags: libc::c_ulong) -> Result<()> {
    let data = format!("size={size},mode={mode:o},uid={},gid={}", owner.0, owner.1);
    sys::mount("tmpfs", &fd_path(at), "tmpfs", flags | libc::MS_NOSUID | libc::MS_NODEV, Some(&data))
        .map_err(|e| e.with_path(target))
}

/// Apply one step on `root`. `dev_null` is what masks a file; a prebuilt tree, which
/// never holds a mask, has none.
fn apply_step(root: BorrowedFd<'_>, step: &Step, source: Option<OwnedFd>, dev_null: Option<BorrowedFd<'_>>) -> Result<()> {
    match step {
        Step::Tmpfs { target, size, mode, owner } => {
            let at = mkdir_all(root, target, 0o755)?;
            tmpfs(&at, target, *size, *mode, *owner, 0)
        }
        Step::Bind { target, readonly, device, .. } => {
            let Some(source) = source else { return Ok(()) };
            let is_dir = sys::is_dir(source.as_fd()).map_err(|e| e.with_path(target))?;
            let at = if is_dir { mkdir_all(root, target, 0o755)? } else { touch(root, target)? };
            let tree = sys::open_tree_clone(source.as_fd(), true, target)?;
            let attrs = match (readonly, device) {
                (_, true) => sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
                (true, false) => sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
                (false, false) => sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
            };
            sys::seal_clone(tree.as_fd(), attrs, target)?;
            sys::move_mount(tree.as_fd(), at.as_fd(), target)
        }
        Step::Dir { target, mode } => mkdir_all(root, target, *mode).map(drop),
        Step::Symlink { target, points_to } => {
            let parent = mkdir_all(root, target.parent().unwrap_or(Path::new("/")), 0o755)?;
            sys::symlinkat(points_to, parent.as_fd(), Path::new(target.file_name().unwrap_or_default()))
                .map_err(|e| e.with_path(target))
        }
        Step::File { target, contents } => {
            if let Some(parent) = target.parent() {
                mkdir_all(root, parent, 0o755)?;
            }
            let fd = sys::openat2(Some(root), target, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o644, RESOLVE)?;
            // Whatever the umask of the process that builds it.
            sys::fchmod(fd.as_fd(), 0o644, target)?;
            sys::write_all(fd.as_fd(), contents.as_bytes())
        }
        Step::Proc { target } => {
            let at = mkdir_all(root, target, 0o555)?;
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            sys::mount("proc", &fd_path(&at), "proc", flags, None).map_err(|e| e.with_path(target))
        }
        Step::Devpts { target } => {
            let at = mkdir_all(root, target, 0o755)?;
            let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
            sys::mount("devpts", &fd_path(&at), "devpts", flags, Some("newinstance,ptmxmode=0666,mode=0620"))
                .map_err(|e| e.with_path(target))
        }
        Step::Mask { target } => {
            let at = match resolve(root, target, 0) {
                Err(Error::Syscall { errno: libc::ENOENT, .. }) => return Ok(()),
                other => other?,
            };
            if sys::is_dir(at.as_fd()).unwrap_or(false) {
                tmpfs(&at, target, 4096, 0o555, (0, 0), libc::MS_RDONLY)
            } else {
                let missing = || Error::internal(format!("a mask of {} without /dev/null", target.display()));
                let dev_null = dev_null.ok_or_else(missing)?;
                let tree = sys::open_tree_clone(dev_null, false, target)?;
                sys::move_mount(tree.as_fd(), at.as_fd(), target)
            }
        }
        Step::ReadOnly { target } => {
            let at = match resolve(root, target, 0) {
                Err(Error::Syscall { errno: libc::ENOENT, .. }) => return Ok(()),
                other => other?,
            };
            let tree = sys::open_tree_clone(at.as_fd(), true, target)?;
            let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
            sys::seal_clone(tree.as_fd(), attrs, target)?;
            sys::move_mount(tree.as_fd(), at.as_fd(), target)
        }
        Step::SealReadOnly { target } => {
            let at = resolve(root, target, libc::O_DIRECTORY)?;
            sys::mount_setattr(at.as_fd(), sys::MOUNT_ATTR_RDONLY, target)
        }
        Step::Prebuilt { target, .. } => {
            let Some(source) = source else { return Err(Error::internal("a prebuilt tree without its descriptor")) };
            let at = mkdir_all(root, target, 0o755)?;
            let tree = sys::open_tree_clone(source.as_fd(), true, target)?;
            sys::move_mount(tree.as_fd(), at.as_fd(), target)
        }
    }
}

impl Step {
    /// The sandbox path the step makes or changes.
    fn target(&self) -> &Path {
        match self {
            Step::Tmpfs { target, .. }
            | Step::Bind { target, .. }
            | Step::Dir { target, .. }
            | Step::Symlink { target, .. }
            | Step::File { target, .. }
            | Step::Proc { target }
            | Step::Devpts { target }
            | Step::Mask { target }
            | Step::ReadOnly { target }
            | Step::SealReadOnly { target }
            | Step::Prebuilt { target, .. } => target,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Tmpfs { target, size, mode, .. } => {
                write!(f, "tmpfs {} size={size} mode={mode:o}", target.display())
            }
            Step::Bind { source, target, readonly, device } => {
                let from = match source {
                    Source::Host(p) | Source::User(p) => p.display().to_string(),
                    Source::Workspace => "<workspace>".into(),
                };
                let how = if *device { "dev" } else if *readonly { "ro" } else { "rw" };
                write!(f, "bind {from} -> {} ({how})", target.display())
            }
            Step::Dir { target, mode } => write!(f, "mkdir {} mode={mode:o}", target.display()),
            Step::Symlink { target, points_to } => {
                write!(f, "symlink {} -> {}", target.display(), points_to.display())
            }
            Step::File { target, contents } => {
                write!(f, "file {} ({} bytes)", target.display(), contents.len())
            }
            Step::Proc { target } => write!(f, "proc {}", target.display()),
            Step::Devpts { target } => write!(f, "devpts {}", target.display()),
            Step::Mask { target } => write!(f, "mask {}", target.display()),
            Step::ReadOnly { target } => write!(f, "read-only {}", target.display()),
            Step::SealReadOnly { target } => write!(f, "seal read-only {}", target.display()),
            Step::Prebuilt { target, tree, .. } => write!(f, "prebuilt tree {tree} -> {}", target.display()),
        }
    }
}

impl fmt::Display for MountPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rootfs {
            Some(dir) => writeln!(f, "root: bind {} (ro)", dir.display())?,
            None => writeln!(f, "root: tmpfs")?,
        }
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mount;

    fn plan(config: &SandboxConfig) -> MountPlan {
        MountPlan::compile(config, &UserPlan::compile(config)).unwrap()
    }

    #[test]
    fn host_view_never_includes_secrets_or_homes() {
        let text = plan(&SandboxConfig::new()).to_string();
        for secret in ["/etc/shadow", "/etc/gshadow", "/root", "/home", "/etc/sudoers", "/etc/ssh"] {
            assert!(!text.contains(&format!(" {secret}")), "{secret} in plan:\n{text}");
        }
        assert!(text.contains("bind /usr -> /usr (ro)"), "{text}");
        assert!(text.contains("file /etc/passwd"), "{text}");
    }

    #[test]
    fn merged_usr_links_stay_links() {
        let text = plan(&SandboxConfig::new()).to_string();
        for name in ["bin", "lib", "sbin"] {
            let host = Path::new("/").join(name);
            if host.is_symlink() {
                let to = std::fs::read_link(&host).unwrap();
                assert!(text.contains(&format!("symlink /{name} -> {}", to.display())), "{text}");
            }
        }
    }

    #[test]
    fn proc_is_masked_and_root_sealed_last() {
        let plan = plan(&SandboxConfig::new());
        assert!(plan.steps.contains(&Step::Mask { target: p("/proc/kcore") }));
        assert!(plan.steps.contains(&Step::ReadOnly { target: p("/proc/sys") }));
        assert_eq!(plan.steps.last(), Some(&Step::SealReadOnly { target: p("/") }));
    }

    #[test]
    fn user_mounts_are_ordered_parents_first_and_normalized() {
        let config = SandboxConfig::new()
            .mount(Mount::readonly("/usr/share", "/data/./deep/er"))
            .mount(Mount::writable("/usr", "/data"));
        let targets: Vec<_> = plan(&config)
            .steps
            .into_iter()
            .filter_map(|s| match s {
                Step::Bind { source: Source::User(_), target, .. } => Some(target),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec![p("/data"), p("/data/deep/er")]);
    }

    #[test]
    fn given_rootfs_skips_the_host_view() {
        let plan = plan(&SandboxConfig::new().rootfs("/usr"));
        assert_eq!(plan.rootfs, Some(p("/usr")));
        assert!(!plan.to_string().contains("/etc/passwd"));
    }

    /// A scratch host root, removed on drop.
    struct ScratchRoot(PathBuf);

    impl ScratchRoot {
        fn new(name: &str) -> ScratchRoot {
            let root = std::env::temp_dir().join(format!("nucleus-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("etc/python3.11")).unwrap();
            std::fs::create_dir(root.join("usr")).unwrap();
            std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
            std::fs::write(root.join("etc/services"), "echo 7/tcp\n").unwrap();
            std::os::unix::fs::symlink("/usr/share/zoneinfo/UTC", root.join("etc/localtime")).unwrap();
            ScratchRoot(root)
        }
    }

    impl Drop for ScratchRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Change something under `root` and check that the view compiled before notices
    /// and a fresh one shows the change.
    fn assert_noticed(root: &Path, change: impl FnOnce(), shows: impl Fn(&[Step]) -> bool) {
        let before = HostView::compile(root);
        assert!(before.unchanged());
        assert!(!shows(&before.steps), "{:?}", before.steps);
        change();
        assert!(!before.unchanged(), "change not noticed");
        let after = HostView::compile(root);
        assert!(shows(&after.steps), "{:?}", after.steps);
        assert!(after.unchanged());
    }

    #[test]
    fn host_view_notices_every_change_it_shows() {
        let root = ScratchRoot::new("host-view-test");
        let root = root.0.as_path();
        let view = HostView::compile(root);
        assert!(view.steps.contains(&Step::File { target: p("/etc/services"), contents: "echo 7/tcp\n".into() }));
        assert!(view.steps.contains(&Step::Symlink { target: p("/bin"), points_to: p("usr/bin") }));
        // Written moments ago: the stamps cannot vouch for the contents yet.
        assert!(!view.cacheable);
        let services = root.join("etc/services");
        let file = |contents: &str| Step::File { target: p("/etc/services"), contents: contents.into() };
        assert_noticed(root, || std::fs::write(&services, "echo 7/udp\n").unwrap(), |steps| steps.contains(&file("echo 7/udp\n")));
        let bound = |path: &'static str| {
            move |steps: &[Step]| steps.iter().any(|s| matches!(s, Step::Bind { target, .. } if target == Path::new(path)))
        };
        let private = std::fs::Permissions::from_mode(0o600);
        assert_noticed(root, || std::fs::set_permissions(&services, private).unwrap(), bound("/etc/services"));
        assert_noticed(root, || std::fs::create_dir(root.join("etc/python3.12")).unwrap(), bound("/etc/python3.12"));
        let localtime = root.join("etc/localtime");
        assert_noticed(
            root,
            || {
                std::fs::remove_file(&localtime).unwrap();
                std::os::unix::fs::symlink("/usr/share/zoneinfo/Europe/Paris", &localtime).unwrap();
            },
            |steps| steps.contains(&Step::Symlink { target: p("/etc/localtime"), points_to: p("/usr/share/zoneinfo/Europe/Paris") }),
        );
        let usr = bound("/usr");
        assert_noticed(root, || std::fs::remove_dir(root.join("usr")).unwrap(), |steps| !usr(steps));
    }

    #[test]
    fn host_view_notices_mounts_where_it_shows_something_and_only_there() {
        if crate::sys::euid() != 0 || !Path::new("/etc/alternatives").is_dir() {
            return; // needs a mount namespace of its own
        }
        std::thread::spawn(|| {
            let mount = |target: &Path| {
                sys::mount("tmpfs", target, "tmpfs", 0, None).unwrap();
            };
            sys::unshare(libc::CLONE_NEWNS).unwrap();
            sys::mount("none", Path::new("/"), "", libc::MS_REC | libc::MS_PRIVATE, None).unwrap();
            let view = HostView::compile(Path::new("/"));
            assert!(view.unchanged());
            // Elsewhere (other tools mount all the time): the view stands.
            let elsewhere = std::env::temp_dir().join(format!("nucleus-view-test-{}", std::process::id()));
            std::fs::create_dir_all(&elsewhere).unwrap();
            mount(&elsewhere);
            assert!(view.unchanged());
            sys::umount2(&elsewhere, libc::MNT_DETACH).unwrap();
            std::fs::remove_dir(&elsewhere).unwrap();
            // Over a directory it binds: it does not.
            mount(Path::new("/etc/alternatives"));
            assert!(!view.unchanged());
            assert!(!view.unchanged(), "a change is noticed for good");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn stamps_from_the_last_seconds_are_not_trusted() {
        let at = |secs: i64| Stamp { dev: 1, ino: 2, mode: 0o100644, size: 3, mtime: (secs, 0), ctime: (secs, 0) };
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_000_500);
        assert!(at(997).settled(now));
        assert!(!at(999).settled(now));
        assert!(!Stamp { ctime: (1000, 0), ..at(10) }.settled(now));
    }

    #[test]
    fn cached_host_view_is_what_a_fresh_compile_gives() {
        let fresh = HostView::compile(Path::new("/"));
        assert_eq!(HostView::current().steps, fresh.steps);
        assert_eq!(HostView::current().steps, fresh.steps);
    }

    #[test]
    fn contents_encoded_ahead_are_sent_as_any_other() {
        let text = "a\t\"quoted\"\n\\line\u{1}\u{e9}\n";
        let step = |contents| Step::File { target: p("/etc/x"), contents };
        let ahead = serde_json::to_string(&step(Contents::encoded(text.into()))).unwrap();
        assert_eq!(ahead, serde_json::to_string(&step(text.into())).unwrap());
        assert_eq!(serde_json::from_str::<Step>(&ahead).unwrap(), step(text.into()));
    }

    #[test]
    fn prebuild_replaces_etc_and_dev_with_trees_built_once_per_set_of_steps() {
        if crate::sys::euid() != 0 {
            return; // only a root caller's trees are prebuilt
        }
        let config = SandboxConfig::new().hostname("prebuilt");
        let user = UserPlan::compile(&config);
        let whole = plan(&config);
        let mut first = whole.clone();
        let trees = first.prebuild(&user);
        if !HostView::current().cacheable {
            assert!(trees.is_empty(), "a view just changed is not worth a tree");
            return;
        }
        assert_eq!(trees.len(), 2, "not prebuilt on this kernel");
        let under = |plan: &MountPlan, dir: &'static str| {
            plan.steps.iter().filter(move |s| s.target().starts_with(dir)).cloned().collect::<Vec<_>>()
        };
        let shown = |steps: Vec<Step>| steps.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(under(&first, "/etc")), ["prebuilt tree 0 -> /etc"]);
        // The sandbox's own mounts stay, on mount points the tree holds.
        assert_eq!(
            shown(under(&first, "/dev")),
            ["prebuilt tree 1 -> /dev", "devpts /dev/pts", "tmpfs /dev/shm size=1073741824 mode=1777", "seal read-only /dev"]
        );
        // What the trees stand for is kept for the rules that look at every path.
        let flat: Vec<_> = first.flat_steps().cloned().collect();
        assert!(under(&whole, "/etc").iter().all(|step| flat.contains(step)));
        let abi = crate::landlock::kernel_abi();
        assert_eq!(crate::landlock::LandlockPlan::compile(&first, abi), crate::landlock::LandlockPlan::compile(&whole, abi));
        let open = |tree: usize, path: &str, flags| sys::openat2(Some(trees[tree].as_fd()), Path::new(path), flags, 0, 0);
        // The trees hold what the steps would have built, read-only.
        let hostname = open(0, "etc/hostname", libc::O_RDONLY).unwrap();
        assert_eq!(std::fs::read_to_string(format!("/proc/self/fd/{}", hostname.as_raw_fd())).unwrap(), "prebuilt\n");
        for (tree, path) in [(0, "etc/hostname"), (1, "dev/nucleus-probe")] {
            let write = open(tree, path, libc::O_WRONLY | libc::O_CREAT);
            assert!(matches!(write, Err(Error::Syscall { errno: libc::EROFS, .. })), "{path}: {write:?}");
        }
        assert!(sys::is_dir(open(1, "dev/pts", libc::O_PATH).unwrap().as_fd()).unwrap());
        // Device nodes stay usable.
        drop(open(1, "dev/null", libc::O_WRONLY).unwrap());
        // Built once for these steps; another hostname is another /etc.
        let again = plan(&config).prebuild(&user);
        assert!(Arc::ptr_eq(&trees[0], &again[0]) && Arc::ptr_eq(&trees[1], &again[1]));
        let other = SandboxConfig::new().hostname("other");
        assert!(!Arc::ptr_eq(&trees[0], &plan(&other).prebuild(&UserPlan::compile(&other))[0]));
        // A mount inside /etc needs a mount point there: those steps stay.
        let inside = SandboxConfig::new().mount(Mount::readonly("/usr", "/etc/extra"));
        let mut kept = plan(&inside);
        assert_eq!(kept.prebuild(&UserPlan::compile(&inside)).len(), 1);
        assert_eq!(under(&kept, "/etc"), under(&plan(&inside), "/etc"));
        // Without a user namespace the sandbox could hold capabilities over its mounts.
        let no_userns = SandboxConfig::from_json(r#"{"user": {"namespace": false}}"#).unwrap();
        assert!(plan(&no_userns).prebuild(&UserPlan::compile(&no_userns)).is_empty());
    }

    #[test]
    fn resolv_conf_is_empty_without_network() {
        let plan = plan(&SandboxConfig::new());
        assert!(plan.steps.contains(&Step::File { target: p("/etc/resolv.conf"), contents: "".into() }));
    }
}
