# Two commands for a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: install demo test bench samples clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>/dev/null || true
	$(PY) -m pip install -q -e '.[neural,dask,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

bench: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash benchmarks/run_all.sh

samples: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) scripts/make_samples.py

clean:
	rm -rf demo-out .pytest_cache build *.egg-info
