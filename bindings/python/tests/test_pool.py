"""nucleus.Pool: sandboxes of one config started ahead of time, taken in microseconds."""

import json
import os
import threading

import pytest

import nucleus
from conftest import alive, wait_until


def full_pool(size, **kwargs):
    pool = nucleus.Pool(size, **kwargs)
    assert wait_until(lambda: pool.ready == size, timeout=30), f"{pool.ready} of {size} ready"
    return pool


def records(state_root):
    """The state records under state_root, by sandbox id."""
    return {p.stem: json.loads(p.read_text()) for p in state_root.glob("*.json")}


def test_take_returns_a_running_sandbox():
    with nucleus.Pool(2, hostname="pooled") as pool:
        assert pool.size == 2 and not pool.closed
        with pool.take() as sb:
            assert isinstance(sb, nucleus.Sandbox)
            assert sb.status == "running"
            assert sb.run(["hostname"], text=True).stdout == "pooled\n"


def test_taken_sandboxes_are_distinct_and_fresh():
    with full_pool(2) as pool:
        taken = [pool.take() for _ in range(4)]  # more than the pool holds
        try:
            assert len({sb.id for sb in taken}) == 4
            assert len({sb.init_pid for sb in taken}) == 4
            for sb in taken:
                # Nothing of the sandboxes taken before is in this one.
                assert sb.run("ls -A /workspace /tmp", shell=True, text=True).stdout == "/tmp:\n\n/workspace:\n"
                sb.write_file("/workspace/mark", "mine")
                sb.run("echo mine > /tmp/mark", shell=True, check=True)
        finally:
            for sb in taken:
                sb.close()


def test_pool_refills_what_is_taken():
    with full_pool(2) as pool:
        with pool.take():
            assert wait_until(lambda: pool.ready == 2, timeout=30)


def test_keywords_override_the_config_as_for_a_sandbox():
    config = nucleus.SandboxConfig(hostname="from-config", env={"A": "1"})
    with nucleus.Pool(1, config, env={"B": "2"}) as pool, pool.take() as sb:
        assert sb.run("echo $(hostname) ${A:-unset} $B", shell=True, text=True).stdout == "from-config unset 2\n"


def test_closing_leaves_nothing_behind_but_taken_sandboxes(tmp_path):
    state_root = tmp_path / "state"
    pool = full_pool(3, state_root=state_root)
    kept = pool.take()
    assert wait_until(lambda: pool.ready == 3, timeout=30)
    idle = {id: r for id, r in records(state_root).items() if id != kept.id}
    assert len(idle) == 3
    pool.close()
    assert pool.closed and pool.ready == 0
    for id, record in idle.items():
        assert not alive(record["supervisor_pid"]), f"supervisor of {id} survived"
        assert not os.path.exists(record["private_workspace"])
    assert list(records(state_root)) == [kept.id]
    assert kept.run(["echo", "still here"], text=True).stdout == "still here\n"
    kept.close()
    assert records(state_root) == {}
    pool.close()  # idempotent
    with pytest.raises(nucleus.SandboxStateError, match="the pool is closed"):
        pool.take()


def test_garbage_collected_pool_is_closed(tmp_path):
    state_root = tmp_path / "state"
    pool = full_pool(2, state_root=state_root)
    supervisors = [r["supervisor_pid"] for r in records(state_root).values()]
    del pool
    assert records(state_root) == {}
    assert not any(alive(pid) for pid in supervisors)


def test_threads_take_at_once():
    ids, errors = [], []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait(timeout=60)
            for _ in range(2):
                with pool.take() as sb:
                    assert sb.run(["echo", str(i)], text=True).stdout == f"{i}\n"
                    ids.append(sb.id)
        except BaseException as e:  # reported below
            errors.append((i, e))

    with nucleus.Pool(4) as pool:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    assert len(set(ids)) == 16, "a sandbox was handed out twice"


@pytest.mark.parametrize("size", [0, -1])
def test_bad_size_raises_naming_the_field(size):
    with pytest.raises(nucleus.ConfigError) as e:
        nucleus.Pool(size)
    assert e.value.field == "size"
    assert "at least 1" in str(e.value)


def test_bad_config_raises_naming_the_field(tmp_path):
    with pytest.raises(nucleus.ConfigError) as e:
        nucleus.Pool(2, hostname="bad host")
    assert e.value.field == "hostname"
    # Every sandbox of the pool would share the directory.
    with pytest.raises(nucleus.ConfigError) as e:
        nucleus.Pool(2, workspace=tmp_path)
    assert e.value.field == "workspace"


def test_unbuildable_config_raises_at_creation_like_a_sandbox(tmp_path):
    (tmp_path / "link").symlink_to("/usr")
    config = nucleus.SandboxConfig(mounts=[nucleus.Mount(tmp_path / "link", "/x")], state_root=tmp_path / "state")
    with pytest.raises(nucleus.NucleusError) as direct:
        nucleus.Sandbox(config)
    with pytest.raises(type(direct.value)) as pooled:
        nucleus.Pool(2, config)
    assert str(pooled.value) == str(direct.value)
    assert records(tmp_path / "state") == {}
