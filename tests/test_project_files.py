"""Files that are generated or deployed must agree with the code they describe."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from customer_health.bi.superset import read_bundle
from customer_health.ingest.contract_docs import markdown_table, source_yaml_paths, sources_yaml
from customer_health.ingest.contracts import ENTITIES
from customer_health.quality.raw_suites import raw_suite, render, suite_id, suite_path
from customer_health.settings import PROJECT_HOME, RAW_FRESHNESS_DAYS


def test_dbt_source_yaml_matches_the_landing_contracts():
    for source, path in source_yaml_paths(PROJECT_HOME / "dbt_project").items():
        assert path.read_text() == sources_yaml(source), (
            f"{path} is stale: run `customer-health contracts write-docs`"
        )


def test_every_mart_has_its_own_yaml_beside_it():
    """x.sql's docs, contract, data tests and unit tests live in x.yml and nowhere else, so
    a model's whole definition is two files side by side (dbt's jaffle-shop layout)."""
    marts = PROJECT_HOME / "dbt_project" / "models" / "marts"
    for sql_path in sorted(marts.rglob("*.sql")):
        document = yaml.safe_load(sql_path.with_suffix(".yml").read_text())
        assert [m["name"] for m in document["models"]] == [sql_path.stem], sql_path
        tested = {t["model"] for t in document.get("unit_tests") or []}
        assert tested <= {sql_path.stem}, sql_path
    model_yaml = {p.stem for p in marts.rglob("*.yml") if not p.stem.startswith("_")}
    assert model_yaml == {p.stem for p in marts.rglob("*.sql")}
    # The one shared file holds the dashboards (exposures), no model.
    shared = {p.name: set(yaml.safe_load(p.read_text())) for p in marts.rglob("_*.yml")}
    assert shared == {"_dashboards.yml": {"version", "exposures"}}


def test_readme_documents_the_landing_contracts():
    assert markdown_table() in (PROJECT_HOME / "README.md").read_text(), (
        "README contract table is stale: run `customer-health contracts write-docs`"
    )


def test_raw_suites_are_the_ones_the_contracts_generate():
    """Every raw suite on disk, byte for byte, and no raw suite the contracts do not make;
    the raw validation definitions point at the generated suites."""
    gx = PROJECT_HOME / "expectations"
    on_disk = {p.name for p in (gx / "expectations").glob("raw_*.json")}
    assert on_disk == {suite_path(gx, entity).name for entity in ENTITIES}
    for entity in ENTITIES:
        path = suite_path(gx, entity)
        assert path.read_text() == render(raw_suite(entity, RAW_FRESHNESS_DAYS)), (
            f"{path} is stale: run `customer-health expectations write-raw`"
        )
        definition = json.loads((gx / "validation_definitions" / path.name).read_text())
        assert definition["suite"] == {"id": suite_id(entity), "name": f"raw_{entity.name}"}


def test_docker_compose_is_valid_against_the_compose_spec():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(PROJECT_HOME / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_references_existing_files():
    compose = yaml.safe_load((PROJECT_HOME / "docker-compose.yml").read_text())
    referenced = []
    for service in compose["services"].values():
        build = service.get("build")
        if isinstance(build, dict):
            referenced.append(
                Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile")
            )
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            # ./data (landing files, reports) is created by Docker at run time.
            if source.startswith(".") and not source.startswith("./data"):
                referenced.append(Path(source))
        for env_file in service.get("env_file", []):
            path = env_file if isinstance(env_file, str) else env_file["path"]
            if not (isinstance(env_file, dict) and env_file.get("required") is False):
                referenced.append(Path(path))
    assert referenced
    missing = [str(p) for p in referenced if not (PROJECT_HOME / p).exists()]
    assert missing == []


def test_docker_image_installs_the_locked_versions():
    dockerfile = (PROJECT_HOME / "Dockerfile").read_text()
    assert re.search(r"pip install .*-c \S*constraints\.txt", dockerfile)
    airflow = next(
        line
        for line in (PROJECT_HOME / "constraints.txt").read_text().splitlines()
        if line.startswith("apache-airflow==")
    )
    assert f"apache/airflow:{airflow.split('==')[1]}-python3.11" in dockerfile


def test_docker_compose_follows_the_deployment_rules():
    compose = yaml.safe_load((PROJECT_HOME / "docker-compose.yml").read_text())
    services = compose["services"]
    # Published ports listen on this host only.
    ports = [port for service in services.values() for port in service.get("ports", [])]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports), ports
    # The scheduler's healthcheck needs its health server switched on.
    scheduler = services["airflow-scheduler"]
    assert scheduler["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "8974/health" in " ".join(scheduler["healthcheck"]["test"])
    # Every variable .env.example offers is used by compose.
    text = (PROJECT_HOME / "docker-compose.yml").read_text()
    offered = re.findall(r"^([A-Z_]+)=", (PROJECT_HOME / ".env.example").read_text(), re.M)
    assert [name for name in offered if "${" + name not in text] == []
    # A pinned Metabase that keeps its own database on a volume.
    metabase = services["metabase"]
    assert re.fullmatch(r"metabase/metabase:v\d+\.\d+\.\d+(\.\d+)?", metabase["image"])
    data = metabase["environment"]["MB_DB_FILE"].rsplit("/", 1)[0]
    assert any(volume.endswith(":" + data) for volume in metabase["volumes"])


def test_every_published_table_has_a_tested_key(dbt_manifest):
    """BI tools need a key to join and count on: dbt tests its uniqueness every night, or the
    table's primary key (its enforced contract) refuses a duplicate as it is written."""
    manifest = json.loads(dbt_manifest.read_text())
    marts = {
        node["unique_id"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }
    keyed = {
        node["attached_node"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") in ("unique", "unique_combination")
    } | {
        unique_id
        for unique_id, node in marts.items()
        if node["contract"]["enforced"]
        and any(
            constraint["type"] == "primary_key"
            for constraints in (
                node["constraints"],
                *(column["constraints"] for column in node["columns"].values()),
            )
            for constraint in constraints
        )
    }
    assert marts, "the manifest lists the marts"
    # The daily history is a view: each month table it reads is keyed (test_end_to_end).
    assert sorted(marts.keys() - keyed) == ["model.customer_health.fct_customer_health_daily"]


def test_dbt_exposures_list_the_tables_each_dashboard_reads(dbt_manifest):
    """Lineage in dbt docs stays true to the Superset export: same dashboards, same tables."""
    bundle = read_bundle()
    tables = {c["uuid"]: c["table_name"] for n, c in bundle.items() if n.startswith("datasets/")}
    chart_tables = {
        c["uuid"]: tables[c["dataset_uuid"]] for n, c in bundle.items() if n.startswith("charts/")
    }
    dashboards = {
        content["slug"]: sorted(
            {
                chart_tables[item["meta"]["uuid"]]
                for item in content["position"].values()
                if isinstance(item, dict) and item.get("type") == "CHART"
            }
        )
        for name, content in bundle.items()
        if name.startswith("dashboards/")
    }
    manifest = json.loads(dbt_manifest.read_text())
    exposures = {
        exposure["url"].rstrip("/").rsplit("/", 1)[1]: sorted(
            manifest["nodes"][node]["name"] for node in exposure["depends_on"]["nodes"]
        )
        for exposure in manifest["exposures"].values()
    }
    assert exposures == dashboards
