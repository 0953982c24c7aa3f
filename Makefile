# dcrm — the command contract: demo, test, up, down, synth (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := build

FUNCTIONS := $(notdir $(wildcard functions/*))
GO_BUILD  := CGO_ENABLED=0 go build -trimpath -tags lambda.norpc
STATE     := .dcrm
API_PORT  ?= $(or $(DCRM_API_PORT),8080)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: build functions lambdas up down demo test synth bench clean emulators

# Tools and the functions for the local host (host architecture, same build flags as for Lambda).
build: functions
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
test: emulators
	go vet ./...
	go test -count=1 -timeout 15m ./...

synth: lambdas
	DCRM_FUNCTIONS_DIR=bin/lambda CDK_OUTDIR=cdk.out go run ./infra
	@ls cdk.out/*.template.json

bench:
	go test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin cdk.out
