#!/usr/bin/env bash
# Observability checks for deploy/grafana, deploy/prometheus and docs/runbooks.md.
#
#   tests/observability/run.sh [pytest args...]
#
# 1. promtool check rules deploy/prometheus/jumpnet-rules.yaml
# 2. promtool test rules tests/observability/rules_test.yaml   (each alert fires, and stays quiet, as meant)
# 3. pytest tests/observability:
#    - test_static.py: every dashboard query and rule parses (promtool), uses only metric names Jumpnet
#      exports (SPEC §7, process_*) or an allow-listed exporter provides, dashboards are generated and laid
#      out soundly, alerts link to existing runbook sections;
#    - test_live.py: a real 3-node cluster from the broker binary ($JUMPNET_BIN, default
#      target/x86_64-unknown-linux-musl/release/jumpnet, else target/debug/jumpnet) and a real Prometheus
#      scraping it: every name the dashboards and rules use is in what the broker exports, every broker
#      panel returns data, `promtool check metrics` passes on each /metrics page.
# Needs promtool and prometheus (Debian package `prometheus`; scripts/install-deps.sh installs it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

command -v promtool >/dev/null || { echo "run.sh: promtool not found (apt-get install prometheus)" >&2; exit 1; }

echo "== promtool check rules"
promtool check rules deploy/prometheus/jumpnet-rules.yaml
echo "== promtool test rules"
promtool test rules tests/observability/rules_test.yaml

if [[ -n ${JUMPNET_PYTHON:-} && -x ${JUMPNET_PYTHON} ]]; then
  py=$JUMPNET_PYTHON
elif [[ -x /opt/jumpnet-venv/bin/python ]]; then
  py=/opt/jumpnet-venv/bin/python
else
  venv="$root/target/py-venv"
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  py=$venv/bin/python
fi
"$py" -c 'import pytest, pytest_timeout, yaml' 2>/dev/null \
  || "$py" -m pip install --quiet --disable-pip-version-check 'pytest>=7' 'pytest-timeout>=2' 'pyyaml>=6'

echo "== pytest tests/observability"
exec "$py" -m pytest -p no:cacheprovider -ra --timeout=600 tests/observability "$@"
