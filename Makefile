# kubectl-piyasa: build, test, run a local demo cluster, release.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/piyasa/kubectl-piyasa/shared/version
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
BIN     ?= bin
PREFIX  ?= $(HOME)/.local/bin
# -trimpath for every go command: nothing built depends on where the checkout is, so a
# fresh clone (CI's) reuses the warm build cache instead of compiling the project again.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)
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
## `make test` runs each target for CI_FUZZTIME only (their seeds and corpus are replayed in full
## by `make unit` anyway); `make fuzz` (FUZZTIME=1m ...) is the longer search, on demand.
FUZZTIME ?= 15s
CI_FUZZTIME ?= 2s
fuzz:
	@scripts/fuzz.sh --time $(FUZZTIME)

## e2e: end-to-end tests on a local control plane (built on first use, then cached), E2E_PARALLEL
## packages at a time (each has its own cluster); prints each package's harness lines and result
## as it ends, the output of the failed tests, each package's secret-canary line (outputs and
## files scanned, leaks) and the time per package (scripts/ci-times.sh). The `go test -json`
## stream is kept in $(CI_OUT)/e2e.json. E2E_PKGS=./test/e2e/migrate/ runs a subset.
CANARY_SUMMARY := $(CURDIR)/.canary-summary
# Outside the checkout: the e2e tests scan what commands run in it write for secret values,
# and this stream holds the tests' own logs.
CI_OUT ?= $(HOME)/.cache/kubectl-piyasa/ci
E2E_PARALLEL ?= 3
# The packages with tests under test/, the longest first (as measured by scripts/ci-times.sh on
# 2026-12-06; fleet, added later, took 20 s with its cluster): go test starts them in the order given
# as slots free up, and a long package started last would end last.
# standby (two clusters; with the failover and region-drill tests about 4 min alone) goes early;
# waves (two clusters and a migration: 65 s in CI) beside the middle ones.
E2E_ALL  := $(sort $(dir $(wildcard test/*/*_test.go test/e2e/*/*_test.go)))
E2E_SLOW := $(addprefix test/e2e/,$(addsuffix /,migrate faults backup standby pitr waves deploy diagnose krew runbooks scale rbac fleet foundation))
E2E_PKGS ?= $(addprefix ./,$(filter $(E2E_ALL),$(E2E_SLOW)) $(filter-out $(E2E_SLOW),$(E2E_ALL)))
e2e:
	@rm -f $(CANARY_SUMMARY); mkdir -p $(CI_OUT)
	@PIYASA_CANARY_SUMMARY=$(CANARY_SUMMARY) go test -json -count=1 -timeout 60m -p $(E2E_PARALLEL) $(E2E_PKGS) | \
	  tee $(CI_OUT)/e2e.json | \
	  jq --unbuffered -rj 'select((.Test == null and .Action == "output") or .Action == "build-output") | .Output'; \
	  rc=$${PIPESTATUS[0]}; \
	  if [ $$rc -ne 0 ]; then echo "--- output of the failed tests:"; scripts/ci-times.sh --failures $(CI_OUT)/e2e.json; fi; \
	  cat $(CANARY_SUMMARY) 2>/dev/null; rm -f $(CANARY_SUMMARY); \
	  scripts/ci-times.sh --json $(CI_OUT)/e2e.json; exit $$rc

## test: everything CI runs (scripts/ci-test.sh): lint, then e2e in the background while unit
## and fuzz (CI_FUZZTIME per target) run; each stage timed into $(CI_OUT)/stages, and at the end
## scripts/ci-times.sh prints the time per stage and per e2e package.
test:
	@CI_OUT=$(CI_OUT) CI_FUZZTIME=$(CI_FUZZTIME) scripts/ci-test.sh

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
