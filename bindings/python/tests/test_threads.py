"""Threads: the GIL is released while sandboxes work, and sandboxes are thread-safe."""

import os
import threading
import time

import nucleus
from conftest import alive, children, parent, processes_with, wait_until


def run_threads(target, count, timeout=120):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as e:  # reported below
            errors.append((i, e))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, errors


def test_eight_threads_with_their_own_sandboxes_while_main_works():
    results = {}

    def work(i):
        with nucleus.Sandbox(hostname=f"t{i}") as sb:
            results[i] = [sb.run(["sh", "-c", f"echo $(hostname) {j}"], text=True).stdout for j in range(10)]

    threads, errors = run_threads(work, 8)
    spins = 0
    while any(t.is_alive() for t in threads):
        spins += 1
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert spins > 1000, "the main thread must keep running while sandboxes work"
    for i in range(8):
        assert results[i] == [f"t{i} {j}\n" for j in range(10)]


def test_threads_creating_and_closing_sandboxes_leave_nothing_behind(tmp_path):
    state_root = tmp_path / "state"
    # A command left running in every sandbox, found by this number in its command line.
    marker = f"{os.getpid() % 1000}.{time.monotonic_ns() % 100000}"
    threads_count, rounds = 8, 4
    start = threading.Barrier(threads_count)
    seen = {}  # sandbox id -> (supervisor, its parent, init, workspace)

    def work(i):
        start.wait(timeout=60)
        for j in range(rounds):
            with nucleus.Sandbox(hostname=f"t{i}", state_root=state_root) as sb:
                seen[sb.id] = (sb.supervisor_pid, parent(sb.supervisor_pid), sb.init_pid, sb.workspace_path)
                assert (state_root / f"{sb.id}.json").exists()
                sb.spawn(["sleep", marker])
                assert sb.run(["sh", "-c", f"echo $(hostname) {j}"], text=True).stdout == f"t{i} {j}\n"

    threads, errors = run_threads(work, threads_count)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(seen) == threads_count * rounds, "every sandbox has an id of its own"
    # Every supervisor was forked by the one zygote of this process.
    zygotes = {zygote for _, zygote, _, _ in seen.values()}
    assert len(zygotes) == 1, zygotes
    zygote = zygotes.pop()
    assert parent(zygote) == os.getpid()
    with open(f"/proc/{zygote}/comm") as f:
        assert f.read().strip() == "nucleus-zygote"
    for supervisor, _, init, workspace in seen.values():
        assert not alive(supervisor) and not alive(init)
        assert not os.path.exists(workspace)
    assert not list(state_root.glob("*.json")), "state records left behind"
    assert wait_until(lambda: not processes_with(marker)), "commands left running"
    # The zygote lives on for the next sandbox, with no supervisor left under it.
    assert alive(zygote)
    assert wait_until(lambda: not children(zygote)), children(zygote)


def test_main_thread_progresses_during_a_sleep_in_a_sandbox(sandbox):
    finished = {}

    def worker():
        sandbox.run(["sleep", "1"])
        finished["worker"] = time.monotonic()

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.1)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 0.5:  # pure Python work, needs the GIL
        n += 1
    finished["main"] = time.monotonic()
    t.join(timeout=10)
    assert finished["main"] < finished["worker"], "run() held the GIL"
    assert n > 10000


def test_one_sandbox_shared_by_eight_threads(sandbox):
    outputs = {}

    def work(i):
        outs = []
        for j in range(15):
            if j % 5 == 0:
                sandbox.write_file(f"/tmp/f{i}", f"{i}-{j}")
                assert sandbox.read_file(f"/tmp/f{i}") == f"{i}-{j}".encode()
            outs.append(sandbox.run(["sh", "-c", f"echo {i}:{j}"], text=True).stdout)
        p = sandbox.spawn(["sh", "-c", f"echo spawned{i}"])
        outs.append(p.stdout.read().decode())
        p.wait()
        outputs[i] = outs

    threads, errors = run_threads(work, 8)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for i in range(8):
        assert outputs[i] == [f"{i}:{j}\n" for j in range(15)] + [f"spawned{i}\n"]


def test_close_while_another_thread_runs(sandbox):
    caught = []

    def worker():
        try:
            sandbox.run(["sleep", "30"])
        except nucleus.NucleusError as e:
            caught.append(e)

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    sandbox.close()
    t.join(timeout=15)
    assert not t.is_alive()
    assert time.monotonic() - started < 10
    assert len(caught) == 1 and isinstance(caught[0], nucleus.SandboxError)
