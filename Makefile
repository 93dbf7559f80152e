# Everyday commands.  Everything runs from the project's own virtualenv in .venv, which is
# (re)installed whenever pyproject.toml changes: `make run` installs the runtime dependencies
# only; `make test`, `make lint` and `make bench` add the development tools.

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
DEV_STAMP   := $(VENV)/.installed-dev
PYTEST_ARGS ?=

HOST  ?= 127.0.0.1
PORT  ?= 8000
LEADS ?= 1000

TOOLS       := tools
TOOLS_STAMP := $(TOOLS)/node_modules/.installed
OPENAPI     := docs/openapi.json

.PHONY: venv install test lint run seed clean distclean openapi openapi-lint

venv install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependencies change; each stamp records the last install of its set.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	touch $(STAMP) $@

# All tests.  The suite starts its own throwaway PostgreSQL server and Kafka broker.
test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Style and types: ruff (lint and format) and mypy over the packages; Spectral over the API's
# OpenAPI document.
lint: $(DEV_STAMP) openapi-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The npm tools, at the exact versions of tools/package-lock.json (install scripts not run).
$(TOOLS_STAMP): $(TOOLS)/package.json $(TOOLS)/package-lock.json
	cd $(TOOLS) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Spectral (ruleset spectral:oas, .spectral.yaml) over the document the code generates now: no
# error and no warning passes.
openapi-lint: $(STAMP) $(TOOLS_STAMP)
	mkdir -p build
	$(BIN)/python -m services.cli openapi --output build/openapi.json
	cd $(TOOLS) && npx --no-install spectral lint ../build/openapi.json --ruleset ../.spectral.yaml --fail-severity=warn

# Rewrite the checked-in OpenAPI document (a test fails while it is stale).
openapi: $(STAMP)
	$(BIN)/python -m services.cli openapi --output $(OPENAPI)

run: $(STAMP)
	$(BIN)/crm serve --demo --host $(HOST) --port $(PORT)

seed: $(STAMP)
	$(BIN)/crm seed --leads $(LEADS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis $(STAMP) $(DEV_STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(TOOLS)/node_modules

# Benchmarks (not part of `make test`): starts its own PostgreSQL and Kafka, prints the table and
# writes bench/results/latest.json; about 10 minutes on 2 cores. See docs/performance.md.
.PHONY: bench
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run

# Lighthouse (mobile preset, Debian's chromium) over each console page of the demo, its scores
# written into docs/console.md and its reports into build/lighthouse/. See docs/console.md.
.PHONY: lighthouse
lighthouse: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m bench.lighthouse

# The open-loop HTTP load generator bench/api.py drives `crm serve` with (a Go binary, so that the
# offered rate does not depend on the Python process it measures), at a pinned version.
VEGETA_VERSION ?= v12.13.0
VEGETA         := build/bin/vegeta
.PHONY: vegeta
vegeta: $(VEGETA)
$(VEGETA):
	mkdir -p build/bin
	GOBIN=$(CURDIR)/build/bin PATH=/usr/local/go/bin:$(PATH) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)
