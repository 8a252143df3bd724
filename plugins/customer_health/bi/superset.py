"""Apache Superset beside the warehouse, reading the published schema as ``bi_reader``.

Superset pins SQLAlchemy < 2 and pandas < 2.2, so it lives in a virtualenv of its own
(``.superset-venv``, installed from ``bi/superset/constraints.txt``) and this module drives
it from outside: its CLI to migrate, create the admin and import the dashboards, gunicorn to
serve. The dashboards are Superset's own export format, kept as YAML in
``bi/superset/dashboards``; at import time the database entry gets this warehouse's
address and ``bi_reader``'s password, which never enter the repository.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from sqlalchemy.engine import make_url

from customer_health.settings import PROJECT_HOME, TELEMETRY_OFF, Settings
from customer_health.warehouse.bootstrap import BI_ROLE
from customer_health.warehouse.connection import bi_reader_password, warehouse_url

BUNDLE = PROJECT_HOME / "bi" / "superset" / "dashboards"
CONFIG = PROJECT_HOME / "bi" / "superset" / "superset_config.py"
ADMIN = "admin"
DATABASE_FILE = "databases/warehouse.yaml"


@dataclass
class Superset:
    home: Path
    url: str
    admin_password: str
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.home / "superset.log"


def superset_bin(settings: Settings) -> Path:
    """Where Superset's own venv keeps its commands (``SUPERSET_VENV`` to use another)."""
    return Path(os.environ.get("SUPERSET_VENV", settings.home / ".superset-venv")) / "bin"


def bi_reader_uri(settings: Settings) -> str:
    """The warehouse as ``bi_reader`` sees it, for Superset's psycopg2 driver."""
    url = make_url(warehouse_url(settings)).set(
        drivername="postgresql+psycopg2", username=BI_ROLE, password=bi_reader_password(settings)
    )
    return url.render_as_string(hide_password=False)


def read_bundle() -> dict[str, dict]:
    """Every YAML file of the dashboard export, by its path inside the bundle."""
    return {
        path.relative_to(BUNDLE).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted(BUNDLE.rglob("*.yaml"))
    }


def dashboard_zip(database_uri: str, schema: str) -> bytes:
    """The export as the ZIP `superset import-dashboards` reads, pointed at this warehouse
    and its published schema (``PUBLISH_SCHEMA``)."""
    files = read_bundle()
    files[DATABASE_FILE] = {**files[DATABASE_FILE], "sqlalchemy_uri": database_uri}
    for name in files:
        if name.startswith("datasets/"):
            files[name] = {**files[name], "schema": schema}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"dashboards/{name}", yaml.safe_dump(content, sort_keys=False))
    return buffer.getvalue()


def _secret(path: Path) -> str:
    """A random value made on first use and kept in Superset's home (mode 600)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def prepare(settings: Settings, home: Path, port: int) -> Superset:
    """Migrate Superset's metadata (SQLite in ``home``), create the admin, sync roles and
    import the dashboards; reruns keep what users built and refresh the warehouse address."""
    home.mkdir(parents=True, exist_ok=True)
    superset = Superset(
        home=home,
        url=f"http://127.0.0.1:{port}",
        admin_password=_secret(home / "admin.password"),
        env={
            **os.environ,
            **TELEMETRY_OFF,
            "SUPERSET_CONFIG_PATH": str(CONFIG),
            "SUPERSET_SECRET_KEY": _secret(home / "secret.key"),
            "SUPERSET_METADATA_URL": f"sqlite:///{home / 'superset.db'}",
        },
    )
    bundle = home / "dashboards.zip"
    uri = bi_reader_uri(settings)
    bundle.write_bytes(dashboard_zip(uri, settings.publish_schema))
    bundle.chmod(0o600)
    database = read_bundle()[DATABASE_FILE]["database_name"]
    for command in (
        ["db", "upgrade"],
        ["fab", "create-admin", "--username", ADMIN, "--firstname", "Customer", "--lastname",
         "Health", "--email", "admin@localhost", "--password", superset.admin_password],
        ["init"],
        ["import-dashboards", "--path", str(bundle), "--username", ADMIN],
        ["set-database-uri", "--database_name", database, "--uri", uri],
    ):  # fmt: skip
        _superset(settings, superset, command)
    bundle.unlink()
    return superset


def _superset(settings: Settings, superset: Superset, args: list[str]) -> None:
    with superset.log.open("a") as log:
        done = subprocess.run(
            [str(superset_bin(settings) / "superset"), *args],
            env=superset.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        tail = superset.log.read_text()[-3000:]
        raise RuntimeError(f"superset {args[0]} failed ({done.returncode}):\n{tail}")


def serve(settings: Settings, superset: Superset, timeout: float = 120) -> None:
    """Serve Superset with gunicorn on 127.0.0.1 until `stop`; waits for its health check."""
    port = superset.url.rsplit(":", 1)[1]
    with superset.log.open("a") as log:
        superset.process = subprocess.Popen(
            [
                str(superset_bin(settings) / "gunicorn"),
                "--bind", f"127.0.0.1:{port}",
                "--workers", "1", "--threads", "8", "--timeout", "120",
                "superset.app:create_app()",
            ],
            env=superset.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if superset.process.poll() is not None:
            raise RuntimeError(f"Superset exited:\n{superset.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{superset.url}/health", timeout=2).text == "OK":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(superset)
    raise TimeoutError(f"Superset did not answer on {superset.url} within {timeout:.0f} s")


def stop(superset: Superset, grace: float = 20) -> None:
    if superset.process is None or superset.process.poll() is not None:
        return
    os.killpg(superset.process.pid, signal.SIGTERM)
    try:
        superset.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(superset.process.pid, signal.SIGKILL)
        superset.process.wait()
