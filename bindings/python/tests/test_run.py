"""Sandbox.run: the subprocess.run of a sandbox."""

import os
import signal
import subprocess
import sys
import time

import pytest

import nucleus

#: Counts the processes named "sleep" in the sandbox, through its own /proc.
COUNT_SLEEPS = "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$' || true"


def count_sleeps(sb):
    return int(sb.run(["sh", "-c", COUNT_SLEEPS], text=True).stdout.strip())


def test_run_returns_a_completed_process(sandbox):
    r = sandbox.run(["python3", "-c", "import sys; print(6*7); print('err', file=sys.stderr)"], timeout=10)
    assert isinstance(r, nucleus.CompletedProcess)
    assert r.args == ["python3", "-c", "import sys; print(6*7); print('err', file=sys.stderr)"]
    assert (r.returncode, r.stdout, r.stderr) == (0, b"42\n", b"err\n")
    assert r.timed_out is False and r.truncated is False
    assert 0 < r.duration < 10
    r.check_returncode()
    assert "returncode=0" in repr(r) and "42" in repr(r)


def test_shell_input_cwd_text(sandbox):
    r = sandbox.run("echo hi | tr a-z A-Z; pwd", shell=True, input=b"", cwd="/workspace", text=True)
    assert r.stdout == "HI\n/workspace\n"
    assert r.args == "echo hi | tr a-z A-Z; pwd"
    r = sandbox.run(["cat"], input="text in")
    assert r.stdout == b"text in"
    r = sandbox.run(["cat"], input=b"\x00\xffbytes")
    assert r.stdout == b"\x00\xffbytes"
    r = sandbox.run(["sh", "-c", "cat; echo $0 $1", "a0", "a1"], input=b"x\n", text=True)
    assert r.stdout == "x\na0 a1\n"


def test_shell_with_a_sequence_passes_arguments(sandbox):
    r = sandbox.run(['echo "$0-$1"', "zero", "one"], shell=True, text=True)
    assert r.stdout == "zero-one\n"


def test_a_string_without_shell_is_one_program(sandbox):
    assert sandbox.run("true").returncode == 0
    with pytest.raises(nucleus.ExecError):
        sandbox.run("echo hi")


def test_env_adds_to_the_sandbox_environment(sandbox):
    r = sandbox.run(["sh", "-c", "echo $FOO:$HOSTNAME"], env={"FOO": "bar"}, text=True)
    assert r.stdout == "bar:sandbox\n"


def test_large_input_and_output(sandbox):
    data = os.urandom(3 << 20)
    r = sandbox.run(["cat"], input=data)
    assert r.stdout == data


def test_text_decoding(sandbox):
    r = sandbox.run(["printf", "caf\\303\\251 \\377"], text=True)
    assert r.stdout == "café \ufffd"
    with pytest.raises(UnicodeDecodeError):
        sandbox.run(["printf", "\\377"], errors="strict")
    r = sandbox.run(["printf", "\\351"], encoding="latin-1")
    assert r.stdout == "é"


def test_exit_codes_and_signals(sandbox):
    assert sandbox.run(["sh", "-c", "exit 3"]).returncode == 3
    assert sandbox.run(["sh", "-c", "kill -TERM $$"]).returncode == -signal.SIGTERM


def test_check_raises_called_process_error(sandbox):
    with pytest.raises(nucleus.CalledProcessError) as info:
        sandbox.run(["sh", "-c", "echo out; echo err >&2; exit 5"], check=True, text=True)
    e = info.value
    assert isinstance(e, subprocess.CalledProcessError) and isinstance(e, nucleus.NucleusError)
    assert (e.returncode, e.cmd, e.stdout, e.output, e.stderr) == (
        5, ["sh", "-c", "echo out; echo err >&2; exit 5"], "out\n", "out\n", "err\n")
    assert e.kind == "called_process"
    assert e.result.returncode == 5
    assert "exit status 5" in str(e)
    with pytest.raises(subprocess.CalledProcessError):
        sandbox.run(["false"]).check_returncode()
    assert sandbox.run(["true"], check=True).returncode == 0


def test_timeout_raises_with_partial_output_and_kills(sandbox):
    started = time.monotonic()
    with pytest.raises(nucleus.TimeoutExpired) as info:
        sandbox.run(["sh", "-c", "echo partial; echo e >&2; sleep 30 & wait"], timeout=0.5)
    assert time.monotonic() - started < 5
    e = info.value
    assert isinstance(e, TimeoutError) and isinstance(e, subprocess.TimeoutExpired)
    assert (e.cmd, e.timeout, e.stdout, e.output, e.stderr) == (
        ["sh", "-c", "echo partial; echo e >&2; sleep 30 & wait"], 0.5, b"partial\n", b"partial\n", b"e\n")
    assert e.kind == "timeout"
    assert e.result.timed_out is True and e.result.returncode == -signal.SIGKILL
    assert "timed out after 0.5 seconds" in str(e)
    # The whole tree died, the background sleep too.
    deadline = time.monotonic() + 5
    while count_sleeps(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count_sleeps(sandbox) == 0


def test_timeout_must_be_positive(sandbox):
    for bad in (0, -1, float("nan")):
        with pytest.raises(nucleus.ConfigError) as info:
            sandbox.run(["true"], timeout=bad)
        assert info.value.field == "timeout"


def test_max_output_truncates(sandbox):
    r = sandbox.run(["sh", "-c", "head -c 100000 /dev/zero"], max_output=1000)
    assert r.stdout == b"\0" * 1000 and r.truncated
    assert "truncated=True" in repr(r)


def test_background_process_holding_the_pipe_does_not_block_run(sandbox):
    started = time.monotonic()
    r = sandbox.run(["sh", "-c", "sleep 30 & echo started"], text=True)
    assert r.stdout == "started\n"
    assert time.monotonic() - started < 5


def test_hundred_commands_in_one_sandbox(sandbox):
    for i in range(100):
        r = sandbox.run(["sh", "-c", f"echo {i}"], text=True)
        assert (r.returncode, r.stdout) == (0, f"{i}\n")


def test_ctrl_c_interrupts_run_and_kills_the_command(tmp_path, child_env):
    script = (
        "import nucleus, sys, time\n"
        "with nucleus.Sandbox() as sb:\n"
        "    print('ready', flush=True)\n"
        "    t = time.monotonic()\n"
        "    try:\n"
        "        sb.run(['sleep', '30'])\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', round(time.monotonic() - t, 2), flush=True)\n"
        f"    r = sb.run(['sh', '-c', {COUNT_SLEEPS!r}], text=True)\n"
        "    print('sleeps', r.stdout.strip(), flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=child_env)
    assert child.stdout.readline() == "ready\n"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=20)
    lines = out.splitlines()
    assert lines[0].startswith("interrupted"), out
    assert float(lines[0].split()[1]) < 3
    assert lines[1] == "sleeps 0"
    assert child.returncode == 0
