# Developer entry points. `make test` and `make demo` do all set-up on a fresh machine
# that has only Python 3 and pip (plus Node 20 and apt for the dashboard checks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo bench screenshots lint package appinspect pytest dashboards clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vermin --no-tips --violations -t=3.9- --eval-annotations bin lib/audit_trail
	$(VENV)/bin/mypy lib/audit_trail

package: $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH ./package.sh

pytest: $(STAMP) package
	$(VPY) -m pytest -q tests

dashboards:
	tools/dashboards/check.sh

test: lint pytest dashboards

demo: $(STAMP) package
	$(VPY) tests/demo.py

bench: $(STAMP) package
	$(VPY) bench/run.py

screenshots:
	tools/dashboards/screenshots.sh

clean:
	rm -rf build dist
