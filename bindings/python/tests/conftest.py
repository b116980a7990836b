"""Shared fixtures. Every test runs real sandboxes on this kernel; nothing is mocked."""

import os
import pathlib
import sys
from typing import Iterator

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
