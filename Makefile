# Every target creates or reuses .venv and installs what it needs: on a fresh machine
# `make test` alone passes and `make run` alone serves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
EHR_PORT ?= 8001

.PHONY: install compile run demo test lint unit bench bench-instructions clean test-deps lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The scan's hot modules, compiled to C with mypyc (scripts/compile.py); again when one changes.
# Without a C compiler the pure-Python modules run, and nothing else differs. Chosen by the
# instructions they save per ~20 s of build (docs/scan-at-scale.md, round 6); a module whose
# functions tests patch stays Python (a compiled module calls its own functions directly).
COMPILED := plugin/billing_model.py rules/corrections.py rules/timed.py
COMPILED_STAMP := $(VENV)/.compiled

$(COMPILED_STAMP): $(STAMP) $(COMPILED) scripts/compile.py Makefile
	$(BIN)/python scripts/compile.py $(COMPILED)
	touch $@

install: $(STAMP) $(COMPILED_STAMP)

compile: $(COMPILED_STAMP)

run: $(STAMP) $(COMPILED_STAMP)
	TRACTION_AUTH_MODE=$${TRACTION_AUTH_MODE:-off} TRACTION_PLAYGROUND=$${TRACTION_PLAYGROUND:-true} \
		$(BIN)/traction-cds serve --host $(HOST) --port $(PORT)

# The service and a demo EHR stand-in (sample claims, SMART sign-in) on loopback; prints the
# URLs to open. Ctrl-C stops both.
demo: $(STAMP) $(COMPILED_STAMP)
	$(BIN)/traction-cds demo --host $(HOST) --port $(PORT) --ehr-port $(EHR_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# One pytest worker per core (pytest-xdist), each taking whole test files: a module's
# fixtures (a Spark session, a server) start once.
unit: $(STAMP) $(COMPILED_STAMP)
	$(BIN)/pytest -n auto --dist loadfile

test: lint unit

# Debian packages (postgresql, chromium, chromedriver, wrk), Node 22 and the loopback FHIR
# server's npm packages for the e2e tests; needs root for apt, is quick when all is there.
test-deps:
	bash scripts/install-test-deps.sh

# The image's dependency lock (exact versions + hashes, every platform); run it after editing
# [project] dependencies in pyproject.toml, and commit requirements.lock.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
	  --python-version 3.11 --custom-compile-command "make lock" -o requirements.lock

bench: $(STAMP) $(COMPILED_STAMP)
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_hooks.py
	$(BIN)/python bench/bench_scan.py

# Instructions per claim on the scan's check path (callgrind; needs valgrind): steady where
# wall-clock rates are not, so a change to the engine is measured here first.
bench-instructions: $(STAMP) $(COMPILED_STAMP)
	$(BIN)/python bench/bench_instructions.py

clean:
	test ! -x $(BIN)/python || $(BIN)/python scripts/compile.py --clean
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
