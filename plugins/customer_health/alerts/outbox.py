"""Alerts at least once, each delivered once: an outbox in ``ops.alert_outbox``.

An alert is written first, one row per configured target, under its idempotency key (a key
already recorded adds nothing, so a retried task or a rerun cannot raise the same alert
twice). Delivery comes after: a row is marked delivered only when its target accepted the
alert; a target that failed keeps its row pending, with the error and the attempt count,
and every later delivery (the next alert, the next run) tries it again. The key travels in
the payload, so a receiver that got an alert whose acknowledgement was lost can drop it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
import structlog

from customer_health.alerts.notify import Alert, Notifier, notifiers_for
from customer_health.settings import Settings
from customer_health.warehouse.connection import connect

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    delivered: int
    failed: int


def record(conn: psycopg.Connection, alert: Alert, targets: list[str]) -> bool:
    """Write the alert for each target; False when its key was recorded before."""
    payload = json.dumps(
        {"kind": alert.kind, "title": alert.title, "details": alert.details}, default=str
    )
    added = 0
    for target in targets:
        added += conn.execute(
            "insert into ops.alert_outbox (idempotency_key, target, kind, payload)"
            " values (%s, %s, %s, %s) on conflict (idempotency_key, target) do nothing",
            [alert.key, target, alert.kind, payload],
        ).rowcount
    return added > 0


def deliver_pending(conn: psycopg.Connection, notifiers: dict[str, Notifier]) -> Delivery:
    """Try every undelivered row whose target is configured, oldest first.

    Each row is locked while it is sent (``skip locked``: two runs delivering at once never
    send the same row twice).
    """
    delivered = failed = 0
    pending = conn.execute(
        "select outbox_id from ops.alert_outbox where delivered_at is null"
        " and target = any(%s) order by outbox_id",
        [list(notifiers)],
    ).fetchall()
    for (outbox_id,) in pending:
        with conn.transaction():
            row = conn.execute(
                "select idempotency_key, target, payload from ops.alert_outbox"
                " where outbox_id = %s and delivered_at is null for update skip locked",
                [outbox_id],
            ).fetchone()
            if row is None:
                continue
            key, target, payload = row
            alert = Alert(payload["kind"], payload["title"], key, payload["details"])
            try:
                notifiers[target].send(alert)
            except Exception as error:  # noqa: BLE001 - any failure of a target keeps it pending
                failed += 1
                log.error("alert not delivered", target=target, key=key, error=str(error))
                conn.execute(
                    "update ops.alert_outbox set attempts = attempts + 1,"
                    " last_attempt_at = clock_timestamp(), last_error = %s where outbox_id = %s",
                    [str(error)[:1000], outbox_id],
                )
                continue
            delivered += 1
            conn.execute(
                "update ops.alert_outbox set attempts = attempts + 1,"
                " last_attempt_at = clock_timestamp(), last_error = null,"
                " delivered_at = clock_timestamp() where outbox_id = %s",
                [outbox_id],
            )
    return Delivery(delivered, failed)


def notify(settings: Settings, alert: Alert) -> bool:
    """Record the alert and deliver everything pending; False when its key was seen before.

    If the warehouse cannot be reached (it may be what failed), the alert goes straight to
    the targets instead: it may then reach them twice, never not at all.
    """
    notifiers = notifiers_for(settings)
    try:
        with connect(settings, autocommit=True) as conn:
            recorded = record(conn, alert, list(notifiers))
            deliver_pending(conn, notifiers)
            return recorded
    except psycopg.OperationalError as error:
        log.error("alert outbox unreachable, sending directly", key=alert.key, error=str(error))
    for target, notifier in notifiers.items():
        try:
            notifier.send(alert)
        except Exception as error:  # noqa: BLE001 - one broken target must not stop the others
            log.error("alert not delivered", target=target, key=alert.key, error=str(error))
    return True
