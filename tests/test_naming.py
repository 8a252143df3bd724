"""The naming convention of docs/naming.md, checked on the published night's warehouse catalog.

Names are read from information_schema (what BI tools see), and the unit a name promises is
checked against the values: a `_month` date is a first of the month, a `_ratio` is never
negative, a `_score` stays within −100…100.
"""

from __future__ import annotations

import re

import pytest
from psycopg import sql

pytestmark = pytest.mark.usefixtures("published_night")

SCHEMAS = ("analytics", "cs_personal")
# One name per concept: the left-hand names are spelled as on the right.
FORBIDDEN_NAMES = {
    "segment": "size_segment",
    "cohort": "signup_cohort",
    "band": "health_band",
    "score": "health_score",
    "as_of_date": "health_date",
}
MONEY = re.compile(r"(^|_)(mrr|arr|price)(_|$)")
UNITLESS_FRACTION = re.compile(r"_(rate|share)(_\d+[dm])?$")


def _columns(conn) -> list[tuple[str, str, str, str]]:
    return conn.execute(
        "select table_schema, table_name, column_name, data_type"
        " from information_schema.columns where table_schema = any(%s)"
        " order by table_schema, table_name, ordinal_position",
        [list(SCHEMAS)],
    ).fetchall()


def test_names_say_what_they_hold(conn):
    columns = _columns(conn)
    assert {table for _, table, _, _ in columns} >= {"fct_mrr", "fct_referral_contacts"}
    broken = []
    for schema, table, column, data_type in columns:
        where = f"{schema}.{table}.{column}"
        if column in FORBIDDEN_NAMES:
            broken.append(f"{where}: call it {FORBIDDEN_NAMES[column]}")
        if "churned_mrr" in column:
            broken.append(f"{where}: the movement is churn (churn_mrr_usd)")
        numeric = data_type in ("numeric", "integer", "bigint", "double precision")
        if numeric and MONEY.search(column) and not column.endswith("_usd"):
            broken.append(f"{where}: money ends _usd")
        if UNITLESS_FRACTION.search(column):
            broken.append(f"{where}: a fraction ends _ratio")
        if data_type == "date" and not column.endswith(("_date", "_month")):
            broken.append(f"{where}: a date ends _date (_month for a month)")
        if column.endswith("_month") and data_type != "date":
            broken.append(f"{where}: _month is for first-of-month dates")
        if data_type == "boolean" and not column.startswith(("is_", "has_")):
            broken.append(f"{where}: a flag starts is_ or has_")
        if data_type.startswith("timestamp") and not column.endswith("_at"):
            broken.append(f"{where}: a timestamp ends _at")
    assert broken == []


def test_values_are_what_the_names_promise(conn):
    checks = {
        "_month": "extract(day from {c}) <> 1",
        "_ratio": "{c} < 0",
        "_pct": "{c} not between 0 and 100",
        "_score": "{c} not between -100 and 100",
    }
    checked, broken = set(), []
    for schema, table, column, _ in _columns(conn):
        for suffix, condition in checks.items():
            if not column.endswith(suffix):
                continue
            checked.add(suffix)
            bad = conn.execute(
                sql.SQL("select count(*) from {t} where " + condition).format(
                    t=sql.Identifier(schema, table), c=sql.Identifier(column)
                )
            ).fetchone()[0]
            if bad:
                broken.append(f"{schema}.{table}.{column}: {bad} rows")
    assert checked == {"_month", "_ratio", "_score"}
    assert broken == []
