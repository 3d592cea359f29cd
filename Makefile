# Two commands do all the set-up on a fresh clone (see README):
#   make demo   installs kmimg into .venv and quantizes a sample image into out/
#   make test   installs the test tools into .venv and runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	mkdir -p out
	$(BIN)/kmimg quantize sample_images/flower.jpg -k 16 -o out/flower-k16.png --json out/flower-k16.json
	@echo "wrote out/flower-k16.png and out/flower-k16.json"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test: lint typecheck pytest

# kmimg against pngquant, ImageMagick, Pillow and the scikit-learn recipe; measures issue 11's targets
# on hold-out photos and writes benchmarks/RESULTS.md. BENCH_ARGS=--quick for a shorter run,
# BENCH_ARGS='--only onefile,folder' for some sections (list: python benchmarks/run.py --help).
bench: $(VENV)/.installed
	@command -v pngquant >/dev/null && command -v convert >/dev/null || \
		{ echo "make bench needs pngquant and ImageMagick: apt-get install -y pngquant imagemagick"; exit 1; }
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
