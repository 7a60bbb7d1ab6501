#!/usr/bin/env bash
# Create or reuse .venv, install syssense with its test extras, and make sure the
# system tools it drives are present (strace always; chromium with --browser).
# Installs missing Debian packages with apt-get when running as root; otherwise
# prints one sentence saying how, and carries on where it can.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
for arg in "$@"; do
  [ "$arg" = "--browser" ] && want_browser=1
done

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "syssense needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing). Set PYTHON=/path/to/python3.11 and rerun." >&2
  exit 2
fi

apt_updated=0
apt_install() {
  # apt_install PACKAGE... : install with apt-get when root, else explain.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ "$apt_updated" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
      apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    return 1
  fi
}

if ! command -v strace >/dev/null; then
  echo "strace is missing; installing it with apt-get." >&2
  apt_install strace || {
    echo "strace is not installed and this user cannot install it: run 'sudo apt-get install strace' and rerun." >&2
    exit 2
  }
fi

if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "chromium is missing (used by the HTML report test); installing it with apt-get." >&2
  apt_install chromium || echo "chromium is not installed and this user cannot install it: the browser test will be skipped (run 'sudo apt-get install chromium' to enable it)." >&2
fi

if ! command -v gcc >/dev/null; then
  apt_install gcc libc6-dev || echo "gcc is missing: the buffer-overflow example and its test will be skipped (run 'sudo apt-get install gcc')." >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.syssense-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  touch "$stamp"
fi
