"""The contract's rules as SQL: the condition that marks a row bad and the reason it gives.

Rules are numbered in the order a row's first failure is reported: the key's own rules,
then duplicate keys, then every other column in contract order. Each rule is written
twice where it can be: on typed rows (``t``, as COPY loaded and trimmed them; the type
rules are COPY's own job there) and on the text as received (``c``, trimmed, blank as
NULL), which names the rule of a row COPY rejected and writes the reason of every
quarantined row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from psycopg import sql

from customer_health.ingest.contracts import Column, Entity

CONFLICTING_DUPLICATE = "key appears more than once in the file with different content"
EXACT_DUPLICATE = "exact duplicate of an earlier row"
LOADED_ELSEWHERE = "already loaded from another file of the same day"


@dataclass(frozen=True)
class Rule:
    field: str
    reason: sql.Composable  # the reason text, from the received text ``c.<field>``
    on_text: sql.Composable | None  # None: only the duplicate scan can tell
    on_typed: sql.Composable | None  # None: COPY (types) or the duplicate scan checks it
    label: str = ""  # the reason without the value: how rows broke the contract, counted

    @property
    def name(self) -> str:
        return f"{self.field}: {self.label}"


def _column_rules(column: Column, file_date: date) -> list[Rule]:
    text = sql.SQL("c.{}").format(sql.Identifier(column.name))
    typed = sql.SQL("t.{}").format(sql.Identifier(column.name))  # trimmed, blank as NULL
    rules: list[Rule] = []

    def add(
        label: str, reason: sql.Composable, condition: str, typed_condition: str | None = None
    ) -> None:
        rules.append(
            Rule(
                column.name,
                reason,
                sql.SQL(condition).format(v=text, other=text_other),
                sql.SQL(typed_condition).format(v=typed, other=typed_other)
                if typed_condition
                else None,
                label,
            )
        )

    # The column this one cannot precede, if any, as received and as typed.
    other = sql.Identifier(column.not_before or column.name)
    text_other, typed_other = sql.SQL("c.{}").format(other), sql.SQL("t.{}").format(other)
    if column.required:
        add(
            "missing required value",
            sql.Literal("missing required value"),
            "{v} is null",
            "{v} is null",
        )
    if column.type != "text":
        add(
            f"not a valid {column.type}",
            sql.SQL("format('%L is not a valid {}', left({}, 60))").format(
                sql.SQL(column.type), text
            ),
            f"{{v}} is not null and not pg_input_is_valid({{v}}, '{column.type}')",
        )
    if column.allowed:
        allowed = ", ".join(sql.Literal(a).as_string() for a in column.allowed)
        listed = ", ".join(column.allowed)
        add(
            f"not one of {listed}",
            sql.SQL("format('%L is not one of {}', left({}, 60))").format(
                sql.SQL(listed.replace("%", "%%")), text
            ),
            f"{{v}} not in ({allowed})",
            f"{{v}} not in ({allowed})",
        )
    for bound, operator in ((column.minimum, "<"), (column.maximum, ">")):
        if bound is not None:
            side = "below the minimum" if operator == "<" else "above the maximum"
            add(
                f"{side} {bound:g}",
                sql.SQL("format('%s is {} {}', {})").format(
                    sql.SQL(side), sql.SQL(f"{bound:g}"), text
                ),
                f"{{v}}::numeric {operator} {bound!r}",
                f"{{v}} {operator} {bound!r}",
            )
    if column.not_after_file_date:
        # A day of slack for time zones; later than that is a clock or export error.
        latest = sql.Literal(file_date + timedelta(days=2)).as_string()
        add(
            "after the file's date",
            sql.SQL("format('%s is after the file''s date {}', {})").format(
                sql.SQL(file_date.isoformat()), text
            ),
            f"{{v}}::timestamptz >= {latest}",
            # A constant of the column's own type, not a date converted on every row.
            f"{{v}} >= '{file_date + timedelta(days=2)}'::{column.type}",
        )
    if column.not_before:
        # Both values are typed by now: their type rules come earlier in a row's checks.
        add(
            f"before {column.not_before}",
            sql.SQL("format('%s is before {} %s', {}, {})").format(
                sql.SQL(column.not_before), text, text_other
            ),
            f"{{v}}::{column.type} < {{other}}::{column.type}",
            "{v} < {other}",
        )
    if column.references_customer:
        # NOT IN over a small key list runs as one hashed subplan, not a lookup per row.
        known = "(select k.customer_id from raw_files.customer_keys k)"
        add(
            "unknown customer",
            sql.SQL("format('unknown customer %L', {})").format(text),
            f"{{v}} not in {known}",
            f"{{v}} not in {known}",
        )
    return rules


def _key_column(entity: Entity) -> Column:
    return next(c for c in entity.columns if c.name == entity.key)


def ordered_rules(entity: Entity, file_date: date) -> list[Rule]:
    """Every rule of the entity, in the order a row's first failure is found
    (numbered from 1)."""
    names = entity.column_names
    for column in entity.columns:
        if column.not_before and names.index(column.not_before) > names.index(column.name):
            # A row's checks run in contract order; the earlier column's type is checked first.
            raise ValueError(f"{entity.name}.{column.name}: {column.not_before} must come first")
    key = _key_column(entity)
    duplicates = [
        Rule(entity.key, sql.Literal(CONFLICTING_DUPLICATE), None, None, CONFLICTING_DUPLICATE),
        Rule(entity.key, sql.Literal(EXACT_DUPLICATE), None, None, EXACT_DUPLICATE),
        Rule(entity.key, sql.Literal(LOADED_ELSEWHERE), None, None, LOADED_ELSEWHERE),
    ]
    return [
        *_column_rules(key, file_date),
        *duplicates,
        *(rule for c in entity.columns if c is not key for rule in _column_rules(c, file_date)),
    ]


def duplicate_rule_numbers(entity: Entity, file_date: date) -> tuple[int, int, int]:
    """The numbers of the duplicate rules, right after the key's own: a key repeated in the
    file (conflicting, exact), and a key another file of the same day loaded."""
    conflicting = len(_column_rules(_key_column(entity), file_date)) + 1
    return conflicting, conflicting + 1, conflicting + 2


def first_broken(entity: Entity, file_date: date, typed: bool) -> sql.Composable:
    """The number of a row's first broken rule, NULL when it keeps them all."""
    cases = [
        sql.SQL("when {} then {}").format(condition, sql.Literal(number))
        for number, rule in enumerate(ordered_rules(entity, file_date), 1)
        if (condition := rule.on_typed if typed else rule.on_text) is not None
    ]
    return sql.SQL("case {} end").format(sql.SQL(" ").join(cases)) if cases else sql.NULL


def field_and_reason(entity: Entity, file_date: date) -> tuple[sql.Composed, sql.Composed]:
    """The field and the reason text of rule number ``_rule``."""
    rules = list(enumerate(ordered_rules(entity, file_date), 1))
    field = sql.SQL("case _rule {} end").format(
        sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(sql.Literal(n), sql.Literal(rule.field))
            for n, rule in rules
        )
    )
    reason = sql.SQL("case _rule {} end").format(
        sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(sql.Literal(n), rule.reason) for n, rule in rules
        )
    )
    return field, reason
