# `make demo` and `make test` each build .venv from nothing, then run. --no-compile: pip does not byte-compile
# every installed file (17 s of torch's 28 s install here); Python compiles the modules it imports, once.
# CPU by default: TORCH_SPEC pins the local CPU build. On a GPU machine, the pair the gpu extra pins (xformers
# 0.0.35's kernels are built for torch 2.10.0; PyPI's Linux torch 2.10.0 is the CUDA 12.8 build):
#   make test TORCH_SPEC=torch==2.10.0 EXTRAS=dev,serve,icons,gpu
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,serve,icons
PYTEST_ARGS ?=
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.genkit-installed

.PHONY: demo lint test test-all install bench bench-stage1 clean browser

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
	for b in benchmarks/bench_*.py; do [ $$b = benchmarks/bench_stage1.py ] || $(VENV)/bin/python $$b || exit 1; done

# The stage-1 benchmark on real pictures (docs/stage1.md): 10 CPU minutes per contestant at 32 and 64 px. Its
# baseline, dalle-pytorch's DiscreteVAE, imports torchvision (through taming-transformers), which cannot load
# beside torch 2.13's CPU build: it runs in its own venv with torch 2.14.1 + torchvision 0.29.1 (CPU works).
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?=
$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --no-compile torch==2.14.1 torchvision==0.29.1 'setuptools<80' wheel
	$(BENCH_VENV)/bin/python -m pip install -q --no-compile --no-deps dalle-pytorch==1.6.6 taming-transformers-rom1504==0.0.6
	$(BENCH_VENV)/bin/python -m pip install -q --no-compile torch==2.14.1 torchvision==0.29.1 einops \
	    axial-positional-embedding rotary-embedding-torch omegaconf pytorch-lightning==1.9.5 torchmetrics cairosvg
	$(BENCH_VENV)/bin/python -m pip install -q --no-compile --no-build-isolation -e . $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

bench-stage1: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/bench_stage1.py --size 32 $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python benchmarks/bench_stage1.py --size 64 $(BENCH_ARGS)

# Headless Chromium and its driver from Debian's packages, for tests/serve/test_browser.py (CI runs this first).
# Only where absent; a failure (no root, no apt) is tolerated: the browser test then skips and says why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver; } >/dev/null 2>&1 \
	  || echo "make browser: could not install chromium chromium-driver; the browser test will skip"

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .mypy_cache .ruff_cache
