"""An agent's inner loop: write generated code into the sandbox, run it, read the
results back, and feed failures into the next attempt.

The "model" here is a fixed list of attempts; the first one has a bug, so the loop
sees a traceback, then succeeds with the second and reads its JSON output.
"""

import json
from typing import List, Optional

import nucleus

ATTEMPTS: List[str] = [
    # Attempt 1: a typo the loop has to recover from.
    "import json\n"
    "values = [n * n for n in range(10)]\n"
    "json.dump({'sum': summ(values)}, open('/workspace/out.json', 'w'))\n",
    # Attempt 2: fixed; also streams progress.
    "import json, sys\n"
    "values = []\n"
    "for n in range(10):\n"
    "    values.append(n * n)\n"
    "    print(f'step {n}', flush=True)\n"
    "json.dump({'sum': sum(values), 'values': values}, open('/workspace/out.json', 'w'))\n",
]


def generate(attempt: int, feedback: Optional[str]) -> str:
    """Stand-in for a model call: returns the code of the given attempt."""
    return ATTEMPTS[min(attempt, len(ATTEMPTS) - 1)]


def main() -> None:
    feedback: Optional[str] = None
    with nucleus.Sandbox(hostname="agent", network="none", tmpfs_size="64M") as sb:
        for attempt in range(3):
            code = generate(attempt, feedback)
            sb.write_file("/workspace/solution.py", code)
            r = sb.run(["python3", "solution.py"], cwd="/workspace", timeout=30, text=True)
            print(f"attempt {attempt + 1}: exit {r.returncode} in {r.duration:.2f}s")
            if r.returncode != 0:
                feedback = r.stderr.strip().splitlines()[-1]
                print("  error:", feedback)
                continue
            result = json.loads(sb.read_file("/workspace/out.json"))
            print("  output lines:", len(r.stdout.splitlines()))
            print("  result:", result["sum"])
            assert result["sum"] == sum(n * n for n in range(10))
            break
        else:
            raise SystemExit("no attempt succeeded")

        # Long-running work streams its output while it runs.
        p = sb.spawn(["python3", "-u", "solution.py"], cwd="/workspace", text=True)
        first = p.stdout.readline().strip()
        print("streamed first line:", first)
        p.stdout.read()
        print("streamed run exit:", p.wait(timeout=30))


if __name__ == "__main__":
    main()
