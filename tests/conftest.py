"""Shared fixtures: a real embedded PostgreSQL per test session, generated landing data.

Each session gets its own server on a free port in a temporary folder, so tests never
touch the developer's warehouse and never depend on the order they run in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from customer_health.deployment.local import free_port
from customer_health.settings import PROJECT_HOME, Settings, disable_telemetry, load_settings
from customer_health.synthetic.generator import GenerationSummary, generate
from customer_health.warehouse import embedded
from customer_health.warehouse.connection import drop_database, warehouse_url
from customer_health.warehouse.urls import with_database
from tests.helpers import BIN, FIXTURE_FILES, NIGHT, TEST_DATA, airflow_dags_test


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """The manifest the nightly DAG's dbt task group is drawn from (`make test` writes it)."""
    path = PROJECT_HOME / "dbt_project" / "target" / "manifest.json"
    if not path.exists():
        written = subprocess.run(
            [str(BIN / "customer-health"), "manifest"], capture_output=True, text=True
        )
        assert written.returncode == 0, written.stdout[-3000:] + written.stderr[-3000:]
    return path


@pytest.fixture(scope="session")
def warehouse_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment that points every component at a fresh embedded warehouse."""
    disable_telemetry()
    root = tmp_path_factory.mktemp("warehouse")
    env = {
        "EMBEDDED_WAREHOUSE_DIR": str(root / "embedded"),
        "EMBEDDED_WAREHOUSE_PORT": str(free_port()),
        "LANDING_PATH": str(root / "landing"),
        "REPORTS_DIR": str(root / "reports"),
        "BI_READER_PASSWORD": "test-only-bi-password",
    }
    saved = {name: os.environ.get(name) for name in [*env, "WAREHOUSE_URL"]}
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ.update(env)
    yield env
    embedded.stop(embedded.server_for(load_settings()))
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def settings(warehouse_env: dict[str, str]) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def url(settings: Settings) -> str:
    return warehouse_url(settings)


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def generation(settings: Settings) -> GenerationSummary:
    """The test data written once into the landing area, with what the generator simulated."""
    return generate(Path(settings.landing_path), TEST_DATA)


@pytest.fixture(scope="session")
def generated_landing(settings: Settings, generation: GenerationSummary) -> Path:
    return Path(settings.landing_path)


@pytest.fixture(scope="session")
def airflow_env(warehouse_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An Airflow home with a migrated SQLite metadata DB, for real `airflow dags test` runs."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    return env


@pytest.fixture(scope="session")
def published_night(airflow_env: dict, generated_landing: Path) -> subprocess.CompletedProcess:
    """One real nightly DAG run over the generated data plus the hand-made fixture customer."""
    for relative, content in FIXTURE_FILES.items():
        path = generated_landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    result = airflow_dags_test(airflow_env, NIGHT)
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    return result


@pytest.fixture(scope="module")
def scratch_conn(url: str, request: pytest.FixtureRequest) -> Iterator[psycopg.Connection]:
    """A fresh database with the pipeline's schemas, private to one test module."""
    from psycopg import sql

    from customer_health.warehouse.bootstrap import ensure_warehouse_objects

    name = "scratch_" + request.module.__name__.rsplit(".", 1)[-1]
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, name)
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    scratch_url = with_database(url, name)
    with psycopg.connect(scratch_url, autocommit=True) as connection:
        ensure_warehouse_objects(connection, None)
        yield connection
