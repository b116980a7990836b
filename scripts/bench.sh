#!/usr/bin/env bash
# Benchmark nucleus against the tools users would pick instead, side by side in one run:
# bubblewrap, crun and runc (Debian packages, installed here when missing), all set up
# for the same isolation. Prints a Markdown table, writes target/bench/results.{md,json}
# and the chart docs/benchmarks.png. Options go to the benchmark (--quick for a smoke
# test, --help for the rest). Run as root on a Debian 12 machine with a Rust toolchain;
# see docs/benchmarks.md for the method and how to read the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v crun >/dev/null 2>&1 || missing+=(crun)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The chart's text is drawn from this TrueType font (no fontconfig needed).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  required=()
  for p in "${missing[@]}"; do [ "$p" = runc ] || required+=("$p"); done
  if [ ${#required[@]} -gt 0 ]; then
    apt-get install -y -qq "${required[@]}" >/dev/null
  fi
  # runc is optional: when it cannot be installed it is left out of the run.
  if [[ " ${missing[*]} " == *" runc "* ]]; then
    apt-get install -y -qq runc >/dev/null || echo "bench.sh: runc not installed; it is left out" >&2
  fi
fi

echo "== building (release)"
cargo build --release -q -p nucleus-core --bins -p nucleus-bench

# The Python API comparison runs when target/python-venv holds the nucleus package
# (scripts/test-python.sh makes it); otherwise the report says it was skipped.
exec target/release/nucleus-bench "$@"
