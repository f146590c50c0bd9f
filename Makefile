# Candour. `make run` starts the portal on its embedded PostgreSQL; `make test` runs every test.
GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -count=1 -timeout 30m

.PHONY: run build test bench lint apilint policy system-deps frontend-deps assets

run:
	$(GO) run ./cmd/candour serve

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/candour ./cmd/candour

# Chromium (browser tests), age (the upstream CLI must open sealed identities) and npm, from
# Debian, installed only when missing, so `make test` needs no set-up by hand.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || [ -n "$$CHROMIUM" ] || missing="$$missing chromium"; \
	command -v age >/dev/null || missing="$$missing age"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "installing$$missing"; \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

# axe-core for the browser accessibility checks and Redocly CLI for apilint come from npm,
# pinned in frontend/package-lock.json; a changed lock file installs again.
frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend-deps: frontend/node_modules/.package-lock.json

test: system-deps frontend-deps lint apilint policy
	$(GO) test $(TESTFLAGS) $(PKGS)

# The council's policy must load and every fixture must get its expected route.
policy:
	$(GO) run ./cmd/candour policy check
	$(GO) run ./cmd/candour policy test

# Micro-benchmarks run for the usual second each; the end-to-end ones (which seed up to
# 1,000,000 concerns and measure their own loops against a floor) run exactly once.
bench:
	$(GO) test -run '^$$' -bench . -count=1 ./internal/routing ./internal/seal ./internal/auth
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 60m ./internal/portal ./internal/casework ./internal/oversight ./internal/api

lint:
	@out=$$(gofmt -l cmd internal frontend migrations); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The API document must pass Redocly's recommended rules (internal/api/redocly.yaml). Offline:
# no telemetry and no update check, so only npm ci needs the network.
apilint: frontend-deps
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true frontend/node_modules/.bin/redocly lint \
		--config internal/api/redocly.yaml internal/api/openapi.yaml

# Rebuild the committed GOV.UK Frontend assets after changing frontend/src or the pinned version.
assets: frontend-deps
	cd frontend && npm run build
