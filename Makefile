# DMS-lite — `make run` starts everything on a fresh machine; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export DJANGO_SETTINGS_MODULE ?= dms.settings.local

.PHONY: run test venv venv-test assets messages migrate demo lint format bench system-deps clean openapi smoke

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt ".[test]"
	@touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

static/vendor/.built: package.json package-lock.json scripts/copy-assets.mjs
	@command -v npm >/dev/null || { echo "Node.js and npm are needed to build the front-end assets"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build
	@touch $@

assets: static/vendor/.built

messages: venv
	@command -v msgfmt >/dev/null || { echo "gettext (msgfmt) is needed: apt-get install gettext"; exit 1; }
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0

migrate: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput -v 0

demo: migrate
	$(PY) manage.py load_demo

run: venv assets messages demo
	$(PY) manage.py run_all

# Debian packages the tests need: a real browser, CJK fonts for screenshots, gettext; for the
# production tests caddy (the TLS proxy), openssl, redis-server and PostgreSQL's server and
# client programs (a test cluster, a streaming standby, pg_dump/pg_restore).
system-deps:
	@need=""; \
	[ -x /usr/bin/chromium ] || need="$$need chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$$need fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || need="$$need libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"; \
	command -v msgfmt >/dev/null || need="$$need gettext"; \
	command -v caddy >/dev/null || need="$$need caddy"; \
	command -v openssl >/dev/null || need="$$need openssl"; \
	command -v redis-server >/dev/null || need="$$need redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v pg_dump >/dev/null || need="$$need postgresql-client"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:$$need"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	  else echo "Missing Debian packages:$$need (run as root or install them)"; fi; \
	fi

# The API schema kept in the repo (docs/openapi.yaml): regenerate it after changing an endpoint;
# tests/api/test_schema.py fails while the served schema differs from it.
openapi: venv
	DJANGO_SETTINGS_MODULE=dms.settings.test $(PY) manage.py spectacular --lang en --fail-on-warn --validate --file docs/openapi.yaml

lint: venv-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: venv-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: system-deps venv-test assets messages lint
	DJANGO_SETTINGS_MODULE=dms.settings.test $(VENV)/bin/pytest $(PYTEST_ARGS); \
	  code=$$?; if [ $$code -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$code

# The production tests alone: collectstatic under the production settings, the stack behind TLS
# (the smoke test), the read replica, object storage, the restore drill, the SQLite default.
smoke: system-deps venv-test assets messages
	DJANGO_SETTINGS_MODULE=dms.settings.test $(VENV)/bin/pytest tests/production $(PYTEST_ARGS)

bench: venv-test assets
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles var
