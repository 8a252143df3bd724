"""The dashboards as a person sees them: signed in to Superset in a headless Chromium
(Debian's ``chromium`` driven by Playwright, from the dev extra), each dashboard opened,
every chart's data request watched, and a full-page picture taken.

Every request to a host other than Superset's is recorded and refused, so a dashboard that
would call the internet shows up as such instead of silently loading something.

``python -m customer_health.bi.screenshots docs`` retakes the README's pictures from the
warehouse the settings point at (`make bi-screenshots`, after `make demo`).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from customer_health.bi import superset
from customer_health.deployment.local import free_port
from customer_health.settings import load_settings

CHART_DATA = "/api/v1/chart/data"


@dataclass
class RenderedDashboard:
    slug: str
    picture: Path
    chart_data_statuses: list[int] = field(default_factory=list)
    outbound_requests: list[str] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    charts_drawn: int = 0


def dashboard_slugs() -> list[str]:
    return sorted(
        content["slug"]
        for name, content in superset.read_bundle().items()
        if name.startswith("dashboards/")
    )


# A chart is drawn once its container holds what its kind paints: an ECharts canvas, a table
# row or a big number's line. Answered data requests, mounted grid components and no spinner
# were not enough: on a loaded CI machine that still gave a blank picture.
DRAWN = """() => Array.from(document.querySelectorAll('[data-test="chart-container"]'))
    .filter(chart => chart.querySelector('canvas, table tbody tr, .header-line')).length"""
ALL_DRAWN = f"""charts => {{
    const mounted = document.querySelectorAll('[data-test="chart-grid-component"]').length;
    return mounted >= charts && ({DRAWN})() === mounted
        && !document.querySelector('[data-test="loading-indicator"]');
}}"""


def render_dashboards(running: superset.Superset, out_dir: Path) -> list[RenderedDashboard]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is missing: run `make system-packages`")
    own_host = urlsplit(running.url).netloc
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.set_default_timeout(120_000)  # Playwright's 30 s is short for a loaded 2-core box
        page.goto(f"{running.url}/login/")
        page.fill("#username", superset.ADMIN)
        page.fill("#password", running.admin_password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/superset/welcome/**")
        for slug in dashboard_slugs():
            result = RenderedDashboard(slug, out_dir / f"dashboard-{slug}.png")

            def refuse_outbound(route, result=result):
                if urlsplit(route.request.url).netloc in (own_host, ""):
                    route.continue_()
                else:
                    result.outbound_requests.append(route.request.url)
                    route.abort()

            def chart_data(response, result=result):
                if CHART_DATA in response.url and response.request.method == "POST":
                    result.chart_data_statuses.append(response.status)

            page.route("**/*", refuse_outbound)
            page.on("response", chart_data)
            page.goto(f"{running.url}/superset/dashboard/{slug}/")
            page.wait_for_load_state("networkidle")
            with contextlib.suppress(PlaywrightTimeout):  # the caller sees how many were drawn
                page.wait_for_function(ALL_DRAWN, arg=len(result.chart_data_statuses))
            page.wait_for_timeout(1500)  # ECharts animates its first paint
            result.charts_drawn = page.evaluate(DRAWN)
            result.error_messages = page.locator(".ant-alert-error").all_inner_texts()
            page.screenshot(path=result.picture, full_page=True)
            page.remove_listener("response", chart_data)
            page.unroute("**/*")
            rendered.append(result)
        browser.close()
    return rendered


def main(out_dir: str) -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory() as home:
        running = superset.prepare(settings, Path(home), free_port())
        superset.serve(settings, running)
        try:
            for result in render_dashboards(running, Path(out_dir)):
                print(f"{result.picture}: {result.charts_drawn} charts drawn")
        finally:
            superset.stop(running)


if __name__ == "__main__":
    main(sys.argv[1])
