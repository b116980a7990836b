"""The first program to run: a sandbox, a few commands, a file in and out.

    pip install ./bindings/python
    python examples/python/quickstart.py
"""

import nucleus


def main() -> None:
    with nucleus.Sandbox(hostname="demo", network="none", env={"LANG": "C.UTF-8"}) as sb:
        print(sb)

        # Run a command, like subprocess.run: output is bytes unless text=True.
        r = sb.run(["python3", "-c", "print(6 * 7)"], timeout=10)
        print("python3 says", r.stdout.decode().strip(), "exit", r.returncode)

        # A shell pipeline, in text mode.
        r = sb.run("echo hello from $(hostname) | tr a-z A-Z", shell=True, text=True)
        print(r.stdout.strip())

        # Files in and out of the sandbox.
        sb.write_file("/workspace/greeting.txt", "hi there\n")
        r = sb.run(["wc", "-c", "greeting.txt"], cwd="/workspace", text=True)
        print("wc:", r.stdout.strip())
        print("read back:", sb.read_file("/workspace/greeting.txt"))

        # What the sandbox cannot do.
        r = sb.run(["sh", "-c", "echo x > /usr/x"], text=True)
        print("writing to /usr:", r.stderr.strip() or r.returncode)

        # A timeout kills the command.
        try:
            sb.run(["sleep", "10"], timeout=0.5)
        except nucleus.TimeoutExpired as e:
            print("timed out:", e)


if __name__ == "__main__":
    main()
