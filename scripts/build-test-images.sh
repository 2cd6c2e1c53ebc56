#!/usr/bin/env bash
# Builds the images the end-to-end suite needs besides Jumpnet's own, from Debian packages (no image can
# be pulled here):
#   localhost/jumpnet-test-busybox:dev  sh + wget for the chart's `helm test` pod
#                                        (helm ... --set test.image.repository=localhost/jumpnet-test-busybox
#                                         --set test.image.tag=dev --set test.image.pullPolicy=Never)
# and tags $JUMPNET_IMAGE a second time as $JUMPNET_IMAGE2 (default: its tag with "-b" appended, as
# tests/e2e/run.sh names it) for the rolling-update scenario. Idempotent; prints the names.
#
# Debian's busybox-static crashes on name lookups (static glibc), so the image holds the dynamic busybox
# with the few glibc files it links (glibc >= 2.34 has DNS and files lookups built in).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

BUSYBOX_IMAGE=${BUSYBOX_IMAGE:-localhost/jumpnet-test-busybox:dev}
export JUMPNET_IMAGE2=${JUMPNET_IMAGE2:-${JUMPNET_IMAGE%:*}:${JUMPNET_IMAGE##*:}-b}
write_containers_conf

if ! podman image exists "$BUSYBOX_IMAGE"; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && { apt-get download busybox >/dev/null 2>&1 || { apt-get update -qq && apt-get download busybox >/dev/null; }; })
  dpkg-deb -x "$work"/busybox_*.deb "$work/pkg"
  root=$work/ctx/root
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp "$work/pkg/bin/busybox" "$root/bin/"
  # the loader and libraries busybox links, at the paths it expects
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$root/bin/busybox" | grep -o '/[^ ]*' | sort -u)
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf 'nobody:x:65532:65532:nobody:/tmp:/bin/sh\n' >"$root/etc/passwd"
  cat >"$work/ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
USER 65532:65532
ENTRYPOINT ["/bin/sh"]
CF
  podman build --runtime "$PODMAN_RUNTIME" -q -t "$BUSYBOX_IMAGE" "$work/ctx" >/dev/null
  podman run --rm --runtime "$PODMAN_RUNTIME" --network none "$BUSYBOX_IMAGE" -c 'wget --help >/dev/null 2>&1; command -v wget timeout grep' >/dev/null \
    || die "$BUSYBOX_IMAGE does not run"
fi
echo "$BUSYBOX_IMAGE"

podman image exists "$JUMPNET_IMAGE" || die "$JUMPNET_IMAGE missing: run scripts/build-image.sh first"
podman tag "$JUMPNET_IMAGE" "$JUMPNET_IMAGE2"
echo "$JUMPNET_IMAGE2"
