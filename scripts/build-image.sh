#!/usr/bin/env bash
# Builds the Jumpnet image localhost/jumpnet:dev (override with JUMPNET_IMAGE) from the repo's Dockerfile.
#
#   scripts/build-image.sh              # target image-prebuilt: packs the binaries of the one release musl
#                                       # build ($JUMPNET_BIN, $JUMPNET_OPERATOR_BIN; built if missing)
#   scripts/build-image.sh --in-image   # target image: compiles inside the image, as `docker build .`
#                                       # does for users (needs BUILDER_IMAGE available to podman)
#
# Measured here (2 cores, other builds running, 2026-11-25): image-prebuilt 2-6 s after the one release
# build; the in-image build (`--in-image` with a local Rust builder image, cold cargo cache) 11m34s,
# i.e. the whole release build a second time. Both give a 39.5 MiB image (scratch base) that serves.
#
# Env: RUNTIME_IMAGE (default scratch: nothing can be pulled here; users get distroless static),
#      BUILDER_IMAGE (for --in-image), JUMPNET_IMAGE.
# Prints the image size and the build time on the last line.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$JUMPNET_ROOT"

mode=prebuilt target=image-prebuilt
case ${1:-} in
  --in-image) mode=build target=image ;;
  "") ;;
  *) die "usage: $0 [--in-image]" ;;
esac

write_containers_conf
command -v podman >/dev/null || die "podman missing: run scripts/install-deps.sh"
args=(--runtime "$PODMAN_RUNTIME" --target "$target" --build-arg "RUNTIME_IMAGE=${RUNTIME_IMAGE:-scratch}")
[[ -n ${BUILDER_IMAGE:-} ]] && args+=(--build-arg "BUILDER_IMAGE=$BUILDER_IMAGE")

if [[ $mode == prebuilt ]]; then
  if [[ ! -x $JUMPNET_BIN || ! -x $JUMPNET_OPERATOR_BIN ]]; then
    log "binaries missing: running the release musl build"
    cargo build --release --locked --target "$CARGO_TARGET_TRIPLE" --workspace --all-targets
  fi
  for b in "$JUMPNET_BIN" "$JUMPNET_OPERATOR_BIN"; do
    [[ -x $b ]] || die "missing binary $b"
    ! readelf -l "$b" | grep -q 'program interpreter' \
      || die "$b is dynamically linked: the image has no libc (build with --target $CARGO_TARGET_TRIPLE)"
  done
  # The staging directory is the only part of target/ in the build context (.dockerignore).
  # --strip-debug as in the Dockerfile's own build: the release profile keeps line tables (~75 MB of the
  # broker's ~92 MB); symbols stay, so backtraces still name functions.
  rm -rf target/image && mkdir -p target/image/data
  strip --strip-debug -o target/image/jumpnet "$JUMPNET_BIN"
  strip --strip-debug -o target/image/jumpnet-operator "$JUMPNET_OPERATOR_BIN"
fi

t0=$(date +%s%N)
podman build "${args[@]}" -t "$JUMPNET_IMAGE" -f Dockerfile . >target/build-image.log 2>&1 \
  || { tail -30 target/build-image.log >&2; die "podman build failed (full log: target/build-image.log)"; }
t1=$(date +%s%N)
size=$(podman image inspect "$JUMPNET_IMAGE" --format '{{.Size}}')
awk -v s="$size" -v ns=$((t1 - t0)) -v img="$JUMPNET_IMAGE" -v m="$mode" \
  'BEGIN { printf "built %s (target image%s): %d bytes (%.1f MiB) in %.1fs\n", img, (m == "prebuilt" ? "-prebuilt" : ""), s, s / 1048576, ns / 1e9 }'
