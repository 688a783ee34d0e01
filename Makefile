# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# What ruff checks and formats.
SRC    := headroom_core headroom_integrations headroom_cli headroom_proxy headroom_mcp tests benchmarks examples scripts
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test bench lint docs train-router clean

# A stamp per install flavour, so `make test` after `make demo` installs only what is missing.
$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

$(VENV)/.installed-base: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e ".[cli]"
	touch $@

$(VENV)/.installed-all: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e ".[all,dev]"
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(PY) examples/demo.py

test: $(VENV)/.installed-all
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy
	$(PY) -m mkdocs build --strict --quiet --site-dir $(VENV)/site
	$(PY) -m pytest

bench: $(VENV)/.installed-all
	$(PY) -m benchmarks.run --write benchmarks/RESULTS.md

lint: $(VENV)/.installed-all
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)

docs: $(VENV)/.installed-all
	$(PY) -m mkdocs build --strict --site-dir $(VENV)/site

train-router: $(VENV)/.installed-all
	$(PY) scripts/train_image_router.py

clean:
	rm -rf $(VENV) build *.egg-info site
