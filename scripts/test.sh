#!/usr/bin/env bash
# The test suite, offline: lint, then pytest (unit, CLI, quality tests on the shipped model).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check spanqa tests bench scripts
python -m pytest -q "$@"
