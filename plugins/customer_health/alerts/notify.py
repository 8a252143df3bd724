"""Send alerts to every configured target: the log always, a webhook and e-mail when set.

A target that fails is logged and skipped; an alert must never break the night it reports.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Protocol

import structlog

from customer_health.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Alert:
    kind: str  # health_band_drop / quality_gate_failed / task_failed
    title: str
    details: dict = field(default_factory=dict)

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), default=str).encode()


class Notifier(Protocol):
    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    def send(self, alert: Alert) -> None:
        log.warning("alert", kind=alert.kind, title=alert.title, **alert.details)


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


def notifiers_for(settings: Settings) -> list[Notifier]:
    targets: list[Notifier] = [LogNotifier()]
    if settings.alert_webhook_url:
        targets.append(WebhookNotifier(settings.alert_webhook_url))
    if settings.alert_email_to:
        targets.append(EmailNotifier(settings.alert_email_to, settings.alert_smtp_conn_id))
    return targets


def send(alert: Alert, targets: list[Notifier]) -> int:
    """Send to every target; returns how many accepted it."""
    delivered = 0
    for target in targets:
        try:
            target.send(alert)
            delivered += 1
        except Exception as error:  # noqa: BLE001 - one broken target must not stop the others
            log.error("alert not delivered", target=type(target).__name__, error=str(error))
    return delivered
