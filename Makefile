# fashion-lab: `make demo` trains the seed's network on the real data; `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test dataset bench bytecode clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "No python3.11 or python3 on PATH: install Python 3.11 (Debian: apt-get install python3)." >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV) with $(PYTHON): on Debian/Ubuntu install the venv module (apt-get install python3-venv) and run make again." >&2; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The package is installed editable, so pip compiled none of it; where PYTHONDONTWRITEBYTECODE is set (as in
# some CI images) Python would then compile every module from source in every command (0.2-0.3 s). Compiling
# here, when a file changed, is what a regular install does; a module edited later is recompiled in memory as usual.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q src/fashion_lab >/dev/null

dataset: $(STAMP)
	@scripts/ensure-dataset.sh $(BIN)/fashion-lab

demo: $(STAMP) bytecode dataset
	$(BIN)/fashion-lab train

test: $(STAMP) bytecode dataset
	$(BIN)/python -m pytest

# The benchmark (benchmarks/bench.py) also needs optax for its pure-JAX floor. BENCH_ARGS passes options,
# e.g. make bench BENCH_ARGS="--quick" or BENCH_ARGS="--peer-python /path/to/venv-with-torch/bin/python".
$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench bytecode dataset
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
