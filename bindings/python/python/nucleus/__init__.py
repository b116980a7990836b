"""nucleus: run untrusted code in Linux sandboxes, from Python.

A sandbox is a set of fresh namespaces (user, pid, mount, ipc, uts, net, cgroup) with
a read-only view of the host's system directories, a private writable ``/workspace``
and ``/tmp``, and no network unless asked::

    import nucleus

    with nucleus.Sandbox(hostname="box", env={"LANG": "C.UTF-8"}) as sb:
        r = sb.run(["python3", "-c", "print(6 * 7)"], timeout=10)
        print(r.returncode, r.stdout)            # 0 b'42\\n'
        sb.write_file("/workspace/main.py", "print('ok')")
        print(sb.run(["python3", "main.py"], text=True).stdout)
        p = sb.spawn(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 1; done"])
        for line in p.stdout:                    # arrives while the command runs
            print(line)
        p.wait()

:class:`Sandbox` takes the fields of the config schema shared with the Rust and C APIs
as keyword arguments (``hostname``, ``env``, ``cwd``, ``rootfs``, ``workspace``,
``mounts``, ``tmpfs_size``, ``network``, ``user``, ``allow_degraded``,
``state_root``, ``shim_path``), or a whole :class:`SandboxConfig`, or JSON through
:meth:`Sandbox.from_json`. Invalid input raises :class:`ConfigError`, whose ``field``
names the offending field (``"mounts[0].target"``).

Resource limits and security layers have keyword arguments too: ``memory="512M"``,
``cpus=1.0``, ``pids=256`` (the ``limits`` section; they need root or a delegated
cgroup v2 subtree), ``seccomp="enforce"|"log"|"off"``, ``landlock=True`` and
``security={...}`` (the whole ``security`` section). A protection the host cannot
enforce raises :class:`UnsupportedError`; with ``allow_degraded=True`` the sandbox
starts anyway, lists what is missing in :attr:`Sandbox.warnings` and emits each as a
:class:`DegradedWarning`. :meth:`Sandbox.security_report` says which layers hold,
verified from inside the sandbox; :meth:`Sandbox.stats` gives the cgroup counters; and
:func:`doctor` (``python -m nucleus doctor``) checks what this host supports.

``run`` returns a :class:`CompletedProcess` like :func:`subprocess.run` does, with
bytes output unless ``text=True``; a timeout raises :class:`TimeoutExpired` (which is
also a :class:`subprocess.TimeoutExpired` and a :class:`TimeoutError`) carrying the
partial output, after the command has been killed; ``check=True`` raises
:class:`CalledProcessError` (also a :class:`subprocess.CalledProcessError`). With a
memory limit, ``oom_killed`` and ``peak_memory`` say how the command fared.

Threads: every call that waits releases the GIL, and one sandbox may be used from many
threads at once. Waits are interrupted by Ctrl-C (``KeyboardInterrupt``), and the
command being waited for is killed.

asyncio: the API is synchronous; run its calls in worker threads, which is cheap
because they do not hold the GIL::

    import asyncio, nucleus

    async def main():
        sb = await asyncio.to_thread(nucleus.Sandbox)
        try:
            results = await asyncio.gather(*(
                asyncio.to_thread(sb.run, ["sh", "-c", f"echo {i}"]) for i in range(4)))
        finally:
            await asyncio.to_thread(sb.close)

Many sandboxes of one config: a :class:`Pool` keeps some created and started in a
background thread, so taking one costs microseconds instead of a few milliseconds. It
takes the same keyword arguments; each sandbox taken is new and the caller's alone::

    with nucleus.Pool(4, hostname="box") as pool:
        with pool.take() as sb:                  # already running
            sb.run(["python3", "-c", "print(1)"])

The supervisor executable ``nucleus-shim`` ships inside this package and is used
unless the ``shim_path`` field or the ``NUCLEUS_SHIM`` environment variable names
another. The first sandbox a process creates starts it once as ``nucleus-zygote``, a
child process that forks each sandbox's supervisor and exits with its caller. If the
caller dies (even by SIGKILL) the supervisor notices and removes the sandbox: its
processes, mounts, private workspace and state record.

Try it from a shell: ``python -m nucleus run --hostname box -- uname -a``.
"""

from ._errors import (
    CalledProcessError,
    ConfigError,
    DegradedWarning,
    ExecError,
    InternalError,
    NucleusError,
    NucleusWarning,
    SandboxError,
    SandboxStateError,
    TimeoutExpired,
    UnsupportedError,
)
from ._nucleus import (
    WORKSPACE_DIR,
    CompletedProcess,
    Mount,
    Pool,
    Process,
    Sandbox,
    SandboxConfig,
    __version__,
    bundled_shim_path,
    cleanup_stale,
    doctor,
)

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "Pool",
    "Mount",
    "CompletedProcess",
    "Process",
    "NucleusError",
    "ConfigError",
    "UnsupportedError",
    "SandboxStateError",
    "SandboxError",
    "ExecError",
    "TimeoutExpired",
    "CalledProcessError",
    "InternalError",
    "NucleusWarning",
    "DegradedWarning",
    "WORKSPACE_DIR",
    "bundled_shim_path",
    "cleanup_stale",
    "doctor",
    "__version__",
]
