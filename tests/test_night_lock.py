"""One night at a time, whoever starts it: a CLI night and a DAG night started together.

Real processes on a database of this module's own: the CLI night takes the night lock, the
DAG night (real `airflow dags test`) starts while it runs, waits, logs whom it waits for,
then runs. Both publish, and the tables equal those of one clean night.
"""

from __future__ import annotations

import subprocess
import time
from datetime import date

import psycopg
import pytest

from customer_health.synthetic.generator import GeneratorConfig, generate
from tests.helpers import BIN, cli, fresh_database, table_checksums

pytestmark = pytest.mark.deployment

NIGHT = date(2026, 10, 31)
DATA = GeneratorConfig(scale_factor=0.01, days=60, end_date=NIGHT, seed=17)


def lock_holder(db_url: str) -> str | None:
    """The run holding the night, once the CLI has created the database and taken it."""
    try:
        with psycopg.connect(db_url) as conn:
            if conn.execute("select to_regclass('ops.night_lock')").fetchone()[0] is None:
                return None
            row = conn.execute("select run_id from ops.night_lock").fetchone()
    except psycopg.OperationalError:  # the database does not exist yet
        return None
    return row[0] if row else None


def test_a_cli_night_and_a_dag_night_run_one_after_the_other(
    url, airflow_env, tmp_path_factory, tmp_path
):
    landing = tmp_path_factory.mktemp("lock-landing")
    generate(landing, DATA)
    base = {
        **airflow_env,
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path_factory.mktemp("lock-reports")),
    }
    shared_url = fresh_database(url, "lock_shared")
    shared = {**base, "WAREHOUSE_DATABASE": "lock_shared", "DBT_EXECUTION_MODE": "single"}
    clean_url = fresh_database(url, "lock_clean")

    logs = {name: (tmp_path / f"{name}.out").open("w") for name in ("cli", "dag")}
    night = NIGHT.isoformat()
    cli_night = subprocess.Popen(
        [str(BIN / "customer-health"), "run", "--date", night],
        env=shared,
        stdout=logs["cli"],
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while (holder := lock_holder(shared_url)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder and holder.startswith(f"manual__{night}__"), holder
    dag_night = subprocess.Popen(
        [str(BIN / "airflow"), "dags", "test", "customer_health_nightly", night],
        env=shared,
        stdout=logs["dag"],
        stderr=subprocess.STDOUT,
    )
    assert cli_night.wait(timeout=600) == 0, (tmp_path / "cli.out").read_text()[-3000:]
    assert dag_night.wait(timeout=600) == 0, (tmp_path / "dag.out").read_text()[-3000:]
    for log in logs.values():
        log.close()
    dag_log = (tmp_path / "dag.out").read_text()
    assert "waiting for the night lock" in dag_log and f"held_by={holder}" in dag_log

    clean = cli({**base, "WAREHOUSE_DATABASE": "lock_clean"}, "run", "--date", night)
    assert clean.returncode == 0, clean.stderr[-3000:]
    with psycopg.connect(shared_url) as shared_db, psycopg.connect(clean_url) as clean_db:
        published = shared_db.execute(
            "select run_id from ops.publish_log where action = 'publish' order by publish_id"
        ).fetchall()
        assert [run_id for (run_id,) in published][0] == holder and len(published) == 2
        assert shared_db.execute("select count(*) from ops.night_lock").fetchone() == (0,)
        assert table_checksums(shared_db) == table_checksums(clean_db)
        assert table_checksums(shared_db, "core") == table_checksums(clean_db, "core")
