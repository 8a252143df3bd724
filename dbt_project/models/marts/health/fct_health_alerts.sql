-- One row per band drop (green→yellow, yellow→red, green→red) from one day to the next,
-- with the scores either side and the two components that moved the score most over the
-- 30 days before it. Derived from the daily history, so rerunning or backfilling a night
-- reproduces the same rows; the alert sender keeps its own ledger to notify each once.
with health_daily as (
    select * from {{ ref('fct_customer_health_daily') }}
),

drops as (
    select
        customer_id,
        health_date as alert_date,
        previous_health_band as from_band,
        health_band as to_band,
        health_score,
        health_score_change_30d,
        top_driver_1,
        top_driver_1_change,
        top_driver_2,
        top_driver_2_change
    from health_daily
    where is_band_drop
)

select
    drops.customer_id || ':' || drops.alert_date as alert_id,
    drops.*,
    concat_ws(
        ', ',
        drops.top_driver_1 || ' ' || drops.top_driver_1_change,
        drops.top_driver_2 || ' ' || drops.top_driver_2_change
    ) as drivers
from drops
