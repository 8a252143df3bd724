"""A failed night fails loudly in every dbt execution mode, and leaves `analytics` whole.

Real `airflow dags test` runs of the nightly DAG against a warehouse of this module's own
(an embedded server it may stop), a project copy with one mart that errors at run time,
and a real webhook: the run must end failed, with exactly one alert naming the night, the
step and its log, one `ops.run_log` row for the failing step, the night lock given back and
the published tables unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from customer_health.deployment.local import free_port
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.cosmos_group import EXECUTION_MODES
from customer_health.warehouse import embedded
from tests.helpers import (
    BIN,
    break_model,
    capture_webhooks,
    cli,
    copy_project,
    table_checksums,
)

pytestmark = pytest.mark.deployment

FIRST, SECOND = date(2026, 10, 30), date(2026, 10, 31)
DATA = GeneratorConfig(scale_factor=0.01, days=60, end_date=SECOND, seed=11)
# Upstream of twenty marts: the night stops early, as a broken core model would stop it.
BROKEN_MODEL = "fct_customer_health_daily"
# Where each mode reports the failure first: the task that ran the failing dbt command. In
# cosmos_local a model with no test of its own (this one's rules are table constraints; its
# relationships test runs apart) is one task, not a group of run and test.
FAILING_STEP = {
    "single": "build",
    "cosmos_local": f"dbt.{BROKEN_MODEL}_run",
    "cosmos_watcher": "dbt.dbt_producer_watcher",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> embedded.EmbeddedServer:
    """A warehouse server for this module alone: one test stops it mid-build."""
    own = embedded.EmbeddedServer(root=tmp_path_factory.mktemp("failures-pg"), port=free_port())
    yield own
    embedded.stop(own)


@pytest.fixture(scope="module")
def env(airflow_env, server, tmp_path_factory) -> dict:
    landing = tmp_path_factory.mktemp("failures-landing")
    generate(landing, DATA)
    env = {
        **airflow_env,
        "EMBEDDED_WAREHOUSE_DIR": str(server.root),
        "EMBEDDED_WAREHOUSE_PORT": str(server.port),
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path_factory.mktemp("failures-reports")),
    }
    first = cli(env, "run", "--date", FIRST.isoformat())
    assert first.returncode == 0, first.stderr[-3000:]
    return env


@pytest.fixture
def db(env, server) -> psycopg.Connection:
    with psycopg.connect(server.url("customer_health"), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def broken_home(tmp_path_factory) -> Path:
    """A copy of the project whose one mart divides by zero when it runs."""
    home = copy_project(tmp_path_factory.mktemp("broken-project"))
    break_model(home, BROKEN_MODEL)
    return home


def night_state(db: psycopg.Connection) -> tuple:
    """What a failed night must not change: the published tables, the lock, past run rows."""
    return (
        table_checksums(db),
        db.execute("select count(*) from ops.night_lock").fetchone()[0],
        db.execute("select count(*) from ops.run_log").fetchone()[0],
    )


def assert_failed_loudly(db, before: tuple, result, received: list[bytes], step: str) -> dict:
    """``step`` is the task expected to report the failure."""
    assert result.returncode == 1, result.stdout[-3000:]
    assert "DagRun failed" in result.stderr
    alerts = [json.loads(body) for body in received]
    assert [(a["kind"], a["details"]["night"]) for a in alerts] == [
        ("night_failed", SECOND.isoformat())
    ]
    assert alerts[0]["details"]["step"] == step, alerts[0]
    assert alerts[0]["details"]["log_url"].endswith(f"/tasks/{step}?try_number=1")
    checksums, locks, runs = before
    assert night_state(db) == (checksums, locks, runs + 1)
    assert db.execute(
        "select status, failed_step, logical_date from ops.run_log order by run_log_id desc limit 1"
    ).fetchone() == ("failed", step, SECOND)
    return alerts[0]


@pytest.mark.parametrize("mode", EXECUTION_MODES)
def test_a_failing_model_fails_the_night_with_one_alert(mode, env, db, broken_home):
    before = night_state(db)
    with capture_webhooks() as (hook, received):
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", "customer_health_nightly", SECOND.isoformat()],
            env={
                **env,
                "CUSTOMER_HEALTH_HOME": str(broken_home),
                "DBT_EXECUTION_MODE": mode,
                "ALERT_WEBHOOK_URL": hook,
            },
            capture_output=True,
            text=True,
            timeout=900,
        )
    alert = assert_failed_loudly(db, before, result, received, FAILING_STEP[mode])
    assert "division by zero" in alert["details"]["error"]
    # The one-process build's failed tables took the run's name; none stay in the working schema.
    assert not db.execute(
        "select 1 from pg_namespace where nspname = 'analytics_build_working'"
    ).fetchone()


BUILD_TABLES = (
    "select distinct table_schema from information_schema.tables"
    " where table_schema like 'analytics\\_build\\_%'"
)


def build_tables_appear(db_url: str, run: subprocess.Popen, timeout: float = 300) -> bool:
    """Whether dbt starts writing this run's schema (not one a failed run left) in time."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        left_before = set(conn.execute(BUILD_TABLES).fetchall())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            if set(conn.execute(BUILD_TABLES).fetchall()) - left_before:
                return True
        time.sleep(0.05)
    return False


# cosmos_local is left out: there the crash fails whichever model task is running, the same
# path (a task fails, one alert, nothing published) the failing-model test takes in that
# mode, and its night of seventy dbt tasks cost two minutes of make test.
@pytest.mark.parametrize("mode", ("single", "cosmos_watcher"))
def test_the_warehouse_stopping_mid_build_fails_the_night_with_one_alert(
    mode, env, server, tmp_path
):
    with psycopg.connect(server.url("customer_health"), autocommit=True) as db:
        before = night_state(db)
    # Output to files, not pipes: nobody reads a pipe while the test watches the warehouse.
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with capture_webhooks() as (hook, received), out.open("w") as stdout, err.open("w") as stderr:
        run = subprocess.Popen(
            [str(BIN / "airflow"), "dags", "test", "customer_health_nightly", SECOND.isoformat()],
            env={**env, "DBT_EXECUTION_MODE": mode, "ALERT_WEBHOOK_URL": hook},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            started = build_tables_appear(server.url("customer_health"), run)
            if started:
                # Gone under dbt; the next connection to it starts it again.
                embedded.stop(server, crash=True)
            run.wait(timeout=900)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
    result = subprocess.CompletedProcess(run.args, run.returncode, out.read_text(), err.read_text())
    assert started, (result.stdout[-3000:], result.stderr[-3000:])
    with psycopg.connect(server.url("customer_health"), autocommit=True) as db:
        assert_failed_loudly(db, before, result, received, FAILING_STEP[mode])
