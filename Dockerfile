# syntax=docker/dockerfile:1
# The pushbench image: `pushbench` alone on Debian slim, run as a non-root user.
#   docker build --build-arg PUSHBENCH_COMMIT=$(git rev-parse HEAD) -t pushbench:dev .
# Kubernetes manifests that run it: deploy/kubernetes/ (docs/distributed.md).

# Build on the same Debian release as the runtime stage, so the binary finds the glibc it was
# linked against.
FROM rust:1.95-trixie AS build
# The commit every meta.json records (crates/cli/build.rs): .dockerignore leaves .git out of
# the build context, so it comes in as a build argument; without one it is recorded as unknown.
ARG PUSHBENCH_COMMIT=""
ENV PUSHBENCH_COMMIT=${PUSHBENCH_COMMIT}
WORKDIR /src
COPY . .
# The cache mounts keep the crate downloads and the build directory between builds; the
# binary is copied out of the cache in the same step, since the cache is not in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pushbench \
    && install -D target/release/pushbench /out/pushbench

# Slim rather than distroless: the Kubernetes Jobs run pushbench from a POSIX shell (the shard
# number is JOB_COMPLETION_INDEX + 1, the server's name is resolved with getent), and
# `kubectl cp` needs tar; all three are in Debian slim.
FROM debian:trixie-slim
RUN useradd --uid 65532 --user-group --create-home --shell /usr/sbin/nologin pushbench
COPY --from=build /out/pushbench /usr/local/bin/pushbench
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532
WORKDIR /home/pushbench
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/pushbench"]
CMD ["--help"]
