# The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help:
	@echo "make run     install what is missing, build, start the whole stack on 127.0.0.1 (Ctrl-C stops it)"
	@echo "make stop    stop a stack started with 'make run' (from another terminal)"
	@echo "make test    lint (swift format, file sizes), unit tests (swift test), end-to-end tests through nginx"
	@echo "make test-ha only the Redis Sentinel failover tests (also part of make test)"
	@echo "make test-multihost  three gateway hosts, Redis + Sentinel, LiteLLM in network namespaces (root; also part of make test)"
	@echo "make lint    swift format lint --strict, ruff, the debug build with warnings as errors, the 400-line limit (scripts/lint)"
	@echo "make build   release build of the workers"
	@echo "make deps    install apt packages and the Python venv"
	@echo "make bench   measure the gateway's own cost with wrk (BENCH_ARGS=--help), then three hosts vs Redis round trip (MULTIHOST_BENCH_ARGS=--help)"
	@echo "make mutants break the code on purpose, row by row (Tests/mutants/table.toml); each row's tests must fail"
	@echo "make fuzz    libFuzzer on the JWT, cookie, JSON and FastCGI parsers (FUZZ_SECONDS per target, default 60)"

deps:
	@scripts/install-deps

build: deps
	swift build -c release

run: build
	@scripts/run-dev

stop:
	@scripts/stack stop

lint:
	scripts/lint

# The debug build's flags: scripts/lint builds with the same ones into the same .build, so the
# tests below reuse its build (a warning is an error).
SWIFT_STRICT := -Xswiftc -warnings-as-errors

test: build lint
	swift test $(SWIFT_STRICT)
	@# The committed fuzz corpora, replayed with every target's invariants (a plain debug build).
	swift build --product gateway-fuzz $(SWIFT_STRICT)
	@for corpus in Fuzz/corpus/*/; do .build/debug/gateway-fuzz "$$(basename "$$corpus")" "$$corpus" || exit 1; done
	.venv/bin/python -m pytest -q Tests/e2e

# Redis high availability alone (real redis-server + redis-sentinel processes; ~1 minute).
test-ha: build
	.venv/bin/python -m pytest -q Tests/e2e/test_ha.py

# Several gateway hosts across a network: the namespace rig (scripts/netns-rig; root; ~1.5 minutes).
test-multihost: build
	.venv/bin/python -m pytest -q Tests/e2e/test_multihost.py

.PHONY: help deps build run stop lint test test-ha test-multihost

bench: build
	@WITH_BENCH=1 scripts/install-deps
	.venv/bin/python bench/run.py $(BENCH_ARGS)
	@# Three gateway hosts across network namespaces, /v1 per host against Redis's round trip (root).
	.venv/bin/python bench/multihost.py $(MULTIHOST_BENCH_ARGS)

.PHONY: bench

# libFuzzer, bounded (docs/security.md "Fuzzing"); not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

.PHONY: fuzz

# The tests fail when the code is broken: Tests/mutants/table.toml, row by row in a scratch copy
# (docs/testing.md "Broken on purpose"); not part of `make test` (about 15 minutes).
mutants: build
	.venv/bin/python scripts/mutants $(MUTANTS_ARGS)

.PHONY: mutants
