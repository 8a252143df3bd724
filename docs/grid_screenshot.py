"""Take docs/grid.png: the Airflow grid of a finished night, every dbt model's task shown.

Starts the local deployment (`customer_health.deployment`, LocalExecutor, PostgreSQL
metadata), runs one night of generated data (scale factor 0.05) through the REST API, then
opens the run in a headless Chromium (Debian's `chromium`, driven by Playwright), expands the
task groups and saves the page. The README shows the picture; `make grid-screenshot` retakes it.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from playwright.sync_api import sync_playwright
from psycopg import sql

from customer_health.deployment import local
from customer_health.deployment.rest import AirflowApi
from customer_health.settings import disable_telemetry, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.warehouse.connection import warehouse_url

NIGHT = date(2026, 11, 26)
DAG = "customer_health_nightly"
DATABASES = ("grid_screenshot", "grid_screenshot_airflow")
CHROMIUM = "/usr/bin/chromium"
PICTURE = Path(__file__).with_name("grid.png")


def finished_night(folder: Path) -> tuple[local.Deployment, AirflowApi, str]:
    landing = folder / "landing"
    generate(landing, GeneratorConfig(scale_factor=0.05, end_date=NIGHT))
    settings = replace(load_settings(), database=DATABASES[0], landing_path=str(landing))
    postgres = warehouse_url(replace(settings, database="postgres"))
    with psycopg.connect(postgres, autocommit=True) as admin:
        for name in DATABASES:
            drop = sql.SQL("drop database if exists {} with (force)")
            admin.execute(drop.format(sql.Identifier(name)))
    deployment = local.start(
        settings,
        folder / "airflow",
        metadata_database=DATABASES[1],
        extra_env={
            "WAREHOUSE_DATABASE": DATABASES[0],
            "LANDING_PATH": str(landing),
            "REPORTS_DIR": str(folder / "reports"),
            "NIGHTLY_SCHEDULE": "none",
        },
    )
    api = AirflowApi(deployment.api_url, local.ADMIN, deployment.admin_password)
    api.wait_for_dag(DAG)
    api.unpause(DAG)
    run_id = api.trigger(DAG, NIGHT)
    if (state := api.wait(DAG, run_id)) != "success":
        raise SystemExit(f"the night ended {state}: {api.failures(DAG, run_id)}")
    return deployment, api, run_id


def photograph(api_url: str, token: str, run_id: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 2350})
        page.context.add_cookies(
            [{"name": "_token", "value": token, "domain": urlsplit(api_url).hostname, "path": "/"}]
        )
        page.goto(f"{api_url}/dags/{DAG}/runs/{run_id}")
        page.get_by_label("Expand all task groups").click()
        page.get_by_text("customer_360", exact=True).first.wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=PICTURE)
        browser.close()


def main() -> None:
    disable_telemetry()
    with tempfile.TemporaryDirectory() as tmp:
        deployment, api, run_id = finished_night(Path(tmp))
        try:
            photograph(deployment.api_url, api.token, run_id)
        finally:
            local.stop(deployment)
    print(f"wrote {PICTURE}")


if __name__ == "__main__":
    main()
