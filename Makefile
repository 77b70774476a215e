# wheelhouse developer entry points. `make test` is the test command CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv setup lint typecheck unit test example bench clean

$(BIN)/wheelhouse: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/wheelhouse

# Docker engine, buildx, QEMU binfmt and the local base images (idempotent).
setup:
	bash scripts/setup.sh

lint: venv
	$(BIN)/ruff check orchestrator tests scripts
	$(BIN)/ruff format --check orchestrator tests scripts

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

# The test command (README, .ci/run): lint, strict typing, unit and integration tests.
test: venv setup lint typecheck
	$(BIN)/pytest tests -q

# The main job on the example that ships: plan, build (arm64, cross-compiled and checked under QEMU), collect, verify.
example: venv setup
	$(BIN)/wheelhouse plan --config examples/pi-backend/wheelhouse.local.yaml
	$(BIN)/wheelhouse build --config examples/pi-backend/wheelhouse.local.yaml --verify
	$(BIN)/wheelhouse plan --config examples/pi-backend/wheelhouse.musl.yaml
	$(BIN)/wheelhouse build --config examples/pi-backend/wheelhouse.musl.yaml --verify

bench: venv
	$(BIN)/python scripts/bench_plan.py
	$(BIN)/python scripts/bench_build.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
