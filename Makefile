# em2exm: `make demo` runs the whole pipeline on bundled real data; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_WORKERS ?= 2
PYTEST_WORKERS := -n $(TEST_WORKERS) --dist loadfile

.PHONY: setup demo benchmark test test-fast lint bench generate chart images clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,view]'
	touch $(STAMP)

demo: setup
	$(PY) -m em2exm run configs/demo.yaml
	$(PY) -m em2exm run configs/demo-nuclei.yaml
	@echo "results: $(CURDIR)/runs/demo (EM->plantseg membranes), $(CURDIR)/runs/demo-nuclei (EM->GoNuclear nuclei)"

benchmark: setup
	$(PY) -m em2exm run configs/benchmark-sim.yaml
	$(PY) -m em2exm run configs/benchmark-ovule.yaml
	@echo "results: $(CURDIR)/runs/benchmark-sim/report (gala EM -> simulated ExM from FlyEM medulla labels)"
	@echo "         $(CURDIR)/runs/benchmark-ovule/report (gala EM -> PlantSeg ovule confocal membranes)"

test: setup
	$(PY) -m pytest -q $(PYTEST_WORKERS) --durations=25

test-fast: setup
	$(PY) -m pytest -q $(PYTEST_WORKERS) -m "not slow"

lint: setup
	$(VENV)/bin/ruff check shared stages workflows tests bench
	$(VENV)/bin/mypy
	$(PY) -m workflows.derived --check

bench: setup
	for b in io decode targets seg_infer ccgan_step; do $(PY) bench/$$b.py || exit 1; done

generate: setup
	$(PY) -m workflows.derived

chart: generate

images:
	bash images/build.sh $(IMAGES_ARGS)

clean:
	rm -rf runs build *.egg-info
