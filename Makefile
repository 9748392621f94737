# Conveyor developer entry points. Every target sets up .venv first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test coverage check bench clean

# The suite runs in TEST_WORKERS processes (pytest-xdist), each taking a whole test file at a
# time, so a file's module fixtures are built once; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# A failed peer or Feast venv install only makes their tests skip, unless
# CONVEYOR_TEST_REQUIRE_VENVS=1 (CI): then the install failure stops the target, and a test
# that finds its venv missing fails (tests/needs.py).
test: setup
	bash scripts/install-test-tools.sh
	bash scripts/peers-venv.sh || { [ "$$CONVEYOR_TEST_REQUIRE_VENVS" != 1 ] && echo "peer clients unavailable: their tests will skip"; }
	bash scripts/feast-venv.sh || { [ "$$CONVEYOR_TEST_REQUIRE_VENVS" != 1 ] && echo "Feast unavailable: its tests will skip"; }
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The in-process unit tests under coverage; fails below tool.coverage.report.fail_under.
# CI runs these here and the rest of the suite with `make test PYTEST_ARGS=--ignore=tests/unit`.
coverage: setup
	$(BIN)/python -m pytest tests/unit $(XDIST) --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

check: setup
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) .conveyor demo-work .coverage
