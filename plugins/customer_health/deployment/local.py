"""Airflow 3's own components — api-server, scheduler, dag-processor, triggerer, and Celery
workers — started from this venv on a PostgreSQL metadata database, as a team runs them.

The metadata lives in a second database (``airflow_metadata``) on the warehouse's server,
so nothing beyond the embedded PostgreSQL (or the external one ``WAREHOUSE_URL`` names) is
needed. Each component runs in a process group of its own, with its log in
``<home>/logs/<component>.log``; ``stop`` ends them all. Configuration is environment only
(``AIRFLOW__…``): nothing is written to airflow.cfg.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from customer_health.settings import PROJECT_HOME, TELEMETRY_OFF, Settings
from customer_health.warehouse.connection import warehouse_url
from customer_health.warehouse.urls import sqlalchemy_url, with_database

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN = "admin"
METADATA_DATABASE = "airflow_metadata"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Deployment:
    home: Path
    api_url: str
    admin_password: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"


def metadata_url(settings: Settings, database: str) -> str:
    """A metadata database on the warehouse's server, created if missing (SQLAlchemy URL)."""
    admin_url = with_database(warehouse_url(settings), "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    return sqlalchemy_url(with_database(admin_url, database))


def airflow_environment(
    home: Path, metadata: str, api_port: int, executor: str, parallelism: int
) -> dict[str, str]:
    """Every setting the components need, as a team deployment would set them."""
    api = f"http://127.0.0.1:{api_port}"
    return {
        **TELEMETRY_OFF,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
    }


def start(
    settings: Settings,
    home: Path,
    *,
    executor: str = "LocalExecutor",
    parallelism: int | None = None,
    metadata_database: str = METADATA_DATABASE,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
) -> Deployment:
    """Migrate the metadata DB, start the four components, wait until all report healthy.

    With ``CeleryExecutor`` a Redis broker is started first; workers are started with
    `start_celery_worker`. ``parallelism`` defaults to twice the cores: enough to overlap a
    dbt process with the bookkeeping of light tasks, not so many that dbt processes fight
    over two cores.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({ADMIN: password}))
    port = free_port()
    env = {
        **os.environ,
        **airflow_environment(
            home,
            metadata_url(settings, metadata_database),
            port,
            executor,
            parallelism or 2 * (os.cpu_count() or 1),
        ),
        **(extra_env or {}),
    }
    deployment = Deployment(home, f"http://127.0.0.1:{port}", password, env)
    try:
        if executor == "CeleryExecutor":
            deployment.env["AIRFLOW__CELERY__BROKER_URL"] = start_redis(deployment)
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
        )
        for component in COMPONENTS:
            deployment.processes[component] = _spawn(deployment, component, [component])
        wait_until_healthy(deployment, timeout)
    except Exception:
        stop(deployment)
        raise
    return deployment


def _spawn(
    deployment: Deployment, name: str, args: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen:
    with deployment.log(name).open("a") as log:
        return subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env={**deployment.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` for workers sharing one machine: the name a worker was
    started under, so task instances say which worker ran them (as separate hosts would)."""
    return os.environ.get("CUSTOMER_HEALTH_WORKER_NAME") or socket.getfqdn()


def start_celery_worker(deployment: Deployment, name: str, concurrency: int = 2) -> None:
    """A Celery worker known as ``name@<host>``, whose task instances record ``name`` as their
    hostname; its log is ``<home>/logs/worker-<name>.log``."""
    worker = f"worker-{name}"
    deployment.processes[worker] = _spawn(
        deployment,
        worker,
        ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)],
        {
            "CUSTOMER_HEALTH_WORKER_NAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        },
    )


def start_redis(deployment: Deployment) -> str:
    """A Redis server (Debian's redis-server) on a free loopback port for Celery's broker,
    kept in memory only; returns its URL. `make system-packages` installs it."""
    redis = shutil.which("redis-server")
    if redis is None:
        raise RuntimeError("redis-server is not installed: run `make system-packages` (as root)")
    port = free_port()
    with deployment.log("redis").open("a") as log:
        deployment.processes["redis"] = subprocess.Popen(
            [redis, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return f"redis://127.0.0.1:{port}/0"


def wait_until_healthy(deployment: Deployment, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    health: dict = {}
    while time.monotonic() < deadline:
        for name, process in deployment.processes.items():
            if process.poll() is not None:
                tail = deployment.log(name).read_text()[-3000:]
                raise RuntimeError(f"airflow {name} exited with {process.returncode}:\n{tail}")
        try:
            health = httpx.get(f"{deployment.api_url}/api/v2/monitor/health", timeout=2).json()
        except httpx.HTTPError:
            health = {}
        if all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s: {health}")


def stop(deployment: Deployment, grace: float = 30) -> None:
    """End every component: SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
    for process in deployment.processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in deployment.processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
