GO ?= go
PKGS := ./...

.PHONY: all build test vet fmt-check docs

all: build

build:
	$(GO) build -o bin/netdx ./cmd/netdx

# The whole suite. Lab tests build network namespaces and need root; run as
# a normal user they skip and say why.
test: fmt-check vet
	$(GO) test -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Documents generated from the finding catalog and the metric definitions;
# the alerts' promtool unit tests from the scenarios they are checked against.
docs:
	$(GO) run ./internal/gendocs
	$(GO) test ./report/metrics -run TestAlertsAgreeWithRules -update
