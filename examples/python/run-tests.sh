#!/usr/bin/env bash
# Run the Python client's pytest suite against a real 3-node Jumpnet cluster that the tests start.
#
#   examples/python/run-tests.sh [pytest args...]
#
# Broker binary: $JUMPNET_BIN, else target/x86_64-unknown-linux-musl/release/jumpnet, else target/debug/jumpnet.
# Python env: /opt/jumpnet-venv when it exists, else target/py-venv (created on first use).
# Exits non-zero when any test fails or none ran.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ -d /opt/jumpnet-venv ]]; then
  venv=/opt/jumpnet-venv
else
  venv="$root/target/py-venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "run-tests.sh: creating venv $venv" >&2
  python3 -m venv "$venv"
fi
py="$venv/bin/python"

if ! "$py" -c 'import pytest, pytest_timeout' 2>/dev/null; then
  "$py" -m pip install --quiet --disable-pip-version-check 'pytest>=7' 'pytest-timeout>=2'
fi
# Reinstall the package every run so the tests exercise the working tree's code.
# (Without build isolation when the venv has setuptools: no network needed.)
pipi=("$py" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall)
"${pipi[@]}" --no-build-isolation "$here" 2>/dev/null || "${pipi[@]}" "$here"

cd "$here"
# A hung test fails after 5 minutes instead of holding CI.
exec "$py" -m pytest -p no:cacheprovider -ra --timeout=300 "$@"
