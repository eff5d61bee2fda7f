# kubectl-piyasa: build, test, run a local demo cluster, release.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/piyasa/kubectl-piyasa/shared/version
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
BIN     ?= bin
PLUGINS := $(notdir $(wildcard plugins/*))
PREFIX  ?= $(HOME)/.local/bin

.PHONY: build install test unit e2e vet lint cluster-up cluster-down demo release clean

## build: build every binary into ./bin
build:
	@mkdir -p $(BIN)
	@for p in $(PLUGINS); do \
	  case $$p in piyasa) out=kubectl-piyasa;; complete-*) out=kubectl_$$p;; *) out=kubectl-piyasa-$$p;; esac; \
	  CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$$out ./plugins/$$p || exit 1; \
	done
	@ls $(BIN)

## install: copy the binaries to $(PREFIX) (default ~/.local/bin), which must be on PATH
## (with every kubectl-piyasa-<sub> on PATH, kubectl asks kubectl_complete-piyasa-<sub> for
## completions: those are links to the completion helper)
install: build
	@mkdir -p $(PREFIX) && cp $(BIN)/* $(PREFIX)/
	@for b in $(BIN)/kubectl-piyasa-*; do \
	  ln -sf kubectl_complete-piyasa $(PREFIX)/kubectl_complete-piyasa-$${b##*/kubectl-piyasa-}; done
	@echo "installed into $(PREFIX)"

## lint: gofmt and go vet must be silent
lint vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

## unit: fast unit tests
unit:
	go test ./shared/... ./plugins/...

## e2e: end-to-end tests on a local control plane (built on first use, then cached)
e2e:
	go test -count=1 -timeout 60m ./test/...

## test: everything CI runs
test: lint unit e2e

## cluster-up / cluster-down: the local demo cluster (KUBECONFIG printed by cluster-up)
cluster-up:
	@scripts/cluster.sh up piyasa
cluster-down:
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
