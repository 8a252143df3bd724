"""One night at a time per warehouse, whoever starts it: a lease in ``ops.night_lock``.

A CLI night runs in one process, but a DAG night runs as many tasks, in other processes and
possibly on other machines, so a session-level lock cannot span it. The lease names the run
that holds the night and until when. Every step of a run takes it again before it works
(the same run gets it back at once and extends it; another run waits), and the run gives it
back when it ends, published or failed. A run that holds one connection for the whole night
(the CLI) binds the lease to that session: if the process dies, so does the session, and the
night is free at once. A DAG run has no such session; if it dies without giving the night
back, the lease expires (``NIGHT_LOCK_TTL_SECONDS``), so a crashed night cannot block the
next one for ever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import structlog

from customer_health.errors import NightLockTimeout

log = structlog.get_logger(__name__)

LOCK_NAME = "night"
LOG_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Holder:
    run_id: str
    acquired_at: datetime
    expires_at: datetime


def _take(
    conn: psycopg.Connection, run_id: str, ttl: timedelta, bind_to_session: bool
) -> Holder | None:
    """Take or extend the lease for ``run_id``; returns the other holder when it is taken."""
    with conn.transaction():
        # Serialises the check-and-take of concurrent runs.
        conn.execute("select pg_advisory_xact_lock(hashtext('customer_health.night_lock'))")
        row = conn.execute(
            "select run_id, acquired_at, expires_at from ops.night_lock as held"
            " where lock_name = %s and run_id <> %s and expires_at > now()"
            " and (backend_pid is null"
            "      or exists (select from pg_stat_activity where pid = held.backend_pid))",
            [LOCK_NAME, run_id],
        ).fetchone()
        if row is not None:
            return Holder(*row)
        conn.execute(
            "insert into ops.night_lock as held"
            " (lock_name, run_id, acquired_at, expires_at, backend_pid)"
            " values (%s, %s, now(), now() + %s, case when %s then pg_backend_pid() end)"
            " on conflict (lock_name) do update set run_id = excluded.run_id,"
            " expires_at = excluded.expires_at, backend_pid = excluded.backend_pid,"
            " acquired_at = case when held.run_id = excluded.run_id"
            " then held.acquired_at else excluded.acquired_at end",
            [LOCK_NAME, run_id, ttl, bind_to_session],
        )
    return None


def hold(
    conn: psycopg.Connection,
    run_id: str,
    *,
    wait: timedelta,
    ttl: timedelta,
    bind_to_session: bool = False,
    poll_seconds: float = 1.0,
) -> float:
    """Take the night for ``run_id``, waiting up to ``wait`` for another run to finish.

    ``bind_to_session``: ``conn`` stays open for the whole night, and the night is free as
    soon as its session ends. While it waits it logs who holds the night every 30 s; past
    ``wait`` it raises NightLockTimeout naming the holder. Returns the seconds waited.
    """
    started = time.monotonic()
    logged = started - LOG_EVERY_SECONDS
    while (holder := _take(conn, run_id, ttl, bind_to_session)) is not None:
        waited = time.monotonic() - started
        if waited >= wait.total_seconds():
            raise NightLockTimeout(
                f"run {run_id} waited {waited:.0f} s for the night lock, still held by run "
                f"{holder.run_id} (since {holder.acquired_at:%Y-%m-%d %H:%M:%S %Z}, lease until "
                f"{holder.expires_at:%H:%M:%S %Z}); nothing was changed — retry when it ends"
            )
        if time.monotonic() - logged >= LOG_EVERY_SECONDS:
            log.warning(
                "waiting for the night lock",
                run_id=run_id,
                held_by=holder.run_id,
                held_since=holder.acquired_at.isoformat(),
                waited_seconds=round(waited),
                gives_up_after_seconds=round(wait.total_seconds()),
            )
            logged = time.monotonic()
        time.sleep(poll_seconds)
    return time.monotonic() - started


def holder(conn: psycopg.Connection) -> str | None:
    """The run holding an unexpired lease, if any."""
    row = conn.execute(
        "select run_id from ops.night_lock as held where lock_name = %s and expires_at > now()"
        " and (backend_pid is null"
        "      or exists (select from pg_stat_activity where pid = held.backend_pid))",
        [LOCK_NAME],
    ).fetchone()
    return row[0] if row else None


def release(conn: psycopg.Connection, run_id: str) -> bool:
    """Give the night back; a run that no longer holds it changes nothing."""
    released = conn.execute(
        "delete from ops.night_lock where lock_name = %s and run_id = %s returning run_id",
        [LOCK_NAME, run_id],
    ).fetchone()
    if released:
        log.info("night lock released", run_id=run_id)
    return released is not None
