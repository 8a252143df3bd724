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
import uuid
from pathlib import Path

from psycopg import sql

from customer_health.ingest.contracts import ENTITIES, LOAD_COLUMN_NAMES, Entity
from customer_health.quality.raw_scope import LEDGER_FILES, RAW_SCHEMA

# Ids derive from what an expectation says, so regenerating the files does not churn them.
ID_NAMESPACE = uuid.UUID("5d1f1f0c-6f0e-4d43-9a43-7a6c3b1f2e18")
GX_VERSION = "1.24.1"


def suite_name(entity: Entity) -> str:
    return f"raw_{entity.name}"


def suite_id(entity: Entity) -> str:
    """The suite's id, which the raw validation definitions refer to."""
    return str(uuid.uuid5(ID_NAMESPACE, suite_name(entity)))


def _expectation(suite: str, kind: str, kwargs: dict, description: str | None = None) -> dict:
    identity = json.dumps([suite, kind, kwargs], sort_keys=True)
    expectation = {
        "id": str(uuid.uuid5(ID_NAMESPACE, identity)),
        "kwargs": kwargs,
        "meta": {},
        "severity": "critical",
        "type": kind,
    }
    if description:
        expectation["description"] = description
    return expectation


def _literal(value: str) -> str:
    return sql.Literal(value).as_string()


def contract_expectations(entity: Entity) -> list[dict]:
    """What the contract says about each column, as GX checks it on the loaded rows."""
    suite = suite_name(entity)
    found = [
        _expectation(
            suite,
            "expect_table_columns_to_match_set",
            {"column_set": [*entity.column_names, *LOAD_COLUMN_NAMES]},
        ),
        _expectation(
            suite,
            "expect_compound_columns_to_be_unique",
            {"column_list": ["_source_file", "_line"]},
            "One raw row per landing file line",
        ),
    ]
    found += [
        _expectation(suite, "expect_column_values_to_not_be_null", {"column": name})
        for name in entity.required_names
    ]
    found += [
        _expectation(
            suite,
            "expect_column_values_to_be_in_set",
            {"column": c.name, "value_set": list(c.allowed)},
        )
        for c in entity.columns
        if c.allowed
    ]
    for column in entity.columns:
        bounds = {
            key: float(value)
            for key, value in (("min_value", column.minimum), ("max_value", column.maximum))
            if value is not None
        }
        if bounds:
            found.append(
                _expectation(
                    suite, "expect_column_values_to_be_between", {"column": column.name, **bounds}
                )
            )
    found += [
        _expectation(
            suite,
            "expect_column_pair_values_a_to_be_greater_than_b",
            {
                "column_A": c.name,
                "column_B": c.not_before,
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
        )
        for c in entity.columns
        if c.not_before
    ]
    return found


def load_expectations(entity: Entity, freshness_days: int) -> list[dict]:
    """The rules of the load: raw holds what the ledger says it loaded, and the entity's
    files keep arriving. The row count is checked for the files in the gate's scope
    (``load_ledger_files``, see ``raw_scope``). Freshness comes from the whole ledger, which
    also records files without rows (most days' products file is only a header); an entity
    without a row in ``raw`` is stale."""
    suite, name = suite_name(entity), _literal(entity.name)
    raw_table = sql.Identifier(RAW_SCHEMA, entity.name).as_string()
    return [
        _expectation(
            suite,
            "unexpected_rows_expectation",
            {
                "unexpected_rows_query": (
                    "select l.file_path, l.rows_loaded, count(t._line) as rows_in_raw"
                    f" from {LEDGER_FILES} l left join {{batch}} t"
                    f" on t._source_file = l.file_path where l.entity = {name}"
                    " group by l.file_path, l.rows_loaded having count(t._line) <> l.rows_loaded"
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
