"""The raw GX suites, generated from the landing contracts instead of restated by hand.

``ingest/contracts.py`` states each entity's columns, required fields, allowed values and
ranges once; the loader enforces them and this module turns them into the suite the raw
gate checks. The rules that come from the load itself (one row per file line, rows equal
the ledger's count, freshness) are stated here, once for every entity.
``customer-health expectations write-raw`` rewrites ``expectations/expectations/raw_*.json``
with the defaults, and a test fails on any difference; each run's copy of the GX project
gets suites written with its own settings (``RAW_FRESHNESS_DAYS``).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from psycopg import sql

from customer_health.ingest.contracts import ENTITIES, LOAD_COLUMN_NAMES, Entity
from customer_health.quality.raw_scope import LEDGER_FILES, RAW_SCHEMA

# Ids derive from what an expectation says, so regenerating the files does not churn them.
ID_NAMESPACE = uuid.UUID("5d1f1f0c-6f0e-4d43-9a43-7a6c3b1f2e18")
GX_VERSION = "1.24.1"
# In an unexpected-rows expectation's meta: the result column counting the rows each result
# row stands for (the gate's report counts those, not result rows).
COUNTED_IN = "unexpected_rows_counted_in"


def suite_name(entity: Entity) -> str:
    return f"raw_{entity.name}"


def suite_id(entity: Entity) -> str:
    """The suite's id, which the raw validation definitions refer to."""
    return str(uuid.uuid5(ID_NAMESPACE, suite_name(entity)))


def _expectation(
    suite: str, kind: str, kwargs: dict, description: str | None = None, meta: dict | None = None
) -> dict:
    identity = json.dumps([suite, kind, kwargs], sort_keys=True)
    expectation = {
        "id": str(uuid.uuid5(ID_NAMESPACE, identity)),
        "kwargs": kwargs,
        "meta": meta or {},
        "severity": "critical",
        "type": kind,
    }
    if description:
        expectation["description"] = description
    return expectation


def _literal(value: str) -> str:
    return sql.Literal(value).as_string()


def _contract_rules(entity: Entity) -> list[tuple[str, str]]:
    """Each rule the contract states on a loaded row, as (how a person reads it, the SQL
    condition a row breaking it meets), in contract order; NULLs break only the required rule."""
    rules = []
    for column in entity.columns:
        name = sql.Identifier(column.name).as_string()
        if column.required:
            rules.append((f"{column.name}: missing required value", f"{name} is null"))
        if column.allowed:
            listed = ", ".join(_literal(value) for value in column.allowed)
            rules.append(
                (
                    f"{column.name}: not one of {', '.join(column.allowed)}",
                    f"{name} not in ({listed})",
                )
            )
        for bound, operator, side in (
            (column.minimum, "<", "below the minimum"),
            (column.maximum, ">", "above the maximum"),
        ):
            if bound is not None:
                limit = sql.Literal(bound).as_string()
                rules.append((f"{column.name}: {side} {bound:g}", f"{name} {operator} {limit}"))
        if column.not_before:
            earlier = sql.Identifier(column.not_before).as_string()
            rules.append((f"{column.name}: before {column.not_before}", f"{name} < {earlier}"))
    for rule, condition in rules:
        # GX fills in {batch} with str.format and runs the query as SQLAlchemy text, where
        # ":word" is a bind parameter.
        if re.search(r"[{}]|:\w", rule + condition):
            raise ValueError(f"{entity.name}: {rule!r} cannot be written into a GX query")
    return rules


def contract_expectations(entity: Entity) -> list[dict]:
    """What the contract says about the loaded rows, as GX checks them.

    The column rules are one query, not an expectation each: GX spends its time per
    expectation, not per row (the raw gate of a next night: 0.9 s for 97 expectations,
    0.5 s for 35), and the query's rows name what a person needs: each broken rule in
    contract order, how many rows break it and the first file and line. Uniqueness is a
    query too, so that no failing expectation of the raw suites returns a list as long as
    the rows it found. Both say in their meta which column counts the rows."""
    suite = suite_name(entity)
    found = [
        _expectation(
            suite,
            "expect_table_columns_to_match_set",
            {"column_set": [*entity.column_names, *LOAD_COLUMN_NAMES]},
        ),
        _expectation(
            suite,
            "unexpected_rows_expectation",
            {
                "unexpected_rows_query": (
                    "select count(*) as repeated_lines, min(_source_file) as first_file"
                    " from (select _source_file from {batch} group by _source_file, _line"
                    " having count(*) > 1) repeated having count(*) > 0"
                )
            },
            "One raw row per landing file line",
            {COUNTED_IN: "repeated_lines"},
        ),
    ]
    rules = _contract_rules(entity)
    if rules:
        labels = ", ".join(_literal(rule) for rule, _ in rules)
        numbered = ", ".join(
            f"case when {condition} then {number} end"
            for number, (_, condition) in enumerate(rules, 1)
        )
        any_broken = " or ".join(f"({condition})" for _, condition in rules)
        found.append(
            _expectation(
                suite,
                "unexpected_rows_expectation",
                {
                    "unexpected_rows_query": (
                        f"select distinct on (rule_number) (array[{labels}])[rule_number] as rule,"
                        " count(*) over (partition by rule_number) as rows,"
                        " _source_file as first_file, _line as first_line"
                        " from (select _source_file, _line,"
                        f" unnest(array[{numbered}]) as rule_number"
                        f" from {{batch}} where {any_broken}) broken"
                        " where rule_number is not null order by rule_number, _source_file, _line"
                    )
                },
                f"Every row keeps the contract's {len(rules)} column rules (required values,"
                " allowed values, ranges, dates in order): one result row per rule broken",
                {COUNTED_IN: "rows"},
            )
        )
    return found


def load_expectations(entity: Entity, freshness_days: int) -> list[dict]:
    """The rules of the load: raw holds what the ledger says it loaded, and the entity's
    files keep arriving. The row count is checked for the files in the gate's scope
    (``load_ledger_files``, see ``raw_scope``), the rows counted file by file before the
    join (over every file at SF 1: 0.9 s, against 2.3 s counting the joined rows).
    Freshness comes from the whole ledger, which also records files without rows (most
    days' products file is only a header); an entity without a row in ``raw`` is stale."""
    suite, name = suite_name(entity), _literal(entity.name)
    raw_table = sql.Identifier(RAW_SCHEMA, entity.name).as_string()
    return [
        _expectation(
            suite,
            "unexpected_rows_expectation",
            {
                "unexpected_rows_query": (
                    "select l.file_path, l.rows_loaded, coalesce(t.rows, 0) as rows_in_raw"
                    f" from {LEDGER_FILES} l left join (select _source_file, count(*) as rows"
                    " from {batch} b group by _source_file) t on t._source_file = l.file_path"
                    f" where l.entity = {name} and coalesce(t.rows, 0) <> l.rows_loaded"
                )
            },
            "Rows in raw equal the load ledger's rows_loaded for every file",
        ),
        _expectation(
            suite,
            "unexpected_rows_expectation",
            {
                "unexpected_rows_query": (
                    "select max(logical_date) as newest_file_date from ops.load_ledger"
                    f" where entity = {name} and status = 'loaded'"
                    f" having max(logical_date) < (select max(logical_date) - {freshness_days:d}"
                    " from ops.load_ledger where status = 'loaded')"
                    # A night's batch may hold no new row; then raw must hold some.
                    " or not exists (select from {batch})"
                    f" and not exists (select from {raw_table})"
                )
            },
            f"Fresh: raw has rows, and a file of this entity landed within {freshness_days:d}"
            " days of the newest landing file",
        ),
    ]


def raw_suite(entity: Entity, freshness_days: int) -> dict:
    return {
        "expectations": contract_expectations(entity) + load_expectations(entity, freshness_days),
        "id": suite_id(entity),
        "meta": {"great_expectations_version": GX_VERSION},
        "name": suite_name(entity),
        "notes": "Generated from ingest/contracts.py by `customer-health expectations "
        "write-raw`; edit the contract, not this file.",
    }


def suite_path(gx_dir: Path, entity: Entity) -> Path:
    return gx_dir / "expectations" / f"{suite_name(entity)}.json"


def render(suite: dict) -> str:
    """The file's text as GX itself writes suites: sorted keys, two-space indent."""
    return json.dumps(suite, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_raw_suites(gx_dir: Path, freshness_days: int) -> list[Path]:
    """Write every raw suite of the GX project at ``gx_dir``; returns the files written."""
    written = []
    for entity in ENTITIES:
        path = suite_path(gx_dir, entity)
        path.write_text(render(raw_suite(entity, freshness_days)))
        written.append(path)
    return written
