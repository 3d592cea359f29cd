# Two commands do all the set-up on a fresh clone (see README):
#   make demo   installs kmimg into .venv and quantizes a sample image into out/
#   make test   installs the test tools into .venv and runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest clean bench bench-dither wheel-check sanitize

# The C extensions' files (kmimg/_engine*.c, _dither.c, _png.c and their internal headers): a
# change to any of them rebuilds the installed extensions.
C_FILES := $(wildcard kmimg/*.c kmimg/*.h)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py MANIFEST.in $(C_FILES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py MANIFEST.in $(C_FILES) | $(BIN)/python
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

# The wheel as a user's pip builds it from the sdist (pure Python or with compiled extensions,
# whatever `pip wheel` makes), so that a file the sdist leaves out (a C header) fails here;
# installed with its dependencies into a fresh virtual environment, and `kmimg --version` run
# from it outside the source tree, so that nothing is imported from here.
# build/ is setuptools' scratch folder: files left there by an earlier build would go into the wheel.
$(VENV)/.installed-build: | $(BIN)/python
	$(BIN)/python -m pip install --quiet build
	touch $@

wheel-check: $(VENV)/.installed $(VENV)/.installed-build
	@set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp" build' EXIT; \
	rm -rf build; \
	$(BIN)/python -m build --quiet --sdist --outdir "$$tmp/sdist" . >/dev/null; \
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir "$$tmp/dist" "$$tmp"/sdist/kmimg-*.tar.gz; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet "$$tmp"/dist/kmimg-*.whl; \
	expected="kmimg $$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("kmimg"))')"; \
	got=$$(cd "$$tmp" && "$$tmp/venv/bin/kmimg" --version); \
	echo "wheel-check: $$(basename "$$tmp"/sdist/kmimg-*.tar.gz) -> $$(basename "$$tmp"/dist/kmimg-*.whl): $$got"; \
	test "$$got" = "$$expected" || { echo "wheel-check: expected '$$expected'"; exit 1; }


# The C extensions built with AddressSanitizer and UndefinedBehaviorSanitizer (-O1, every UBSan
# finding fatal, FMA contraction off as in setup.py) beside a copy of the Python package in
# build/sanitize/, and the tests that exercise the C code run against that copy (CI: .ci/run).
# The interpreter is not instrumented: libasan is preloaded into it, and leak detection is off
# (the interpreter's own allocations at exit are not kmimg's). A couple of minutes.
SANITIZE_CC ?= gcc
SANITIZE_DIR := build/sanitize
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	-ffp-contract=off -fno-fast-math -fPIC -shared
SANITIZE_TESTS := tests/test_engine_kernel.py tests/test_dither.py tests/test_io_png_writer.py \
	tests/test_io_plain_png.py tests/test_io_pngsuite.py tests/test_io_fuzz.py tests/test_io_corpus.py \
	tests/test_cluster.py tests/test_palette_fit.py tests/test_engine_perf_invariants.py \
	tests/test_fit_quality.py tests/test_quantize.py tests/test_quantize_properties.py \
	tests/test_segment.py tests/test_segment_properties.py
SANITIZE_ENV = PYTHONPATH=$(CURDIR)/$(SANITIZE_DIR) LD_PRELOAD=$$($(SANITIZE_CC) -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

# Python and pytest run from inside build/sanitize/, so that the copy there comes first on sys.path
# (from the repository root, its own kmimg/ would); the first command checks that it does.
sanitize: $(VENV)/.installed-test
	rm -rf $(SANITIZE_DIR)
	mkdir -p $(SANITIZE_DIR)
	cp -R kmimg $(SANITIZE_DIR)/
	find $(SANITIZE_DIR) \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
	@set -eu; \
	include=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
	suffix=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'); \
	build() { echo "sanitize: kmimg.$$1"; name=$$1; shift; \
		$(SANITIZE_CC) $(SANITIZE_FLAGS) -I"$$include" "$$@" -o $(SANITIZE_DIR)/kmimg/$$name$$suffix -lpthread; }; \
	build _engine $(wildcard kmimg/_engine*.c); \
	build _dither kmimg/_dither.c; \
	build _png kmimg/_png.c
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) $(CURDIR)/$(BIN)/python -c 'import sys, kmimg._engine as e, kmimg._dither as d, \
		kmimg._png as p; sys.exit(any("$(SANITIZE_DIR)/" not in m.__file__ for m in (e, d, p)))'
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) $(CURDIR)/$(BIN)/python -m pytest -q -p no:cacheprovider \
		--rootdir=$(CURDIR) -c $(CURDIR)/pyproject.toml $(addprefix $(CURDIR)/,$(SANITIZE_TESTS))

# kmimg as users install it (not editable: no import hook at start-up), for make bench.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml setup.py MANIFEST.in $(C_FILES) $(wildcard kmimg/*.py kmimg/*/*.py)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	rm -rf build
	$(BENCH_VENV)/bin/python -m pip install --quiet '.[bench]'
	rm -rf build
	touch $@

# kmimg against pngquant, ImageMagick, Pillow and the scikit-learn recipe; measures issue 11's targets
# on hold-out photos and writes benchmarks/RESULTS.md. BENCH_ARGS=--quick for a shorter run,
# BENCH_ARGS='--only onefile,folder' for some sections (list: python benchmarks/run.py --help).
bench: $(BENCH_VENV)/.installed
	@command -v pngquant >/dev/null && command -v convert >/dev/null || \
		{ echo "make bench needs pngquant and ImageMagick: apt-get install -y pngquant imagemagick"; exit 1; }
	$(BENCH_VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# kmimg --dither against pngquant's dithering and ImageMagick (SSIMULACRA2, FLIP, bytes, time per
# megapixel) on the hold-out photos; writes benchmarks/DITHER.md (issue 15). BENCH_ARGS=--quick: k = 16.
bench-dither: $(BENCH_VENV)/.installed
	@command -v pngquant >/dev/null && command -v convert >/dev/null || \
		{ echo "make bench-dither needs pngquant and ImageMagick: apt-get install -y pngquant imagemagick"; exit 1; }
	$(BENCH_VENV)/bin/python benchmarks/dither.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis $(SANITIZE_DIR)
