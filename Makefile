# kubectl-piyasa: build, test, run a local demo cluster, release.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/piyasa/kubectl-piyasa/shared/version
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
BIN     ?= bin
PREFIX  ?= $(HOME)/.local/bin
TAGS    := $(shell go run ./shared/suite/cmd/binaries -tags)

.PHONY: build install test unit fuzz e2e vet lint cluster-up cluster-down demo release clean

## build: build every binary into ./bin, and the completion links kubectl_complete-piyasa-<sub>
## (with ./bin on PATH, kubectl asks kubectl_complete-piyasa-<sub> to complete `kubectl piyasa <sub> ...`).
## The names come from package suite (go run ./shared/suite/cmd/binaries), as for release.sh and the e2e harness.
build:
	@mkdir -p $(BIN)
	@set -eo pipefail; go run ./shared/suite/cmd/binaries | while read -r pkg out; do \
	  CGO_ENABLED=0 go build -trimpath -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN)/$$out ./$$pkg; \
	done
	@set -eo pipefail; go run ./shared/suite/cmd/binaries -links | while read -r link target; do \
	  ln -sfn $$target $(BIN)/$$link; \
	done
	@ls $(BIN)

## install: copy the binaries to $(PREFIX) (default ~/.local/bin), which must be on PATH, and
## make the completion links there (links to the completion helper kubectl_complete-piyasa)
install: build
	@mkdir -p $(PREFIX)
	@set -eo pipefail; go run ./shared/suite/cmd/binaries | while read -r pkg out; do \
	  cp $(BIN)/$$out $(PREFIX)/$$out; \
	done
	@set -eo pipefail; go run ./shared/suite/cmd/binaries -links | while read -r link target; do \
	  ln -sfn $$target $(PREFIX)/$$link; \
	done
	@echo "installed into $(PREFIX)"

## lint: gofmt and go vet must be silent
lint vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

## unit: fast unit tests
unit:
	go test ./shared/... ./plugins/...

## fuzz: every Go fuzz target (the .env parser, the log classifier, the BackupInfo reader, each
## binary's command line) for FUZZTIME each, one after another; scripts/fuzz.sh --keep also keeps
## the corpus found in testdata/fuzz (to commit). A failing input lands in testdata/fuzz itself.
FUZZTIME ?= 15s
fuzz:
	@scripts/fuzz.sh --time $(FUZZTIME)

## e2e: end-to-end tests on a local control plane (built on first use, then cached); then
## each package's secret-canary line (outputs and files scanned, leaks)
CANARY_SUMMARY := $(CURDIR)/.canary-summary
e2e:
	@rm -f $(CANARY_SUMMARY)
	@rc=0; PIYASA_CANARY_SUMMARY=$(CANARY_SUMMARY) go test -count=1 -timeout 60m ./test/... || rc=$$?; \
	  cat $(CANARY_SUMMARY) 2>/dev/null; rm -f $(CANARY_SUMMARY); exit $$rc

## test: everything CI runs
test: lint unit fuzz e2e

## cluster-up / cluster-down: the local demo cluster (KUBECONFIG printed by cluster-up); cluster-down
## also stops the demo's local PostgreSQL
cluster-up:
	@scripts/cluster.sh up piyasa
cluster-down:
	@scripts/demo.sh stop-postgres
	@scripts/cluster.sh down piyasa

## demo: build, start the local cluster and run the suite against it
demo: build
	@scripts/demo.sh

## release: build the release archives of HEAD (5 platforms) into dist/, SHA256SUMS and the Krew
## manifest krew/plugins/piyasa.yaml; nothing is uploaded. Usage: make release VERSION=v0.x.y
release:
	@scripts/release.sh --version "$(VERSION)" --ref HEAD

clean:
	rm -rf $(BIN) dist
