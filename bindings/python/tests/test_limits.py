"""Resource limits from Python: memory=, cpus=, pids= (the config's "limits" section),
Sandbox.stats(), and the oom_killed / peak_memory of a result.

Limits need a cgroup the caller may create: as root they hold; as an unprivileged user on
a host without a delegated cgroup v2 subtree (the test hosts are hybrid) creating such a
sandbox raises UnsupportedError, and with allow_degraded=True it starts with a
DegradedWarning and no cgroup. Each test checks the outcome that applies to its user."""

import os
import warnings

import pytest

import nucleus

ROOT = os.geteuid() == 0
MiB = 1 << 20
LIMITS = {"memory": "64M", "cpus": 0.5, "pids": 16}


def test_limits_go_to_the_limits_section():
    cfg = nucleus.SandboxConfig(**LIMITS)
    limits = cfg.to_dict()["limits"]
    assert (limits["memory"], limits["cpus"], limits["pids"]) == (64 * MiB, 0.5, 16)
    cfg.validate()
    # Over a base config, the keyword arguments replace only their own keys.
    base = nucleus.SandboxConfig.from_json('{"limits": {"memory": 1048576, "cpu_weight": 50}}')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nucleus.DegradedWarning)
        with nucleus.Sandbox(base, memory="32M", allow_degraded=True) as sb:
            limits = sb.config.to_dict()["limits"]
    assert (limits["memory"], limits["cpu_weight"]) == (32 * MiB, 50)


@pytest.mark.parametrize("kwargs, field", [
    ({"memory": "12X"}, "limits.memory"),
    ({"memory": 1000}, "limits.memory"),
    ({"cpus": 0.001}, "limits.cpus"),
    ({"cpus": "fast"}, "limits.cpus"),
    ({"pids": 1}, "limits.pids"),
])
def test_bad_limits_name_the_field(kwargs, field):
    with pytest.raises(nucleus.ConfigError) as info:
        nucleus.Sandbox(**kwargs)
    assert info.value.field == field, info.value
    assert field in str(info.value)


def test_without_limits_there_is_no_cgroup(sandbox):
    with pytest.raises(nucleus.UnsupportedError) as info:
        sandbox.stats()
    assert info.value.layer == "cgroups" and "no cgroup" in str(info.value)
    r = sandbox.run(["true"])
    assert r.oom_killed is False and r.peak_memory is None


def limited_sandbox():
    """A sandbox with LIMITS: as root, a real one; unprivileged, the UnsupportedError is
    asserted and a degraded sandbox (with its DegradedWarning) returned instead."""
    if ROOT:
        return nucleus.Sandbox(**LIMITS)
    with pytest.raises(nucleus.UnsupportedError) as info:
        nucleus.Sandbox(**LIMITS)
    assert info.value.layer == "cgroups" and info.value.kind == "unsupported"
    assert "run as root" in str(info.value) and "allow_degraded" in str(info.value)
    with pytest.warns(nucleus.DegradedWarning, match=r"^cgroups: ") as record:
        sb = nucleus.Sandbox(allow_degraded=True, **LIMITS)
    assert [str(w.message) for w in record] == sb.warnings
    return sb


def test_stats_count_the_sandbox():
    with limited_sandbox() as sb:
        if not ROOT:
            # Degraded: the sandbox runs without a cgroup, and says so.
            assert sb.security_report()["warnings"] == sb.warnings != []
            with pytest.raises(nucleus.UnsupportedError):
                sb.stats()
            return
        assert sb.warnings == []
        sb.run(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
        stats = sb.stats()
        assert set(stats) == {"memory_current", "memory_peak", "cpu_usec", "tasks", "oom_kills"}
        assert 1 <= stats["tasks"] <= 16
        assert 0 < stats["memory_current"] <= stats["memory_peak"] <= 64 * MiB
        assert stats["cpu_usec"] > 0 and stats["oom_kills"] == 0


def test_pids_limit_stops_forks():
    with limited_sandbox() as sb:
        r = sb.run(["sh", "-c", "for i in $(seq 30); do sleep 5 & done; echo all started"], text=True)
        if ROOT:
            assert "all started" not in r.stdout and r.returncode != 0, r
            assert sb.stats()["tasks"] <= 16
        else:
            assert "all started" in r.stdout, "no cgroup: nothing stops the forks"
        sb.kill()


def test_memory_limit_oom_kill_is_reported():
    with limited_sandbox() as sb:
        r = sb.run(["sh", "-c", "echo fine"])
        if not ROOT:
            assert (r.oom_killed, r.peak_memory) == (False, None)
            return
        assert r.oom_killed is False and 0 < r.peak_memory <= 64 * MiB
        # `tail` holds a 256 MiB line: past the limit, the OOM killer ends it.
        r = sb.run(["sh", "-c", "head -c 268435456 /dev/zero | tail -n 1 | wc -c"], text=True, timeout=60)
        assert r.oom_killed is True, r
        assert "Killed" in r.stderr
        assert 48 * MiB < r.peak_memory <= 64 * MiB
        assert "oom_killed=True" in repr(r)
        assert sb.stats()["oom_kills"] >= 1
        # The sandbox survives, and a later command is not blamed.
        r = sb.run(["echo", "still here"], text=True)
        assert (r.stdout, r.oom_killed) == ("still here\n", False)
