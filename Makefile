# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv
# if it is missing and installs what it needs there.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The machines keep a CPU build of torch in /opt/wheels; use it when present.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP := $(BIN)/python -m pip install --quiet $(FIND_LINKS)

.PHONY: demo test lint docs docs-serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[datasets,apps,fast]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/chainrule demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples

# The site, built with --strict: a broken link or reference, a page left out of
# the nav or a code block that raises fails it. The pages' examples are tiny, so
# BLAS runs them on one thread (a second one only waits, most of all on a busy
# machine); Material's notice about its successor is silenced.
DOCS_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1

docs: $(VENV)/.test-installed
	$(DOCS_ENV) $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.test-installed
	$(DOCS_ENV) $(BIN)/mkdocs serve

# tests/docs/test_site.py checks the links of the site just built instead of building it again
test: lint docs
	CHAINRULE_DOCS_SITE=site $(BIN)/python -m pytest

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis site
