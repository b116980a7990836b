"""nucleus.doctor() and python -m nucleus doctor."""

import subprocess
import sys

import nucleus

CHECKS = ["user_namespaces", "landlock", "seccomp", "cgroups", "container", "supervisor"]


def test_doctor_reports_every_check():
    report = nucleus.doctor()
    assert [c["name"] for c in report["checks"]] == CHECKS
    for c in report["checks"]:
        assert set(c) == {"name", "ok", "detail", "fix"}
        assert isinstance(c["ok"], bool) and c["detail"]
        assert (c["fix"] is None) == c["ok"], c
    # These tests create sandboxes, so this host has what they need.
    by_name = {c["name"]: c for c in report["checks"]}
    for name in ("user_namespaces", "seccomp", "supervisor"):
        assert by_name[name]["ok"], by_name[name]


def test_doctor_command_prints_each_check_and_sets_the_status(child_env):
    r = subprocess.run([sys.executable, "-m", "nucleus", "doctor"], capture_output=True, text=True,
                       env=child_env, timeout=60)
    report = nucleus.doctor()
    assert r.returncode == (0 if all(c["ok"] for c in report["checks"]) else 1), r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for c in report["checks"]:
        (line,) = [l for l in lines if l.split()[1:2] == [c["name"]]]
        assert line.startswith("ok" if c["ok"] else "FAIL"), line
        if c["fix"]:
            assert f"fix: {c['fix']}" in r.stdout
    assert r.stderr == ""
