"""Resource limits and the security report: check the host, start a sandbox with a
memory, CPU and task limit, see which protections hold, and watch a command that uses
too much memory get OOM-killed.

Limits need root or a delegated cgroup v2 subtree. Elsewhere this example runs in
degraded mode: the sandbox starts without limits and says so.

    pip install ./bindings/python
    python examples/python/limits_and_report.py
"""

import warnings

import nucleus


def main() -> None:
    for check in nucleus.doctor()["checks"]:
        print(f"{'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")

    # allow_degraded: on a host that cannot give the limits, start anyway. Each missing
    # protection is then a DegradedWarning (printed here) and listed in sb.warnings.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", nucleus.DegradedWarning)
        sb = nucleus.Sandbox(memory="64M", cpus=1.0, pids=64, allow_degraded=True)
    for w in caught:
        print("warning:", w.message)

    with sb:
        for layer in sb.security_report()["layers"]:
            state = "enforced" if layer["enforced"] else ("MISSING" if layer["requested"] else "off")
            print(f"{layer['layer']:>20}: {state:<8} ({layer['verified']})")

        r = sb.run(["sh", "-c", "head -c 134217728 /dev/zero | tail -n 1 | wc -c"], timeout=60)
        print("memory hog: returncode", r.returncode, "oom_killed", r.oom_killed,
              "peak_memory", r.peak_memory)
        if sb.warnings:
            print("degraded, no cgroup:", sb.warnings)
        else:
            print("cgroup counters:", sb.stats())


if __name__ == "__main__":
    main()
