"""The embedded warehouse keeps its generated secrets private and stable, and its URLs whole."""

from __future__ import annotations

import stat

import psycopg

from customer_health.settings import load_settings
from customer_health.warehouse.connection import drop_database, warehouse_url
from customer_health.warehouse.embedded import EmbeddedServer
from customer_health.warehouse.urls import for_user


def test_bi_password_is_generated_once_and_readable_only_by_its_owner(tmp_path):
    server = EmbeddedServer(root=tmp_path, port=1)
    first = server.bi_password()
    assert len(first) == 24  # 18 random bytes, URL-safe base64
    assert server.bi_password() == first
    assert stat.S_IMODE(server.bi_password_file.stat().st_mode) == 0o600


def test_a_database_name_cannot_redirect_the_superuser_login(settings, monkeypatch):
    """The name is one part of the URL: its `?host=` stays in the name, so the login goes
    to the embedded server and that database is created there."""
    odd = "x?host=127.0.0.2&port=1"
    monkeypatch.setenv("WAREHOUSE_DATABASE", odd)
    try:
        with psycopg.connect(warehouse_url(load_settings())) as conn:
            reached = (conn.info.host, conn.info.port, conn.info.dbname)
        assert reached == ("127.0.0.1", settings.embedded_port, odd)
    finally:
        with psycopg.connect(warehouse_url(settings), autocommit=True) as admin:
            drop_database(admin, odd)


def test_the_bi_url_shown_to_people_keeps_the_server_and_drops_the_password():
    """Whatever the warehouse URL holds (no port, a socket folder, options), summary shows
    the same server for bi_reader, without the superuser's password."""
    assert [
        for_user(url, "bi_reader")
        for url in (
            "postgresql://admin:s3cret@db.internal/warehouse",
            "postgresql://admin:s3cret@/warehouse?host=/var/run/postgresql",
        )
    ] == [
        "postgresql://bi_reader@db.internal/warehouse",
        "postgresql://bi_reader@/warehouse?host=%2Fvar%2Frun%2Fpostgresql",
    ]
