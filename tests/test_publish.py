"""Pruning old backups waits for their readers only up to the lock timeout, then moves on."""

from __future__ import annotations

import time
from dataclasses import replace

import psycopg

from customer_health.publish.swap import backups, prune_backups


def test_a_backup_still_being_read_is_kept_until_the_next_publish(settings, scratch_conn):
    old = "analytics_backup_20000101000000000000"
    scratch_conn.execute(f'create schema "{old}"; create table "{old}".t as select 1 as x')
    quick = replace(settings, backups_to_keep=0, lock_timeout="1s")
    params = scratch_conn.info.get_parameters()
    with psycopg.connect(**params, password=scratch_conn.pgconn.password.decode()) as reader:
        reader.execute(f'select * from "{old}".t').fetchall()  # an analyst's open transaction
        started = time.monotonic()
        assert prune_backups(scratch_conn, quick) == []
        assert 1 <= time.monotonic() - started < 10
        assert backups(scratch_conn, "analytics") == [old]
    assert prune_backups(scratch_conn, quick) == [old]
    assert backups(scratch_conn, "analytics") == []
