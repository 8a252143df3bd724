"""The targets an alert can go to: the log always, a webhook and e-mail when set.

Alerts are not sent from here directly: `alerts.outbox` records each one first and marks it
delivered per target only once that target accepted it.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from customer_health.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Alert:
    """``key`` identifies the event (e.g. one failed night): the outbox records an alert once
    per key, and receivers can drop a repeated delivery by it (``idempotency_key``)."""

    kind: str  # health_band_drop / night_failed / daily_digest
    title: str
    key: str
    details: dict = field(default_factory=dict)

    def as_json(self) -> bytes:
        body = {"kind": self.kind, "title": self.title, "idempotency_key": self.key}
        return json.dumps({**body, "details": self.details}, default=str).encode()


class Notifier(Protocol):
    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    def send(self, alert: Alert) -> None:
        log.warning("alert", kind=alert.kind, title=alert.title, key=alert.key, **alert.details)


@dataclass(frozen=True)
class WebhookNotifier:
    url: str
    timeout_seconds: float = 10.0

    def send(self, alert: Alert) -> None:
        request = urllib.request.Request(
            self.url,
            data=alert.as_json(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            response.read()


@dataclass(frozen=True)
class EmailNotifier:
    """E-mail through Airflow's SMTP provider and connection (``ALERT_SMTP_CONN_ID``)."""

    to: str
    conn_id: str

    def send(self, alert: Alert) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        body = "<br>".join(f"<b>{k}</b>: {v}" for k, v in alert.details.items())
        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(
                to=self.to, subject=f"[customer-health] {alert.title}", html_content=body
            )


def notifiers_for(settings: Settings) -> dict[str, Notifier]:
    """The configured targets by name; the outbox keeps one delivery row per name."""
    targets: dict[str, Notifier] = {"log": LogNotifier()}
    if settings.alert_webhook_url:
        targets["webhook"] = WebhookNotifier(settings.alert_webhook_url)
    if settings.alert_email_to:
        targets["email"] = EmailNotifier(settings.alert_email_to, settings.alert_smtp_conn_id)
    return targets
