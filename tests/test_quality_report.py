"""A gate run's quality report reads offline: opened in a real browser, it lists every
validation the checkpoint ran and makes no request beyond its own file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from customer_health.pipeline import RAW_CHECKPOINT, validate_raw
from customer_health.settings import Settings


def checkpoint_suites(settings: Settings, checkpoint: str) -> list[str]:
    """The suites of a checkpoint's validation definitions, read from the project's files."""

    def read(folder: str, name: str) -> dict:
        return json.loads((settings.gx_dir / folder / f"{name}.json").read_text())

    return [
        read("validation_definitions", v["name"])["suite"]["name"]
        for v in read("checkpoints", checkpoint)["validation_definitions"]
    ]


def open_offline(report: Path) -> tuple[list[str], list[str], list[str]]:
    """Open the report in headless Chromium; return every URL it requested, its console
    errors and the suites its overview lists."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: run `make system-packages` (apt-get install chromium)")
    requested: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else 0)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(report.as_uri(), wait_until="networkidle")
            listed = page.locator("#validations tbody tr td:first-child").all_inner_texts()
        finally:
            browser.close()
    return requested, errors, listed


def test_the_report_lists_every_validation_offline(settings, published_night):
    summary = validate_raw(settings, "test-offline-report")
    report = Path(summary["quality_report"])
    requested, errors, listed = open_offline(report)
    assert report.as_uri() in requested
    assert {url for url in requested if not url.startswith("file://")} == set()
    assert errors == []
    suites = checkpoint_suites(settings, RAW_CHECKPOINT)
    assert len(listed) == len(suites)
    assert listed == suites
