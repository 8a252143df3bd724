"""The dbt source YAML of each source system, generated from the landing contracts.

The files under ``dbt_project/models/staging/<source>/`` are generated, committed and
checked by a test, so dbt's documentation can never drift from what ingest enforces.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from customer_health.ingest.contracts import ENTITIES, Column, Entity

LOAD_COLUMNS = (
    ("_source_file", "Landing file the row came from (path relative to the landing root)."),
    ("_line", "Line of the row in that file (the header is line 1)."),
    ("_logical_date", "Date folder of the landing file."),
    ("_run_id", "Pipeline run that loaded the row."),
    ("_loaded_at", "When the row was loaded."),
)


def _column(column: Column, entity: Entity) -> dict:
    rules = [f"type {column.type}", "required" if column.required else "optional"]
    if column.allowed:
        rules.append("one of " + ", ".join(column.allowed))
    if column.minimum is not None:
        rules.append(f">= {column.minimum:g}")
    if column.maximum is not None:
        rules.append(f"<= {column.maximum:g}")
    if column.references_customer:
        rules.append("must reference a known customer")
    description = (column.description + ". " if column.description else "") + "; ".join(rules)
    spec: dict = {"name": column.name, "description": description, "data_type": column.type}
    if column.name == entity.key and not entity.versioned:
        spec["data_tests"] = ["not_null"]
    return spec


def sources_yaml(source: str) -> str:
    entities = [e for e in ENTITIES if e.source == source]
    document = {
        "version": 2,
        "sources": [{
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
        }],
    }
    header = "# Generated from plugins/customer_health/ingest/contracts.py by " \
             "`customer-health contracts write-sources`; do not edit.\n"
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
