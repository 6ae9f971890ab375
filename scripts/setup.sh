#!/usr/bin/env bash
# Set up a virtual environment in .venv: CPU torch first (pinned, so pip does not pull CUDA),
# then spanqa with its dev extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# The web page's browser test drives Debian's Chromium; install it where we may (root with apt).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; the browser test will be skipped"
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[dev]"
echo "spanqa is installed in .venv: run '. .venv/bin/activate' to use it"
