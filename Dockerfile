# syntax=docker/dockerfile:1
# Jumpnet image: the broker `jumpnet` (the entrypoint) and the operator `jumpnet-operator`, both static
# musl binaries, on a static base, running as the numeric non-root user 65532, state in the /data volume.
#
#   docker build -t jumpnet .            # users: compiles in the image (podman build works the same)
#   docker run -p 9090:9090 jumpnet      # a one-node cluster, API on :9090
#   docker run --entrypoint /usr/local/bin/jumpnet-operator jumpnet   # the operator (the chart does this)
#
# Build arguments:
#   BUILDER_IMAGE  Rust toolchain image for the in-image build (Debian-based: musl-tools comes from apt).
#   RUNTIME_IMAGE  base of the final image: distroless static (CA roots, tzdata, /etc/passwd naming 65532
#                  "nonroot") or `scratch`; both work because the binaries are fully static.
#
# Targets (the last one is the default):
#   image            compiles both binaries in the `build` stage from the sources in the context.
#   image-prebuilt   packs binaries already built on the host, staged by scripts/build-image.sh in
#                    target/image/ (what CI builds: `--target image-prebuilt`).
# (Targets rather than a `FROM ${BINARIES}` switch: podman/buildah 1.28 resolves a stage name in FROM only
# from an explicit --build-arg, so a plain `podman build .` would try to pull an image called "build".)
#
# Why image-prebuilt: the test run already makes the one release musl build of the workspace. Compiling
# the same crates again inside the image repeats that whole build from cold (the image build sees no
# cargo cache of the host), several minutes on two cores against seconds for image-prebuilt (figures
# in scripts/build-image.sh), and no Rust image can be pulled in CI anyway. The stages
# share `runtime`, and each target adds the same two COPY lines, so the image users build differs from
# CI's only in where the two files were compiled.

ARG BUILDER_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- binaries compiled in the image (users' default) ----
FROM ${BUILDER_IMAGE} AS build
ARG TARGET=x86_64-unknown-linux-musl
# musl-gcc: ring's and mimalloc's build scripts compile C (and assembly) for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${TARGET}"
WORKDIR /src
# The whole workspace (see .dockerignore): every member must be there for `--locked` to resolve.
COPY . .
# --strip-debug: the release profile keeps line tables (~75 MB of the broker's ~92 MB); symbols stay,
# so backtraces still name functions. /out/data: an empty directory for the final stage's /data.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "${TARGET}" -p jumpnet-broker -p jumpnet-operator --bins \
 && mkdir -p /out/data \
 && for b in jumpnet jumpnet-operator; do strip --strip-debug -o "/out/$b" "target/${TARGET}/release/$b"; done

# ---- binaries from the workspace build (CI) ----
# scripts/build-image.sh stages target/image/{jumpnet,jumpnet-operator,data/} from
# `cargo build --release --target x86_64-unknown-linux-musl`, stripped the same way.
FROM scratch AS prebuilt
COPY target/image/ /out/

# ---- what both targets share ----
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="jumpnet" \
      org.opencontainers.image.description="Jumpnet: a Raft-replicated message broker, and its Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/jumpnet/jumpnet"
# scratch has no PATH; the operator's pods run the bare command `jumpnet`.
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    JUMPNET_STATE_DIR=/data
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/jumpnet"]
CMD ["serve"]

# ---- the targets: the same four lines, binaries from one stage or the other ----
# /data: an empty directory copied with --chown, the way to get a 65532-owned directory into a base
# without a shell; a fresh named volume mounted there takes that ownership, so the broker writes as
# non-root. WORKDIR and VOLUME come after it (declared earlier, the directory would be root's).
FROM runtime AS image-prebuilt
COPY --from=prebuilt /out/jumpnet /out/jumpnet-operator /usr/local/bin/
COPY --from=prebuilt --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]

FROM runtime AS image
COPY --from=build /out/jumpnet /out/jumpnet-operator /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]
