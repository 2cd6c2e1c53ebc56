#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every layer of tests.
#
#   scripts/test.sh                 # every phase, in order (what CI runs, via .ci/run)
#   scripts/test.sh build image     # only the named phases (the build is not implied: run it first)
#   scripts/test.sh --list          # the phases
#
# Phases (each timed; a summary table closes the run; any failure makes the exit status non-zero):
#   deps          scripts/install-deps.sh (idempotent, ~0.5 s when everything is there)
#   lint          cargo fmt --check; cargo clippy -D warnings (workspace, all targets)
#   build         the one release build: --target x86_64-unknown-linux-musl --workspace --all-targets
#   cargo-test    cargo test on that build
#   faults        tests/faults/run.sh: partitions, power loss, full disks, hostile clients on real nodes
#                 (root: netns, iptables, tmpfs, FUSE; ~3 min); `tests/faults/run.sh --soak` is the long one
#   kafka         tests/kafka: kcat, confluent-kafka, kafka-python and KafkaJS against the Kafka listener
#   python        examples/python/run-tests.sh          (skipped, loudly, while that file is absent);
#                 broker/tests/schemathesis: /openapi.json against live clusters (~2 min)
#   observability tests/observability/run.sh            (skipped, loudly, while that file is absent)
#   chart         tests/chart: helm lint/template, rendered-object checks, kubernetes-validate, deploy/
#   image         scripts/build-image.sh (Dockerfile, BINARIES=prebuilt) + image checks
#   containers    tests/containers: a 3-node cluster of that image on a podman network
#   e2e           tests/kube-emu (the emulator's kubelet fix), then
#                 tests/e2e/run.sh against ../shared/kube-emu started here (scripts/kube-emu-up.sh), with
#                 KUBECONFIG, JUMPNET_IMAGE, JUMPNET_IMAGE2 and E2E_TEST_IMAGE set (skipped while absent)
#
# Env: JUMPNET_BIN, JUMPNET_OPERATOR_BIN (default target/x86_64-unknown-linux-musl/release/...),
#      JUMPNET_IMAGE (localhost/jumpnet:dev),
#      JUMPNET_E2E_KUBECONFIG (e2e against that cluster instead of kube-emu; an explicit opt-in, so a
#      KUBECONFIG that happens to point at a real cluster is never used by accident).
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$JUMPNET_ROOT"

ALL_PHASES=(deps lint build cargo-test faults kafka python observability chart image containers e2e)
CARGO_FLAGS=(--release --locked --target "$CARGO_TARGET_TRIPLE")
PYTEST=("$JUMPNET_PYTHON" -m pytest -p no:cacheprovider -ra)
export PYTHONPATH=$JUMPNET_ROOT/tests/lib${PYTHONPATH:+:$PYTHONPATH}

declare -A RESULT DURATION NOTE
SKIP_REASON=""

skip() { SKIP_REASON=$1; printf '\n!!!!!! SKIPPED: %s\n\n' "$1"; return 77; }
# optional_script PATH: runs PATH when it exists; skips the phase (loudly) only when it is absent.
optional_script() {
  if [[ ! -e $1 ]]; then skip "$1 is not in the repo yet"; return; fi
  bash "$1"
}

phase_deps() { scripts/install-deps.sh; }

phase_lint() {
  local rc=0
  cargo fmt --all --check || { echo "cargo fmt: the code is not formatted (run: cargo fmt --all)"; rc=1; }
  # Same profile and target as the build: build scripts and proc macros are shared with it.
  cargo clippy "${CARGO_FLAGS[@]}" --workspace --all-targets -- -D warnings || { echo "cargo clippy found warnings"; rc=1; }
  return $rc
}

phase_build() {
  cargo build "${CARGO_FLAGS[@]}" --workspace --all-targets || return 1
  local b
  for b in "$JUMPNET_BIN" "$JUMPNET_OPERATOR_BIN"; do
    [[ -x $b ]] || { echo "the build left no $b"; return 1; }
  done
}

# --no-fail-fast: one failing test binary must not hide the results of the others.
phase_cargo-test() { cargo test "${CARGO_FLAGS[@]}" --workspace --no-fail-fast; }

phase_faults() { bash tests/faults/run.sh; }
phase_kafka() { "${PYTEST[@]}" -W ignore::DeprecationWarning tests/kafka; }

phase_python() {
  optional_script examples/python/run-tests.sh || return
  "${PYTEST[@]}" broker/tests/schemathesis
}

phase_observability() { optional_script tests/observability/run.sh; }

phase_chart() { "${PYTEST[@]}" tests/chart; }

phase_image() {
  scripts/build-image.sh || return 1
  "${PYTEST[@]}" tests/containers/test_image.py
}

phase_containers() { "${PYTEST[@]}" tests/containers --ignore=tests/containers/test_image.py; }

phase_e2e() {
  [[ -e tests/e2e/run.sh ]] || { skip "tests/e2e/run.sh is not in the repo yet"; return; }
  # The suite installs the chart with the image of the `image` phase; the helm test pod and the
  # rolling update need two more local images.
  local images
  images=$(scripts/build-test-images.sh) || return 1
  export JUMPNET_IMAGE2 E2E_TEST_IMAGE
  JUMPNET_IMAGE2=$(sed -n 2p <<<"$images")
  E2E_TEST_IMAGE=$(sed -n 1p <<<"$images")
  if [[ -n ${JUMPNET_E2E_KUBECONFIG:-} ]]; then
    echo "e2e against the cluster in JUMPNET_E2E_KUBECONFIG=$JUMPNET_E2E_KUBECONFIG"
    KUBECONFIG=$JUMPNET_E2E_KUBECONFIG bash tests/e2e/run.sh
    return
  fi
  local rc=0
  # The fix the emulator's kubelet runs with (scripts/lib/kubelet_tombstones.py), on a private emulator.
  KUBECTL=$KUBECTL "${PYTEST[@]}" tests/kube-emu || return 1
  scripts/kube-emu-up.sh || { scripts/kube-emu-down.sh; return 1; }
  KUBECONFIG=$JUMPNET_ROOT/target/kube-emu/kubeconfig E2E_APISERVER_LOG=$JUMPNET_ROOT/target/kube-emu/emu.log \
    bash tests/e2e/run.sh || rc=$?
  scripts/kube-emu-down.sh || true
  return $rc
}

run_phase() {
  local p=$1 rc t0=$SECONDS
  printf '\n====== phase %s ======\n' "$p"
  SKIP_REASON=""
  "phase_$p"
  rc=$?
  DURATION[$p]=$((SECONDS - t0))
  case $rc in
    0) RESULT[$p]=pass ;;
    77) RESULT[$p]=SKIPPED; NOTE[$p]=$SKIP_REASON ;;
    *) RESULT[$p]=FAILED; NOTE[$p]="exit status $rc" ;;
  esac
  printf '====== phase %s: %s (%ss)\n' "$p" "${RESULT[$p]}" "${DURATION[$p]}"
}

summary() {
  local p passed=0 failed=0 skipped=0 total=0
  printf '\n%-14s %-8s %8s  %s\n' phase result seconds note
  printf '%-14s %-8s %8s  %s\n' -------------- -------- -------- ----
  for p in "${PHASES[@]}"; do
    [[ -n ${RESULT[$p]:-} ]] || { RESULT[$p]="not run"; NOTE[$p]="an earlier phase failed"; }
    printf '%-14s %-8s %8s  %s\n' "$p" "${RESULT[$p]}" "${DURATION[$p]:--}" "${NOTE[$p]:-}"
    total=$((total + ${DURATION[$p]:-0}))
    case ${RESULT[$p]} in pass) ((passed++)) ;; SKIPPED) ((skipped++)) ;; *) ((failed++)) ;; esac
  done
  printf '%-14s %-8s %8s\n' total "" "$total"
  echo
  printf 'phases: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
  ((failed == 0))
}

main() {
  if [[ ${1:-} == --list ]]; then printf '%s\n' "${ALL_PHASES[@]}"; return 0; fi
  PHASES=("$@")
  ((${#PHASES[@]})) || PHASES=("${ALL_PHASES[@]}")
  local p
  for p in "${PHASES[@]}"; do
    declare -F "phase_$p" >/dev/null || die "unknown phase '$p' (phases: ${ALL_PHASES[*]})"
  done
  for p in "${PHASES[@]}"; do
    run_phase "$p"
    # Nothing after these can run without them.
    if [[ ${RESULT[$p]} == FAILED && $p =~ ^(deps|build|image)$ ]]; then
      echo "phase $p failed: the phases after it need it and are not run"
      break
    fi
  done
  summary
}
main "$@"
