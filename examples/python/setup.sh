#!/usr/bin/env bash
# One step from a fresh clone to a runnable example: creates .venv (if missing), installs the
# pinned requirements (only when requirements.txt changed) and regenerates the stubs.
# Safe to run again and again; the end-to-end test (tests/e2e/examples.rs) calls it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v python3 >/dev/null 2>&1; then
  echo "setup.sh: python3 is not installed (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
  exit 1
fi
# Several tests may start at once: one installs while the others wait, then find it done.
if command -v flock >/dev/null 2>&1; then
  exec 9>.setup.lock
  flock 9
fi
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv; then
    rm -rf .venv
    echo "setup.sh: 'python3 -m venv' failed; install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
stamp=.venv/.requirements.installed
if ! cmp -s requirements.txt "$stamp"; then
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt; then
    echo "setup.sh: pip could not install requirements.txt (is PyPI reachable?). Fix: with access to PyPI, run examples/python/setup.sh" >&2
    exit 1
  fi
  cp requirements.txt "$stamp"
fi
PYTHON="$here/.venv/bin/python" ./generate.sh
