# Set-up, serving, tests and benchmarks.  Every target installs what it
# needs first, idempotently: apt packages when missing, a virtualenv, the
# package in editable mode.
SHELL := /bin/bash
VENV := .venv
# Debian's Python: the UNO worker runs under it (python3-uno), and building
# the virtualenv on it keeps the server off whatever python3 is first on PATH.
SYSTEM_PYTHON := /usr/bin/python3
APT_PACKAGES := libreoffice-core libreoffice-writer libreoffice-calc \
	libreoffice-impress libreoffice-draw python3-uno python3-venv \
	fonts-liberation fonts-dejavu-core ffmpeg imagemagick ghostscript \
	poppler-utils bubblewrap haproxy chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONF ?= cloudooo/sample/sample.conf

.PHONY: install system-packages run test bench soak clean

install: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	[ -x $(VENV)/bin/python ] || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

run: install
	$(VENV)/bin/cloudooo serve $(CONF)

test: install
	$(VENV)/bin/python -m pytest tests

bench: install
	$(VENV)/bin/python bench/bench.py
	$(VENV)/bin/python bench/cluster_bench.py

# Not part of test: 10,000 mixed requests, up to ~20 minutes
# (SOAK_REQUESTS=500 make soak for a short run).
soak: install
	$(VENV)/bin/python bench/soak.py

clean:
	rm -rf $(VENV) var *.egg-info
