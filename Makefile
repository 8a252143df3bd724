# Two commands matter: `make demo` and `make test`. Both create .venv from the pinned
# constraints first; nothing outside this folder is assumed to be installed.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO_SCALE_FACTOR ?= 0.05
DEMO_DATE ?= $(shell date -u -d yesterday +%F)

# Airflow runs from this folder with a local SQLite metadata DB; no example DAGs.
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# No usage telemetry from the bundled tools: the pipeline talks to the warehouse only.
export DO_NOT_TRACK := 1
export SCARF_NO_ANALYTICS := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED := False

.PHONY: install system-packages superset-install test-deps demo test test-quick airflow bi bi-screenshots lint \
	format lock warehouse-stop clean bench-ingest bench-incremental bench-scale bench-orchestration bench-dag-parse bench-alerts grid-screenshot

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Apache Superset in a venv of its own: its pins (SQLAlchemy < 2, pandas < 2.2) clash with
# Airflow's. bi/superset/constraints.txt pins its whole dependency set.
SUPERSET_VENV := .superset-venv
$(SUPERSET_VENV)/.installed: bi/superset/constraints.txt
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --disable-pip-version-check -c bi/superset/constraints.txt \
		apache-superset cachetools flask-caching gunicorn psycopg2-binary rich
	touch $@

superset-install: $(SUPERSET_VENV)/.installed

# Debian packages the tests need: redis-server (Celery's broker in the deployment tests; PyPI's
# redis-server wheel does not install here) and chromium (the browser Playwright opens the
# quality report in; Playwright downloads none). Installs as root; otherwise says what to run.
system-packages:
	@command -v redis-server > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server > /dev/null; \
	  else echo "redis-server is missing: sudo apt-get install redis-server" >&2; exit 1; fi; }
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium > /dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

# The dbt manifest the Airflow task group is drawn from (DAG parsing never runs dbt).
MANIFEST := dbt_project/target/manifest.json
$(MANIFEST): $(VENV)/.installed dbt_project/dbt_project.yml $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f)
	$(BIN)/customer-health manifest > /dev/null

demo: install $(MANIFEST)
	$(BIN)/customer-health warehouse start
	$(BIN)/customer-health generate --scale-factor $(DEMO_SCALE_FACTOR) --end-date $(DEMO_DATE)
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/airflow dags test customer_health_nightly $(DEMO_DATE) > $(AIRFLOW_HOME)/demo-run.log 2>&1 \
		|| { tail -n 60 $(AIRFLOW_HOME)/demo-run.log; exit 1; }
	@echo "Airflow run log: $(AIRFLOW_HOME)/demo-run.log"
	$(BIN)/customer-health summary

# Everything `make test` installs, side by side: the two venvs and the Debian packages wait
# on different downloads (about 2 minutes together, nearly twice that one after another).
test-deps:
	$(MAKE) --jobs=3 install superset-install system-packages

# The whole suite, deployment and BI tests included (a real scheduler, LocalExecutor and
# Celery; Superset's dashboards in Chromium). Two pytest workers, a test file each at a time:
# one night's processes (dbt, Airflow, the warehouse) keep about one core busy, and every
# worker has its own warehouse, Airflow home and published night (see tests/conftest.py).
PYTEST_WORKERS := -n 2 --dist loadfile
test: test-deps lint $(MANIFEST)
	$(BIN)/pytest $(PYTEST_WORKERS)

# Inner loop: everything but the deployment and failure-injection tests (minutes, not tens).
test-quick: install lint $(MANIFEST)
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not deployment"

# A local Airflow deployment (LocalExecutor, PostgreSQL metadata) to look at; Ctrl-C stops it.
airflow: install $(MANIFEST)
	$(BIN)/customer-health airflow up

# Superset on localhost over the published tables (read as bi_reader), with the three
# dashboards imported; prints the URL and login. Run `make demo` first. Ctrl-C stops it.
bi: install superset-install
	$(BIN)/customer-health warehouse start
	$(BIN)/customer-health bi up

# docs/dashboard-*.png: the three dashboards over the demo's night, in headless Chromium.
bi-screenshots: install superset-install system-packages
	$(BIN)/customer-health warehouse start
	$(BIN)/python -m customer_health.bi.screenshots docs

lint: install
	$(BIN)/ruff check plugins dags tests bench docs
	$(BIN)/ruff format --check plugins dags tests bench docs
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/macros

format: install
	$(BIN)/ruff check --fix plugins dags tests bench docs
	$(BIN)/ruff format plugins dags tests bench docs
	$(BIN)/sqlfluff fix dbt_project/models dbt_project/tests dbt_project/macros

# Re-resolve the dependency ranges of pyproject.toml and pin every version again.
lock:
	rm -rf /tmp/customer-health-lock && $(PYTHON) -m venv /tmp/customer-health-lock
	/tmp/customer-health-lock/bin/pip install --quiet ".[dev]"
	{ echo "# Pinned versions of every dependency (direct and transitive). Regenerate with \`make lock\`."; \
	  /tmp/customer-health-lock/bin/pip freeze --exclude customer-health; } > constraints.txt

warehouse-stop: install
	$(BIN)/customer-health warehouse stop

clean: warehouse-stop
	rm -rf .warehouse .airflow .superset data dbt_project/target dbt_project/logs expectations/uncommitted/data_docs expectations/uncommitted/validations

# docs/grid.png: the grid of a night run by the local deployment, photographed by Debian's
# chromium through Playwright (no browser download).
grid-screenshot: install $(MANIFEST)
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium > /dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }
	$(BIN)/customer-health warehouse start
	$(BIN)/python docs/grid_screenshot.py

# Benchmarks: not part of `make test`; each prints its side-by-side table.
bench-ingest: install
	$(BIN)/customer-health warehouse start
	$(BIN)/python bench/ingest.py --rows 5000000

bench-incremental: install
	$(BIN)/customer-health warehouse start
	$(BIN)/python bench/incremental.py --scale-factor 0.1

bench-scale: install
	$(BIN)/customer-health warehouse start
	$(BIN)/python bench/scale.py --scale-factors 0.1 1 3 --history-scale-factor 1

bench-alerts: install
	$(BIN)/customer-health warehouse start
	$(BIN)/python bench/alert_noise.py --scale-factor 0.5

bench-dag-parse: install $(MANIFEST)
	$(BIN)/python bench/dag_parse.py --rounds 5

bench-orchestration: install system-packages $(MANIFEST)
	$(BIN)/customer-health warehouse start
	$(BIN)/python bench/orchestration.py --scale-factor 0.05
