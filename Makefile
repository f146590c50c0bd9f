# Candour. `make run` starts the portal on its embedded PostgreSQL; `make test` runs every test.
GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -count=1 -timeout 30m

.PHONY: run build test bench bench-deps lint apilint policy pg-deps system-deps frontend-deps assets

run: pg-deps
	$(GO) run ./cmd/candour serve

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/candour ./cmd/candour

# What is missing is installed from Debian with apt-get (as root, else with sudo). Where that is
# impossible, one line says the exact command to run. PostgreSQL's server binaries (the embedded
# default and the tests start their own server) are found as internal/database finds them.
APT_INSTALL = install() { \
	sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	cmd="apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$*"; \
	if ! command -v apt-get >/dev/null || { [ -n "$$sudo" ] && ! command -v sudo >/dev/null; }; then \
		echo "missing: $$*; install them as root with: $$cmd" >&2; exit 1; \
	fi; \
	echo "installing $$*"; \
	$$sudo sh -c "$$cmd" || { echo "could not install $$*; run as root: $$cmd" >&2; exit 1; }; \
}
HAVE_PG = { [ -n "$$CANDOUR_PG_BIN" ] || command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

pg-deps:
	@$(APT_INSTALL); $(HAVE_PG) || install postgresql

# Chromium (browser tests), age (the upstream CLI must open sealed identities), mat2 and
# bubblewrap (documents are cleaned of metadata in a sandbox), exiftool with Archive::Zip (the
# independent reader the metadata tests check cleaned files with; it reads Office files),
# libheif's heif-enc (the metadata tests make a real HEIC photo with it), haproxy (two portals
# run behind it in the load-balancer test), npm and
# PostgreSQL, installed only when missing, so `make test` needs no set-up by hand.
system-deps:
	@$(APT_INSTALL); missing=""; \
	command -v chromium >/dev/null || [ -n "$$CHROMIUM" ] || missing="$$missing chromium"; \
	command -v age >/dev/null || missing="$$missing age"; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	perl -MArchive::Zip -e1 2>/dev/null || missing="$$missing libarchive-zip-perl"; \
	command -v mat2 >/dev/null || missing="$$missing mat2"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	command -v heif-enc >/dev/null || missing="$$missing libheif-examples"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	[ -f /etc/mime.types ] || missing="$$missing media-types"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	$(HAVE_PG) || missing="$$missing postgresql"; \
	[ -z "$$missing" ] || install $$missing

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
# The external one (cmd/candour) drives the built binary with wrk and measures a pgbench floor
# beside it: separate processes, as a reporter's browser meets the portal.
bench: bench-deps
	$(GO) test -run '^$$' -bench . -count=1 ./internal/routing ./internal/seal ./internal/auth
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 60m ./internal/portal ./internal/casework ./internal/oversight ./internal/api
	$(GO) test -run '^$$' -bench ExternalFiling -benchtime 1x -count=1 -timeout 20m ./cmd/candour

# wrk is the external load generator; pgbench comes with PostgreSQL's server package, as do the
# binaries the embedded default runs. age: the benchmarks' floor for large attachments.
bench-deps:
	@$(APT_INSTALL); missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v age >/dev/null || missing="$$missing age"; \
	$(HAVE_PG) || missing="$$missing postgresql"; \
	[ -z "$$missing" ] || install $$missing

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
