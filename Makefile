# proofline — make help lists the targets.
GO        ?= go
VERSION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
# Where the browser tests leave their screenshots (PROOFLINE_ARTIFACTS).
ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: help build run deps test test-short lint bench bench-e2e bench-queue chaos fuzz clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/proofline
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/proofline ./cmd/proofline

run: build ## run the embedded default on 127.0.0.1:8080
	./bin/proofline serve

deps: ## install Debian's redis-server, redis-sentinel and chromium when missing (apt-get, as root); the tests build versitygw and the Lambda emulator into ~/.cache/proofline themselves
	@.ci/deps.sh

test: deps ## the whole test suite, with the race detector (what CI runs); screenshots go to ARTIFACTS (./artifacts)
	$(GO) vet $(PKGS)
	@mkdir -p '$(ARTIFACTS)'
	@status=0; PROOFLINE_ARTIFACTS='$(ARTIFACTS)' $(GO) test -race -count=1 -timeout 12m $(PKGS) || status=$$?; \
	  echo "browser screenshots: $(ARTIFACTS)"; exit $$status

test-short: ## quick run without the race detector
	$(GO) test -count=1 $(PKGS)

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

bench: deps ## micro-benchmarks: seal/open, result store put/get (memory, Redis)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 . ./seal ./resultstore/... ./server ./proofer

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@.ci/fuzz.sh $(or $(FUZZTIME),30s)

clean: ## remove build output and the default screenshot directory
	rm -rf bin dist artifacts

.PHONY: bench-e2e
bench-e2e: deps ## end-to-end load, saturated and open-loop, vs same-run baselines; prints every target met / not met (docs/bench.md); BENCH_JSON=file writes JSON too
	$(GO) run ./bench --suite standard --people 200 --jobs 20000 --duration-limit 20s --open-loop-duration 10s $(if $(BENCH_JSON),--json $(BENCH_JSON))

.PHONY: chaos
chaos: deps ## the long fault runs (Toxiproxy, Sentinel failover, rolling restart, 10-minute soak; thousands of jobs each); log and the README's fault rows in ARTIFACTS (chaos.log, chaos.md)
	@mkdir -p '$(ARTIFACTS)'; rm -f '$(ARTIFACTS)/chaos.md'
	@status=0; PROOFLINE_CHAOS=1 PROOFLINE_CHAOS_REPORT='$(abspath $(ARTIFACTS))/chaos.md' PROOFLINE_ARTIFACTS='$(ARTIFACTS)' \
	  $(GO) test -count=1 -p 1 -timeout 90m -v ./internal/chaos/... > '$(ARTIFACTS)/chaos.log' 2>&1 || status=$$?; \
	  grep -E '^(--- |FAIL|ok )' '$(ARTIFACTS)/chaos.log'; echo "fault rows ($(ARTIFACTS)/chaos.md):"; \
	  cat '$(ARTIFACTS)/chaos.md' 2>/dev/null; exit $$status

bench-queue: deps ## queue mode: completed jobs/s with 1 and 2 worker processes, idle pickup latency (docs/queue.md)
	$(GO) run ./bench/queue

.PHONY: package
package: ## Lambda bootstrap zips (linux/arm64, linux/amd64) and SAM templates in dist/, named by git ref
	@VERSION=$(VERSION) aws/package.sh

.PHONY: mutation
mutation: deps ## mutation testing (gremlins v0.6.0) of the security core, one row per package, and the efficacy table; ROWS="seal webhook" for some only; not part of make test (about 20 minutes on 2 cores); reports in ARTIFACTS/mutation
	@ARTIFACTS='$(ARTIFACTS)' .ci/mutation.sh $(ROWS)
