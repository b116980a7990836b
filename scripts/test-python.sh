#!/usr/bin/env bash
# Build and test the Python package (bindings/python): install what it needs (Debian's
# python3-venv, a venv under target/ with maturin, pytest and mypy from PyPI), install
# the package with plain `pip install ./bindings/python` (which also builds and bundles
# nucleus-shim), then run its pytest suite as root and as the unprivileged test user.
# Exits non-zero when anything fails. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. scripts/lib/prereqs.sh
install_prereqs

# The system interpreter, not one under /root: the test user must be able to run it.
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "== installing python3-venv"
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
fi

venv="$root/target/python-venv"
if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "== creating $venv"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
fi
vpy="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$vpy" -m pip install -q --upgrade maturin pytest mypy

echo "== pip install ./bindings/python"
# The extension module's cargo build goes under target/ with everything else.
CARGO_TARGET_DIR="$root/target/python-build" "$vpy" -m pip install -q --force-reinstall --no-deps ./bindings/python

# The test user reads the venv and the checkout; nothing of theirs is written there.
chmod -R o+rX "$root/target/python-venv" "$root/bindings/python" "$root/examples" 2>/dev/null || true

# -rxs: list skipped tests and known failures (xfail) with their reasons.
pytest_args=(-p no:cacheprovider -q -rxs bindings/python/tests)
status=0
# pytest's temporary directories go in directories of this run's own, removed at the end,
# rather than in /tmp/pytest-of-<user>, which pytest keeps.
root_tmp=$(mktemp -d)
user_tmp=$(runuser -u "$TEST_USER" -- mktemp -d)
trap 'rm -rf "$root_tmp" "$user_tmp"' EXIT

echo "== pytest (root)"
PYTHONDONTWRITEBYTECODE=1 "$vpy" -m pytest "${pytest_args[@]}" --basetemp "$root_tmp/pytest" || status=1

echo "== pytest (rootless, as $TEST_USER)"
runuser -u "$TEST_USER" -- env -C "$root" -u XDG_RUNTIME_DIR HOME="/home/$TEST_USER" \
  PYTHONDONTWRITEBYTECODE=1 "$vpy" -m pytest "${pytest_args[@]}" --basetemp "$user_tmp/pytest" || status=1

exit $status
