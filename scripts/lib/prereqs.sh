# Shared by the scripts: install the Debian packages and the unprivileged test user the
# suites need. Sourced, not run.
TEST_USER=nucleus-test

install_prereqs() {
  local need=()
  for tool in gcc g++ make valgrind strace pkg-config python3 runuser; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq build-essential valgrind strace pkgconf python3 python3-venv util-linux >/dev/null
  fi
  if ! id "$TEST_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$TEST_USER"
  fi
  # The unprivileged user runs test binaries from this checkout.
  local dir
  dir=$(pwd)
  while [ "$dir" != / ]; do
    chmod o+x "$dir" 2>/dev/null || true
    dir=$(dirname "$dir")
  done
  mkdir -p target
  chmod -R o+rX target 2>/dev/null || true
}
