#!/usr/bin/env bash
# Build nucleus and run the Rust quickstart: a sandbox is created, runs commands that show
# what is isolated, exchanges a file with the host, and is torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p nucleus-core --bins --examples
exec target/release/examples/quickstart
