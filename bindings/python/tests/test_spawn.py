"""Sandbox.spawn: a streaming process, shaped like subprocess.Popen."""

import io
import signal
import time

import pytest

import nucleus


def test_lines_arrive_while_the_command_runs(sandbox):
    p = sandbox.spawn(["sh", "-c", "for i in 1 2 3 4; do echo line$i; sleep 0.3; done"])
    assert isinstance(p, nucleus.Process)
    start = time.monotonic()
    seen = []
    for line in p.stdout:
        seen.append((line, time.monotonic() - start))
        if len(seen) == 1:
            assert p.poll() is None, "the first line must arrive before the end"
    assert [line for line, _ in seen] == [b"line1\n", b"line2\n", b"line3\n", b"line4\n"]
    # Each line came when it was written, not all at the end (~1.2 s).
    assert seen[0][1] < 0.25
    assert seen[1][1] < seen[3][1] - 0.3
    assert p.wait(timeout=5) == 0
    assert p.returncode == 0


def test_stdin_stdout_dialogue(sandbox):
    p = sandbox.spawn(["sh", "-c", "while read x; do echo got:$x; done; echo bye"], text=True, bufsize=1)
    assert isinstance(p.stdin, io.TextIOBase)
    p.stdin.write("a\n")
    assert p.stdout.readline() == "got:a\n"
    p.stdin.write("b\n")
    assert p.stdout.readline() == "got:b\n"
    p.stdin.close()
    assert p.stdout.read() == "bye\n"
    assert p.wait() == 0


def test_stderr_is_separate(sandbox):
    p = sandbox.spawn(["sh", "-c", "echo out; echo err >&2; exit 4"])
    p.stdin.close()
    assert p.stdout.read() == b"out\n"
    assert p.stderr.read() == b"err\n"
    assert p.wait() == 4


def test_wait_timeout_raises_and_kill_ends_it(sandbox):
    p = sandbox.spawn(["sleep", "30"])
    with pytest.raises(nucleus.TimeoutExpired) as info:
        p.wait(timeout=0.2)
    assert info.value.cmd == ["sleep", "30"] and info.value.timeout == 0.2
    assert p.poll() is None and p.returncode is None
    p.kill()
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert p.poll() == -signal.SIGKILL
    p.kill()  # after the end: a no-op


def test_terminate_and_send_signal(sandbox):
    p = sandbox.spawn(["sleep", "30"])
    p.terminate()
    assert p.wait(timeout=5) == -signal.SIGTERM
    p = sandbox.spawn(["sleep", "30"])
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=5) == -signal.SIGINT


def test_context_manager_closes_pipes_and_waits(sandbox):
    with sandbox.spawn(["sh", "-c", "cat; exit 2"]) as p:
        p.stdin.write(b"x")
    assert p.returncode == 2
    assert p.stdout.closed and p.stdin.closed


def test_attributes_and_repr(sandbox):
    p = sandbox.spawn("echo hi", shell=True, cwd="/tmp", env={"A": "b"})
    assert p.args == "echo hi"
    assert p.pid > 1
    assert p.stdout.read() == b"hi\n"
    p.wait()
    assert "returncode=0" in repr(p) and "echo hi" in repr(p)


def test_spawn_errors(sandbox):
    with pytest.raises(nucleus.ExecError) as info:
        sandbox.spawn(["/no/such/program"])
    assert info.value.program == "/no/such/program"
    assert info.value.errno == 2
    with pytest.raises(nucleus.ConfigError) as info:
        sandbox.spawn([])
    assert info.value.field == "argv"


def test_many_processes_at_once(sandbox):
    procs = [sandbox.spawn(["sh", "-c", f"sleep 0.3; echo {i}"]) for i in range(10)]
    assert [p.stdout.read() for p in procs] == [f"{i}\n".encode() for i in range(10)]
    assert [p.wait() for p in procs] == [0] * 10
