# Every target bootstraps .venv when it is missing. torch is pinned to the CPU build on this
# machine's disk before the project is installed, so that pip does not pull a multi-GB CUDA build;
# pyproject keeps a range so that users with GPUs get theirs.
PY := .venv/bin/python
TORCH_PIN ?= torch==2.13.0
STAMP := .venv/.installed

.PHONY: demo test test-all docs bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	.venv/bin/hamilton-lie demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

# the site, with the notebooks executed at the tiny scale (their outputs are shown on their pages)
docs: $(STAMP)
	HAMILTON_LIE_DOCS_EXECUTE=true HAMILTON_LIE_SCALE=tiny HAMILTON_LIE_NOTEBOOK_OUT=build/notebooks \
		NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict
	@echo "site: build/site/index.html"

bench: $(STAMP)
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/model.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/scale.py

lint: $(STAMP)
	.venv/bin/ruff check .

clean:
	rm -rf .venv *.egg-info .pytest_cache
