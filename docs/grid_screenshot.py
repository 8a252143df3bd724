"""Take docs/nightly-grid.png: the Airflow grid of a finished night, every dbt task shown.

Starts the local deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor),
runs one night over generated data through the REST API, then opens the run's grid in
headless Chromium (Debian's `chromium`), expands the task groups and saves the picture. Not
part of the test suite; it needs `pip install -c constraints.txt playwright` in the venv and
`apt-get install chromium`:

    .venv/bin/python docs/grid_screenshot.py
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from playwright.sync_api import sync_playwright

from customer_health.deployment import local
from customer_health.deployment.rest import AirflowApi
from customer_health.settings import PROJECT_HOME, disable_telemetry, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate

DAG = "customer_health_nightly"
NIGHT = date(2026, 10, 31)
PICTURE = PROJECT_HOME / "docs" / "nightly-grid.png"


def main() -> None:
    disable_telemetry()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder / "landing", GeneratorConfig(scale_factor=0.01, days=60, end_date=NIGHT))
        deployment = local.start(
            load_settings(),
            folder / "airflow",
            metadata_database="airflow_docs",
            extra_env={
                "WAREHOUSE_DATABASE": "docs_screenshot",
                "LANDING_PATH": str(folder / "landing"),
                "REPORTS_DIR": str(folder / "reports"),
                "NIGHTLY_SCHEDULE": "none",
            },
        )
        try:
            api = AirflowApi(deployment.api_url, local.ADMIN, deployment.admin_password)
            api.wait_for_dag(DAG)
            api.unpause(DAG)
            run_id = api.trigger(DAG, NIGHT)
            print(f"night {NIGHT}: {api.wait(DAG, run_id)}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                context = browser.new_context(viewport={"width": 1800, "height": 1400})
                # Signed in as the UI's login form would leave it: the API token as a cookie.
                token = api.client.headers["Authorization"].removeprefix("Bearer ")
                context.add_cookies([{"name": "_token", "value": token, "url": deployment.api_url}])
                page = context.new_page()
                page.goto(f"{deployment.api_url}/dags/{DAG}/runs/{run_id}")
                page.wait_for_load_state("networkidle")
                page.get_by_label("Expand all task groups").first.click()
                page.wait_for_timeout(2000)
                page.screenshot(path=str(PICTURE), full_page=True)
                browser.close()
        finally:
            local.stop(deployment)
    print(f"wrote {PICTURE}")


if __name__ == "__main__":
    main()
