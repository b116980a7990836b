"""Time nucleus' Python API against subprocess, pair by pair: sandbox.run(["/bin/true"])
versus subprocess.run(["/bin/true"], capture_output=True). Prints JSON (seconds)."""
import json
import subprocess
import sys
import time

import nucleus

n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
argv = ["/bin/true"]
runs = {"sandbox_run": [], "subprocess_run": []}
with nucleus.Sandbox() as sb:
    calls = {
        "sandbox_run": lambda: sb.run(argv),
        "subprocess_run": lambda: subprocess.run(argv, capture_output=True),
    }
    for _ in range(20):
        for call in calls.values():
            call()
    for i in range(n):
        order = ["sandbox_run", "subprocess_run"] if i % 2 == 0 else ["subprocess_run", "sandbox_run"]
        for name in order:
            t = time.perf_counter()
            r = calls[name]()
            runs[name].append(time.perf_counter() - t)
            if r.returncode != 0:
                sys.exit(f"{name}: exit {r.returncode}")
runs["python"] = sys.version.split()[0]
print(json.dumps(runs))
