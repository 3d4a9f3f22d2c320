# syntax=docker/dockerfile:1
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t pandav .
#   docker buildx build --platform linux/amd64,linux/arm64 -t pandav .
#   podman build --format docker -t pandav .     (OCI, podman's default, drops HEALTHCHECK)
#
# README.md, "Docker", explains the image; compose.yaml runs it.

# Build a static binary on the build machine's own platform, for the
# target's: Go cross-compiles, so an arm64 image costs no emulated compile.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
# A module mirror, for builders that cannot reach the default proxy:
# --build-arg GOPROXY=https://goproxy.cn,direct
ARG GOPROXY
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
# The cache mounts keep modules and compiled packages between builds, so
# a source edit recompiles only what changed.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/pandav .

# Run it on a small Debian.
FROM debian:bookworm-slim
# ca-certificates for the clouds' HTTPS; media-types gives /etc/mime.types,
# so that content types of .mkv, .srt, ... come from the extension instead
# of sniffing the file through the cloud. The pandav user and group are
# both 10001 (a system group number may be another group on the host).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates media-types \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 pandav \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin pandav \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY --from=build /out/pandav /usr/local/bin/pandav
WORKDIR /data
# /data holds config.yaml and state/ (rotated refresh tokens must survive
# the container). An empty /data gets a starter config at the first start.
VOLUME ["/data"]
EXPOSE 8080
# No USER: the entry point starts as root only to create /data/state in a
# host folder made by root and give it to uid 10001, then serves as
# 10001:10001. --user UID:GID skips that and runs as UID throughout.
ENTRYPOINT ["pandav", "entrypoint"]
CMD ["serve", "-c", "/data/config.yaml"]
# The probe reads the port and TLS from the same config and asks /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["pandav", "healthcheck", "-c", "/data/config.yaml"]
