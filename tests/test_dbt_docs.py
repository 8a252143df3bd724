"""The published night's dbt docs: one static page beside the run's quality reports, named
by `customer-health summary`, describing exactly the tables BI reads; a docs failure never
touches the published night."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from dbt.constants import PARTIAL_PARSE_FILE_NAME

from customer_health.pipeline import DOCS_PARSE_CACHE, write_dbt_docs
from customer_health.publish.swap import table_names
from tests.helpers import NIGHT, cli

SUMMARY_LINE = "dbt docs of the published night (static HTML, opens offline): "


def embedded_artifact(page: str, kind: str) -> dict:
    """The manifest or catalog `dbt docs generate --static` wrote into the page."""
    schema = f"https://schemas.getdbt.com/dbt/{kind}/"
    start = page.index('{"metadata": {"dbt_schema_version": "' + schema)
    artifact, _ = json.JSONDecoder().raw_decode(page, start)
    return artifact


def test_the_summary_names_the_docs_of_every_published_model(settings, conn, published_night):
    summary = cli(dict(os.environ), "summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    (line,) = [line for line in summary.stdout.splitlines() if line.startswith(SUMMARY_LINE)]
    page_path = Path(line.removeprefix(SUMMARY_LINE))
    assert page_path.is_file() and page_path.is_relative_to(settings.reports_dir)
    page = page_path.read_text()
    manifest, catalog = embedded_artifact(page, "manifest"), embedded_artifact(page, "catalog")

    published = set(table_names(conn, settings.publish_schema))
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert published <= set(models)
    assert {models[name]["schema"] for name in published} == {settings.publish_schema}
    # The catalog (column types as the warehouse has them) is the published schema's, exactly.
    tables = [node["metadata"] for node in catalog["nodes"].values()]
    cataloged = {(table["schema"], table["name"]) for table in tables}
    assert cataloged == {(settings.publish_schema, name) for name in published}
    # What keeps the page's tracker (a CDN script, then a collector) off when it is opened.
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False


def test_the_next_night_reuses_the_kept_parse_and_documents_its_own_night(
    settings, published_night, tmp_path
):
    """The docs step keeps dbt's parse from night to night; the night's date reaches dbt as
    an environment variable read at run time, so a night that reuses the last night's parse
    still compiles the marts with its own date."""
    own_reports = replace(settings, reports_dir=tmp_path)
    later = NIGHT + timedelta(days=1)
    first = write_dbt_docs(own_reports, NIGHT, "docs-first-night")
    kept = tmp_path / DOCS_PARSE_CACHE / PARTIAL_PARSE_FILE_NAME
    first_parse = kept.read_bytes()
    second = write_dbt_docs(own_reports, later, "docs-next-night")
    # dbt writes a parse only when it parsed anything again: the second night reused it.
    assert kept.read_bytes() == first_parse

    def compiled_mrr(result: dict) -> str:
        manifest = embedded_artifact(Path(result["path"]).read_text(), "manifest")
        return manifest["nodes"]["model.customer_health.fct_mrr"]["compiled_code"]

    assert f"cast('{NIGHT.isoformat()}' as date)" in compiled_mrr(first)
    next_mrr = compiled_mrr(second)
    assert f"cast('{later.isoformat()}' as date)" in next_mrr
    assert NIGHT.isoformat() not in next_mrr


def test_a_docs_failure_is_reported_not_raised(settings, tmp_path):
    broken = replace(settings, home=tmp_path, reports_dir=tmp_path / "reports")
    result = write_dbt_docs(broken, NIGHT, "test-docs-failure")
    assert result["path"] is None and result["error"]
    assert not (tmp_path / "reports").exists()
