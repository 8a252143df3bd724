"""Take docs/grid.png: the Airflow grid of a finished night, every dbt model's task shown.

Starts the local deployment (`customer_health.deployment`, LocalExecutor, PostgreSQL
metadata), runs one night of generated data (scale factor 0.05) through the REST API, then
opens the run in a headless Chromium (Debian's `chromium`, driven by Playwright), expands the
task groups and saves the page. The README shows the picture; `make grid-screenshot` retakes it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from playwright.sync_api import sync_playwright

from customer_health.deployment import local
from customer_health.deployment.rest import AirflowApi
from customer_health.settings import disable_telemetry, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.warehouse.connection import drop_database, warehouse_url

NIGHT = date(2026, 11, 26)
DAG = "customer_health_nightly"
DATABASES = ("grid_screenshot", "grid_screenshot_airflow")
PICTURE = Path(__file__).with_name("grid.png")


def deployment_with_data(folder: Path) -> local.Deployment:
    """The local deployment over a year of generated files, on databases of its own."""
    landing = folder / "landing"
    generate(landing, GeneratorConfig(scale_factor=0.05, end_date=NIGHT))
    settings = replace(load_settings(), database=DATABASES[0], landing_path=str(landing))
    postgres = warehouse_url(replace(settings, database="postgres"))
    with psycopg.connect(postgres, autocommit=True) as admin:
        for name in DATABASES:
            drop_database(admin, name)
    return local.start(
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


def finished_night(api: AirflowApi) -> str:
    api.wait_for_dag(DAG)
    api.unpause(DAG)
    run_id = api.trigger(DAG, NIGHT)
    if (state := api.wait(DAG, run_id)) != "success":
        raise SystemExit(f"the night ended {state}: {api.failures(DAG, run_id)}")
    return run_id


def photograph(api_url: str, token: str, run_id: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2350})
            # The UI signs in with the REST API's token, which it reads from this cookie.
            cookie = {"name": "_token", "value": token, "path": "/"}
            page.context.add_cookies([{**cookie, "domain": urlsplit(api_url).hostname}])
            page.goto(f"{api_url}/dags/{DAG}/runs/{run_id}")
            page.get_by_label("Expand all task groups").click()
            # A model's run task, drawn once its group is expanded (the grid draws only the
            # rows in view, so the wait is for one near the top).
            page.get_by_text("run", exact=True).first.wait_for()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=PICTURE)
        finally:
            browser.close()


def main() -> None:
    disable_telemetry()
    with tempfile.TemporaryDirectory() as tmp:
        deployment = deployment_with_data(Path(tmp))
        try:
            api = AirflowApi(deployment.api_url, local.ADMIN, deployment.admin_password)
            photograph(deployment.api_url, api.token, finished_night(api))
        finally:
            local.stop(deployment)
    print(f"wrote {PICTURE}")


if __name__ == "__main__":
    main()
