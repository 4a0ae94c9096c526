# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
TORCH := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: venv demo test test-all bench data browser lpips clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[test,export,playground-test]'
	touch $(STAMP)

venv: $(STAMP)

# Fashion-MNIST from the Debian package when apt is there; otherwise gankit downloads it on first use.
data:
	@if [ ! -f $(FMNIST) ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || \
	  echo "note: could not install dataset-fashion-mnist with apt; gankit will download Fashion-MNIST instead"; \
	fi

# Headless Chromium for the playground's browser test (Debian packages; skipped by the test when absent).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)) || \
	  echo "note: could not install chromium with apt; the playground's browser test will be skipped"; \
	fi

# LPIPS's calibration layers (weights/v0.1/vgg.pth) for `--lpips-weights`: the lpips package without its
# dependencies (gankit reads the file and never imports lpips or torchvision). VGG16 itself is the user's file.
lpips: venv
	$(PIP) install -q --no-deps lpips==0.1.4

# Train, then measure: FID, precision and recall of 2,000 samples beside the real-vs-real floor
# (about half a minute of CPU on 2 cores, the first time; reference statistics are cached after).
demo: venv data
	$(VENV)/bin/gankit train dcgan data=fashion-mnist --out runs/demo $(DEMO_ARGS)
	@echo "quality of runs/demo (the floor: real images against other real images, the best a generator can do):"
	$(VENV)/bin/gankit eval runs/demo --metrics fid,pr -n 2000 -q

test: venv data browser
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

test-all: venv data browser
	$(PY) -m pytest -q --durations=25 -m '' $(PYTEST_ARGS)

bench: venv data
	$(PY) benchmarks/throughput.py --seconds 10

clean:
	rm -rf runs .pytest_cache
