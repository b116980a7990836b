"""The installed package: its names, docstrings and the bundled supervisor."""

import inspect
import os
import pathlib

import nucleus
import nucleus._nucleus


def test_all_names_exist():
    for name in nucleus.__all__:
        assert hasattr(nucleus, name), name


def test_supervisor_is_bundled_in_the_package():
    shim = nucleus.bundled_shim_path()
    assert shim is not None, "the wheel must carry nucleus-shim"
    path = pathlib.Path(shim)
    assert path.name == "nucleus-shim"
    assert path.parent == pathlib.Path(nucleus.__file__).parent
    assert os.access(path, os.X_OK)


def test_bundled_supervisor_is_used_without_configuration(sandbox):
    assert "NUCLEUS_SHIM" not in os.environ
    assert sandbox.config.to_dict()["shim_path"] == nucleus.bundled_shim_path()
    assert sandbox.run(["true"]).returncode == 0


def test_every_public_name_has_a_docstring():
    assert nucleus.__doc__ and "asyncio.to_thread" in nucleus.__doc__
    for name in nucleus.__all__:
        obj = getattr(nucleus, name)
        if isinstance(obj, str):
            continue
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj) and obj.__module__ == "nucleus._nucleus":
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                assert inspect.getdoc(member), f"{name}.{attr}"


def test_constructors_show_the_config_keywords():
    # Both signatures come from one list; help() and inspect show every keyword.
    config = inspect.signature(nucleus.SandboxConfig).parameters
    sandbox = inspect.signature(nucleus.Sandbox).parameters
    assert list(sandbox) == ["config", *config]
    assert sandbox["config"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for name in ("hostname", "mounts", "state_root", "memory", "seccomp", "landlock"):
        for params in (config, sandbox):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
            assert params[name].default is None


def test_version():
    assert nucleus.__version__ == nucleus._nucleus.__version__
    assert nucleus.__version__.count(".") == 2
