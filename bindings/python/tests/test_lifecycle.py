"""Sandbox lifecycle: context manager, close, repr, and cleanup when the caller dies."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import nucleus
from conftest import alive, parent, processes_with, wait_until


def test_context_manager_and_idempotent_close():
    with nucleus.Sandbox() as sb:
        assert sb.status == "running" and not sb.closed
        assert len(sb.id) == 16
        assert f"id={sb.id}" in repr(sb) and "status=running" in repr(sb)
        workspace = sb.workspace_path
        assert os.path.isdir(workspace)
        assert sb.init_pid > 1 and sb.supervisor_pid > 1
    assert sb.closed and sb.status == "closed"
    assert "status=closed" in repr(sb)
    assert not os.path.exists(workspace)
    sb.close()
    sb.destroy()


def test_exception_in_block_closes_and_propagates():
    with pytest.raises(RuntimeError):
        with nucleus.Sandbox() as sb:
            raise RuntimeError("boom")
    assert sb.closed


def test_garbage_collected_sandbox_is_torn_down():
    sb = nucleus.Sandbox()
    supervisor, workspace = sb.supervisor_pid, sb.workspace_path
    del sb
    assert wait_until(lambda: not alive(supervisor) and not os.path.exists(workspace))


def test_kill_ends_every_command_but_keeps_the_sandbox(sandbox):
    p = sandbox.spawn(["sleep", "30"])
    sandbox.kill()
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert sandbox.run(["true"]).returncode == 0


def test_caller_killed_leaves_nothing_behind(tmp_path, child_env):
    state_root = tmp_path / "state"
    marker = f"{os.getpid() % 1000}.{time.monotonic_ns() % 100000}"
    script = (
        "import json, sys, time, nucleus\n"
        "sb = nucleus.Sandbox(state_root=sys.argv[1])\n"
        "p = sb.spawn(['sleep', sys.argv[2]])\n"
        "print(json.dumps({'id': sb.id, 'workspace': sb.workspace_path,\n"
        "                  'supervisor': sb.supervisor_pid, 'init': sb.init_pid}), flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(state_root), marker],
                             stdout=subprocess.PIPE, text=True, env=child_env)
    try:
        info = json.loads(child.stdout.readline())
        record = state_root / f"{info['id']}.json"
        assert os.path.isdir(info["workspace"])
        assert info["workspace"] == f"/tmp/nucleus-{info['id']}"
        assert record.exists()
        assert alive(info["supervisor"]) and alive(info["init"])
        # The child's zygote forked the supervisor; it must go with the child too.
        zygote = parent(info["supervisor"])
        assert parent(zygote) == child.pid
        assert wait_until(lambda: processes_with(marker))
    finally:
        child.kill()
        child.wait()
    assert wait_until(lambda: not alive(info["supervisor"])), "supervisor still running"
    assert wait_until(lambda: not alive(zygote)), "zygote still running"
    assert wait_until(lambda: not alive(info["init"])), "sandbox init still running"
    assert wait_until(lambda: not processes_with(marker)), "sandboxed command still running"
    assert wait_until(lambda: not os.path.exists(info["workspace"])), "workspace left behind"
    assert wait_until(lambda: not record.exists()), "state record left behind"


def test_a_forked_child_gets_a_zygote_of_its_own():
    nucleus.Sandbox().close()  # this process's zygote is running
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # The child never returns into pytest.
        try:
            os.close(r)
            with nucleus.Sandbox() as sb:
                zygote = parent(sb.supervisor_pid)
            os.write(w, str(parent(zygote)).encode())
        finally:
            os._exit(0)
    os.close(w)
    exited = wait_until(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, timeout=30)
    if not exited:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        zygote_parent = f.read()
    assert exited, "the forked child hung"
    assert zygote_parent == str(pid), "the child's sandbox came from its parent's zygote"


def test_cleanup_stale_removes_what_a_killed_supervisor_left(tmp_path):
    state_root = tmp_path / "state"
    sb = nucleus.Sandbox(state_root=state_root)
    running = nucleus.Sandbox(state_root=state_root)
    try:
        workspace = sb.workspace_path
        os.kill(sb.supervisor_pid, signal.SIGKILL)
        assert wait_until(lambda: not alive(sb.supervisor_pid))
        # The handle is still open, as in a caller that has not noticed yet.
        assert nucleus.cleanup_stale(state_root) == [sb.id]
        assert not os.path.exists(workspace)
        assert not (state_root / f"{sb.id}.json").exists()
        sb.close()
        # The live sandbox is left alone.
        assert (state_root / f"{running.id}.json").exists()
        assert running.run(["true"]).returncode == 0
        assert nucleus.cleanup_stale(str(state_root)) == []
    finally:
        running.close()


def test_close_after_the_supervisor_was_killed_removes_what_it_left(tmp_path):
    state_root = tmp_path / "state"
    sb = nucleus.Sandbox(state_root=state_root)
    workspace = sb.workspace_path
    os.kill(sb.supervisor_pid, signal.SIGKILL)
    assert wait_until(lambda: not alive(sb.supervisor_pid))
    sb.close()
    assert not os.path.exists(workspace)
    assert not (state_root / f"{sb.id}.json").exists()
    assert nucleus.cleanup_stale(state_root) == []
