-- One row per band drop worth telling a person about. A drop (the band lower than the day
-- before) is confirmed once the score stayed below the band it left for confirm_days days
-- in a row, and is alerted on that day unless the customer was alerted less than
-- cooldown_days before (health_alert_settings seed): a score hovering at a band floor
-- would otherwise alert every few days and teach people to ignore alerts. Derived from
-- the daily history, so rerunning or backfilling a night reproduces the same rows; the
-- alert sender keeps its own ledger to notify each once.
-- Reads the scored history in core (the rows fct_customer_health_daily publishes), not the
-- published view: its key index serves the confirmation windows' reads by customer and
-- day, which a view over month tables cannot give one index for. Not materialized: each
-- read below keeps only the rows and columns it needs instead of a copy of the history.
with health_daily as not materialized (
    select * from {{ ref('int_customer_health_scored') }}
    where health_date <= {{ as_of_date() }}
),

bands as (
    select * from {{ ref('health_bands') }}
),

alert_settings as (
    select
        max(value) filter (where setting = 'confirm_days')::integer as confirm_days,
        max(value) filter (where setting = 'cooldown_days')::integer as cooldown_days
    from {{ ref('health_alert_settings') }}
),

drops as (
    select
        health_daily.customer_id,
        health_daily.health_date as drop_date,
        health_daily.previous_health_band as from_band,
        bands.min_score as from_band_floor
    from health_daily
    inner join bands on health_daily.previous_health_band = bands.band
    where health_daily.is_band_drop
),

-- Every day of the confirmation window must have a score, all below the band left. The
-- window's days are joined by date, not by a range: a range join pairs each drop with
-- every day of its customer's history.
confirmed_drops as (
    select
        drops.customer_id,
        drops.drop_date,
        drops.from_band,
        max(health_daily.health_date) as alert_date
    from drops
    cross join alert_settings
    cross join
        lateral generate_series(0, alert_settings.confirm_days - 1) as window_days (day_offset)
    inner join health_daily
        on
            drops.customer_id = health_daily.customer_id
            and health_daily.health_date = drops.drop_date + window_days.day_offset
    group by drops.customer_id, drops.drop_date, drops.from_band, alert_settings.confirm_days
    having
        count(*) = alert_settings.confirm_days
        and bool_and(health_daily.health_score < drops.from_band_floor)
),

first_confirmed_drops as (
    select distinct on (customer_id)
        customer_id,
        drop_date,
        alert_date
    from confirmed_drops
    order by customer_id asc, alert_date asc
),

-- Walk each customer's confirmed drops in date order: the first is alerted, each later one
-- only when the cool-down since the last alerted one has passed.
alerted as (
    with recursive alert_chain as (
        select * from first_confirmed_drops
        union all
        select
            alert_chain.customer_id,
            next_drop.drop_date,
            next_drop.alert_date
        from alert_chain
        cross join alert_settings
        cross join
            lateral (
                select
                    confirmed_drops.drop_date,
                    confirmed_drops.alert_date
                from confirmed_drops
                where
                    confirmed_drops.customer_id = alert_chain.customer_id
                    and confirmed_drops.alert_date
                    >= alert_chain.alert_date + alert_settings.cooldown_days
                    and confirmed_drops.alert_date > alert_chain.alert_date
                order by confirmed_drops.alert_date asc
                limit 1
            ) as next_drop
    )

    select * from alert_chain
)

select
    (alerted.customer_id || ':' || alerted.drop_date)::text as alert_id,
    alerted.customer_id::text as customer_id,
    alerted.drop_date::date as drop_date,
    alerted.alert_date::date as alert_date,
    confirmed_drops.from_band::text as from_band,
    health_daily.health_band::text as to_band,
    health_daily.health_score::numeric as health_score,
    health_daily.health_score_change_30d::numeric as health_score_change_30d,
    health_daily.top_driver_1::text as top_driver_1,
    health_daily.top_driver_1_change::numeric as top_driver_1_change,
    health_daily.top_driver_2::text as top_driver_2,
    health_daily.top_driver_2_change::numeric as top_driver_2_change,
    concat_ws(
        ', ',
        health_daily.top_driver_1 || ' ' || health_daily.top_driver_1_change,
        health_daily.top_driver_2 || ' ' || health_daily.top_driver_2_change
    )::text as drivers
from alerted
inner join confirmed_drops
    on alerted.customer_id = confirmed_drops.customer_id and alerted.drop_date = confirmed_drops.drop_date
inner join health_daily
    on alerted.customer_id = health_daily.customer_id and alerted.alert_date = health_daily.health_date
