"""write_file and read_file."""

import errno
import os

import pytest

import nucleus


def test_write_then_read_bytes_and_text(sandbox):
    sandbox.write_file("/workspace/main.py", "print('ok')")
    assert sandbox.read_file("/workspace/main.py") == b"print('ok')"
    assert sandbox.run(["python3", "/workspace/main.py"]).stdout == b"ok\n"
    blob = os.urandom(1 << 20)
    sandbox.write_file("/tmp/blob", blob)
    assert sandbox.read_file("/tmp/blob") == blob
    sandbox.write_file("/tmp/blob", bytearray(b"short"))
    assert sandbox.read_file("/tmp/blob") == b"short"


def test_files_written_by_commands_can_be_read(sandbox):
    sandbox.run(["sh", "-c", "echo '{\"a\": 1}' > /workspace/out.json"], check=True)
    assert sandbox.read_file("/workspace/out.json") == b'{"a": 1}\n'
    assert sandbox.workspace_path is not None
    with open(os.path.join(sandbox.workspace_path, "out.json"), "rb") as f:
        assert f.read() == b'{"a": 1}\n'


def test_missing_file_is_an_os_error_with_errno_and_path(sandbox):
    with pytest.raises(nucleus.SandboxError) as info:
        sandbox.read_file("/workspace/missing")
    e = info.value
    assert isinstance(e, OSError)
    assert e.errno == errno.ENOENT
    assert e.path == "/workspace/missing" and e.filename == "/workspace/missing"


def test_symlinks_resolve_inside_the_sandbox(sandbox):
    sandbox.run(["ln", "-s", "/etc/hostname-does-not-exist", "/workspace/link"], check=True)
    with pytest.raises(nucleus.SandboxError):
        sandbox.read_file("/workspace/link")


def test_bad_paths_name_the_field(sandbox):
    with pytest.raises(nucleus.ConfigError) as info:
        sandbox.write_file("relative", b"x")
    assert info.value.field == "path"
    with pytest.raises(nucleus.ConfigError):
        sandbox.write_file("/workspace/x", 42)
