"""The exceptions of nucleus.

They are plain Python classes (the Rust extension imports them), so they can inherit
from built-in exceptions too: ``except ValueError`` catches a bad config,
``except TimeoutError`` a timeout and ``except OSError`` a failed system call, as well
as ``except nucleus.NucleusError`` catching all of them.

Every error carries ``kind``, a stable string naming the kind of failure:

=================  ===========================================================
``kind``           raised as
=================  ===========================================================
``invalid_config`` :class:`ConfigError`
``unsupported``    :class:`UnsupportedError`
``state``          :class:`SandboxStateError`
``syscall``        :class:`SandboxError`
``supervisor``     :class:`SandboxError`
``exec_failed``    :class:`ExecError`
``timeout``        :class:`TimeoutExpired`
``called_process`` :class:`CalledProcessError`
``internal``       :class:`InternalError`
=================  ===========================================================

Warnings: a sandbox created with ``allow_degraded=True`` on a host that cannot enforce
every protection it asked for (Landlock on an old kernel, resource limits without a
usable cgroup, ...) still starts, and each protection it lacks is emitted as a
:class:`DegradedWarning` (a :class:`NucleusWarning`, a :class:`UserWarning`). The same
texts stay available as data in ``Sandbox.warnings`` and in
``Sandbox.security_report()["warnings"]``. Turn them into errors with
``warnings.simplefilter("error", nucleus.DegradedWarning)``.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Optional, Sequence, Union

__all__ = [
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
]


class NucleusError(Exception):
    """Base class of every error nucleus raises.

    Attributes:
        message: the human-readable description (also ``str(error)``).
        kind: a stable string naming the kind of failure (see the module docstring).
        errno: the OS error number behind the failure, or ``None``.
        path: the file system path the failure is about, or ``None``.
    """

    kind: str = "internal"

    def __init__(
        self,
        message: str = "",
        *,
        kind: Optional[str] = None,
        errno: Optional[int] = None,
        path: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.errno = errno
        self.path = path

    def __str__(self) -> str:
        return self.message


class ConfigError(NucleusError, ValueError):
    """The sandbox configuration, or a request's arguments, are invalid.

    Attributes:
        field: the path of the offending field, e.g. ``"mounts[2].target"``.
    """

    kind = "invalid_config"

    def __init__(self, message: str = "", *, field: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class UnsupportedError(NucleusError):
    """This host cannot provide something the sandbox needs (and degraded mode does not
    cover it).

    Attributes:
        layer: the protection or component that is missing, e.g. ``"supervisor"``.
    """

    kind = "unsupported"

    def __init__(self, message: str = "", *, layer: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.layer = layer


class SandboxStateError(NucleusError):
    """The sandbox is in the wrong state for the request, e.g. it is closed."""

    kind = "state"


class SandboxError(NucleusError, OSError):
    """A kernel or I/O failure, or the sandbox's supervisor went away.

    Also an :class:`OSError`: ``errno``, ``strerror`` and ``filename`` are set when known.

    Attributes:
        syscall: the failing system call (e.g. ``"open"``), or ``None``.
    """

    kind = "syscall"

    def __init__(self, message: str = "", *, syscall: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.syscall = syscall
        self.strerror = os.strerror(self.errno) if self.errno else message
        self.filename = self.path


class ExecError(NucleusError):
    """A command could not be started in the sandbox (not found, not executable, bad
    working directory).

    Attributes:
        program: the program that could not be run.
    """

    kind = "exec_failed"

    def __init__(self, message: str = "", *, program: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.program = program


class TimeoutExpired(NucleusError, TimeoutError, subprocess.TimeoutExpired):
    """A command (or a wait) ran past its timeout; the command has been killed.

    Shaped like :class:`subprocess.TimeoutExpired` (and an instance of it, and of the
    built-in :class:`TimeoutError`).

    Attributes:
        cmd: the command, as given to ``run``/``spawn``, or ``None``.
        timeout: the timeout in seconds.
        stdout, output: what the command wrote to stdout before it was killed (bytes, or
            str in text mode), or ``None``.
        stderr: likewise for stderr.
        result: for :meth:`Sandbox.run`, the full :class:`CompletedProcess` with
            ``timed_out=True``; otherwise ``None``.
    """

    kind = "timeout"

    def __init__(
        self,
        message: str = "",
        *,
        cmd: Any = None,
        timeout: float = 0.0,
        stdout: Union[bytes, str, None] = None,
        stderr: Union[bytes, str, None] = None,
        result: Any = None,
        **kwargs: Any,
    ) -> None:
        NucleusError.__init__(self, message, **kwargs)
        self.cmd = cmd
        self.timeout = timeout
        self.output = stdout
        self.stderr = stderr
        self.result = result

    def __str__(self) -> str:
        return self.message


class CalledProcessError(NucleusError, subprocess.CalledProcessError):
    """Raised by ``run(..., check=True)`` when the command exits non-zero.

    Also a :class:`subprocess.CalledProcessError`, with ``returncode``, ``cmd``,
    ``output``/``stdout`` and ``stderr``.

    Attributes:
        result: the :class:`CompletedProcess`.
    """

    kind = "called_process"

    def __init__(
        self,
        returncode: int,
        cmd: Union[str, Sequence[str]],
        output: Union[bytes, str, None] = None,
        stderr: Union[bytes, str, None] = None,
        *,
        result: Any = None,
    ) -> None:
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.message = subprocess.CalledProcessError.__str__(self)
        self.errno = None
        self.path = None
        self.result = result

    def __str__(self) -> str:
        return self.message


class InternalError(NucleusError):
    """A bug in nucleus. Please report it with the message."""

    kind = "internal"


class NucleusWarning(UserWarning):
    """Base class of the warnings nucleus emits."""


class DegradedWarning(NucleusWarning):
    """A protection the sandbox's config asked for is not enforced on this host, and
    the sandbox was started anyway because it allows degraded mode (``allow_degraded``).
    The message names the layer and says how to get it, e.g.
    ``"cgroups: cannot create cgroups in ...: run as root, or ..."``. Also emitted for
    seccomp in log mode, which filters nothing."""
