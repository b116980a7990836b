#!/usr/bin/env bash
# Run every nucleus test suite: as root and, for the rootless path, as an unprivileged
# user. Installs what the suites need first. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. scripts/lib/prereqs.sh
install_prereqs

export CARGO_TERM_COLOR=never
# What sandboxes leave on the host: supervisors, private workspaces, state records,
# sandbox cgroups.
leftovers() {
  { pgrep -x nucleus-shim || true; pgrep -x nucleus-zygote || true; find /tmp -maxdepth 1 -regextype posix-extended -regex '/tmp/nucleus-[0-9a-f]{16}'
    find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -path '*/nucleus/*' 2>/dev/null || true
    find /run/nucleus /tmp -maxdepth 2 -regextype posix-extended \
      -regex '(/run/nucleus|/tmp/nucleus-[0-9]+)/[0-9a-f]{16}\.json' 2>/dev/null || true; } | sort
}
before=$(leftovers)
# The shared `nucleus` parent cgroups the suites create; removed again at the end.
parents_before=$(ls -d /sys/fs/cgroup/*/nucleus /sys/fs/cgroup/nucleus 2>/dev/null || true)

echo "== cargo build"
# cargo test alone does not link the C library (cdylib/staticlib) the C tests use.
cargo build --workspace
echo "== cargo test (root)"
status=0
cargo test --workspace --no-fail-fast || status=1

echo "== cargo test (rootless, as $TEST_USER)"
# Build once as root, then run the same test binaries as the unprivileged user.
mapfile -t bins < <(cargo test --workspace --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
for bin in "${bins[@]}"; do
  echo "-- $(basename "$bin")"
  runuser -u "$TEST_USER" -- env -C "$root" -u XDG_RUNTIME_DIR HOME="/home/$TEST_USER" \
    "$bin" --test-threads=2 || status=1
done
echo "== Python package"
scripts/test-python.sh || status=1

echo "== nothing left behind"
# Processes of the last suites may still be exiting (a zygote leaves when its caller
# does); what is still there after 10 s is left behind.
for _ in $(seq 10); do
  sleep 1
  new=$(comm -13 <(echo "$before") <(leftovers))
  [ -z "$new" ] && break
done
for parent in $(ls -d /sys/fs/cgroup/*/nucleus /sys/fs/cgroup/nucleus 2>/dev/null || true); do
  grep -qxF "$parent" <<<"$parents_before" || rmdir "$parent" || new="$new"$'\n'"$parent (not empty)"
done
if [ -n "$new" ]; then
  echo "left behind by the suites:"; echo "$new"; status=1
else
  echo "no supervisor, workspace, state record or cgroup left behind"
fi
exit $status
