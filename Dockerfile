# Production image: a static candour binary on a small Debian base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/candour ./cmd/candour

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/candour --create-home candour
COPY --from=build /out/candour /usr/local/bin/candour
COPY policies /etc/candour/policies
USER candour
WORKDIR /var/lib/candour
ENV CANDOUR_DATA_DIR=/var/lib/candour \
    CANDOUR_POLICY_DIR=/etc/candour/policies \
    CANDOUR_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["candour"]
CMD ["serve"]
