#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run it.
# Used by the README's test command and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]' 2> >(grep -v "^WARNING: Location" >&2)
exec .venv/bin/python -m pytest -q "$@"
