"""Settings are checked when they are read: a bad value names its variable, and the command
line says so in one line, never with a traceback. The same holds for a warehouse that does
not answer."""

from __future__ import annotations

import os

import psycopg
import pytest

from customer_health.deployment.local import free_port
from customer_health.errors import SettingsError
from customer_health.settings import load_settings
from customer_health.warehouse.connection import drop_database
from tests.helpers import cli

BAD_SETTINGS = [
    ("EMBEDDED_WAREHOUSE_PORT", "54x", "EMBEDDED_WAREHOUSE_PORT='54x' is not an integer"),
    (
        "EMBEDDED_WAREHOUSE_PORT",
        "70000",
        "EMBEDDED_WAREHOUSE_PORT='70000' is out of range: it must be between 1 and 65535",
    ),
    (
        "QUARANTINE_THRESHOLD",
        "1.5",
        "QUARANTINE_THRESHOLD='1.5' is out of range: it must be between 0 and 1",
    ),
    ("QUARANTINE_THRESHOLD", "1%", "QUARANTINE_THRESHOLD='1%' is not a number"),
    (
        "QUARANTINE_THRESHOLD",
        "nan",
        "QUARANTINE_THRESHOLD='nan' is out of range: it must be between 0 and 1",
    ),
    (
        "QUARANTINE_TOLERATED_ROWS",
        "-1",
        "QUARANTINE_TOLERATED_ROWS='-1' is out of range: it must be at least 0",
    ),
    (
        "INGEST_CONNECTIONS",
        "0",
        "INGEST_CONNECTIONS='0' is out of range: it must be at least 1",
    ),
    (
        "PUBLISH_BACKUPS_TO_KEEP",
        "-3",
        "PUBLISH_BACKUPS_TO_KEEP='-3' is out of range: it must be at least 0",
    ),
    (
        "NIGHT_LOCK_WAIT_SECONDS",
        "-5",
        "NIGHT_LOCK_WAIT_SECONDS='-5' is out of range: it must be at least 0",
    ),
    (
        "NIGHT_LOCK_TTL_SECONDS",
        "0",
        "NIGHT_LOCK_TTL_SECONDS='0' is out of range: it must be at least 1",
    ),
    (
        "NIGHT_LOCK_TTL_SECONDS",
        "inf",
        "NIGHT_LOCK_TTL_SECONDS='inf' is out of range: it must be at least 1",
    ),
    (
        "PUBLISH_LOCK_TIMEOUT",
        "30 seconds",
        "PUBLISH_LOCK_TIMEOUT='30 seconds' is not a duration such as 30s, 500ms or 2min",
    ),
    ("TASK_RETRY_DELAY_SECONDS", "2m", "TASK_RETRY_DELAY_SECONDS='2m' is not a number"),
    ("RAW_FRESHNESS_DAYS", "-1", "RAW_FRESHNESS_DAYS='-1' is out of range: it must be at least 0"),
    (
        "DBT_EXECUTION_MODE",
        "watcher",
        "DBT_EXECUTION_MODE='watcher': expected one of single, cosmos_local, cosmos_watcher",
    ),
    ("NIGHTLY_CATCHUP", "yes", "NIGHTLY_CATCHUP='yes': expected one of true, false"),
    (
        "NIGHTLY_TIMEZONE",
        "Mars/Olympus",
        "NIGHTLY_TIMEZONE='Mars/Olympus' is not a time zone such as Europe/Berlin",
    ),
    *[
        (
            name,
            value,
            f"{name}={value!r} is not a plain lower-case identifier "
            "(letters a-z, digits and _, not starting with a digit)",
        )
        for name in ("PUBLISH_SCHEMA", "BUILD_SCHEMA_PREFIX")
        for value in ("Analytics", "bi-tables", "1st", 'a"b', "")
    ],
    (
        "PUBLISH_SCHEMA",
        "a" * 36,
        f"PUBLISH_SCHEMA='{'a' * 36}' is too long: at most 35 characters",
    ),
    (
        "BUILD_SCHEMA_PREFIX",
        "b" * 46,
        f"BUILD_SCHEMA_PREFIX='{'b' * 46}' is too long: at most 45 characters",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_named_with_its_value(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == message


def test_settings_read_as_people_write_them(monkeypatch):
    monkeypatch.setenv("NIGHTLY_CATCHUP", "True")
    monkeypatch.setenv("LANDING_IGNORE", " _SUCCESS , *.tmp ,")
    monkeypatch.setenv("PUBLISH_LOCK_TIMEOUT", "2min")
    settings = load_settings()
    assert (settings.catchup, settings.landing_ignore, settings.lock_timeout) == (
        True,
        ("_SUCCESS", "*.tmp"),
        "2min",
    )


def test_the_longest_accepted_schema_names_load(monkeypatch):
    monkeypatch.setenv("PUBLISH_SCHEMA", "a" * 35)
    monkeypatch.setenv("BUILD_SCHEMA_PREFIX", "b" * 45)
    settings = load_settings()
    assert (settings.publish_schema, settings.build_schema_prefix) == ("a" * 35, "b" * 45)


@pytest.mark.parametrize("command", [["status"], ["summary"], ["run", "--date", "2026-11-26"]])
def test_the_command_line_reports_a_bad_setting_in_one_line(command):
    result = cli({**os.environ, "QUARANTINE_THRESHOLD": "1.5"}, *command)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: QUARANTINE_THRESHOLD='1.5' is out of range: it must be between 0 and 1\n",
    )


@pytest.mark.parametrize("command", ["status", "summary"])
def test_a_warehouse_that_does_not_answer_is_one_line(command):
    port = free_port()
    env = {**os.environ, "WAREHOUSE_URL": f"postgresql://nobody:secret@127.0.0.1:{port}/none"}
    result = cli(env, command)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: the warehouse did not answer: connection failed: connection to server at "
        f'"127.0.0.1", port {port} failed: Connection refused\n',
    )


def test_summary_before_the_first_night_says_so_in_one_line(url):
    """A warehouse that answers but has published nothing yet: no traceback."""
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, "never_published")
    env = {**os.environ, "WAREHOUSE_DATABASE": "never_published"}
    result = cli(env, "summary")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: nothing is published in schema 'analytics' yet: run a night first "
        "(`customer-health run --date YYYY-MM-DD`, or `make demo`)\n",
    )
