"""Every exception class: hierarchy, attributes, and a real way to raise it."""

import errno
import os
import shutil
import subprocess
import sys

import pytest

import nucleus

HIERARCHY = {
    nucleus.ConfigError: (nucleus.NucleusError, ValueError),
    nucleus.UnsupportedError: (nucleus.NucleusError,),
    nucleus.SandboxStateError: (nucleus.NucleusError,),
    nucleus.SandboxError: (nucleus.NucleusError, OSError),
    nucleus.ExecError: (nucleus.NucleusError,),
    nucleus.TimeoutExpired: (nucleus.NucleusError, TimeoutError, subprocess.TimeoutExpired),
    nucleus.CalledProcessError: (nucleus.NucleusError, subprocess.CalledProcessError),
    nucleus.InternalError: (nucleus.NucleusError,),
}


def test_hierarchy():
    assert issubclass(nucleus.NucleusError, Exception)
    for cls, bases in HIERARCHY.items():
        for base in bases:
            assert issubclass(cls, base), (cls, base)
        assert cls.__module__ == "nucleus._errors"


def test_config_error(sandbox):
    with pytest.raises(ValueError) as info:
        nucleus.Sandbox(mounts=[nucleus.Mount("/usr", "/proc/x")])
    e = info.value
    assert isinstance(e, nucleus.ConfigError)
    assert (e.kind, e.field, e.errno, e.path) == ("invalid_config", "mounts[0].target", None, None)
    assert str(e) == e.message == "invalid config: mounts[0].target: cannot mount over /proc or /dev"


def test_unsupported_error_when_no_supervisor_can_be_found(tmp_path, child_env):
    # A copy of the package without its bundled supervisor, and nothing on PATH.
    pkg = os.path.dirname(nucleus.__file__)
    shutil.copytree(pkg, tmp_path / "nucleus", ignore=shutil.ignore_patterns("nucleus-shim", "__pycache__"))
    env = dict(child_env, PYTHONPATH=str(tmp_path), PATH="/nonexistent")
    env.pop("NUCLEUS_SHIM", None)
    script = (
        "import nucleus\n"
        "assert nucleus.bundled_shim_path() is None\n"
        "try:\n"
        "    nucleus.Sandbox()\n"
        "except nucleus.UnsupportedError as e:\n"
        "    print(e.kind, e.layer, 'nucleus-shim' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "unsupported supervisor True\n", out.stderr


def test_nucleus_shim_variable_naming_a_missing_file_is_a_config_error(tmp_path, child_env):
    env = dict(child_env, NUCLEUS_SHIM=str(tmp_path / "missing"))
    script = (
        "import nucleus\n"
        "try:\n"
        "    nucleus.Sandbox()\n"
        "except nucleus.ConfigError as e:\n"
        "    print(e.field)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout == "NUCLEUS_SHIM\n", out.stderr


def test_sandbox_state_error_after_close():
    sb = nucleus.Sandbox()
    sb.close()
    calls = [
        lambda: sb.run(["true"]),
        lambda: sb.spawn(["true"]),
        lambda: sb.write_file("/tmp/x", b""),
        lambda: sb.read_file("/tmp/x"),
        lambda: sb.kill(),
        lambda: sb.config,
        lambda: sb.workspace_path,
        lambda: sb.init_pid,
        lambda: sb.supervisor_pid,
    ]
    for call in calls:
        with pytest.raises(nucleus.SandboxStateError) as info:
            call()
        assert info.value.kind == "state"
        assert "closed" in str(info.value)


def test_sandbox_error(sandbox):
    with pytest.raises(OSError) as info:
        sandbox.read_file("/workspace/nope")
    e = info.value
    assert isinstance(e, nucleus.SandboxError)
    assert e.kind == "syscall"
    assert e.errno == errno.ENOENT and e.strerror == os.strerror(errno.ENOENT)
    assert e.path == e.filename == "/workspace/nope"
    assert e.syscall
    assert "/workspace/nope" in str(e)


def test_sandbox_error_when_the_sandbox_is_gone(sandbox):
    os.kill(sandbox.init_pid, 9)
    with pytest.raises(nucleus.SandboxError) as info:
        for _ in range(50):
            sandbox.run(["true"])
    assert info.value.kind in ("supervisor", "syscall")


def test_exec_error(sandbox):
    with pytest.raises(nucleus.ExecError) as info:
        sandbox.run(["/workspace"])
    e = info.value
    assert (e.kind, e.program, e.errno) == ("exec_failed", "/workspace", errno.EACCES)
    assert "/workspace" in str(e)


@pytest.mark.parametrize("cwd, code", [("/nope", errno.ENOENT), ("/etc/hostname", errno.ENOTDIR)])
def test_exec_error_for_a_bad_working_directory_names_it(sandbox, cwd, code):
    for start in (sandbox.run, sandbox.spawn):
        with pytest.raises(nucleus.ExecError) as info:
            start(["true"], cwd=cwd)
        e = info.value
        assert (e.kind, e.program, e.errno) == ("exec_failed", "true", code)
        assert f"working directory {cwd}" in str(e)
    assert sandbox.run(["true"]).returncode == 0


def test_timeout_expired(sandbox):
    with pytest.raises(TimeoutError) as info:
        sandbox.run(["sh", "-c", "printf early; sleep 10"], timeout=0.3, text=True)
    e = info.value
    assert isinstance(e, nucleus.TimeoutExpired)
    assert (e.kind, e.cmd, e.timeout, e.stdout, e.output, e.stderr) == (
        "timeout", ["sh", "-c", "printf early; sleep 10"], 0.3, "early", "early", "")
    assert e.result.timed_out
    assert e.errno is None and e.path is None


def test_called_process_error(sandbox):
    with pytest.raises(subprocess.CalledProcessError) as info:
        sandbox.run(["sh", "-c", "exit 7"], check=True)
    e = info.value
    assert isinstance(e, nucleus.CalledProcessError)
    assert (e.kind, e.returncode, e.cmd, e.stdout, e.stderr) == ("called_process", 7, ["sh", "-c", "exit 7"], b"", b"")
    assert e.result.returncode == 7


def test_internal_error_class():
    # No real way to make nucleus hit a bug on purpose: check the class itself.
    e = nucleus.InternalError("internal error (please report): x", kind="internal")
    assert isinstance(e, nucleus.NucleusError)
    assert (e.kind, e.errno, e.path, str(e)) == ("internal", None, None, "internal error (please report): x")


def test_errors_can_be_constructed_by_users():
    e = nucleus.ConfigError("bad", field="hostname")
    assert (e.field, e.kind, str(e)) == ("hostname", "invalid_config", "bad")
    e = nucleus.UnsupportedError("no", layer="landlock")
    assert e.layer == "landlock"
    e = nucleus.SandboxError("x", errno=errno.EPERM, path="/p", syscall="mount")
    assert (e.errno, e.path, e.syscall, e.filename) == (errno.EPERM, "/p", "mount", "/p")
    e = nucleus.ExecError("x", program="p")
    assert e.program == "p"
    e = nucleus.TimeoutExpired("t", cmd=["a"], timeout=1.0, stdout=b"o", stderr=b"e")
    assert (e.cmd, e.timeout, e.stdout, e.stderr, e.result) == (["a"], 1.0, b"o", b"e", None)


def test_warning_hierarchy():
    assert issubclass(nucleus.DegradedWarning, nucleus.NucleusWarning)
    assert issubclass(nucleus.NucleusWarning, UserWarning)
    assert not issubclass(nucleus.NucleusWarning, nucleus.NucleusError)
    assert nucleus.DegradedWarning.__module__ == "nucleus._errors"
