"""A night makes no outbound call: no telemetry from Airflow, dbt, GX or Cosmos, nothing else.

Every Python process of the run gets a guard (via sitecustomize) that records and refuses
any DNS lookup of a non-loopback host. The telemetry switches are removed from the
environment first, so the entry points must turn telemetry off themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from customer_health.settings import TELEMETRY_OFF
from customer_health.synthetic.generator import GeneratorConfig, generate
from tests.helpers import BIN, NIGHT, cli

GUARD = """
import os
import socket

_real_getaddrinfo = socket.getaddrinfo
# Loopback and this machine's own name (Airflow resolves it to label task logs).
_LOCAL = {None, "", "localhost", "127.0.0.1", "::1", socket.gethostname()}


def _guarded(host, *args, **kwargs):
    if host not in _LOCAL and not str(host).startswith("127."):
        with open(os.environ["OUTBOUND_LOG"], "a") as log:
            log.write(f"{host}\\n")
        raise socket.gaierror("outbound calls are refused in this test")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded
"""


@pytest.fixture(scope="module")
def guarded_env(url, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("guard")
    (folder / "sitecustomize.py").write_text(GUARD)
    landing = tmp_path_factory.mktemp("guard-landing")
    generate(landing, GeneratorConfig(scale_factor=0.01, days=40, end_date=NIGHT, seed=3))
    env = {name: value for name, value in os.environ.items() if name not in TELEMETRY_OFF}
    env.update(
        PYTHONPATH=str(folder),
        OUTBOUND_LOG=str(folder / "outbound.log"),
        WAREHOUSE_DATABASE="no_outbound",
        LANDING_PATH=str(landing),
        REPORTS_DIR=str(folder / "reports"),
        AIRFLOW_HOME=str(tmp_path_factory.mktemp("guard-airflow")),
        AIRFLOW__CORE__DAGS_FOLDER=str(Path(__file__).resolve().parents[1] / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    return env


def outbound(env: dict) -> list[str]:
    log = Path(env["OUTBOUND_LOG"])
    return log.read_text().split() if log.exists() else []


def test_the_guard_catches_a_lookup(guarded_env, tmp_path):
    # A log of its own: the other tests' logs stay empty whatever order they run in.
    probe_env = {**guarded_env, "OUTBOUND_LOG": str(tmp_path / "outbound.log")}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\ntry: socket.getaddrinfo('example.org', 443)\nexcept OSError: pass",
        ],
        env=probe_env,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0
    assert outbound(probe_env) == ["example.org"]


def test_a_night_from_the_cli_makes_no_outbound_call(guarded_env):
    result = cli(guarded_env, "run", "--date", NIGHT.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    assert outbound(guarded_env) == []


def test_a_dag_run_makes_no_outbound_call(guarded_env):
    airflow = str(BIN / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=guarded_env, capture_output=True)
    assert migrate.returncode == 0
    result = subprocess.run(
        [airflow, "dags", "test", "customer_health_nightly", NIGHT.isoformat()],
        env=guarded_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert outbound(guarded_env) == []
