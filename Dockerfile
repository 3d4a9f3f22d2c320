# syntax=docker/dockerfile:1

# Build a static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/pandav .

# Run it as a non-root user on a small Debian.
FROM debian:bookworm-slim
# ca-certificates for the clouds' HTTPS; media-types gives /etc/mime.types,
# so that content types of .mkv, .srt, ... come from the extension instead
# of sniffing the file through the cloud.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates media-types \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin pandav \
 && mkdir -p /data \
 && chown pandav:pandav /data
COPY --from=build /out/pandav /usr/local/bin/pandav
USER pandav
WORKDIR /data
# /data holds config.yaml (listen: 0.0.0.0:8080, state_dir: /data/state)
# and the state: rotated refresh tokens must survive the container.
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["pandav", "healthcheck", "--url", "http://127.0.0.1:8080/"]
ENTRYPOINT ["pandav"]
CMD ["serve", "-c", "/data/config.yaml"]
