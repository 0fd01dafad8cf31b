# Everything runs from .venv; targets create and fill it when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A CPU build unless told otherwise: on a machine without a GPU a plain `torch` requirement would pull
# several GB of CUDA wheels. GPU users: make install TORCH_SPEC=torch TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PIP_INDEX_ARG := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
ARGS ?=
# Test processes (pytest-xdist): one per core; PYTEST_WORKERS=0 runs everything in this one process. Each
# test module runs on one worker (--dist loadfile), so a run its tests share (a module-scoped fixture) is
# made once; the modules go out in the order tests/conftest.py puts them: the longest first.
PYTEST_WORKERS ?= auto
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: install train test test-fast lint tensorboard mlflow-ui bench clean

# The project with its dev extra, which holds every other extra (pyproject.toml): `make train` and `make test`
# have everything; `pip install mlplab` alone would give the core (docs/development.md).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(PIP_INDEX_ARG) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) scripts/train.py $(ARGS)

# Everything (gpu tests skip themselves without CUDA). Under 5 min on 2 cores, a fresh install included.
test: install
	$(PY) -m pytest $(PYTEST_XDIST) $(ARGS)

# The unit layer: no whole-run subprocess, sweep, export or long training, no DDP, no GPU. About a minute.
test-fast: install
	$(PY) -m pytest $(PYTEST_XDIST) -m "not slow and not ddp and not gpu" $(ARGS)

# Tests are type-checked too (the last line), without demanding annotations on every fixture and parameter.
lint: install
	$(PY) -m ruff check src scripts tests
	$(PY) -m ruff format --check src scripts tests
	$(PY) -m mypy
	$(PY) -m mypy --allow-untyped-defs --disable-error-code union-attr tests

tensorboard: install
	$(PY) -m tensorboard.main --logdir logs --host 127.0.0.1 --port $${PORT:-6006}

# The MLflow UI over logs/mlflow.db (logger=mlflow), port $PORT (5000). The UI is in the full mlflow package,
# which brings pandas, pyarrow, scikit-learn and scipy: it gets a venv of its own, since torchmetrics imports scipy
# at every training start wherever it is installed. The same version as .venv's mlflow-skinny: an older MLflow
# refuses a store that a newer one has migrated.
MLFLOW_VENV ?= .venv-mlflow
MLFLOW_UI_SPEC ?= mlflow==$(shell $(PY) -c "import importlib.metadata as m; print(m.version('mlflow-skinny'))")
mlflow-ui: install
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet "$(MLFLOW_UI_SPEC)"
	$(MLFLOW_VENV)/bin/mlflow ui --backend-store-uri sqlite:///logs/mlflow.db --host 127.0.0.1 --port $${PORT:-5000}

bench: install
	$(PY) scripts/bench.py $(ARGS)

clean:
	rm -rf logs outputs multirun .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
