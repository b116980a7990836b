"""Shared fixtures. Every test runs real sandboxes on this kernel; nothing is mocked."""

import os
import pathlib
import sys
import time
from typing import Iterator, List, Optional

import pytest

import nucleus

#: The repository root (bindings/python/tests/ -> ../../..).
REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def sandbox() -> Iterator[nucleus.Sandbox]:
    """A default sandbox, closed after the test."""
    with nucleus.Sandbox() as sb:
        yield sb


@pytest.fixture
def child_env() -> dict:
    """Environment for Python subprocesses that import nucleus."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def python() -> str:
    """The interpreter running the tests (the venv's, where nucleus is installed)."""
    return sys.executable


def _stat(pid: int) -> Optional[List[str]]:
    """The fields of /proc/<pid>/stat after the command name, or None if pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    """Whether pid is a live (not zombie) process."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def parent(pid: int) -> Optional[int]:
    """The parent of pid, or None if pid is gone."""
    fields = _stat(pid)
    return None if fields is None else int(fields[1])


def children(pid: int) -> List[int]:
    """The live children of pid."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and parent(int(p)) == pid and alive(int(p))]


def wait_until(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def processes_with(marker: str) -> List[int]:
    """Live processes whose command line contains marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read() and alive(int(pid)):
                    found.append(int(pid))
        except OSError:
            pass
    return found
