#!/usr/bin/env bash
# Run the whole sentikit test suite on a fresh Debian machine (Python 3.11, root):
# installs the system packages the tests need (Docker engine, registry, Node.js), starts the
# Docker engine, prepares the stand-in base image, installs sentikit with its test extra in
# .venv, then runs pytest. Exit code: pytest's, except that "no tests ran" is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-env.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"

echo "type check: mypy src/sentikit"
.venv/bin/python -m mypy

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: no tests were collected" >&2
  exit 1
fi
exit "$status"
