"""Security layers from Python: the seccomp/landlock/security keyword arguments, the
security report, and degraded-mode warnings. Every report is checked against what the
kernel shows inside the sandbox."""

import warnings

import pytest

import nucleus


def layer(report, name):
    (entry,) = [entry for entry in report["layers"] if entry["layer"] == name]
    return entry


def proc_status(sb, key):
    out = sb.run(["grep", f"^{key}:", "/proc/self/status"], text=True).stdout
    return out.split(":", 1)[1].strip()


def test_default_sandbox_report_matches_the_kernel(sandbox):
    report = sandbox.security_report()
    assert set(report) == {"layers", "warnings"}
    names = [entry["layer"] for entry in report["layers"]]
    for name in ("uid_map", "no_new_privs", "capabilities", "seccomp", "landlock", "rlimits", "read_only_root"):
        assert name in names, report
    for entry in report["layers"]:
        assert set(entry) == {"layer", "requested", "enforced", "verified"}
        assert isinstance(entry["verified"], str) and entry["verified"]
    for name in ("seccomp", "no_new_privs", "capabilities", "read_only_root"):
        assert layer(report, name)["requested"] and layer(report, name)["enforced"], report
    assert report["warnings"] == [] and sandbox.warnings == []
    assert proc_status(sandbox, "Seccomp") == "2"
    assert proc_status(sandbox, "NoNewPrivs") == "1"
    assert proc_status(sandbox, "CapEff") == "0000000000000000"


def test_seccomp_and_landlock_off():
    with nucleus.Sandbox(seccomp="off", landlock=False) as sb:
        security = sb.config.to_dict()["security"]
        assert security["seccomp"]["mode"] == "off" and security["landlock"] is False
        report = sb.security_report()
        assert layer(report, "seccomp")["requested"] is False
        assert layer(report, "seccomp")["enforced"] is False
        assert layer(report, "landlock")["requested"] is False
        assert proc_status(sb, "Seccomp") == "0"


def test_seccomp_log_mode_warns():
    with pytest.warns(nucleus.DegradedWarning, match="seccomp is in log mode") as record:
        sb = nucleus.Sandbox(seccomp="log")
    with sb:
        assert len(record) == 1
        assert record[0].filename == __file__, "attributed to the caller's line"
        assert issubclass(record[0].category, nucleus.NucleusWarning)
        assert issubclass(record[0].category, UserWarning)
        assert sb.warnings == [str(record[0].message)]
        report = sb.security_report()
        assert report["warnings"] == sb.warnings
        assert layer(report, "seccomp")["requested"] and not layer(report, "seccomp")["enforced"]
        assert proc_status(sb, "Seccomp") == "2"


def test_a_warning_filter_can_refuse_degraded_sandboxes():
    with warnings.catch_warnings():
        warnings.simplefilter("error", nucleus.DegradedWarning)
        with pytest.raises(nucleus.DegradedWarning, match="log mode"):
            nucleus.Sandbox(seccomp="log")


def test_security_dict_passes_through():
    security = {"capabilities": ["CAP_NET_BIND_SERVICE"], "rlimits": {"nofile": 100}}
    with nucleus.Sandbox(security=security) as sb:
        assert security == {"capabilities": ["CAP_NET_BIND_SERVICE"], "rlimits": {"nofile": 100}}
        # CAP_NET_BIND_SERVICE is bit 10; nothing else is kept.
        assert proc_status(sb, "CapEff") == "0000000000000400"
        assert sb.run(["sh", "-c", "ulimit -n"], text=True).stdout == "100\n"
        report = sb.security_report()
        assert layer(report, "capabilities")["enforced"], report
        assert "open files 100" in layer(report, "rlimits")["verified"]


def test_shorthands_lay_over_the_security_dict_and_the_base_config():
    base = nucleus.SandboxConfig(security={"landlock": False, "rlimits": {"nofile": 64}})
    cfg = nucleus.SandboxConfig(security={"rlimits": {"core": 0}}, seccomp="log")
    assert cfg.to_dict()["security"]["seccomp"]["mode"] == "log"
    assert cfg.to_dict()["security"]["rlimits"]["core"] == 0
    with pytest.warns(nucleus.DegradedWarning):
        sb = nucleus.Sandbox(base, seccomp={"mode": "log"})
    with sb:
        security = sb.config.to_dict()["security"]
        assert security["landlock"] is False and security["rlimits"]["nofile"] == 64
        assert security["seccomp"]["mode"] == "log"
    with nucleus.Sandbox(base, landlock=True) as sb:
        assert sb.config.to_dict()["security"]["landlock"] is True


@pytest.mark.parametrize("kwargs, field", [
    ({"seccomp": "bogus"}, "security.seccomp.mode"),
    ({"security": {"seccomp": {"mode": "bogus"}}}, "security.seccomp.mode"),
    ({"security": {"landlok": True}}, "security"),
    ({"security": {"capabilities": ["CAP_NOT_A_THING"]}}, "security.capabilities[0]"),
    ({"landlock": "yes"}, "security.landlock"),
])
def test_bad_security_settings_name_the_field(kwargs, field):
    with pytest.raises(nucleus.ConfigError) as info:
        nucleus.Sandbox(**kwargs)
    assert info.value.field.startswith(field), info.value
    assert field.split(".")[-1].split("[")[0] in str(info.value)


def test_reports_of_a_closed_sandbox_raise():
    sb = nucleus.Sandbox()
    sb.close()
    for call in (sb.security_report, sb.stats, lambda: sb.warnings):
        with pytest.raises(nucleus.SandboxStateError):
            call()
