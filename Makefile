# otelcol-insights: `make run` builds the distribution and runs the demo; `make test` runs
# every test. Both install what they need (OCB, mdatagen) from internal/tools at pinned
# versions: nothing pre-installed is used but Go itself.

# Some modules declare a newer Go patch release than the machine's; toolchain downloads
# are not possible here, so never try.
export GOTOOLCHAIN := local

GO        ?= go
TOOLS_DIR := $(CURDIR)/.tools
BUILDER   := $(TOOLS_DIR)/builder
MDATAGEN  := $(TOOLS_DIR)/mdatagen
DIST_BIN  := $(CURDIR)/dist/otelcol-insights
# Every Go source of the main module: the distribution is rebuilt when one changes.
GO_SOURCES := $(shell find . -name '*.go' -not -path './dist/*' -not -path './internal/tools/*' -not -path './.tools/*' -not -path './test/*') go.mod go.sum builder-config.yaml

.PHONY: all build run test unit-test e2e-test eval eval-check lint bench bench-inventory generate tools clean load

all: build

$(BUILDER) $(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	@mkdir -p $(TOOLS_DIR)
	$(GO) build -C internal/tools -o $(BUILDER) go.opentelemetry.io/collector/cmd/builder
	$(GO) build -C internal/tools -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

tools: $(BUILDER) $(MDATAGEN)

## build: the distribution, dist/otelcol-insights (OCB on builder-config.yaml)
build: $(DIST_BIN)

$(DIST_BIN): $(BUILDER) $(GO_SOURCES)
	$(BUILDER) --config builder-config.yaml
	@touch $(DIST_BIN)

## generate: regenerate mdatagen code (metadata.yaml -> internal/metadata)
generate: $(MDATAGEN)
	cd processor/insightsprocessor && $(MDATAGEN) metadata.yaml

## run: build, start the distribution with testdata/demo/config.yaml, play meshsim's sapwned scenario
## over clean background traffic, show findings as they arrive and a summary, then stop
run: build
	$(GO) run ./cmd/insights-demo --collector $(DIST_BIN) --config testdata/demo/config.yaml

## eval: every meshsim scenario through the built distribution, scored against its ground truth
## (precision, recall, time to detect); writes docs/DETECTION.md, fails below precision 0.99,
## recall 1.0, or on any finding in the clean scenario
eval: build
	OTELCOL_INSIGHTS_BIN=$(DIST_BIN) $(GO) test -count=1 -tags eval ./test/eval/

## eval-check: the same thresholds, as part of make test, without rewriting docs/DETECTION.md
## (its timings differ from run to run); the report goes to .cache/eval/DETECTION.md
eval-check: build
	@mkdir -p .cache/eval
	OTELCOL_INSIGHTS_BIN=$(DIST_BIN) $(GO) test -count=1 -tags eval ./test/eval/ -args -report=$(CURDIR)/.cache/eval/DETECTION.md

## test: unit tests with -race, the end-to-end test against the built binary, the
## integration tier (the built binary and the informers against a real kube-apiserver), and
## the detection-quality eval (meshsim scenarios against ground truth)
test: unit-test e2e-test integration-test eval-check

unit-test:
	$(GO) test -race -count=1 ./...
	@# The memory budgets need a heap without the race detector's overhead.
	$(GO) test -count=1 -run 'TestInventoryMemoryBudgets' -v ./internal/inventory/

e2e-test: build
	OTELCOL_INSIGHTS_BIN=$(DIST_BIN) $(GO) test -count=1 -tags e2e ./test/e2e/...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './dist/*' -not -path './.tools/*')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/...

## bench: processor vs pass-through baseline per signal (ns/item, allocs/item)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./processor/insightsprocessor/

## bench-inventory: inventory memory per pod at 10k and 100k pods (IP index, node-local model,
## informer cache raw and stripped); ~2 min
bench-inventory:
	$(GO) test -run '^$$' -bench 'BytesPerPod' -benchtime=1x ./internal/inventory/

clean:
	rm -rf dist .tools

# The real-apiserver integration tier (kube-apiserver + etcd built from the module proxy
# into test/integration/.cache, ~9 min cold on 2 cores, cached after): `make integration-test`.
include test/integration/integration.mk

# The integration tier also runs the built distribution against the apiserver.
integration-test: $(DIST_BIN)
integration-test: export OTELCOL_INSIGHTS_BIN := $(DIST_BIN)

## load: the load harness (test/load), not part of make test: the built distribution with
## testdata/load/baseline.yaml and with testdata/load/insights.yaml, each driven by meshsim's
## clean traffic at 5k, 10k and 20k items/s (5 s warm-up, 30 s measured); collector CPU and
## RSS, every item accounted for on its own metrics, no finding; prints a table and rewrites
## the "## Load harness" section of docs/BENCHMARKS.md (~4 min after the build)
load: build
	$(GO) run ./test/load --collector $(DIST_BIN) --reproduce "make load"
