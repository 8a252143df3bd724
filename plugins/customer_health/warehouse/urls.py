"""Warehouse URLs built and changed by SQLAlchemy's URL, never by string surgery.

Each part is escaped where it belongs: a database named ``x?host=elsewhere`` stays a
database name instead of sending the superuser's login to another host.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url


def postgres_url(user: str, password: str | None, host: str, port: int, database: str) -> str:
    url = URL.create(
        "postgresql", username=user, password=password, host=host, port=port, database=database
    )
    return url.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server and login, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def for_user(url: str, user: str) -> str:
    """The same server and database for another user, without a password (to show people)."""
    parsed = make_url(url)
    shown = URL.create(
        parsed.drivername,
        username=user,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return shown.render_as_string()


def sqlalchemy_url(url: str, **session: str) -> str:
    """The URL for SQLAlchemy's psycopg 3 driver (GX, Airflow's metadata DB, pandas), its
    sessions started with the ``session`` settings: a ``search_path`` selects the schema
    that schema-less table names resolve in."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    for name, value in session.items():
        # libpq splits its options at spaces and reads backslashes as escapes.
        if re.search(r"[\s\\]", f"{name}{value}"):
            raise ValueError(f"session setting {name}={value!r}: no spaces or backslashes")
    if session:
        options = " ".join(f"-c{name}={value}" for name, value in session.items())
        parsed = parsed.update_query_dict({"options": options})
    return parsed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password masked, for people to read."""
    return make_url(url).render_as_string(hide_password=True)
