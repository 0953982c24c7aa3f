# dcrm — the command contract: demo, test, unit, up, down, synth (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := build

FUNCTIONS := $(notdir $(wildcard functions/*))
GO_BUILD  := CGO_ENABLED=0 go build -trimpath -tags lambda.norpc
STATE     := .dcrm
API_PORT  ?= $(or $(DCRM_API_PORT),8080)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: build functions lambdas up down demo test unit synth bench load soak clean emulators browser node-deps cc

# Tools and the functions for the local host (host architecture, same build flags as for Lambda).
build: functions cc
	go build -o bin/dcrm ./scripts/dcrm
	go build -o bin/devstack ./scripts/devstack
	go build -o bin/demo ./scripts/demo

functions:
	@for f in $(FUNCTIONS); do $(GO_BUILD) -o bin/functions/$$f/bootstrap ./functions/$$f || exit 1; done

# The functions as Lambda runs them: linux/arm64 bootstrap binaries, packaged by the CDK app.
lambdas:
	@for f in $(FUNCTIONS); do GOOS=linux GOARCH=arm64 $(GO_BUILD) -o bin/lambda/$$f/bootstrap ./functions/$$f || exit 1; done

emulators:
	scripts/emulators/emulators.sh start

# The local stack in the background: emulators, the local host running the bootstrap binaries,
# seeded credentials in .dcrm/local.env.
up: build emulators
	@scripts/stack.sh up $(API_PORT)

down:
	@scripts/stack.sh down
	scripts/emulators/emulators.sh stop

demo: up
	@set -a; source $(STATE)/local.env; set +a; bin/demo

# Every test: unit, integration (against the local servers and the real bootstrap binaries) and
# CDK template assertions. The emulators are started if they are not running.
test: emulators browser node-deps cc
	go vet ./...
	go test -count=1 -timeout 15m ./...

# The tests that need no local server, browser or npm install: a newcomer's first command, under a
# minute once Go has compiled the dependencies (the first run on a machine takes minutes for that).
# Under -short every test that needs the local servers, Chromium or the npm SDKs is skipped, saying
# what it needs; `make test` runs them all (without -short, where a missing server fails them).
unit: cc
	go test -short ./...

# A C compiler for cgo: dcrm sql embeds DuckDB (scripts/dcrm/lake); the functions build without it.
cc:
	@command -v gcc >/dev/null && command -v g++ >/dev/null || (apt-get update && apt-get install -y gcc g++)

# Headless Chromium for the tracker's browser test (Debian's packages), installed when missing.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium chromium-driver)

# The Node.js SDKs of the SDK end-to-end tests (scripts/sdktest), at the versions its lockfile pins.
# `npm install` rather than `npm ci`: npm ci refuses this lockfile because of optional, per-platform
# packages that the project omits (scripts/sdktest/.npmrc); npm install follows the lockfile all the same.
node-deps:
	@test -d scripts/sdktest/node_modules || (cd scripts/sdktest && npm install --ignore-scripts --no-audit --no-fund)

synth: lambdas
	DCRM_FUNCTIONS_DIR=bin/lambda CDK_OUTDIR=cdk.out go run ./infra
	@ls cdk.out/*.template.json

# Benchmarks per core (GOMAXPROCS=1), six runs each, and the collect process's CPU per million
# events under the local host (three runs; skipped without the local servers), summarised as
# medians with the collect handler's ratio to the encoding/json floor (scripts/bench/README.md);
# then a bounded load replay against the local stack (brought up if it is not), whose figures go
# into BENCHMARKS.md. The local servers are started first: some benchmarks run against them.
bench: emulators
	@mkdir -p bin
	set -o pipefail; GOMAXPROCS=1 go test -run '^$$' -bench . -benchmem -count 6 ./... | tee bin/bench.txt
	set -o pipefail; go run ./scripts/bench/collectcpu -runs 3 | tee -a bin/bench.txt
	go run ./scripts/bench bin/bench.txt
	$(MAKE) load LOAD_FLAGS="$(BENCH_LOAD_FLAGS) -markdown BENCHMARKS.md -chart scripts/bench/charts/load.svg"

# The load replay (scripts/load): the public event sets, multiplied into a shop's traffic, through
# the local stack at LOAD_FLAGS' rate (default 200 events/s for 60 s); summary in bin/load/.
LOAD_FLAGS       ?=
BENCH_LOAD_FLAGS ?= -rate 1000 -concurrency 16 -duration 75s
load: up
	@mkdir -p bin/load
	go run ./scripts/replay -write-calls bin/load/web.jsonl
	go run ./scripts/replay -ecommerce ../shared/datasets/events/snowplow_ecommerce -write-calls bin/load/ecommerce.jsonl
	@set -a; source $(STATE)/local.env; set +a; go run ./scripts/load -calls bin/load/web.jsonl,bin/load/ecommerce.jsonl $(LOAD_FLAGS)

# A bounded soak, not part of make test: steady load on a local host of its own for SOAK_DURATION
# (default an hour), a fault injected every few minutes; memory, latency and loss checked at the
# end (scripts/soak). SOAK_DURATION=10m make soak for a short one.
soak: functions emulators
	go run ./scripts/soak

clean:
	rm -rf bin cdk.out
