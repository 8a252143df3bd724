"""The three dashboards in a real Superset (its own venv, gunicorn, a fresh SQLite metadata
DB) over a real published night, read through ``bi_reader``.

Superset's API answers every chart from the query context saved in the export, each with
rows and no SQL error; Chromium renders each dashboard with every chart's data request
answered and every chart drawn, no error box and no request leaving the host.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from customer_health.bi import superset
from customer_health.bi.screenshots import dashboard_slugs, render_dashboards
from customer_health.deployment.local import free_port

DASHBOARDS = {"Customer health", "Revenue retention", "Expansion and renewals"}


@pytest.fixture(scope="module")
def running(settings, published_night, tmp_path_factory):
    if not (superset.superset_bin(settings) / "superset").exists():
        pytest.fail("Superset's venv is missing: run `make superset-install`")
    instance = superset.prepare(settings, tmp_path_factory.mktemp("superset"), free_port())
    superset.serve(settings, instance)
    yield instance
    superset.stop(instance)


@pytest.fixture(scope="module")
def api(running) -> httpx.Client:
    client = httpx.Client(base_url=running.url, timeout=120)
    login = client.post(
        "/api/v1/security/login",
        json={"username": superset.ADMIN, "password": running.admin_password, "provider": "db"},
    )
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return client


def bundle_charts() -> set[str]:
    return {
        content["slice_name"]
        for name, content in superset.read_bundle().items()
        if name.startswith("charts/")
    }


def test_superset_reads_the_warehouse_as_bi_reader(api):
    databases = api.get("/api/v1/database/").json()["result"]
    assert [database["database_name"] for database in databases] == ["warehouse"]
    uri = api.get(f"/api/v1/database/{databases[0]['id']}/connection").json()["result"]
    assert make_url(uri["sqlalchemy_uri"]).username == "bi_reader"


def test_every_chart_of_the_three_dashboards_returns_rows(api):
    dashboards = api.get("/api/v1/dashboard/").json()["result"]
    assert {dashboard["dashboard_title"] for dashboard in dashboards} == DASHBOARDS
    on_dashboards = {
        chart["id"]: chart["slice_name"]
        for dashboard in dashboards
        for chart in api.get(f"/api/v1/dashboard/{dashboard['id']}/charts").json()["result"]
    }
    assert set(on_dashboards.values()) == bundle_charts()
    answers = {}
    for chart_id, name in on_dashboards.items():
        response = api.get(f"/api/v1/chart/{chart_id}/data/")
        result = response.json().get("result", [{}])[0]
        answers[name] = (response.status_code, result.get("error"), result.get("rowcount", 0) > 0)
    assert answers == {name: (200, None, True) for name in bundle_charts()}


def test_the_dashboards_render_in_chromium_and_call_nothing_outside(running, api, tmp_path):
    charts_per_dashboard = {
        dashboard["slug"]: len(
            api.get(f"/api/v1/dashboard/{dashboard['id']}/charts").json()["result"]
        )
        for dashboard in api.get("/api/v1/dashboard/").json()["result"]
    }
    rendered = render_dashboards(running, tmp_path)
    assert [result.slug for result in rendered] == dashboard_slugs()
    assert {
        result.slug: (
            sorted(result.chart_data_statuses),
            result.charts_drawn,
            result.error_messages,
            result.outbound_requests,
        )
        for result in rendered
    } == {slug: ([200] * count, count, [], []) for slug, count in charts_per_dashboard.items()}
    assert all(Path(result.picture).stat().st_size > 0 for result in rendered)
