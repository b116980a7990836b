"""Type stubs of the compiled module ``nucleus._nucleus`` (re-exported by ``nucleus``)."""

import os
from types import TracebackType
from typing import IO, Any, Literal, Mapping, Optional, Sequence, Tuple, Union, final

from typing_extensions import TypedDict, Unpack

_Path = Union[str, "os.PathLike[str]"]
_Args = Union[str, bytes, "os.PathLike[str]", Sequence[Union[str, bytes, "os.PathLike[str]"]]]
_MountSpec = Union["Mount", Mapping[str, Any], Tuple[_Path, _Path], Tuple[_Path, _Path, bool]]
_SeccompSpec = Union[Literal["enforce", "log", "off"], Mapping[str, Any]]

__all__ = [
    "CompletedProcess",
    "Mount",
    "Pool",
    "Process",
    "Sandbox",
    "SandboxConfig",
    "WORKSPACE_DIR",
    "__version__",
    "bundled_shim_path",
    "cleanup_stale",
    "doctor",
]

__version__: str
WORKSPACE_DIR: str

def bundled_shim_path() -> Optional[str]:
    """The path of the supervisor executable bundled with this package, or None."""

def cleanup_stale(state_root: Optional[_Path] = None) -> list[str]:
    """Remove what sandboxes whose supervisor died left behind; returns their ids."""

def doctor() -> dict[str, Any]:
    """Check what this host can enforce: {"checks": [{"name", "ok", "detail", "fix"}]}."""

class _ConfigKeywords(TypedDict, total=False):
    """The keyword arguments of SandboxConfig(...), Sandbox(...) and Pool(...); each may be
    None."""

    hostname: Optional[str]
    env: Optional[Mapping[str, str]]
    cwd: Optional[_Path]
    rootfs: Optional[_Path]
    workspace: Optional[_Path]
    mounts: Optional[Sequence[_MountSpec]]
    tmpfs_size: Union[int, str, None]
    network: Optional[Literal["none", "host"]]
    user: Optional[Mapping[str, Any]]
    allow_degraded: Optional[bool]
    state_root: Optional[_Path]
    shim_path: Optional[_Path]
    memory: Union[int, str, None]
    cpus: Optional[float]
    pids: Optional[int]
    security: Optional[Mapping[str, Any]]
    seccomp: Optional[_SeccompSpec]
    landlock: Optional[bool]

@final
class Mount:
    """A host path made visible inside the sandbox."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def readonly(self) -> bool: ...
    def __new__(cls, source: _Path, target: _Path, readonly: bool = True) -> Mount: ...

@final
class SandboxConfig:
    """The whole description of a sandbox, validated."""

    def __new__(cls, **kwargs: Unpack[_ConfigKeywords]) -> SandboxConfig: ...
    @staticmethod
    def from_json(json: str) -> SandboxConfig: ...
    def to_json(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def validate(self) -> None: ...

@final
class CompletedProcess:
    """The result of Sandbox.run, shaped like subprocess.CompletedProcess."""

    @property
    def args(self) -> Any: ...
    @property
    def returncode(self) -> int: ...
    @property
    def stdout(self) -> Any: ...
    @property
    def stderr(self) -> Any: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def oom_killed(self) -> bool: ...
    @property
    def peak_memory(self) -> Optional[int]: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def duration(self) -> float: ...
    def check_returncode(self) -> None: ...

@final
class Process:
    """A command started with Sandbox.spawn, shaped like subprocess.Popen."""

    @property
    def pid(self) -> int: ...
    @property
    def args(self) -> Any: ...
    @property
    def stdin(self) -> IO[Any]: ...
    @property
    def stdout(self) -> IO[Any]: ...
    @property
    def stderr(self) -> IO[Any]: ...
    @property
    def returncode(self) -> Optional[int]: ...
    def poll(self) -> Optional[int]: ...
    def wait(self, timeout: Optional[float] = None) -> int: ...
    def send_signal(self, signal: int) -> None: ...
    def kill(self) -> None: ...
    def terminate(self) -> None: ...
    def __enter__(self) -> Process: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

@final
class Sandbox:
    """A running sandbox; a context manager."""

    def __new__(
        cls, config: Optional[SandboxConfig] = None, **kwargs: Unpack[_ConfigKeywords]
    ) -> Sandbox: ...
    @staticmethod
    def from_json(json: str) -> Sandbox: ...
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def config(self) -> SandboxConfig: ...
    @property
    def workspace_path(self) -> Optional[str]: ...
    @property
    def init_pid(self) -> Optional[int]: ...
    @property
    def supervisor_pid(self) -> Optional[int]: ...
    @property
    def warnings(self) -> list[str]: ...
    def security_report(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Optional[int]]: ...
    def run(
        self,
        args: _Args,
        *,
        input: Union[bytes, str, None] = None,
        cwd: Optional[_Path] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        shell: bool = False,
        text: bool = False,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        check: bool = False,
        max_output: Optional[int] = None,
    ) -> CompletedProcess: ...
    def spawn(
        self,
        args: _Args,
        *,
        cwd: Optional[_Path] = None,
        env: Optional[Mapping[str, str]] = None,
        shell: bool = False,
        text: bool = False,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        bufsize: Optional[int] = None,
    ) -> Process: ...
    def write_file(self, path: _Path, data: Union[bytes, str]) -> None: ...
    def read_file(self, path: _Path) -> bytes: ...
    def kill(self, signal: int = 9) -> None: ...
    def close(self) -> None: ...
    def destroy(self) -> None: ...
    def __enter__(self) -> Sandbox: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
class Pool:
    """Sandboxes of one config, created and started in the background; a context manager."""

    def __new__(
        cls, size: int, config: Optional[SandboxConfig] = None, **kwargs: Unpack[_ConfigKeywords]
    ) -> Pool: ...
    @property
    def ready(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def take(self) -> Sandbox: ...
    def close(self) -> None: ...
    def __enter__(self) -> Pool: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
