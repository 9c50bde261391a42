# Two commands on a fresh machine: `make test` and `make demo`.
# Both create .venv on first use. torch is installed from its pin first so that no
# CUDA build is pulled in on CPU machines; set TORCH_PIN to change it.
PYTHON ?= python3
VENV ?= .venv
TORCH_PIN ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= true

.PHONY: install test demo bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m fgm.cli demo --output_dir runs/demo

bench: install
	$(PY) benchmarks/bench_training.py --out benchmarks/results_training.md
	$(PY) benchmarks/bench_tokenizer.py --out benchmarks/results_tokenizer.md

clean:
	rm -rf $(VENV) runs .pytest_cache
