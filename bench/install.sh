#!/usr/bin/env bash
# Installs what the benchmarks in bench/ need (not the tests: CI never runs the benchmarks).
# Idempotent: each step checks first.
#
#   bench/install.sh
#
# Debian: nats-server 2.9 and etcd 3.4 (the peers we compare with), wrk and hyperfine (HTTP load
# and command timing), linux-perf and valgrind (profiles, callgrind instruction counts), strace
# (fsync counting), iproute2 + iptables (network namespaces for the partition measurement).
# PyPI: matplotlib into the project's venv (bench/plot). crates.io: inferno (flamegraphs).
# The load generator (bench/loadgen) is built by the scripts on first use.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/common.sh"

APT=(nats-server etcd-server etcd-client wrk hyperfine linux-perf valgrind strace iproute2 iptables)
missing=()
for p in "${APT[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$JUMPNET_PYTHON" -c 'import matplotlib' 2>/dev/null; then
  [[ -x $JUMPNET_PYTHON ]] || die "no venv at $JUMPNET_VENV: run scripts/install-deps.sh first"
  log "venv: installing matplotlib"
  "$JUMPNET_VENV/bin/pip" install -q --disable-pip-version-check 'matplotlib==3.10.*'
fi

if ! command -v inferno-flamegraph >/dev/null; then
  log "cargo: installing inferno (flamegraphs)"
  nice -n 10 cargo install -q --locked inferno --version '^0.12'
fi
log "bench tools ready"
