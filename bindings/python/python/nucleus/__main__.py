"""``python -m nucleus run [options] -- CMD [ARGS...]``: run one command in a fresh
sandbox, with its output streamed to this terminal. The exit status is the command's
(128 + N when signal N killed it).

``python -m nucleus doctor``: check what this host can enforce; prints one line per
check (and how to fix a failed one) and exits 0 when every check passed, else 1."""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
from typing import IO, Any, Dict, List, Optional, Sequence

from . import Mount, NucleusError, Sandbox, SandboxConfig, __version__, doctor


def _mount(text: str) -> Mount:
    """``SRC[:DST][:ro|rw]`` -> Mount (read-only unless ``:rw``)."""
    parts = text.split(":")
    readonly = True
    if parts[-1] in ("ro", "rw"):
        readonly = parts.pop() == "ro"
    if len(parts) == 1:
        parts.append(parts[0])
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not SRC[:DST][:ro|rw]")
    return Mount(parts[0], parts[1], readonly=readonly)


def _env(text: str) -> List[str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return [key, value]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nucleus", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"nucleus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one command in a fresh sandbox")
    run.add_argument("--config", metavar="FILE", help="a JSON config file; options override it")
    run.add_argument("--hostname")
    run.add_argument("--network", choices=["none", "host"])
    run.add_argument("--mount", action="append", type=_mount, default=[], metavar="SRC[:DST][:ro|rw]")
    run.add_argument("--env", action="append", type=_env, default=[], metavar="KEY=VALUE")
    run.add_argument("--cwd", help="working directory inside the sandbox")
    run.add_argument("--workspace", help="host directory to mount at /workspace")
    run.add_argument("--rootfs", help="root filesystem directory")
    run.add_argument("--tmpfs-size", help="size of /tmp, e.g. 64M")
    run.add_argument("--memory", help="memory limit of the sandbox, e.g. 512M")
    run.add_argument("--cpus", type=float, help="CPU limit of the sandbox, e.g. 1.5")
    run.add_argument("--pids", type=int, help="most tasks the sandbox may have at once")
    run.add_argument("--seccomp", choices=["enforce", "log", "off"])
    run.add_argument("--no-landlock", dest="landlock", action="store_false", default=None)
    run.add_argument("--allow-degraded", action="store_true", default=None)
    run.add_argument("--timeout", type=float, help="kill the command after this many seconds")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    sub.add_parser("doctor", help="check what this host can enforce (exit 1 if anything is missing)")
    return parser


def _pump(src: IO[bytes], dst: IO[bytes]) -> None:
    """Copy src to dst as data arrives."""
    while True:
        chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
        if not chunk:
            break
        dst.write(chunk)
        dst.flush()


def _feed(src: IO[bytes], dst: IO[bytes]) -> None:
    """Copy src into the command's stdin, then close it."""
    try:
        shutil.copyfileobj(src, dst)
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        try:
            dst.close()
        except OSError:
            pass


def _run(opts: argparse.Namespace) -> int:
    cmd: List[str] = opts.cmd[1:] if opts.cmd[:1] == ["--"] else opts.cmd
    if not cmd:
        print("python -m nucleus run: no command given (use: run [options] -- CMD [ARGS...])", file=sys.stderr)
        return 2
    config: Optional[SandboxConfig] = None
    if opts.config:
        with open(opts.config, encoding="utf-8") as f:
            config = SandboxConfig.from_json(f.read())
    kwargs: Dict[str, Any] = {}
    names = ("hostname", "network", "cwd", "workspace", "rootfs", "tmpfs_size", "memory", "cpus",
             "pids", "seccomp", "landlock", "allow_degraded")
    for name in names:
        value = getattr(opts, name)
        if value is not None:
            kwargs[name] = value
    if opts.mount:
        kwargs["mounts"] = opts.mount
    if opts.env:
        kwargs["env"] = dict(opts.env)
    with Sandbox(config, **kwargs) as sb:
        p = sb.spawn(cmd, bufsize=0)
        threads = [
            threading.Thread(target=_pump, args=(p.stdout, sys.stdout.buffer), daemon=True),
            threading.Thread(target=_pump, args=(p.stderr, sys.stderr.buffer), daemon=True),
        ]
        if sys.stdin is not None and not sys.stdin.isatty():
            threads.append(threading.Thread(target=_feed, args=(sys.stdin.buffer, p.stdin), daemon=True))
        else:
            p.stdin.close()
        for t in threads:
            t.start()
        try:
            code = p.wait(timeout=opts.timeout)
        except TimeoutError:
            p.kill()
            code = p.wait()
            print(f"python -m nucleus run: killed after {opts.timeout} seconds", file=sys.stderr)
        for t in threads[:2]:
            t.join(timeout=1)
    return code if code >= 0 else 128 - code


def _doctor() -> int:
    checks = doctor()["checks"]
    width = max(len(c["name"]) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']:<{width}}  {c['detail']}")
        if c["fix"]:
            print(f"     {'':<{width}}  fix: {c['fix']}")
    return 0 if all(c["ok"] for c in checks) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m nucleus``."""
    opts = _parser().parse_args(argv)
    try:
        if opts.command == "run":
            return _run(opts)
        if opts.command == "doctor":
            return _doctor()
    except NucleusError as e:
        detail = f" (field {e.field})" if getattr(e, "field", "") else ""
        print(f"python -m nucleus: {e}{detail}", file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
