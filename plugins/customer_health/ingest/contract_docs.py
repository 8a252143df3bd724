"""Documentation generated from the landing contracts: dbt source YAML and the README table.

Both are committed and checked by a test, so dbt's docs and the README can never drift
from what ingest enforces.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from customer_health.ingest.contracts import ENTITIES, LOAD_COLUMNS, Column, Entity

# A dbt test config: the test exists only when the var full_history is set.
FULL_HISTORY_ONLY = "{{ var('full_history', false) | as_bool }}"


def _rules(column: Column) -> list[str]:
    rules = ["required" if column.required else "optional"]
    if column.allowed:
        rules.append("one of " + ", ".join(column.allowed))
    if column.minimum is not None:
        rules.append(f">= {column.minimum:g}")
    if column.maximum is not None:
        rules.append(f"<= {column.maximum:g}")
    if column.references_customer:
        rules.append("must reference a known customer")
    if column.not_after_file_date:
        rules.append("not after the day after the file's date")
    if column.not_before:
        rules.append(f"not before `{column.not_before}`")
    return rules


def _column(column: Column, entity: Entity) -> dict:
    rules = [f"type {column.type}", *_rules(column)]
    description = (column.description + ". " if column.description else "") + "; ".join(rules)
    spec: dict = {"name": column.name, "description": description, "data_type": column.type}
    if column.name == entity.key and not entity.versioned:
        # Over every row ever loaded: the full check's (validate --full). A night's raw
        # gate checks the same rule on the files it loaded.
        spec["data_tests"] = [{"not_null": {"config": {"enabled": FULL_HISTORY_ONLY}}}]
    return spec


def sources_yaml(source: str) -> str:
    entities = [e for e in ENTITIES if e.source == source]
    document = {
        "version": 2,
        "sources": [
            {
                "name": source,
                "schema": "raw",
                "description": f"Typed rows loaded from the {source} landing files (append-only).",
                "loaded_at_field": "_loaded_at",
                "tables": [
                    {
                        "name": entity.name,
                        "description": entity.description + f" Key: {entity.key}.",
                        "columns": [_column(c, entity) for c in entity.columns]
                        + [{"name": name, "description": text} for name, text in LOAD_COLUMNS],
                    }
                    for entity in entities
                ],
            }
        ],
    }
    header = (
        "# Generated from plugins/customer_health/ingest/contracts.py by "
        "`customer-health contracts write-docs`; do not edit.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def source_yaml_paths(dbt_project_dir: Path) -> dict[str, Path]:
    staging = dbt_project_dir / "models" / "staging"
    return {
        source: staging / source / f"_{source}__sources.yml"
        for source in sorted({e.source for e in ENTITIES})
    }


def write_sources(dbt_project_dir: Path) -> list[Path]:
    written = []
    for source, path in source_yaml_paths(dbt_project_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sources_yaml(source))
        written.append(path)
    return written


def markdown_table() -> str:
    """The contracts as the Markdown table the README shows."""
    lines = ["| file | key | column | type | rules |", "|---|---|---|---|---|"]
    for entity in ENTITIES:
        for position, column in enumerate(entity.columns):
            first = position == 0
            file_name = f"`{entity.source}/<date>/{entity.name}*.csv`" if first else ""
            key = f"`{entity.key}`" if first else ""
            lines.append(
                f"| {file_name} | {key} | `{column.name}` | {column.type} | "
                f"{'; '.join(_rules(column))} |"
            )
    return "\n".join(lines) + "\n"
