"""Run dbt against the warehouse for one night.

dbt reads its connection from environment variables (see ``dbt_project/profiles.yml``);
this module derives them from the warehouse URL, so there is one source of truth for
where the warehouse is and no password lands in a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from psycopg.conninfo import conninfo_to_dict
from tqdm import tqdm

from customer_health.errors import DbtError
from customer_health.gc_pauses import fewer_collections
from customer_health.settings import Settings, disable_telemetry

if TYPE_CHECKING:
    from dbt_common.events.base_types import EventMsg

log = structlog.get_logger(__name__)

# The night's values as the project's night_setting macro reads them.
AS_OF_DATE_ENV = "DBT_AS_OF_DATE"
REPROCESS_FROM_ENV = "DBT_REPROCESS_FROM"


@dataclass(frozen=True)
class DbtNodeResult:
    unique_id: str
    status: str
    message: str | None


def dbt_environment(url: str, build_schema: str) -> dict[str, str]:
    parts = conninfo_to_dict(url)
    return {
        "DBT_HOST": str(parts.get("host", "127.0.0.1")),
        "DBT_PORT": str(parts.get("port", "5432")),
        "DBT_USER": str(parts.get("user", "postgres")),
        "DBT_PASSWORD": str(parts.get("password", "")),
        "DBT_DBNAME": str(parts.get("dbname", "postgres")),
        "DBT_BUILD_SCHEMA": build_schema,
    }


def night_environment(as_of: date, reprocess_from: date | None = None) -> dict[str, str]:
    """The night's values as the environment variables the project's ``night_setting`` macro
    reads: not vars, which dbt treats as a reason to parse the whole project again.

    ``reprocess_from`` widens the incremental models' window back to that date (late files).
    """
    return {
        AS_OF_DATE_ENV: as_of.isoformat(),
        REPROCESS_FROM_ENV: reprocess_from.isoformat() if reprocess_from else "",
    }


@fewer_collections()
def run_dbt(
    settings: Settings,
    url: str,
    command: Sequence[str],
    as_of: date,
    build_schema: str,
    reprocess_from: date | None = None,
    *,
    full_history: bool = False,
    parse_cache: Path | None = None,
) -> list[DbtNodeResult]:
    """Run one dbt command in-process; raise DbtError naming every failed node.

    ``full_history`` (the var `full_history`) turns on the tests a night leaves out or scopes
    to its window (`unique_combination`'s rebuilt_column, stg_usage__events' key tests).
    dbt writes its artifacts to a folder of the run's own, not the project's ``target``:
    the DAG is drawn from ``target/manifest.json``, which a night must not rewrite under the
    dag-processor, nor two runs each other's. Nothing reads that folder's JSON afterwards (the
    results come back in-process), so dbt writes no manifest or run results: a build would
    write its manifest twice, after parsing and after running. dbt's parse, which it keeps in
    its target, is kept in ``parse_cache`` instead, when given (see ``write_docs_site``): worth
    it only for a command whose profile, schema included, is the same from night to night.
    """
    from dbt.cli.main import dbtRunner

    disable_telemetry()
    os.environ.update(dbt_environment(url, build_schema))
    os.environ.update(night_environment(as_of, reprocess_from))
    with tempfile.TemporaryDirectory(prefix="dbt_target_") as target:
        args = [
            *command,
            *_project_flags(settings, target),
            *(["--vars", json.dumps({"full_history": True})] if full_history else []),
            *_reuse_parse(parse_cache),
            "--no-write-json",
            "--no-use-colors",
        ]
        log.info("running dbt", args=" ".join(args))
        # disable=None: a bar on a terminal, none in task logs (stderr is not a terminal).
        with tqdm(desc=f"dbt {command[0]}", unit="node", leave=False, disable=None) as progress:
            outcome = dbtRunner(callbacks=[_advance_on_finished_node(progress)]).invoke(args)
        if parse_cache is not None:
            _keep_parse(Path(target), parse_cache)
    results = [
        DbtNodeResult(r.node.unique_id, str(r.status), r.message)
        for r in (outcome.result or [])
        if hasattr(r, "node")
    ]
    failed = [r for r in results if r.status in ("error", "fail")]
    if failed or not outcome.success:
        details = "; ".join(f"{r.unique_id}: {r.message}" for r in failed) or str(outcome.exception)
        raise DbtError(f"dbt {command[0]} failed: {details}")
    return results


def _advance_on_finished_node(progress: tqdm) -> Callable[[EventMsg], None]:
    def advance(event: EventMsg) -> None:
        if event.info.name == "NodeFinished":
            progress.update()

    return advance


def manifest_path(settings: Settings) -> Path:
    return settings.dbt_project_dir / "target" / "manifest.json"


def _mart_nodes(settings: Settings) -> list[dict]:
    manifest = json.loads(manifest_path(settings).read_text())
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["package_name"] == "customer_health"
        and node["fqn"][1] == "marts"
    ]


def mart_models(settings: Settings) -> set[str]:
    """The marts a build must leave in the run's schema, as the manifest lists them."""
    return {node["name"] for node in _mart_nodes(settings)}


def personal_data_models(settings: Settings) -> set[str]:
    """Marts with a row per person (``meta: {personal_data: true}`` in their YAML): published
    to the personal-data schema only cs_reader reads, never to the schema BI reads."""
    return {
        node["name"]
        for node in _mart_nodes(settings)
        if node["config"].get("meta", {}).get("personal_data") is True
    }


@fewer_collections()
def write_docs_site(
    settings: Settings, url: str, as_of: date, schema: str, target: Path, parse_cache: Path
) -> Path:
    """`dbt docs generate --static` for the marts as published in ``schema``: one HTML file
    with the manifest and catalog inside, so a person opens it from disk, no server needed.

    Runs in ``target``, never the project's target (the DAG is drawn from its manifest). The
    catalog is read for the marts of ``schema`` only (``--select``): the layers BI cannot read
    stay documented from their YAML, and the night pays for one schema's catalog query. The
    project's ``send_anonymous_usage_stats: false`` reaches the page's embedded metadata,
    which keeps its tracker (a script from a CDN) switched off.

    The docs are generated with the same schema, profile and vars every night, so the parse
    is kept in ``parse_cache`` and the next night's dbt parses only what changed since (a
    cold parse of the project takes about 4 s). dbt compares the files, vars and profile
    with the kept parse itself and parses in full when any differs or the file is unreadable.
    """
    from dbt.cli.main import dbtRunner

    disable_telemetry()
    os.environ.update(dbt_environment(url, schema))
    os.environ.update(night_environment(as_of))
    outcome = dbtRunner().invoke(
        [
            "docs",
            "generate",
            "--static",
            "--select",
            "marts",
            "--exclude",
            "config.meta.personal_data:true",  # published elsewhere (the personal-data schema)
            *_project_flags(settings, target),
            *_reuse_parse(parse_cache),
            "--no-use-colors",
        ]
    )
    if not outcome.success:
        raise DbtError(f"dbt docs generate failed: {outcome.exception}")
    _keep_parse(target, parse_cache)
    return target / "static_index.html"


def _project_flags(settings: Settings, target: Path | str) -> list[str]:
    """The project, whose folder holds its profile too, and where dbt writes its artifacts."""
    project = str(settings.dbt_project_dir)
    return ["--project-dir", project, "--profiles-dir", project, "--target-path", str(target)]


def _parse_file(folder: Path) -> Path:
    from dbt.constants import PARTIAL_PARSE_FILE_NAME

    return folder / PARTIAL_PARSE_FILE_NAME


def _reuse_parse(parse_cache: Path | None) -> list[str]:
    """dbt's flag to start from the parse kept in ``parse_cache``, if one is kept there."""
    if parse_cache is None or not _parse_file(parse_cache).exists():
        return []
    return ["--partial-parse-file-path", str(_parse_file(parse_cache))]


def _keep_parse(target: Path, parse_cache: Path) -> None:
    """Keep the parse dbt wrote in ``target``, replacing the kept one in one rename: a
    concurrent reader sees the old file or the new one, never half of one. dbt writes none
    when the kept one was still current. A parse that cannot be kept costs the next night a
    full parse, not this one its result: the failure is logged."""
    written, kept = _parse_file(target), _parse_file(parse_cache)
    if not written.exists():
        return
    partial = kept.with_name(f"{kept.name}.{os.getpid()}")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, partial)
        os.replace(partial, kept)
    except OSError as error:
        log.warning("dbt's parse not kept for the next night", path=str(kept), error=str(error))


def write_manifest(settings: Settings) -> Path:
    """`dbt parse` into target/manifest.json: what the Airflow task group is rendered from,
    so parsing a DAG never has to run dbt. Needs no warehouse connection.

    dbt parses into a folder of its own and the manifest is renamed into place: a
    dag-processor or a night reading it meanwhile sees the old file or the new one, never
    half of one."""
    from dbt.cli.main import dbtRunner

    disable_telemetry()
    manifest = manifest_path(settings)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parse_", dir=manifest.parent) as target:
        outcome = dbtRunner().invoke(
            ["parse", *_project_flags(settings, target), "--no-use-colors"]
        )
        if not outcome.success:
            raise DbtError(f"dbt parse failed: {outcome.exception}")
        os.replace(Path(target) / manifest.name, manifest)
    return manifest
