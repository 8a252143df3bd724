"""Late data survives a failed night: the rerun rebuilds history back to the late file.

Real CLI nights in databases of this module's own. A late NPS file for an earlier day
arrives with tonight's files; tonight fails after ingest, in the incremental health model
(as a night killed during dbt leaves it), so the file is in the ledger but not in the
history; the rerun skips it as unchanged and must still rebuild the history from its day —
equal to a clean build over the same files. (A mart failing later would not show it: the
history models run before the marts and would already have taken the file in.) Tonight is
November 2nd and the late day in October, so the rebuilt window crosses a month boundary:
the history's October and November month tables are both written anew, and only they.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta

import psycopg

from customer_health.synthetic.generator import GeneratorConfig, generate
from tests.helpers import (
    break_model,
    cli,
    copy_project,
    fresh_database,
    history_chunks,
    table_checksums,
    unmatched_history_chunks,
)

LAST = date(2026, 11, 2)
LATE_DAY = LAST - timedelta(days=10)
DATA = GeneratorConfig(scale_factor=0.01, days=60, end_date=LAST, seed=13)
LATE_FILE = f"nps/{LATE_DAY}/responses-late.csv"


def write_late_responses(landing, customer: str) -> None:
    """Three detractors of one customer, answered on LATE_DAY, delivered ten days late."""
    rows = [
        f"LATE-{n},{customer},LATE-U{n},admin,0,late export,{LATE_DAY}T10:0{n}:00Z"
        for n in range(3)
    ]
    path = landing / LATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "response_id,customer_id,user_id,role,score,comment,responded_at\n" + "\n".join(rows) + "\n"
    )


def test_a_late_file_loaded_by_a_failed_night_reaches_the_history_on_the_rerun(
    url, tmp_path_factory
):
    landing = tmp_path_factory.mktemp("late-landing")
    generate(landing, DATA)
    base = {
        **os.environ,
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path_factory.mktemp("late-reports")),
    }
    rerun_url = fresh_database(url, "late_rerun")
    rerun_env = {**base, "WAREHOUSE_DATABASE": "late_rerun"}
    clean_url = fresh_database(url, "late_clean")
    clean_env = {**base, "WAREHOUSE_DATABASE": "late_clean"}

    # Yesterday published; tonight's files are not there yet.
    tonight = sorted(landing.glob(f"*/{LAST}"))
    held_back = tmp_path_factory.mktemp("held-back")
    for folder in tonight:
        shutil.move(folder, held_back / folder.parent.name)
    result = cli(rerun_env, "run", "--date", (LAST - timedelta(days=1)).isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    for folder in held_back.iterdir():
        shutil.move(folder, landing / folder.name / str(LAST))

    # Tonight's files and a late one arrive; the night fails after loading them.
    with psycopg.connect(rerun_url) as conn:
        customer = conn.execute("select min(customer_id) from analytics.dim_customers").fetchone()[
            0
        ]
        yesterdays_chunks = history_chunks(conn)
    write_late_responses(landing, customer)
    broken = copy_project(tmp_path_factory.mktemp("late-broken-project"))
    break_model(broken, "int_customer_health_daily")
    failed = cli({**rerun_env, "CUSTOMER_HEALTH_HOME": str(broken)}, "run", "--date", str(LAST))
    assert failed.returncode == 1 and "division by zero" in failed.stderr
    with psycopg.connect(rerun_url) as conn:
        assert conn.execute(
            "select count(*) from ops.load_ledger where file_path = %s and status = 'loaded'",
            [LATE_FILE],
        ).fetchone() == (1,)

    # The rerun loads nothing new, yet the history counts the late answers.
    rerun = cli(rerun_env, "run", "--date", str(LAST))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    clean = cli(clean_env, "run", "--date", str(LAST))
    assert clean.returncode == 0, clean.stderr[-3000:]
    with psycopg.connect(rerun_url) as rerun_db, psycopg.connect(clean_url) as clean_db:
        assert rerun_db.execute(
            "select count(*) from ops.load_ledger where run_id = ("
            " select run_id from ops.run_log order by run_log_id desc limit 1)"
        ).fetchone() == (0,)
        # Five days after the late answers, the customer's 180-day respondents count them.
        respondents = (
            "select nps_respondents_180d from core.int_customer_health_daily"
            " where customer_id = %s and health_date = %s"
        )
        day = [customer, LATE_DAY + timedelta(days=5)]
        counted = rerun_db.execute(respondents, day).fetchone()[0]
        assert counted == clean_db.execute(respondents, day).fetchone()[0]
        # Counted independently: distinct users answering in the 180 days, late ones included.
        assert (
            counted
            == rerun_db.execute(
                "select count(distinct user_id) from raw.responses where customer_id = %s"
                " and responded_at::date between %s::date - 179 and %s",
                [customer, day[1], day[1]],
            ).fetchone()[0]
        )
        assert rerun_db.execute(
            "select count(*) from raw.responses where user_id like 'LATE-U%%'"
        ).fetchone() == (3,)
        # The rebuilt window, October 23rd to November 2nd, wrote both months' tables anew
        # and kept every earlier month's; what they hold is exactly the rescored history.
        tonights_chunks = history_chunks(rerun_db)
        rewritten = {m for name, m in tonights_chunks.items() if name not in yesterdays_chunks}
        assert rewritten == {date(2026, 10, 1), date(2026, 11, 1)}
        assert sorted(tonights_chunks.values()) == sorted(yesterdays_chunks.values())
        assert unmatched_history_chunks(rerun_db) == {}
        # The rerun database also published yesterday: compare tonight's opportunities.
        assert table_checksums(rerun_db, "core", LAST) == table_checksums(clean_db, "core", LAST)
        assert table_checksums(rerun_db, night=LAST) == table_checksums(clean_db, night=LAST)
