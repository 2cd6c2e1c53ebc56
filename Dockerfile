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
#   BINARIES       where the binaries come from:
#                  `build`    (default) compile them in the `build` stage from the sources in the context;
#                  `prebuilt` copy the ones scripts/build-image.sh staged in target/image/.
#
# Why `prebuilt` (what CI and scripts/build-image.sh use): the test run already makes the one release
# musl build of the workspace. Compiling the same crates again inside the image would repeat that whole
# build from cold (the image build sees no cargo cache of the host), roughly doubling CI's compile time on
# two cores, and no Rust image can be pulled in CI anyway. `prebuilt` packs exactly the binaries the tests
# ran, in about a second. The stages after `binaries` are the same in both modes, so the image users build
# differs only in where the two files were compiled.

ARG BUILDER_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG BINARIES=build

# ---- binaries compiled in the image (users' default) ----
FROM ${BUILDER_IMAGE} AS build
ARG TARGET=x86_64-unknown-linux-musl
# musl-gcc: ring's build script compiles C and assembly for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${TARGET}"
WORKDIR /src
# The whole workspace (see .dockerignore): every member must be there for `--locked` to resolve.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "${TARGET}" -p jumpnet-broker -p jumpnet-operator --bins \
 && mkdir -p /out/data \
 && for b in jumpnet jumpnet-operator; do strip --strip-debug -o "/out/$b" "target/${TARGET}/release/$b"; done

# ---- binaries from the workspace build (CI) ----
# scripts/build-image.sh stages target/image/{jumpnet,jumpnet-operator,data/} from
# `cargo build --release --target x86_64-unknown-linux-musl`, debug info stripped as above.
FROM scratch AS prebuilt
COPY target/image/ /out/

FROM ${BINARIES} AS binaries

# ---- the image ----
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="jumpnet" \
      org.opencontainers.image.description="Jumpnet: a Raft-replicated message broker, and its Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/jumpnet/jumpnet"
COPY --from=binaries /out/jumpnet /out/jumpnet-operator /usr/local/bin/
# An empty directory copied with --chown: the way to get a 65532-owned /data into a base without a
# shell. A fresh named volume mounted there takes that ownership, so the broker writes as non-root.
COPY --from=binaries --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# scratch has no PATH; the operator's pods run the bare command `jumpnet`.
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    JUMPNET_STATE_DIR=/data
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/jumpnet"]
CMD ["serve"]
