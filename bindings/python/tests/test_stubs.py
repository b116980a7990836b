"""The hand-written stubs match the compiled module, and type-check real use."""

import os
import subprocess
import sys

from conftest import REPO


def mypy_env(tmp_path):
    return dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / "mypy-cache"))


def test_stubtest(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "nucleus._nucleus"], cwd=tmp_path,
                       env=mypy_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_examples_type_check_strictly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(REPO / "examples" / "python")],
                       cwd=tmp_path, env=mypy_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
