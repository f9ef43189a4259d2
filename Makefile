# Two commands: `make demo` and `make test`. Each does all setup on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch is installed first and pinned; the project's range accepts it, so pip adds nothing.
TORCH := torch==2.13.0

.PHONY: setup demo test test-all lint bench gpu-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/pds demo demo_output

test: setup
	$(PY) -m pytest -q -n 2 --dist loadscope

# Slow end-to-end checks too; they need the BIDS validators (legacy npm one for the simulated input; the
# schema-based one, bids-validator-deno from PyPI, for prepared/ and synthesized/) and Chromium (Debian).
TOOLS := .tools
BIDS_DENO := bids-validator-deno==3.0.2
test-all: setup
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) bids-validator@1.15.0
	test -x $(TOOLS)/deno/bin/bids-validator-deno || ($(PYTHON) -m venv $(TOOLS)/deno && $(TOOLS)/deno/bin/pip install --quiet $(BIDS_DENO))
	command -v chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) || echo "chromium not installed: the HTML screenshot test will be skipped"
	BIDS_VALIDATOR=$(TOOLS)/node_modules/.bin/bids-validator BIDS_VALIDATOR_DENO=$(TOOLS)/deno/bin/bids-validator-deno \
		$(PY) -m pytest -q -n 2 -m ''

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# Speed and memory benchmarks, run by hand: each writes JSON + a Markdown table into benchmarks/results/.
bench: setup
	$(PY) benchmarks/prepare_speed.py --out benchmarks/results
	$(PY) benchmarks/speed.py --out benchmarks/results --grid cpu paper

# On a GPU machine (<= 8 min on one GPU): training steps/s + peak memory, synthesis s/subject, torchrun smoke.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py --out benchmarks/results/gpu_check

clean:
	rm -rf $(VENV) demo_output .pytest_cache
