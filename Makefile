# `make demo` and `make test` each build .venv from nothing, then run. --no-compile: pip does not byte-compile
# every installed file (17 s of torch's 28 s install here); Python compiles the modules it imports, once.
# CPU by default: TORCH_SPEC pins the local CPU build. GPU users pass their own, e.g.
#   make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" EXTRAS=dev,gpu
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev
PYTEST_ARGS ?=
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.genkit-installed

.PHONY: demo lint test test-all install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --no-compile 'setuptools>=68' wheel
	$(VENV)/bin/python -m pip install -q --no-compile $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -q --no-compile --no-build-isolation -e '.[$(EXTRAS)]' $(addprefix -e ,$(PLUGIN_DIRS))
	touch $(STAMP)

# Static checks (config in pyproject.toml): ruff lint and format, mypy (strict on every genkit module).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The default suite (without tests marked slow), after the static checks.
test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Every test, slow ones included (long learning runs, several-process runs).
test-all: lint
	$(VENV)/bin/python -m pytest -m '' $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/genkit run shapes/demo --out runs/demo
	@echo "samples: runs/demo/sample/samples.png   measure it: $(VENV)/bin/genkit eval runs/demo"

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .mypy_cache .ruff_cache
