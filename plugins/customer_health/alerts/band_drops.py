"""Customers whose health band dropped tonight: tonight's build against what BI sees now.

Comparing with the published schema (not with yesterday's date) means a night that failed
to publish does not hide a drop: the next published night still reports it, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class BandDrop:
    customer_id: str
    from_band: str
    to_band: str
    health_score: float
    weakest_component: str


def band_drops(
    conn: psycopg.Connection, build_schema: str, published_schema: str
) -> list[BandDrop]:
    published = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s "
        "and table_name = 'dim_customer_health'",
        [published_schema],
    ).fetchone()
    if published is None:
        return []
    rows = conn.execute(
        sql.SQL(
            "select tonight.customer_id, before.health_band, tonight.health_band,"
            " tonight.health_score, tonight.weakest_component"
            " from {tonight} as tonight join {before} as before using (customer_id)"
            " where (case tonight.health_band when 'green' then 3 when 'yellow' then 2 else 1 end)"
            "     < (case before.health_band when 'green' then 3 when 'yellow' then 2 else 1 end)"
            " order by tonight.health_score, tonight.customer_id"
        ).format(
            tonight=sql.Identifier(build_schema, "dim_customer_health"),
            before=sql.Identifier(published_schema, "dim_customer_health"),
        )
    ).fetchall()
    return [BandDrop(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]
