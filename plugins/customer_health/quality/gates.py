"""Run a GX checkpoint as a gate: nothing is published unless every expectation passes.

Suites, validation definitions and checkpoints are files under ``expectations/``. Each run
validates from its own copy of that project under ``REPORTS_DIR/<run>/gx``, so concurrent
runs share no mutable GX state and every run keeps its results and its quality report (a
static page, see ``report_site``; the checkpoints build no GX Data Docs, which need the
internet); the copy's raw suites are generated from the contracts with the run's settings
(see ``raw_suites``). The connection reaches GX in memory, as the runtime value of
``${GX_WAREHOUSE_URL}``, never in a file of the run's folder; its ``search_path`` points the
schema-less table assets at the schema being validated.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from customer_health.errors import QualityGateError
from customer_health.gc_pauses import fewer_collections
from customer_health.quality.gx_import import import_great_expectations
from customer_health.quality.raw_suites import COUNTED_IN, write_raw_suites
from customer_health.quality.report_site import REPORT_NAME, write_report
from customer_health.settings import Settings, disable_telemetry
from customer_health.warehouse.urls import sqlalchemy_url

if TYPE_CHECKING:
    from great_expectations.checkpoint import Checkpoint, CheckpointResult

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list = field(default_factory=list)
    error: str | None = None
    # What the expectation asks of the column (bounds, allowed values), for the report.
    parameters: dict = field(default_factory=dict)

    def describe(self) -> str:
        where = f"{self.suite}.{self.column}" if self.column else self.suite
        count = f"{self.unexpected_count} unexpected" if self.unexpected_count else "failed"
        if self.error:
            count = f"could not be evaluated: {self.error}"
        sample = f", e.g. {self.sample}" if self.sample else ""
        return f"{where}: {self.expectation} {count}{sample}"


@dataclass(frozen=True)
class GateResult:
    checkpoint: str
    success: bool
    outcomes: list[ExpectationOutcome]
    report: Path
    # The suites of the validations the checkpoint ran, in its order.
    suites: list[str]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "success": self.success,
            "expectations": len(self.outcomes),
            "failed": [o.describe() for o in self.failures],
        }


def run_reports_dir(settings: Settings, name: str) -> Path:
    """A run's own folder under REPORTS_DIR (Airflow run ids hold ':' and '+')."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return settings.reports_dir / safe


def run_project_dir(settings: Settings, run_id: str) -> Path:
    return run_reports_dir(settings, run_id) / "gx"


def report_path(project: Path) -> Path:
    """Where a checkpoint run's quality report is written: beside its project copy."""
    return project.parent / REPORT_NAME


def latest_report(settings: Settings) -> Path | None:
    """The newest run's quality report, wherever its run's project copy is."""
    pattern = report_path(Path("*") / "gx")
    found = sorted(settings.reports_dir.glob(str(pattern)), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _prepare_project(settings: Settings, run_id: str) -> Path:
    project = run_project_dir(settings, run_id)
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(settings.gx_dir, project, ignore=shutil.ignore_patterns("uncommitted"))
    write_raw_suites(project, settings.raw_freshness_days)
    return project


def gx_url(url: str, schema: str) -> str:
    """A SQLAlchemy URL for GX whose search_path selects the schema under validation.

    Its sessions aggregate a partitioned table partition by partition: grouped by file and
    line, each raw partition's groups fit in memory where the whole table's spill to disk
    (the uniqueness check over every file at SF 1: 9.6 s -> 2.6 s)."""
    return sqlalchemy_url(url, search_path=schema, enable_partitionwise_aggregate="on")


@fewer_collections()
def run_gate(settings: Settings, url: str, checkpoint: str, schema: str, run_id: str) -> GateResult:
    disable_telemetry()
    gx = import_great_expectations()
    project = _prepare_project(settings, f"{run_id}-{checkpoint}")
    context = gx.get_context(
        mode="file",
        context_root_dir=str(project),
        runtime_environment={"GX_WAREHOUSE_URL": gx_url(url, schema)},
    )
    try:
        result = _run_checkpoint(context.checkpoints.get(checkpoint))
    finally:
        # GX keeps a process's last context, and the connections its engines pooled, alive.
        for source in context.data_sources.all().values():
            source.get_execution_engine().engine.dispose()
    outcomes = [
        _outcome(run.suite_name, check)
        for run in result.run_results.values()
        for check in run.results
    ]
    suites = [run.suite_name for run in result.run_results.values()]
    gate = GateResult(checkpoint, bool(result.success), outcomes, report_path(project), suites)
    write_report(gate, schema, run_id)
    log.info("quality gate", **gate.summary(), report=str(gate.report))
    return gate


def _run_checkpoint(checkpoint: Checkpoint) -> CheckpointResult:
    """Run it once for pass or fail only, and again in its own result format, which fetches
    example rows, only if something failed: on a passing night every column check would
    otherwise pay a second query for examples it never shows. GX runs a checkpoint only as
    saved; this one is the run's own copy."""
    examples_format = checkpoint.result_format
    checkpoint.result_format = "BOOLEAN_ONLY"
    checkpoint.save()
    result = checkpoint.run()
    if not result.success:
        checkpoint.result_format = examples_format
        checkpoint.save()
        result = checkpoint.run()
    return result


def _outcome(suite: str, check) -> ExpectationOutcome:
    """One expectation's result, with what a person needs: how many rows, which ones."""
    config, result = check.expectation_config, check.result
    if config.type == "unexpected_rows_expectation":
        # Its observed value is the number of rows the query returned, unless each of them
        # counts rows of its own (one per broken rule): then they are all shown and summed.
        count = result.get("observed_value")
        sample = list((result.get("details") or {}).get("unexpected_rows") or [])
        counted_in = (config.meta or {}).get(COUNTED_IN)
        if counted_in and sample:
            count = sum(row[counted_in] for row in sample)
        elif not counted_in:
            sample = sample[:3]
    else:
        count = result.get("unexpected_count")
        sample = list(result.get("partial_unexpected_list") or [])[:5]
    return ExpectationOutcome(
        suite=suite,
        expectation=config.description or config.type,
        column=config.kwargs.get("column"),
        success=bool(check.success),
        unexpected_count=count,
        sample=sample,
        error=_first_error(check.exception_info),
        parameters={
            name: value
            for name, value in config.kwargs.items()
            # The column has its own field; a query's description says what it checks.
            if name not in ("column", "batch_id", "unexpected_rows_query")
        },
    )


def _first_error(exception_info: dict) -> str | None:
    """GX nests exception details per metric; the first message is enough for a person."""
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message", "")).splitlines()[0][:300]
    return None


def enforce(gate: GateResult) -> None:
    if not gate.success:
        lines = "\n  ".join(o.describe() for o in gate.failures)
        raise QualityGateError(
            f"quality gate {gate.checkpoint} failed, nothing was published:\n  {lines}\n"
            f"report: {gate.report}"
        )
