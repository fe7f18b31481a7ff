# make demo: a venv with Tenet, then explained decisions on the example bundle.
# make test: a venv with the dev extras, then lint, types and the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	@echo "== a staging deployment that passes the gates"
	@$(BIN)/tenet eval deploy.staging --bundle policies/starter --input examples/starter/staging-pass.yaml
	@echo
	@echo "== a staging deployment that fails them (exit 1 is the expected verdict)"
	@$(BIN)/tenet eval deploy.staging --bundle policies/starter --input examples/starter/staging-fail.yaml || test $$? -eq 1
	@echo
	@echo "== an access request, explained"
	@$(BIN)/tenet eval access.allow --bundle policies/starter --input examples/starter/access-deny.yaml || test $$? -eq 1

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

test: lint typecheck pytest

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --ignore-requires-python opa-golib-python-bindings
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/bench_access.py
	$(BIN)/python benchmarks/bench_indexing.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
