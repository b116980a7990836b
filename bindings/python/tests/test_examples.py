"""Every program in examples/python runs and succeeds."""

import subprocess
import sys

import pytest

from conftest import REPO

EXAMPLES = sorted((REPO / "examples" / "python").glob("*.py"))


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"quickstart.py", "agent_loop.py"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example, tmp_path, child_env):
    r = subprocess.run([sys.executable, str(example)], cwd=tmp_path, env=child_env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip()
