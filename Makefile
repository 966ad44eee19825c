# The two commands of the README do all the set-up: `make study` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: study test test-fast bench install clean

# The venv is rebuilt when the package metadata or the lock file changes.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel on these machines; a looser pin pulls CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

study: $(STAMP)
	$(BIN)/nas dag
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	$(BIN)/nas summary

# Two pytest-xdist workers: most end-to-end tests run one single-threaded stage at a time, so two
# cores run two of them side by side; tests sharing a study run stay on one worker (tests/conftest.py).
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations 15

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(PYTEST)

test-fast: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(PYTEST) -m "not e2e"

# The bench extra: the NAS-Bench-201 authors' code to time against, without its dependencies (it
# would pull other torch versions; it runs on the ones installed).
bench: $(STAMP)
	$(BIN)/pip install --quiet --no-deps xautodl==1.0.0
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) results data/prepared metrics plots
