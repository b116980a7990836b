"""Sandbox configuration from keyword arguments, SandboxConfig and JSON."""

import json

import pytest

import nucleus


def test_keyword_arguments_reach_the_sandbox():
    with nucleus.Sandbox(
        hostname="box",
        env={"GREETING": "hello", "LANG": "C.UTF-8"},
        cwd="/tmp",
        network="none",
        tmpfs_size="64M",
        mounts=[nucleus.Mount("/usr", "/data", readonly=True)],
    ) as sb:
        r = sb.run(["sh", "-c", "hostname; echo $GREETING; pwd; ls /data/bin/sh"], text=True)
        assert r.stdout.split() == ["box", "hello", "/tmp", "/data/bin/sh"]
        cfg = sb.config.to_dict()
        assert cfg["tmpfs_size"] == 64 << 20
        assert cfg["mounts"] == [{"source": "/usr", "target": "/data", "readonly": True}]


def test_readonly_mount_cannot_be_written(tmp_path):
    (tmp_path / "f").write_text("host")
    # Writable by anyone on the host, so only the read-only mount stands in the way.
    tmp_path.chmod(0o777)
    (tmp_path / "f").chmod(0o666)
    with nucleus.Sandbox(mounts=[nucleus.Mount(tmp_path, "/ro")]) as sb:
        r = sb.run(["sh", "-c", "echo x > /ro/f"], text=True)
        assert r.returncode != 0
        assert "Read-only file system" in r.stderr
    assert (tmp_path / "f").read_text() == "host"


def test_writable_mount_and_mount_spellings(tmp_path):
    rw = tmp_path / "rw"
    rw.mkdir()
    rw.chmod(0o777)
    mounts = [
        nucleus.Mount(str(rw), "/rw", readonly=False),
        {"source": "/usr", "target": "/a"},
        ("/usr", "/b"),
        ("/usr", "/c", True),
    ]
    with nucleus.Sandbox(mounts=mounts) as sb:
        assert sb.run(["sh", "-c", "echo hi > /rw/out && ls /a/bin/sh /b/bin/sh /c/bin/sh"]).returncode == 0
    assert (rw / "out").read_text() == "hi\n"


def test_tmpfs_size_takes_int_or_text():
    assert nucleus.SandboxConfig(tmpfs_size=1 << 20).to_dict()["tmpfs_size"] == 1 << 20
    assert nucleus.SandboxConfig(tmpfs_size="2M").to_dict()["tmpfs_size"] == 2 << 20


def test_given_workspace_is_used(tmp_path):
    tmp_path.chmod(0o777)
    with nucleus.Sandbox(workspace=tmp_path) as sb:
        sb.write_file("/workspace/x.txt", "from inside")
        assert sb.workspace_path == str(tmp_path)
    assert (tmp_path / "x.txt").read_text() == "from inside"


def test_host_network_is_the_hosts():
    with open("/proc/net/dev") as f:
        host_ifaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    with nucleus.Sandbox(network="host") as sb:
        r = sb.run(["cat", "/proc/net/dev"], text=True)
    inside = sorted(line.split(":")[0].strip() for line in r.stdout.splitlines()[2:])
    assert inside == host_ifaces
    with nucleus.Sandbox(network="none") as sb:
        r = sb.run(["cat", "/proc/net/dev"], text=True)
    assert [line.split(":")[0].strip() for line in r.stdout.splitlines()[2:]] == ["lo"]


def test_sandbox_config_object_and_overrides():
    cfg = nucleus.SandboxConfig(hostname="fromcfg", env={"A": "1"})
    assert cfg == nucleus.SandboxConfig.from_json(cfg.to_json())
    assert "fromcfg" in repr(cfg)
    cfg.validate()
    with nucleus.Sandbox(cfg) as sb:
        assert sb.run(["hostname"], text=True).stdout == "fromcfg\n"
    with nucleus.Sandbox(cfg, hostname="override") as sb:
        assert sb.run(["sh", "-c", "hostname; echo $A"], text=True).stdout == "override\n1\n"


def test_sandbox_from_json():
    with nucleus.Sandbox.from_json(json.dumps({"hostname": "j", "env": {"X": "y"}})) as sb:
        assert sb.run(["sh", "-c", "echo $(hostname) $X"], text=True).stdout == "j y\n"


def test_config_errors_name_the_field():
    cases = [
        (dict(hostname="a b"), "hostname"),
        (dict(tmpfs_size="12X"), "tmpfs_size"),
        (dict(network="internet"), "network"),
        (dict(cwd="relative"), "cwd"),
        (dict(mounts=[nucleus.Mount("/nonexistent-x", "/y")]), "mounts[0].source"),
        (dict(mounts=[("/usr", "/a"), ("/usr", "relative")]), "mounts[1].target"),
        (dict(mounts=[42]), "mounts[0]"),
        (dict(env={"A=B": "1"}), "env.A=B"),
        (dict(user={"uid": "zero"}), "user.uid"),
        (dict(state_root="relative"), "state_root"),
    ]
    for kwargs, field in cases:
        with pytest.raises(nucleus.ConfigError) as info:
            nucleus.Sandbox(**kwargs)
        assert info.value.field == field, (kwargs, info.value)
        assert field in str(info.value)
    with pytest.raises(nucleus.ConfigError) as info:
        nucleus.Sandbox.from_json('{"hostnam": "x"}')
    assert "hostnam" in str(info.value)
    with pytest.raises(nucleus.ConfigError) as info:
        nucleus.SandboxConfig.from_json("{not json")
    assert info.value.kind == "invalid_config"


def test_resource_limits_go_to_the_limits_section():
    # memory/cpus/pids map to the config's "limits" section (test_limits.py has the rest).
    cfg = nucleus.SandboxConfig(memory="256M", pids=64)
    assert cfg.to_dict()["limits"]["memory"] == 256 << 20
    assert cfg.to_dict()["limits"]["pids"] == 64


def test_mount_value_type():
    m = nucleus.Mount("/usr", "/data")
    assert (m.source, m.target, m.readonly) == ("/usr", "/data", True)
    assert m == nucleus.Mount("/usr", "/data", True)
    assert m != nucleus.Mount("/usr", "/data", False)
    assert repr(m) == "Mount('/usr', '/data', readonly=True)"
