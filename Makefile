GO ?= go
PKGS := ./...

.PHONY: all build release image test vet fmt-check docs bench pictures pgo

all: build

# VERSION and COMMIT end up in `netdx --version` and in every report's
# "tool" section, through the linker flags below.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
CLI := github.com/netdx/netdx/internal/cli
STAMP = -X $(CLI).version=$(VERSION) -X $(CLI).commit=$(COMMIT)

# Static, like the release binaries: without cgo there is no dynamic
# loader to run and no libc to map at every start (netdx --version: about
# 5 ms less on the machine of docs/performance.md).
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(STAMP)" -o bin/netdx ./cmd/netdx

# Release binaries: static (no cgo, so no libc to match on the target),
# without local paths or symbol tables, one per architecture, with their
# SHA-256 sums. The same names are what the Dockerfile copies.
DIST ?= dist
RELEASE_ARCHS ?= amd64 arm64

release:
	@mkdir -p $(DIST)
	@set -e; for arch in $(RELEASE_ARCHS); do \
		echo "build $(DIST)/netdx-linux-$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath \
			-ldflags "-s -w $(STAMP)" -o $(DIST)/netdx-linux-$$arch ./cmd/netdx; \
	done
	cd $(DIST) && sha256sum netdx-linux-* > SHA256SUMS

# The container image: FROM scratch with the static binary (Dockerfile),
# built with buildah (Debian's buildah and runc; no Docker engine needed) or
# `docker build` elsewhere. IMAGE is the name docs/deploy/kubernetes.yaml
# runs. The build context is the directory holding dist/ (the repository,
# unless DIST is elsewhere).
IMAGE ?= ghcr.io/netdx/netdx
IMAGE_ARCH ?= amd64
BUILDAH ?= buildah

image:
	$(MAKE) release RELEASE_ARCHS=$(IMAGE_ARCH)
	$(BUILDAH) bud -f $(CURDIR)/Dockerfile --arch $(IMAGE_ARCH) --build-arg TARGETARCH=$(IMAGE_ARCH) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):latest $(abspath $(DIST)/..)

# The whole suite. Lab tests build network namespaces and need root; run as
# a normal user they skip and say why.
test: fmt-check vet
	$(GO) test -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Documents generated from code, by one generator (internal/gendocs): the
# finding catalog (docs/findings.md), the shipped alerts and metric tables
# (docs/prometheus*), the JSON Schemas (docs/schema), man pages (docs/man)
# and shell completions (docs/completion). Then the alerts' promtool unit
# tests (docs/prometheus/alerts_test.yml), written by the test that plays
# the rules' scenarios to promtool. Tests fail when any of them is stale.
docs:
	$(GO) run ./internal/gendocs
	$(GO) test ./render/metrics -run TestAlertsAgreeWithRules -count=1 -update

# The pictures docs/pcap.md and docs/trace.md show (docs/img/*.png):
# `pcap analyze --plot` of a lab transfer that a router reorders and
# drops, and `trace --plot` of a lab path whose routers rate-limit their
# ICMP and one of which drops, rendered by headless Chromium. Needs root (network namespaces)
# and Debian's chromium; not part of `make test`.
pictures:
	NETDX_WRITE_PICTURES=1 $(GO) test ./internal/cli -run '^TestWritePictures$$' -count=1 -v

# docs/performance.md: netdx timed as whole processes against a hello-world
# Go binary, the classic tools' bundle (nstat, ss, ethtool, tc, sysctl) and
# tshark, on this machine, interleaved (internal/perfbench). Not part of
# `make test` or CI: the figures depend on the machine and its load. Needs
# iproute2, ethtool and tshark (a comparison whose tool is missing is
# skipped, and the document says why); sends no traffic. Takes a few
# minutes, most of it tshark. Flags, e.g.:
#   make bench BENCHFLAGS='-runs 50 -slow-runs 7 -wait-load 1'
BENCHFLAGS ?=

bench: build
	GO=$(GO) $(GO) run ./internal/perfbench -netdx bin/netdx $(BENCHFLAGS)

# cmd/netdx/default.pgo: the CPU profile that `go build ./cmd/netdx` (so
# build, release and image) optimises the binary with, profile-guided
# (go's -pgo=auto finds it beside main.go). It is taken from the in-process
# benchmarks of the CPU-bound work: capture analysis and the diag snapshot.
# Tests build without it. Run again when the analysis changes much; a stale
# profile costs only the gain (docs/development.md).
pgo:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) test ./capture -run '^$$' -bench '^BenchmarkAnalyze$$' -benchtime 3x -cpuprofile "$$dir/capture.pprof" -o "$$dir/capture.test"; \
	$(GO) test ./collectors -run '^$$' -bench '^BenchmarkSnapshot$$' -benchtime 200x -cpuprofile "$$dir/collectors.pprof" -o "$$dir/collectors.test"; \
	$(GO) tool pprof -proto "$$dir/capture.pprof" "$$dir/collectors.pprof" > cmd/netdx/default.pgo

# Fuzzing: every Fuzz target of every package, one after another (go runs
# one -fuzz target per invocation), FUZZTIME each. Corpora live in each
# package's testdata/fuzz/<Target>; a crasher is written there. CI runs
# this with FUZZTIME=8s. One target longer:
#   go test ./collectors -run '^$$' -fuzz '^FuzzNetstat$$' -fuzztime 10m
# FUZZMINIMIZETIME bounds the shrinking of each new interesting input or
# crasher: go's default (60s) stalls short runs on large seeds. A run that
# fails with "context deadline exceeded" and writes no failing input is
# go's coordinator race at the end of -fuzztime (golang/go#75804, fixed in
# go1.27), not a finding: it is reported and not counted as a failure.
FUZZTIME ?= 60s
FUZZMINIMIZETIME ?= 1s
FUZZPKGS ?= ./...

.PHONY: fuzz reliability
fuzz:
	@$(GO) test -list '^Fuzz' $(FUZZPKGS) | \
	awk '/^Fuzz/ {t[n++] = $$1} /^ok/ {for (i = 0; i < n; i++) print $$2, t[i]; n = 0}' | { \
	failed=; \
	while read -r pkg target; do \
		echo "== $$target ($$pkg, $(FUZZTIME))"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$pkg" </dev/null 2>&1); \
		st=$$?; printf '%s\n' "$$out"; \
		if [ $$st -ne 0 ]; then \
			if printf '%s\n' "$$out" | grep -q 'context deadline exceeded' && ! printf '%s\n' "$$out" | grep -q 'Failing input written'; then \
				echo "fuzz: $$target: go's end-of-fuzztime race (golang/go#75804), no failing input: not counted"; \
			else failed="$$failed $$target"; fi; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; }

# docs/reliability.md: every fuzz target for RELIABILITY_FUZZTIME, then the
# TestMalformed/TestBounded/TestInterrupt/TestPrivilege/TestNamespace/
# TestProbeSafety tests with go test -json, one row per subtest. Run as
# root so the lab tests run. Fails (after writing) when anything failed.
RELIABILITY_FUZZTIME ?= 30s

reliability:
	GO=$(GO) $(GO) run ./internal/reliability -fuzztime $(RELIABILITY_FUZZTIME) -out docs/reliability.md
