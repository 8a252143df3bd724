"""The GX gates block bad data and say which expectation failed on which rows."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from customer_health.errors import DbtError, QualityGateError
from customer_health.ingest.contracts import ENTITIES, Column, Entity
from customer_health.pipeline import check_full_history, validate_marts, validate_raw
from customer_health.quality.gates import gx_url, latest_report, run_project_dir
from customer_health.quality.raw_scope import raw_scope
from customer_health.quality.raw_suites import contract_expectations
from customer_health.settings import load_settings
from customer_health.transform.dbt import manifest_path, run_dbt
from tests.helpers import NIGHT, table_checksums


def declared_expectations(checkpoint: str) -> int:
    """Every expectation of the suites a checkpoint validates, counted from their files."""
    gx = load_settings().gx_dir

    def read(folder: str, name: str) -> dict:
        return json.loads((gx / folder / f"{name}.json").read_text())

    suites = [
        read("validation_definitions", v["name"])["suite"]["name"]
        for v in read("checkpoints", checkpoint)["validation_definitions"]
    ]
    return sum(len(read("expectations", suite)["expectations"]) for suite in suites)


def test_raw_gate_passes_on_loaded_data_with_a_report_per_run(settings, published_night):
    summary = validate_raw(settings, "test-raw-gate")
    assert (summary["success"], summary["failed"]) == (True, [])
    assert summary["expectations"] == declared_expectations("raw_gate")
    assert "test-raw-gate" in summary["quality_report"]
    assert latest_report(settings) == Path(summary["quality_report"])


def raw_gate_failures(settings, run_id: str, full: bool = False) -> list[str]:
    """The failing expectations the raw gate names, or [] when it passes."""
    try:
        validate_raw(settings, run_id, full=full)
    except QualityGateError as failed:
        return [line.strip() for line in str(failed).splitlines()[1:-1]]
    return []


def test_the_nightly_raw_gate_checks_what_arrived_since_the_last_publish(
    settings, conn, published_night
):
    """A bad value in a file a published night checked escapes the nightly gate and is
    caught by the full check; once its file is loaded again, the nightly gate catches it."""
    source_file, line, quantity = conn.execute(
        "select _source_file, _line, quantity from raw.events order by _source_file, _line limit 1"
    ).fetchone()
    bad = (
        "raw_events: Every row keeps the contract's 8 column rules (required values, allowed"
        " values, ranges, dates in order): one result row per rule broken 1 unexpected, e.g."
        f" [{{'rule': 'quantity: below the minimum 0', 'rows': 1, 'first_file': {source_file!r},"
        f" 'first_line': {line}}}]"
    )
    conn.execute(
        "update raw.events set quantity = -5 where _source_file = %s and _line = %s",
        [source_file, line],
    )
    try:
        assert raw_gate_failures(settings, "test-scope-night") == []
        assert raw_gate_failures(settings, "test-scope-full", full=True) == [bad]
        # The ledger row a reload writes: the file is new since the last publish again.
        reload = conn.execute(
            "insert into ops.load_ledger (file_path, source, entity, logical_date, size_bytes,"
            " sha256, rows_read, rows_loaded, rows_quarantined, status, run_id, started_at)"
            " select file_path, source, entity, logical_date, size_bytes, sha256, rows_read,"
            " rows_loaded, rows_quarantined, status, 'test-reload', now() from ops.load_ledger"
            " where file_path = %s and status = 'loaded' order by finished_at desc limit 1"
            " returning ledger_id",
            [source_file],
        ).fetchone()[0]
        try:
            assert raw_gate_failures(settings, "test-scope-reloaded") == [bad]
        finally:
            conn.execute("delete from ops.load_ledger where ledger_id = %s", [reload])
    finally:
        conn.execute(
            "update raw.events set quantity = %s where _source_file = %s and _line = %s",
            [quantity, source_file, line],
        )


def column_change(column: Column, change: str) -> sql.Composed:
    """An assignment to the column, naming it, its bounds and the column it cannot precede."""
    return sql.SQL(change).format(
        name=sql.Identifier(column.name),
        other=sql.Identifier(column.not_before or column.name),
        minimum=sql.Literal(column.minimum),
        maximum=sql.Literal(column.maximum),
    )


def contract_changes(entity: Entity) -> tuple[list[tuple[str, sql.Composed]], list[sql.Composed]]:
    """For each contract rule of the entity, in contract order: how the raw gate names it,
    and the change that makes a row keeping every rule break that one alone. Then the
    changes that leave a row at the edge of a rule, still keeping it: a bound itself, equal
    dates, an optional value left out."""
    breaking, keeping = [], []
    for column in entity.columns:
        rules = []
        if column.required:
            rules.append(("missing required value", "{name} = null"))
        elif column.allowed or column.minimum is not None or column.not_before:
            keeping.append(column_change(column, "{name} = null"))
        if column.allowed:
            rules.append((f"not one of {', '.join(column.allowed)}", "{name} = 'other'"))
        if column.minimum is not None:
            rules.append((f"below the minimum {column.minimum:g}", "{name} = {minimum} - 1"))
            keeping.append(column_change(column, "{name} = {minimum}"))
        if column.maximum is not None:
            rules.append((f"above the maximum {column.maximum:g}", "{name} = {maximum} + 1"))
            keeping.append(column_change(column, "{name} = {maximum}"))
        if column.not_before:
            rules.append((f"before {column.not_before}", "{name} = {other} - interval '1 day'"))
            keeping.append(column_change(column, "{name} = {other}"))
        breaking += [
            (f"{column.name}: {rule}", column_change(column, change)) for rule, change in rules
        ]
    return breaking, keeping


def suite_query(entity: Entity, description: str) -> str:
    """The query of the entity's raw suite expectation whose description starts so."""
    return next(
        e["kwargs"]["unexpected_rows_query"]
        for e in contract_expectations(entity)
        if (e.get("description") or "").startswith(description)
    )


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda entity: entity.name)
def test_the_raw_suites_contract_query_names_each_broken_rule_and_its_first_line(
    conn, published_night, entity
):
    """A row that keeps every rule; one row per rule breaking that rule alone; rows at the
    edge of a rule; last, a second row breaking the first rule, in a file whose name sorts
    first. The query returns each broken rule once, in contract order, with its count and
    its first file and line, and nothing for the rows that keep every rule."""
    breaking, keeping = contract_changes(entity)
    first_rule_again = len(breaking) + len(keeping) + 2
    changes = [
        *enumerate([change for _, change in breaking] + keeping, 2),
        (first_rule_again, sql.SQL("{}, _source_file = '0 first file'").format(breaking[0][1])),
    ]
    with conn.transaction(force_rollback=True):
        kept = sql.SQL("create temp table kept as select * from {} limit 1").format(
            sql.Identifier("raw", entity.name)
        )
        conn.execute(kept)
        source_file = conn.execute("update kept set _line = 0 returning _source_file").fetchone()[0]
        conn.execute("create temp table checked as select * from kept")
        conn.execute("update checked set _line = 1")
        for line, change in changes:
            conn.execute("insert into checked select * from kept")
            conn.execute(
                sql.SQL("update checked set {}, _line = {} where _line = 0").format(
                    change, sql.Literal(line)
                )
            )
        with conn.cursor(row_factory=dict_row) as cursor:
            query = suite_query(entity, "Every row keeps the contract")
            found = cursor.execute(query.replace("{batch}", "checked")).fetchall()
    first = {"rows": 2, "first_file": "0 first file", "first_line": first_rule_again}
    assert found == [
        {"rule": rule, "rows": 1, "first_file": source_file, "first_line": line}
        | (first if line == 2 else {})
        for line, (rule, _) in enumerate(breaking, 2)
    ]


def test_the_raw_suites_uniqueness_query_counts_the_lines_loaded_twice(conn, published_night):
    """Nothing for two files whose line numbers overlap, each line loaded once; one row,
    counting the repeated lines and naming the first file, once two of its lines are
    loaded twice."""
    events = next(entity for entity in ENTITIES if entity.name == "events")
    query = suite_query(events, "One raw row per landing file line").replace("{batch}", "checked")
    with conn.transaction(force_rollback=True):
        conn.execute(
            "create temp table checked as select * from raw.events where _source_file in"
            " (select distinct _source_file from raw.events order by _source_file limit 2)"
        )
        files = conn.execute("select count(distinct _source_file) from checked").fetchone()[0]
        assert (files, conn.execute(query).fetchall()) == (2, [])
        source_file = conn.execute("select min(_source_file) from checked").fetchone()[0]
        conn.execute(
            "insert into checked select * from checked where _source_file = %(file)s and _line"
            " in (select _line from checked where _source_file = %(file)s order by _line limit 2)",
            {"file": source_file},
        )
        assert conn.execute(query).fetchall() == [(2, source_file)]


def test_a_scope_of_every_loaded_file_reads_the_tables_and_a_later_one_lists_its_files(
    scratch_conn,
):
    """A first night checks every file raw holds: its views read the raw tables unlisted (a
    year's 365 listed files cost the planner more than they skip). After a publish, a view
    lists the files loaded since, none for an entity with older files only."""

    def loaded(path: str, entity: str) -> None:
        scratch_conn.execute(
            "insert into ops.load_ledger (file_path, source, entity, logical_date, size_bytes,"
            " sha256, rows_loaded, status, run_id, started_at)"
            " values (%s, 'test', %s, '2026-11-01', 1, %s, 1, 'loaded', 'test', now())",
            [path, entity, path],
        )

    def listed_files() -> dict[str, list[str]]:
        """The files each view of the scope lists, for the views that list any."""
        with raw_scope(scratch_conn, "test-scope-views", full=False) as schema:
            views = scratch_conn.execute(
                "select viewname, definition from pg_views where schemaname = %s", [schema]
            ).fetchall()
        return {
            name: [f for f in found.group(1).split(",") if f]
            for name, definition in views
            if (found := re.search(r"ANY \('\{(.*?)\}'", definition))
        }

    loaded("usage/2026-11-01/events.csv", "events")
    loaded("nps/2026-11-01/responses.csv", "responses")
    assert listed_files() == {}
    scratch_conn.execute(
        "insert into ops.publish_log (run_id, row_counts, gate_results, duration_seconds)"
        " values ('test', '{}', '{}', 0)"
    )
    loaded("usage/2026-11-02/events.csv", "events")
    assert listed_files() == {"events": ["usage/2026-11-02/events.csv"], "responses": []}


def names_of(results) -> set[str]:
    return {unique_id.split(".")[2] for unique_id in results}


def test_the_full_check_tests_every_row_a_night_scopes_out(settings, url, conn, published_night):
    """A duplicate on a day no night rebuilds any more escapes the night's scoped test and
    fails the full check, which also runs the key tests of stg_usage__events a night leaves
    out (the view dedupes the whole history)."""
    old_day = conn.execute("select min(usage_date) from core.int_usage_daily").fetchone()[0]
    duplicate = conn.execute(
        "insert into core.int_usage_daily select * from core.int_usage_daily"
        " where usage_date = %s limit 1 returning ctid",
        [old_day],
    ).fetchone()[0]
    try:
        night = run_dbt(
            settings,
            url,
            ["test", "--select", "int_usage_daily", "stg_usage__events"],
            NIGHT,
            settings.publish_schema,
        )
        assert names_of(r.unique_id for r in night) == {
            "not_null_int_usage_daily_usage_date",
            "unique_combination_int_usage_daily_customer_id__product_id__usage_date__usage_date",
        }
        with pytest.raises(DbtError) as failed:
            check_full_history(settings)
        assert "unique_combination_int_usage_daily" in str(failed.value)
    finally:
        conn.execute("delete from core.int_usage_daily where ctid = %s", [duplicate])

    full = check_full_history(settings)
    layers = {"staging", "intermediate"}
    manifest = json.loads(manifest_path(settings).read_text())
    nodes = manifest["nodes"]
    # A night's manifest has these tests disabled (they read every row ever loaded).
    full_history_only = {
        "unique_stg_usage__events_event_id",
        "not_null_stg_usage__events_event_id",
        "source_not_null_nps_responses_response_id",
        "source_not_null_usage_events_event_id",
    }
    assert {v[0]["name"] for v in manifest["disabled"].values()} == full_history_only

    def in_layers(unique_id: str) -> bool:
        return unique_id.startswith("source.") or (
            unique_id in nodes and nodes[unique_id]["fqn"][1] in layers
        )

    every_row_tests = {
        node["name"]
        for node in nodes.values()
        if node["resource_type"] == "test"
        and all(in_layers(parent) for parent in node["depends_on"]["nodes"])
    }
    assert full["as_of_date"] == NIGHT.isoformat()
    assert names_of(full["tests"]) == every_row_tests | full_history_only


def copy_of_published(conn, build: str, tables) -> str:
    """A build schema holding a copy of the published marts, for a gate to validate."""
    conn.execute(f'drop schema if exists "{build}" cascade; create schema "{build}"')
    for table in tables:
        conn.execute(f'create table "{build}"."{table}" as select * from analytics."{table}"')
    return build


def test_mart_gate_names_the_failing_expectation(conn, published_night):
    published_before = table_checksums(conn)
    build = copy_of_published(conn, "analytics_build_gate_test", published_before)
    conn.execute(
        f'update "{build}".dim_customer_health set health_score = 150 '
        "where customer_id = (select min(customer_id) from analytics.dim_customer_health)"
    )
    with pytest.raises(QualityGateError) as failure:
        validate_marts(load_settings(), build, "test-mart-gate")
    message = str(failure.value)
    assert "dim_customer_health.health_score" in message and "150" in message
    report = Path(message.rsplit("report: ", 1)[1])
    assert "150" in report.read_text()
    assert table_checksums(conn) == published_before
    conn.execute(f'drop schema "{build}" cascade')


def test_mart_gate_catches_a_daily_band_that_does_not_match_its_score(conn, published_night):
    """The history's band check (each row's band looked up in the bands seed, its score
    checked against that band's range) flags the one row whose band disagrees with its
    score, and nothing else. (An SQL expectation's failure gives its row
    count: GX's SUMMARY results carry no rows for it.)"""
    build = copy_of_published(conn, "analytics_build_band_test", table_checksums(conn))
    changed = conn.execute(
        f'update "{build}".fct_customer_health_daily set health_band = '
        "case when health_band = 'green' then 'red' else 'green' end "
        "where (customer_id, health_date) = (select customer_id, max(health_date) "
        f'from "{build}".fct_customer_health_daily group by customer_id '
        "order by customer_id limit 1)"
    ).rowcount
    assert changed == 1
    with pytest.raises(QualityGateError) as failure:
        validate_marts(load_settings(), build, "test-band-gate")
    failed = [line.strip() for line in str(failure.value).splitlines()[1:-1]]
    assert len(failed) == 1, failed
    assert failed[0].startswith(
        "fct_customer_health_daily: The band matches the score under the health_bands seed "
        "1 unexpected"
    )
    conn.execute(f'drop schema "{build}" cascade')


def test_gates_print_no_gx_warnings(settings, published_night, capfd):
    """Every unexpected-rows query reads its batch: GX prints a warning for each one that does
    not, each time it builds the expectation (dozens of lines a night)."""
    capfd.readouterr()
    validate_raw(settings, "test-quiet-raw-gate")
    validate_marts(settings, settings.publish_schema, "test-quiet-mart-gate")
    out, err = capfd.readouterr()
    assert (out + err).count("should contain the {batch} parameter") == 0


def test_a_gate_session_reads_the_schema_under_validation_partition_by_partition(url):
    """GX's sessions resolve table names in the schema under validation, and aggregate a
    partitioned table partition by partition (see ``gx_url``)."""
    engine = create_engine(gx_url(url, "raw_scope_test"))
    try:
        with engine.connect() as session:
            settings = [
                session.exec_driver_sql(f"show {name}").scalar()
                for name in ("search_path", "enable_partitionwise_aggregate")
            ]
    finally:
        engine.dispose()
    assert settings == ["raw_scope_test", "on"]


def test_a_gate_leaves_no_warehouse_connection_open(settings, conn, published_night):
    """GX keeps a process's last context alive; a gate still closes what it opened, so a
    process that runs nights one after another holds no connection between them."""
    others = (
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and backend_type = 'client backend'"
        " and pid <> pg_backend_pid()"
    )

    def connections_after_closing() -> int:
        """The server ends a closed connection's backend a moment after the client closes it;
        one left open stays."""
        deadline = time.monotonic() + 5
        count = conn.execute(others).fetchone()[0]
        while count > before and time.monotonic() < deadline:
            time.sleep(0.1)
            count = conn.execute(others).fetchone()[0]
        return count

    before = conn.execute(others).fetchone()[0]
    validate_raw(settings, "test-gate-connections")
    assert connections_after_closing() == before
    validate_marts(settings, settings.publish_schema, "test-gate-connections")
    assert connections_after_closing() == before


def test_a_gate_run_leaves_no_secret_in_its_folder(settings, url, published_night):
    """The run's folder (GX suites, results, the quality report) is kept; the password is not
    in it."""
    summary = validate_raw(settings, "test-no-secret")
    password = make_url(url).password
    run_folder = run_project_dir(settings, "test-no-secret-raw_gate").parent
    files = [path for path in run_folder.rglob("*") if path.is_file()]
    assert summary["success"] and files
    assert [path for path in files if password.encode() in path.read_bytes()] == []


# Run in a fresh interpreter: the test process may have imported GX, or scipy, already.
KL_CHECK = """
import json, sys
import pandas as pd
from customer_health.settings import disable_telemetry
from customer_health.quality.gx_import import import_great_expectations

disable_telemetry()
gx = import_great_expectations()
ran_at_import = [m for m in ("scipy.stats._stats_py", "altair.vegalite") if m in sys.modules]
batch = (
    gx.get_context(mode="ephemeral")
    .data_sources.add_pandas("frames")
    .add_dataframe_asset("values")
    .add_batch_definition_whole_dataframe("all")
    .get_batch(batch_parameters={"dataframe": pd.DataFrame({"x": [1, 2, 2, 2]})})
)
check = gx.expectations.ExpectColumnKLDivergenceToBeLessThan(
    column="x", partition_object={"values": [1, 2, 3], "weights": [0.25, 0.5, 0.25]}, threshold=0.1
)
result = batch.validate(check)
print(json.dumps({
    "ran_at_import": ran_at_import,
    "success": result.success,
    "divergence": result.result["observed_value"],
    "scipy_stats_ran": "scipy.stats._stats_py" in sys.modules,
}))
"""


def test_gx_starts_without_scipy_stats_and_altair_yet_an_expectation_needing_them_works():
    """GX imports scipy.stats and altair for expectations our suites never use; they load on
    first use instead (about a second less for every gate's process). A KL-divergence check,
    which calls scipy.stats, still computes its divergence: 0.25·ln(0.25/0.25) +
    0.75·ln(0.75/0.5) for the values 1, 2, 2, 2 against weights ¼, ½, ¼."""
    ran = subprocess.run([sys.executable, "-c", KL_CHECK], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    outcome = json.loads(ran.stdout.splitlines()[-1])
    assert outcome == {
        "ran_at_import": [],
        "success": False,
        "divergence": pytest.approx(0.75 * math.log(1.5)),
        "scipy_stats_ran": True,
    }
