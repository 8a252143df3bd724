"""The morning digest: who needs attention today, sent after each publish."""

from __future__ import annotations

from psycopg import sql

from customer_health.alerts.notify import Alert
from customer_health.alerts.outbox import notify
from customer_health.settings import Settings
from customer_health.warehouse.connection import connect


def build_digest(settings: Settings) -> Alert:
    schema = sql.Identifier(settings.publish_schema)
    with connect(settings) as conn:
        at_risk = conn.execute(
            sql.SQL(
                "select customer_id, customer_name, health_score, health_band, next_best_action,"
                " next_best_action_reason, next_best_action_due_date, action_owner"
                " from {}.customer_360"
                " where health_band in ('red', 'yellow')"
                " order by health_score, customer_id limit 10"
            ).format(schema)
        ).fetchall()
        renewals = conn.execute(
            sql.SQL(
                "select customer_id, renewal_date, arr_at_stake_usd from {}.fct_renewals_upcoming"
                " where recommended_action = 'fix_before_renewal'"
                " order by renewal_date, customer_id"
            ).format(schema)
        ).fetchall()
        night = conn.execute(
            sql.SQL("select max(health_date) from {}.dim_customer_health").format(schema)
        ).fetchone()[0]
    return Alert(
        "daily_digest",
        f"{len(at_risk)} customer(s) need attention, {len(renewals)} renewal(s) to fix first",
        f"daily_digest:{night}",
        {
            "night": night.isoformat() if night else None,
            "at_risk": [
                {
                    "customer_id": r[0],
                    "name": r[1],
                    "health_score": float(r[2]),
                    "band": r[3],
                    "next_best_action": r[4],
                    "why": r[5],
                    "due": r[6].isoformat(),
                    "owner": r[7],
                }
                for r in at_risk
            ],
            "renewals_to_fix": [
                {
                    "customer_id": r[0],
                    "renewal_date": r[1].isoformat(),
                    "arr_at_stake_usd": float(r[2]),
                }
                for r in renewals
            ],
        },
    )


def send_digest(settings: Settings) -> dict:
    """Through the outbox: one digest per published night, however often the DAG runs."""
    alert = build_digest(settings)
    return {"title": alert.title, "key": alert.key, "recorded": notify(settings, alert)}
