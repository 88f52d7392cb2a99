# syntax=docker/dockerfile:1.7
#
# The KULTA controller image: `kulta` on distroless, non-root.
#
#   docker build -t ghcr.io/yairfalse/kulta:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/yairfalse/kulta:0.1.0 --push .
#
# Why glibc on distroless/cc rather than a static musl binary on scratch or distroless/static:
# - musl's allocator serialises a multi-threaded tokio runtime under load; a musl build would
#   need a second allocator (mimalloc, jemalloc) to match glibc, one more dependency to audit;
# - `ring` (kube's TLS provider) compiles C and assembly: glibc needs nothing beyond the
#   builder's gcc, musl needs musl-tools and a cross target;
# - distroless/cc-debian12 is distroless/base (glibc, CA certificates, tzdata) plus libgcc:
#   no shell, no package manager, and its `nonroot` tag runs as UID 65532.
# The builder is Debian 12 (bookworm) too, so the binary links against the same glibc it runs on.

# The toolchain CI builds and tests with (the workspace's rust-version, 1.92, is the minimum).
ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is copied
# out of the cache mount because the mount is not part of the layer.
# Profile `dist` (Cargo.toml: fat LTO, one codegen unit, no debug info) without the default
# `sandbox` feature: the operator does not carry kulta-sim. This is the build kulta-bench measures
# (docs/benchmarks.md): idle RSS 10.5 MiB against 15.4 MiB for `--release` with the sandbox.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --profile dist --locked -p kulta --bin kulta --no-default-features \
    && install -D -m 0755 target/dist/kulta /out/kulta

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kulta" \
      org.opencontainers.image.description="KULTA progressive-delivery (canary) controller for Kubernetes" \
      org.opencontainers.image.source="https://github.com/yairfalse/kulta" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/kulta /kulta
# Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# /healthz, /readyz and /metrics (--admin-addr, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/kulta"]
CMD ["run"]
