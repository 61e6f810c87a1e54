# Two entry points (see README): `make demo` and `make test`.
# Both create .venv on first use and install mwin + moldsim into it (editable).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint venv clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Four workers on two cores: most tests wait on moldsim and subprocesses, not the CPU. A
# module stays on one worker (loadfile), so its module fixtures are made once.
test: lint
	$(PY) -m pytest -q -n 4 --dist loadfile

# Every performance target (benchmarks/README.md); minutes, and Ansible installed once.
bench: $(VENV)/.installed
	$(PY) benchmarks/bench.py

clean:
	rm -rf $(VENV) .pytest_cache
