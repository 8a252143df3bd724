"""Every entry of the landing area is accounted for, every night: loaded, skipped as
unchanged, or rejected with a reason in the ledger; nothing stops the other files.

The first test runs the ingest step alone (real PostgreSQL, its own database); the second
runs whole nights from the CLI, as an operator would, to show that a night which first
meets a bad entry fails without touching ``analytics`` and that its rerun publishes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from customer_health.errors import IngestError
from customer_health.ingest.contracts import LOAD_ORDER
from customer_health.ingest.file_partitions import check_part, copy_part, plan_parts
from customer_health.ingest.landing import discover
from customer_health.ingest.loader import record_rejected_entries
from customer_health.ingest.segments import WHOLE_FILE
from customer_health.pipeline import ingest
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from customer_health.warehouse.connection import drop_database
from customer_health.warehouse.urls import with_database
from tests.helpers import cli, leftovers, table_checksums

NIGHT = date(2026, 3, 1)
CUSTOMERS = (
    "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
    "A1,Area One,software,US,40,,2026-01-01T00:00:00+00:00\n"
)
NPS = "response_id,customer_id,user_id,role,score,comment,responded_at\n"
RESPONSE = "{id},A1,u1,admin,9,,2026-03-01T10:00:00+00:00\n"
NAME_RULE = "file name does not follow <entity>[-suffix].csv, .csv.gz or .parquet"
# Each odd entry of a day folder and the reason it is rejected, relative to the landing root.
ODD_ENTRIES = {
    "crm": "not a source folder (expected one of billing, nps, support, usage)",
    "nps/March": "not a yyyy-mm-dd date folder",
    "nps/2026-03-01/responses 2.csv": NAME_RULE,
    "nps/2026-03-01/surveys.csv": ("no entity 'surveys' in source nps (expected responses)"),
    "usage/2026-03-01/events-extra.csv": "a directory, not a file",
    "usage/2026-03-01/events-link.csv": (
        "a symbolic link: links are not followed, land the file itself"
    ),
}
# Never data: a job's marker and an upload in progress, counted as ignored.
IGNORED = ("usage/2026-03-01/_SUCCESS", "nps/2026-03-01/.responses.csv.swp")
BAD_HEADER = "nps/2026-03-01/responses-trailing.csv"
BAD_HEADER_REASON = f"{BAD_HEADER} line 1: column 8 has no name (a trailing comma?)"


def land_odd_entries(root: Path, day: str = "2026-03-01") -> None:
    """The odd entries of ``ODD_ENTRIES`` (dated ``day``) and a file with a bad header."""
    for relative in ODD_ENTRIES:
        path = root / relative.replace("2026-03-01", day)
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith("events-extra.csv"):
            (path / "part-0.csv").parent.mkdir(parents=True)
            (path / "part-0.csv").write_text("event_id\n")
        elif relative.endswith("events-link.csv"):
            path.symlink_to("/etc/hostname")
        elif relative in ("crm", "nps/March"):
            (path / "file.csv").parent.mkdir(parents=True)
            (path / "file.csv").write_text(NPS)
        else:
            path.write_text(NPS + RESPONSE.format(id="ODD"))
    for never_data in IGNORED:  # matched by the default LANDING_IGNORE patterns
        (root / never_data.replace("2026-03-01", day)).write_text("")
    bad = root / BAD_HEADER.replace("2026-03-01", day)
    bad.write_text(NPS.replace("\n", ",\n") + RESPONSE.format(id="HDR").replace("\n", ",\n"))


def ledger(conn: psycopg.Connection) -> list[tuple[str, str, str | None]]:
    return conn.execute(
        "select file_path, status, message from ops.load_ledger order by ledger_id"
    ).fetchall()


def raw_before_day(conn: psycopg.Connection, day: date) -> dict[str, str]:
    """An md5 of each raw table's rows from files dated before ``day``."""
    return {
        entity: conn.execute(
            sql.SQL(
                "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} t"
                " where _logical_date < %s"
            ).format(sql.Identifier("raw", entity)),
            [day],
        ).fetchone()[0]
        for entity in LOAD_ORDER
    }


@pytest.fixture
def area(settings, url, tmp_path):
    """A landing folder and a database of this test's own, and settings pointing at both."""
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, "landing_area")
    area_settings = replace(settings, landing_path=str(tmp_path), database="landing_area")
    yield area_settings, tmp_path
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, "landing_area")


def test_every_entry_is_loaded_or_rejected_with_its_reason_once(area, url):
    settings, root = area
    (root / "billing/2026-03-01").mkdir(parents=True)
    (root / "billing/2026-03-01/customers.csv").write_text(CUSTOMERS)
    (root / "nps/2026-03-01").mkdir(parents=True)
    # Odd but loadable: the suffix after the dash may hold quotes and semicolons.
    odd_but_fine = "nps/2026-03-01/responses-it's;fine.csv"
    (root / odd_but_fine).write_text(NPS + RESPONSE.format(id="R1"))
    (root / "usage/2026-03-01").mkdir(parents=True)
    land_odd_entries(root)

    with pytest.raises(IngestError) as failed:
        ingest(settings, NIGHT, "night-1")
    messages = {
        **{path: f"{path}: {reason}" for path, reason in ODD_ENTRIES.items()},
        BAD_HEADER: BAD_HEADER_REASON,
    }
    assert str(failed.value).splitlines() == [
        "7 landing entries could not be loaded:",
        *(f"  {messages[path]}" for path in sorted(ODD_ENTRIES)),
        f"  {BAD_HEADER_REASON}",
    ]
    with psycopg.connect(with_database(url, "landing_area"), autocommit=True) as conn:
        first = ledger(conn)
        assert sorted(first) == sorted(
            [
                ("billing/2026-03-01/customers.csv", "loaded", None),
                (odd_but_fine, "loaded", None),
                *((path, "rejected", message) for path, message in messages.items()),
            ]
        )
        assert conn.execute("select response_id from raw.responses").fetchall() == [("R1",)]

        # The rerun of the night: nothing new to reject, so it passes, listing them first.
        rerun = ingest(settings, NIGHT, "night-1-rerun")
        assert next(iter(rerun)) == "rejected"
        assert rerun["rejected"] == [
            {"path": path, "reason": messages[path]} for path in sorted(messages)
        ]
        assert (rerun["loaded"], rerun["skipped"], rerun["ignored"]) == (0, 2, 2)
        assert ledger(conn) == first

        # The header is fixed: the file loads and leaves the list.
        (root / BAD_HEADER).write_text(NPS + RESPONSE.format(id="HDR"))
        fixed = ingest(settings, NIGHT, "night-1-fixed")
        assert fixed["loaded"] == 1
        assert BAD_HEADER not in [entry["path"] for entry in fixed["rejected"]]
        assert sorted(conn.execute("select response_id from raw.responses").fetchall()) == [
            ("HDR",),
            ("R1",),
        ]


def test_a_rejection_no_night_reported_fails_the_next_night(area, url):
    """A night that recorded a rejected entry, then died (a lost worker) before failing with
    it: the entry is still news, so the next attempt fails naming it; then it is known."""
    settings, root = area
    odd = "nps/2026-03-01/responses 2.csv"
    (root / odd).parent.mkdir(parents=True)
    (root / odd).write_text(NPS)
    ingest(settings, date(2026, 2, 28), "night-0")  # creates the warehouse objects
    with psycopg.connect(with_database(url, "landing_area"), autocommit=True) as conn:
        recorded = record_rejected_entries(conn, discover(str(root), NIGHT).rejected, "died")
        assert [entry.path for entry in recorded] == [odd]
    with pytest.raises(IngestError, match=re.escape(f"{odd}: {NAME_RULE}")):
        ingest(settings, NIGHT, "retry")
    assert ingest(settings, NIGHT, "rerun")["rejected"] == [
        {"path": odd, "reason": f"{odd}: {NAME_RULE}"}
    ]


# The ledger as the loader before rejected entries created it (commit 7f7ddc6).
OLD_LEDGER = """
create schema ops;
create table ops.load_ledger (
    ledger_id bigint generated always as identity primary key,
    file_path text not null, source text not null, entity text not null,
    logical_date date not null, size_bytes bigint not null, sha256 text not null,
    rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
    status text not null check (status in ('loaded', 'skipped', 'failed')),
    message text, run_id text not null, started_at timestamptz not null,
    finished_at timestamptz not null default clock_timestamp(), stat_signature text
);
insert into ops.load_ledger (file_path, source, entity, logical_date, size_bytes, sha256,
    rows_read, rows_loaded, rows_quarantined, status, run_id, started_at)
values ('nps/2026-02-01/responses.csv', 'nps', 'responses', '2026-02-01', 10, 'abc', 1, 1, 0,
    'loaded', 'old', now());
"""


def test_a_ledger_of_the_earlier_loader_takes_rejected_entries(area, url):
    """The bootstrap upgrades the ledger in place (twice is the same as once): old rows
    stay, a rejected entry without entity, date or hash fits, unknown statuses do not."""
    settings, root = area
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute("create database landing_area")
    with psycopg.connect(with_database(url, "landing_area"), autocommit=True) as conn:
        conn.execute(OLD_LEDGER)
        ensure_warehouse_objects(conn, None)
        ensure_warehouse_objects(conn, None)
        (root / "crm").mkdir()
        assert record_rejected_entries(conn, discover(str(root), NIGHT).rejected, "new") != []
        assert conn.execute(
            "select file_path, status, entity, sha256 from ops.load_ledger order by ledger_id"
        ).fetchall() == [
            ("nps/2026-02-01/responses.csv", "loaded", "responses", "abc"),
            ("crm", "rejected", None, None),
        ]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "insert into ops.load_ledger (file_path, status, run_id, started_at)"
                " values ('x', 'lost', 'new', now())"
            )


def test_what_a_crashed_load_left_behind_is_swept_by_the_next_night(area, url):
    """A loader killed after its streams' COPY, before the attach: the next ingest drops
    the unattached table and its bad lines, then loads the file whole."""
    settings, root = area
    (root / "billing/2026-03-01").mkdir(parents=True)
    (root / "billing/2026-03-01/customers.csv").write_text(CUSTOMERS)
    (root / "nps/2026-03-01").mkdir(parents=True)
    body = NPS + RESPONSE.format(id="C1") + RESPONSE.format(id="C2").replace(",9,", ",11,")
    (root / "nps/2026-03-01/responses.csv").write_text(body)
    ingest(settings, date(2026, 2, 28), "night-0")  # creates the warehouse objects
    landing_file = next(f for f in discover(str(root), NIGHT).files if f.entity.name == "responses")
    with psycopg.connect(with_database(url, "landing_area"), autocommit=True) as conn:
        (part,) = plan_parts(
            landing_file.entity, landing_file.path, NIGHT, "crashed", [WHOLE_FILE], "dead"
        )
        header = NPS.strip().split(",")
        copy_and_check = copy_part(conn, part, header, [body.encode()])
        conn.execute("insert into raw_files.customer_keys values ('A1')")
        check_part(conn, part, copy_and_check)
        assert leftovers(conn) == ([part.name], 1)

        night = ingest(settings, NIGHT, "night-1")
        assert leftovers(conn) == ([], 0)
        assert (night["loaded"], night["rows_loaded"], night["rows_quarantined"]) == (2, 2, 1)


FIRST, SECOND = date(2026, 2, 27), date(2026, 2, 28)


def test_a_night_that_first_meets_a_bad_entry_fails_untouched_and_its_rerun_publishes(
    url, tmp_path
):
    landing = tmp_path / "landing"
    generate(landing, GeneratorConfig(scale_factor=0.01, days=45, end_date=SECOND, seed=11))
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, "landing_nights")
    env = {
        **os.environ,
        "WAREHOUSE_DATABASE": "landing_nights",
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path / "reports"),
    }
    try:
        assert cli(env, "run", "--date", FIRST.isoformat()).returncode == 0
        with psycopg.connect(with_database(url, "landing_nights"), autocommit=True) as db:
            before = table_checksums(db)
            raw_before = raw_before_day(db, SECOND)
            land_odd_entries(landing, SECOND.isoformat())

            failed = cli(env, "run", "--date", SECOND.isoformat())
            assert failed.returncode == 1
            assert "Traceback" not in failed.stderr
            assert "7 landing entries could not be loaded" in failed.stderr
            assert table_checksums(db) == before
            assert raw_before_day(db, SECOND) == raw_before

            rerun = cli(env, "run", "--date", SECOND.isoformat())
            assert rerun.returncode == 0, rerun.stderr[-3000:]
            summary = cli(env, "summary", "--json")
            rejected = json.loads(summary.stdout)["rejected_files"]
            assert [entry["path"] for entry in rejected] == sorted(
                [
                    *(p.replace("2026-03-01", SECOND.isoformat()) for p in ODD_ENTRIES),
                    BAD_HEADER.replace("2026-03-01", SECOND.isoformat()),
                ]
            )
            # The text summary starts with them: someone has to act on those.
            assert cli(env, "summary").stdout.splitlines()[1 : 2 + len(rejected)] == [
                "Landing entries not loaded (7; fix or remove them):",
                *(f"  {entry['reason']}" for entry in rejected),
            ]
            assert db.execute(
                "select logical_date from ops.publish_log order by publish_id desc limit 1"
            ).fetchone() == (SECOND,)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            drop_database(admin, "landing_nights")
