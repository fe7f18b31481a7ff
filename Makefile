# make demo: a venv with Tenet, then explained decisions on the ai-governance bundle.
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
	@echo "== a production deployment that passes every gate"
	@$(BIN)/tenet eval deploy.production --bundle policies/ai-governance --input examples/ai-governance/deploy/production-pass.yaml --now 2026-03-02T10:00:00Z
	@echo
	@echo "== a staging deployment that fails its gates (exit 1 is the expected verdict)"
	@$(BIN)/tenet eval deploy.staging --bundle policies/ai-governance --input examples/ai-governance/deploy/staging-fail.yaml --now 2026-03-02T10:00:00Z || test $$? -eq 1
	@echo
	@echo "== an access request under a self-approved break-glass, explained"
	@$(BIN)/tenet eval access.allow --bundle policies/ai-governance --input examples/ai-governance/access/break-glass-self-approved-fail.yaml --now 2026-03-02T10:00:00Z || test $$? -eq 1

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
