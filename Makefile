# Two commands for a fresh machine:
#   make run    install everything (first time) and start the app
#   make test   install everything (first time), lint, and run the whole test suite
# While working: make test-fast (everything but the tests marked slow), make lint.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: run test test-fast lint install clean-venv bench bundle bundle-test

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP)

run: install
	$(PY) launcher.py $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop: no subprocess launches, real browsers, fault injection or full-size models.
test-fast: lint
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: install
	$(PY) -m app.inference.benchmark $(ARGS)

clean-venv:
	rm -rf $(VENV)

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)
# CPU_ONLY=1: the CPU-only edition (no torch, no CUDA libraries; packs run on ONNX Runtime).
EDITION := $(if $(filter 1,$(CPU_ONLY)),-cpu,)
DIST    := build/dist$(EDITION)
TARBALL := $(DIST)/CXRWorkstation-$(VERSION)$(EDITION)-linux-$(shell uname -m).tar.gz

# One-folder PyInstaller bundle in build/dist/CXRWorkstation (see installer.spec), and on Linux
# the tarball with install.sh and a .desktop launcher (build/linux/). CPU_ONLY=1 builds into
# build/dist-cpu instead.
bundle: install
	$(PY) -m pip install --quiet pyinstaller==6.22.3
	CXR_CPU_ONLY=$(if $(EDITION),1,0) $(PY) -m PyInstaller --noconfirm --clean --workpath build/work$(EDITION) --distpath $(DIST) installer.spec
	build/linux/make_tarball.sh $(VERSION) $(DIST) $(EDITION)

# Build, then install from the tarball into a throw-away home folder and run the installed app:
# one real radiograph headless, then the real window under Xvfb (build/smoke_test.py).
bundle-test: bundle
	$(PY) build/smoke_test.py --tarball $(TARBALL) $(if $(EDITION),--cpu-only,)
