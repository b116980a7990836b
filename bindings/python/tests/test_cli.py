"""python -m nucleus."""

import subprocess
import sys


def nucleus_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "nucleus", *args], capture_output=True, text=True,
                          timeout=60, **kwargs)


def test_run_reports_output_and_exit_code():
    r = nucleus_cli("run", "--hostname", "clibox", "--network", "none", "--env", "A=1",
                    "--", "sh", "-c", "echo $(hostname) $A; echo oops >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "clibox 1\n", "oops\n")


def test_run_with_mount_and_stdin():
    r = nucleus_cli("run", "--mount", "/usr:/data:ro", "--", "sh", "-c", "ls /data/bin/sh; cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "/data/bin/sh\npiped\n")


def test_signal_exit_status_and_timeout():
    r = nucleus_cli("run", "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 128 + 9
    r = nucleus_cli("run", "--timeout", "0.5", "--", "sleep", "30")
    assert r.returncode == 128 + 9 and "killed after 0.5 seconds" in r.stderr


def test_errors_are_reported_not_raised():
    r = nucleus_cli("run", "--hostname", "bad name", "--", "true")
    assert r.returncode == 125 and "hostname" in r.stderr and "Traceback" not in r.stderr
    r = nucleus_cli("run", "--", "/no/such/program")
    assert r.returncode == 125 and "/no/such/program" in r.stderr
    r = nucleus_cli("run")
    assert r.returncode == 2
