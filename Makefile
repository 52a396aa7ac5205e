# Everyday commands. `make run` and `make test` need only Python 3.11+ on the machine:
# the first call builds .venv from requirements.lock, later calls reuse it until the lock
# changes.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Touched after a successful install; make compares its time with requirements.lock's.
STAMP := $(VENV)/.requirements.lock.stamp
PYTEST_ARGS ?=

# Checks that the interpreter named in $(1) is 3.11+ (tomllib, the stack's floor).
check_python = $(1) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	echo "error: Python 3.11 or newer is required; $(1) is: $$($(1) --version 2>/dev/null || echo "not found")." >&2; \
	echo "       Run e.g. 'make PYTHON=python3.12 $(MAKECMDGOALS)'$(2)." >&2; \
	exit 1; }

.PHONY: venv run test lint lock

venv: $(STAMP)

$(STAMP): requirements.lock
	@if [ ! -x $(VENV_PYTHON) ]; then \
		$(call check_python,$(PYTHON),) && \
		echo "Creating $(VENV) with $$($(PYTHON) --version)" && \
		{ $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; }; \
	fi
	@# An existing .venv may have been made by an older interpreter.
	@$(call check_python,$(VENV_PYTHON), after 'rm -rf $(VENV)')
	$(VENV_PYTHON) -m pip install -r requirements.lock
	@touch $@

# `export DEBUG ?= 1`: a laptop run needs no SECRET_KEY; an explicit DEBUG=0 is kept.
run: export DEBUG ?= 1
run: venv
	$(VENV_PYTHON) manage.py migrate --noinput
	$(VENV_PYTHON) manage.py seed_demo
	$(VENV_PYTHON) manage.py runconsole

test: venv
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Rewrites requirements.lock from pyproject.toml's dependencies plus its `test` extra,
# resolved afresh in a scratch venv. The header comment and the lines with an environment
# marker (` ; `, pins for other interpreters, which pip freeze can't know) are kept.
lock:
	@$(call check_python,$(PYTHON),)
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))' > .lock-venv/direct.txt
	.lock-venv/bin/python -m pip install --quiet -r .lock-venv/direct.txt
	grep -E '^[^#].* ; ' requirements.lock > .lock-venv/marked.txt || true
	sed 's/==.*/==/' .lock-venv/marked.txt > .lock-venv/marked-names.txt
	{ grep '^#' requirements.lock; echo; \
	  .lock-venv/bin/python -m pip freeze | { grep -v -i -F -f .lock-venv/marked-names.txt || true; }; \
	  cat .lock-venv/marked.txt; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf .lock-venv
